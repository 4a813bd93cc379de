//! glibc programs and the no-MMU kernel's memory calls: `tests/glibc/mm.c`
//! built with the host's gcc (Debian's glibc) as a dynamic PIE and as a
//! static-pie, put with the libraries `ldd` names on a small ext4 disk of
//! their own, and run in the guest (chrooted into that disk) and natively.
//!
//! The program checks the auxiliary vector, MAP_FIXED inside its own
//! mappings and outside them, mprotect, partial munmap, mremap, madvise,
//! the refused address-space reservation, the memory a thread costs and
//! vfork; each check prints `ok NAME` or `FAIL NAME: ...`. The checks that
//! only hold without an MMU run in the guest only (`mm nommu`). The
//! dynamic program runs from the disk and from a copy on a tmpfs.
//! Needs `make kernel image tender`.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::disk::{program_lines, rootfs, scratch, shell_with};
use nabla_tests::root;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Build `tests/glibc/mm.c` into `out` with `flags`.
fn build(out: &Path, flags: &[&str]) {
    let src = root().join("tests/glibc/mm.c");
    let st = Command::new("gcc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-pthread"])
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(&src)
        .status()
        .expect("gcc");
    assert!(st.success(), "gcc {flags:?} failed");
}

/// The shared libraries `ldd` lists for `bin` (absolute paths).
fn libraries(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().expect("ldd");
    assert!(out.status.success(), "ldd {}: {out:?}", bin.display());
    String::from_utf8_lossy(&out.stdout).split_whitespace().filter(|w| w.starts_with('/')).map(PathBuf::from).collect()
}

/// A tree with /bin/mm, /bin/mm-static, their libraries and /bin/true
/// (for vfork + exec), packed into `dir/mm.ext4`.
fn image(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    for d in ["bin", "proc", "tmp"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    build(&tree.join("bin/mm"), &[]);
    build(&tree.join("bin/mm-static"), &["-static-pie"]);
    std::fs::copy("/bin/true", tree.join("bin/true")).unwrap();
    for bin in [tree.join("bin/mm"), PathBuf::from("/bin/true")] {
        for lib in libraries(&bin) {
            let to = tree.join(lib.strip_prefix("/").unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&lib, &to).unwrap();
        }
    }
    let img = dir.join("mm.ext4");
    let st = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg("32M")
        .status()
        .expect("mke2fs");
    assert!(st.success(), "mke2fs failed");
    img
}

/// Run `prog` from the image in the guest, chrooted into the disk, or
/// into a copy of its tree on a tmpfs when `tmpfs`; the program's lines.
fn in_guest(img: &Path, prog: &str, tmpfs: bool) -> Vec<String> {
    let root_img = format!("{}:ro", rootfs().display());
    let disk = format!("--block:disk1={}", img.display());
    let root = if tmpfs { "/tmp/copy" } else { "/mnt" };
    let script = format!(
        "mount -t ext4 /dev/vdb /mnt && mkdir /tmp/copy && cp -a /mnt/. /tmp/copy/\n\
         mount -t proc proc {root}/proc && mount -t tmpfs tmp {root}/tmp\n\
         chroot {root} {prog} nommu; echo \"exit $?\"\n"
    );
    let r = shell_with(&["--block", &root_img, &disk], &[], &script, 120);
    assert_eq!(r.code, Some(0), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    program_lines(&r).into_iter().map(str::to_owned).collect()
}

/// Assert that `lines` hold no FAIL, the summary, and `exit 0`.
fn all_passed(what: &str, lines: &[String]) {
    let text = lines.join("\n");
    let fails: Vec<&String> = lines.iter().filter(|l| l.starts_with("FAIL")).collect();
    assert!(fails.is_empty(), "{what}: failed checks:\n{}\n\nall output:\n{text}", fails.len());
    assert!(lines.iter().any(|l| l.starts_with("mm: ") && l.ends_with(" passed, 0 failed")), "{what}:\n{text}");
    assert!(lines.iter().any(|l| l == "exit 0"), "{what}:\n{text}");
}

#[test]
fn glibc_memory_calls_in_the_guest() {
    let dir = scratch("glibc-mm");
    let img = image(&dir);

    // Natively first: the program itself is right.
    let native = Command::new(dir.join("tree/bin/mm")).output().expect("mm");
    let text = String::from_utf8_lossy(&native.stdout);
    assert!(native.status.success() && !text.contains("FAIL"), "natively:\n{text}");

    let dynamic = in_guest(&img, "/bin/mm", false);
    all_passed("dynamic PIE", &dynamic);
    // The checks that need no MMU ran too.
    for name in ["fixed-outside", "reservation-refused", "thread-memory", "fork-fails", "auxv-random"] {
        assert!(dynamic.iter().any(|l| l == &format!("ok {name}")), "no ok {name}:\n{}", dynamic.join("\n"));
    }
    let stat = in_guest(&img, "/bin/mm-static", false);
    all_passed("static-pie", &stat);
    // The program, glibc's loader and libc on a tmpfs: the loader's
    // read-only mapping of a library is a copy of its own there too.
    let on_tmpfs = in_guest(&img, "/bin/mm", true);
    all_passed("dynamic PIE on a tmpfs", &on_tmpfs);
    let thread = dynamic.iter().find(|l| l.starts_with("mm: threads:")).unwrap();
    eprintln!("guest: {thread}");
}

/// Exec puts the arguments, their pointers and the aux vector on the new
/// program's stack: 16,000 of them under a 128 KiB stack limit must fit,
/// with nothing written below the stack (the guest goes on and the kernel
/// logs no fault).
#[test]
fn many_arguments_fit_a_small_stack() {
    let dir = scratch("glibc-args");
    let img = image(&dir);
    let root_img = format!("{}:ro", rootfs().display());
    let disk = format!("--block:disk1={}", img.display());
    let script = "mount -t ext4 /dev/vdb /mnt\n\
                  ulimit -s 128\n\
                  chroot /mnt /bin/true $(seq 1 16000); echo \"true $?\"\n\
                  chroot /mnt /bin/mm-static $(seq 1 16000) > /dev/null; echo \"mm $?\"\n\
                  echo after\n";
    let r = shell_with(&["--block", &root_img, &disk], &[], script, 120);
    assert_eq!(r.code, Some(0), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let lines = program_lines(&r);
    assert_eq!(lines, ["true 0", "mm 0", "after"], "{}", r.stdout);
}
