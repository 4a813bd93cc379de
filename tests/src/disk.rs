//! Booting the Linux guest from a disk: copies of the root image
//! (`build/rootfs.ext4`, from `make image`), the console shell driven
//! through standard input, and host-side looks into images with e2fsprogs.

use crate::linux::kernel;
use crate::{Run, root, run_with_input};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest memory for the disk tests, in MiB.
pub const MEM: &str = "--mem=128";

/// The root image `make image` builds.
pub fn rootfs() -> PathBuf {
    let p = root().join("build/rootfs.ext4");
    assert!(p.exists(), "{} is missing: run `make test`, which builds it", p.display());
    p
}

/// A fresh directory for one test's images, under target/disks.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/disks").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A copy of the root image at `dir/rootfs.img` (sparse, like the original).
pub fn rootfs_copy(dir: &Path) -> PathBuf {
    let p = dir.join("rootfs.img");
    let ok = Command::new("cp").arg("--sparse=always").arg(rootfs()).arg(&p).status().expect("cp");
    assert!(ok.success(), "cannot copy the root image");
    p
}

/// Boot with `disks` (tender arguments such as `--block` `PATH`) and feed
/// `script` to the console shell on stdin; the guest powers off when the
/// script ends. `words` go to the kernel's command line after `quiet`.
/// Panics if the guest runs longer than `secs` seconds.
pub fn shell_with(disks: &[&str], words: &[&str], script: &str, secs: u64) -> Run {
    let k = kernel();
    let mut args = vec![MEM];
    args.extend_from_slice(disks);
    args.extend_from_slice(&[k.as_str(), "--", "quiet"]);
    args.extend_from_slice(words);
    run_with_input(&args, Some(script.as_bytes()), secs).unwrap_or_else(|| panic!("the guest ran over {secs} s"))
}

/// Boot `image` as the root disk and run `script` in the console shell.
pub fn shell(image: &Path, script: &str) -> Run {
    let img = image.to_str().expect("utf-8 path");
    shell_with(&["--block", img], &[], script, 60)
}

/// `e2fsck -fn`: the exit status and report (0: no errors).
pub fn fsck(image: &Path) -> (i32, String) {
    let out = Command::new("e2fsck").arg("-fn").arg(image).output().expect("e2fsck");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Replay the journal of `image`, as the next mount would
/// (`e2fsck -E journal_only`).
pub fn replay_journal(image: &Path) {
    let out = Command::new("e2fsck").args(["-y", "-E", "journal_only"]).arg(image).output().expect("e2fsck");
    assert!(out.status.code().is_some_and(|c| c <= 1), "journal replay failed: {out:?}");
}

/// The bytes of the file at `path` inside `image` (debugfs `cat`), or
/// `None` if there is no such file.
pub fn read_file(image: &Path, path: &str) -> Option<Vec<u8>> {
    let stat = Command::new("debugfs").arg("-R").arg(format!("stat {path}")).arg(image).output().expect("debugfs");
    if !stat.status.success() || String::from_utf8_lossy(&stat.stderr).contains("not found") {
        return None;
    }
    let out = Command::new("debugfs").arg("-R").arg(format!("cat {path}")).arg(image).output().expect("debugfs");
    Some(out.stdout)
}

/// SHA-256 of a file, as hex (the host's sha256sum).
pub fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_owned()
}

/// The lines the guest's programs printed: stdout without the platform's
/// banner and the kernel's power-off line.
pub fn program_lines(r: &Run) -> Vec<&str> {
    r.stdout.lines().filter(|l| !l.starts_with("Nabla platform ") && !l.starts_with("reboot: ")).collect()
}

/// Assert that the guest powered off cleanly: exit 0, the kernel's
/// power-off line last.
pub fn powered_off(r: &Run) {
    assert_eq!(r.code, Some(0), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.ends_with("reboot: Power down\n"), "{}", r.stdout);
}
