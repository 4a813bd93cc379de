//! `nabla-tender`: runs a Nabla guest as one seccomp-sandboxed host process.
//!
//! The order of events is the design: everything that needs a host
//! resource happens first (parse, read and validate the ELF, map memory,
//! open devices, install signal handlers), the seccomp filter goes on last,
//! and the tender jumps into the guest, never to return. After the jump the
//! only tender code that runs is the hypercalls and the signal handlers,
//! which use nothing but the raw syscalls of [`gate`].

pub mod elf;
pub mod exit;
pub mod gate;
pub mod hypercalls;
pub mod launch;
pub mod loader;
pub mod manifest;
pub mod memory;
pub mod modules;
pub mod runtime;
pub mod sandbox;
pub mod signals;
pub mod sysnames;
pub mod terminal;

/// `--version` text.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (Nabla ABI version 2)");

/// `[start, end)` of the tender's own code, for telling tender faults from
/// guest faults. Uses symbols that both GNU ld and lld define.
pub fn tender_text() -> (u64, u64) {
    unsafe extern "C" {
        static __ehdr_start: u8;
        static etext: u8;
    }
    // Only the addresses of the linker-defined symbols are taken.
    (&raw const __ehdr_start as u64, &raw const etext as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn abi_version_in_version_string() {
        assert!(super::VERSION.contains(&format!("ABI version {}", nabla_abi::ABI_VERSION)));
        let (s, e) = super::tender_text();
        let here = super::tender_text as *const () as u64;
        assert!(s < e && here >= s && here < e);
    }
}
