//! Booting the Linux guest (`build/linux.nabla`, from `make kernel`) with
//! the test initramfs (`make initramfs`), for the tests in
//! `tests/tests/linux*.rs`.

use crate::{Run, bin, root, run_with_timeout};
use std::process::Command;

/// With this environment variable set to 1, every tender the Linux tests
/// start gets `--no-syscall-rewrite`: the whole suite then runs on the
/// trap path (`NABLA_TEST_NO_REWRITE=1 cargo test --release -p
/// nabla-tests --test 'linux*'`). `tests/linux_rewrite.rs` picks the mode
/// of each of its runs itself and ignores it.
pub const NO_REWRITE_ENV: &str = "NABLA_TEST_NO_REWRITE";

/// The flags a Linux boot of the tests starts with: `--no-syscall-rewrite`
/// under `NABLA_TEST_NO_REWRITE=1`, else none.
pub fn rewrite_flags() -> &'static [&'static str] {
    if std::env::var_os(NO_REWRITE_ENV).is_some_and(|v| v == "1") { &["--no-syscall-rewrite"] } else { &[] }
}

/// [`rewrite_flags`] for a run of the tender with `args`: none unless
/// they name a Linux kernel (a `.nabla` file) and no rewrite flag yet.
pub fn rewrite_flags_for(args: &[&str]) -> &'static [&'static str] {
    let linux = args.iter().any(|a| a.ends_with(".nabla"));
    if linux && !args.contains(&"--no-syscall-rewrite") { rewrite_flags() } else { &[] }
}

/// `nabla-tender` with [`rewrite_flags`] first, for the Linux tests that
/// start the tender themselves.
pub fn tender() -> Command {
    let mut cmd = Command::new(bin("nabla-tender"));
    cmd.args(rewrite_flags());
    cmd
}

/// Path of the kernel.
pub fn kernel() -> String {
    path("build/linux.nabla")
}

/// Path of the test initramfs.
pub fn initramfs() -> String {
    path("target/init/test.cpio")
}

fn path(rel: &str) -> String {
    let p = root().join(rel);
    assert!(p.exists(), "{} is missing: run `make test`, which builds it", p.display());
    p.to_str().expect("utf-8 path").to_owned()
}

/// The test initramfs with `/big`, a 1 MiB static-pie, for spawn-many.
pub fn spawn_initramfs() -> String {
    path("target/init/spawn.cpio")
}

/// Boot with `mem` MiB and the test initramfs; `init_mode` goes to the
/// init through the kernel command line (words with `=` become its
/// environment). Panics if the guest runs for more than `secs` seconds.
pub fn boot_with(mem: u32, init_mode: Option<&str>, secs: u64) -> Run {
    boot_initramfs(&initramfs(), mem, init_mode, secs)
}

/// [`boot_with`] another initramfs.
pub fn boot_initramfs(i: &str, mem: u32, init_mode: Option<&str>, secs: u64) -> Run {
    let env = init_mode.map(|m| format!("NABLA_INIT={m}"));
    boot_words(i, mem, env.as_slice(), secs)
}

/// Boot with initramfs `i`, `mem` MiB and `words` as the kernel command
/// line; panics if the guest runs for more than `secs` seconds.
pub fn boot_words(i: &str, mem: u32, words: &[impl AsRef<str>], secs: u64) -> Run {
    let k = kernel();
    let mem = format!("--mem={mem}");
    let mut args = vec![mem.as_str(), "--initrd", i, &k];
    if !words.is_empty() {
        args.push("--");
        args.extend(words.iter().map(AsRef::as_ref));
    }
    run_with_timeout(&args, secs).unwrap_or_else(|| panic!("the Linux guest did not finish within {secs} s"))
}
