//! `nabla-tender`: runs a Nabla guest as one seccomp-sandboxed host process.
//!
//! The order of events is the design: everything that needs a host
//! resource happens first (parse, read and validate the ELF, map memory
//! and the syscall sled ([`sled`]), open devices, install signal
//! handlers), the seccomp filter goes on last, and the tender jumps into
//! the guest, never to return. After the jump the
//! only tender code that runs is the hypercalls and the signal handlers,
//! which use nothing but the raw syscalls of [`gate`] and the host's vDSO
//! clock ([`vdso`]).

pub mod elf;
pub mod exit;
pub mod forward;
pub mod gate;
pub mod hypercalls;
pub mod idle;
pub mod launch;
pub mod loader;
pub mod manifest;
pub mod memory;
pub mod modules;
pub mod pkru;
pub mod runnc;
pub mod runtime;
pub mod sandbox;
pub mod signals;
pub mod sled;
pub mod sysnames;
pub mod terminal;
pub mod vdso;

/// `--version` text.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (Nabla ABI version 8)");

/// Most executable host ranges remembered (the tender, libc, vDSO...).
pub const MAX_HOST_CODE: usize = 8;

/// The executable ranges of every object loaded in the tender's process
/// (the tender itself, the C library when dynamically linked, the vDSO):
/// a fault there is a tender bug, never the guest's. Collected with
/// `dl_iterate_phdr` before the guest starts.
pub fn host_code() -> [(u64, u64); MAX_HOST_CODE] {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `data` is the `out` array below; `info` is valid for
        // this callback (dl_iterate_phdr's contract).
        let (out, info) = unsafe { (&mut *data.cast::<[(u64, u64); MAX_HOST_CODE]>(), &*info) };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers.
        let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        for ph in phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD && p.p_flags & libc::PF_X != 0) {
            let start = info.dlpi_addr.wrapping_add(ph.p_vaddr);
            if let Some(slot) = out.iter_mut().find(|s| s.1 == 0) {
                *slot = (start, start.wrapping_add(ph.p_memsz));
            }
        }
        0
    }
    let mut out = [(0u64, 0u64); MAX_HOST_CODE];
    // SAFETY: `visit` only writes into `out`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut out).cast()) };
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn abi_version_in_version_string() {
        assert!(super::VERSION.contains(&format!("ABI version {}", nabla_abi::ABI_VERSION)));
        let code = super::host_code();
        let here = super::host_code as *const () as u64;
        let write = libc::write as *const () as u64;
        for addr in [here, write] {
            assert!(code.iter().any(|&(s, e)| addr >= s && addr < e), "{addr:#x} not in {code:x?}");
        }
    }
}
