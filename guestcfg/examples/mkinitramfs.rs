//! Pack `nabla-init` and a config text into an initramfs, by hand: for
//! trying a config in the guest without a runtime.
//!
//! ```text
//! mkinitramfs INIT OUT.cpio [FILE...] < CONFIG
//! ```
//!
//! The config text is read from standard input as it is (it is not
//! checked: `nabla-init` does that in the guest, and a malformed one is
//! worth trying too); each `FILE` becomes `/nabla/files/N` in order, for
//! the config's `file N ...` lines. For example:
//!
//! ```text
//! printf 'nabla-config 1\nroot /dev/vda ext4 rw\narg /bin/sh\narg -c\narg echo%%20hi\n' |
//!   cargo run --release -p nabla-guestcfg --example mkinitramfs -- target/release/nabla-init /tmp/c.cpio
//! target/release/nabla-tender --mem=64 --block build/rootfs.ext4 --initrd /tmp/c.cpio \
//!   target/release/linux.nabla -- quiet
//! ```

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: mkinitramfs INIT OUT.cpio [FILE...] < CONFIG");
        return ExitCode::from(2);
    }
    match pack(&args[0], &args[1], &args[2..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkinitramfs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn pack(init: &str, out: &str, files: &[String]) -> Result<(), String> {
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("cannot read {p}: {e}"));
    let init = read(init)?;
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read the config on stdin: {e}"))?;
    let data = files.iter().map(|f| read(f)).collect::<Result<Vec<_>, _>>()?;
    let data: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
    let cpio = nabla_guestcfg::initramfs_from_text(&init, &text, &data);
    std::fs::write(out, cpio).map_err(|e| format!("cannot write {out}: {e}"))
}
