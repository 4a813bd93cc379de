//! Booting the Linux guest (`build/linux.nabla`, from `make kernel`) with
//! the test initramfs (`make initramfs`), for the tests in
//! `tests/tests/linux*.rs`.

use crate::{Run, root, run_with_timeout};

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
