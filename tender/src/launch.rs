//! The jump into the guest: the last thing the tender does.
//!
//! The guest is entered as if called: `rsp` = stack top - 8, where the
//! return address of [`guest_returned`] sits, so `rsp + 8` is 16-byte
//! aligned as the System V ABI expects at a function's first instruction,
//! and `rdi` = the address of the `BootInfo`.
//!
//! The guest starts with an `%fs` base of 0, as on Solo5: until it sets
//! its own (`set_tls_base`), any TLS access faults. Until then `%fs` is
//! the tender's thread pointer, and a guest reading it would find the
//! tender's stack canary and a pointer into tender memory. So the base is
//! cleared last, once nothing but the jump is left: from there on no
//! tender code may use TLS, which the hypercalls and handlers already
//! avoid (see `gate.rs`).

use crate::exit;
use crate::gate;
use crate::loader::Entry;

/// Called (on an aligned stack) if the guest's entry point returns.
extern "C" fn guest_returned() -> ! {
    exit::with_message(exit::ABORT, format_args!("guest returned from its entry point"))
}

// Where a returning guest lands: `ret` leaves rsp 16-byte aligned, one word
// off the System V convention, so realign before calling into Rust.
core::arch::global_asm!(
    ".globl nabla_guest_returned",
    "nabla_guest_returned:",
    "and rsp, -16",
    "call {f}",
    "ud2",
    f = sym guest_returned,
);

unsafe extern "C" {
    fn nabla_guest_returned();
}

/// Clear the `%fs` base, switch to the guest stack and jump to its entry.
/// `fsgsbase`: the CPU and host let user code run `wrfsbase`; without it,
/// `arch_prctl(ARCH_SET_FS, 0)`, which the sandbox allows on such hosts.
///
/// # Safety
/// `e` must come from a successful `loader::load` into guest memory that is
/// still mapped, and everything the guest needs (runtime state, signal
/// handlers, sandbox) must already be installed. Never returns.
pub unsafe fn enter(e: Entry, fsgsbase: bool) -> ! {
    let ret = nabla_guest_returned as *const () as u64;
    if fsgsbase {
        // SAFETY: FSGSBASE is enabled (the caller's flag, from AT_HWCAP2);
        // the instruction changes only the %fs base, and no TLS access
        // follows (only the jump below).
        unsafe { gate::wrfsbase(0) };
    } else {
        let r = gate::arch_set_fs(0);
        if r != 0 {
            // The base is unchanged, so reporting (which uses no TLS
            // either) is safe.
            exit::with_message(exit::INTERNAL, format_args!("cannot clear the %fs base: error {}", -r))
        }
    }
    // SAFETY: the stack top and entry point lie in mapped guest memory
    // (checked by the loader); from here on only guest code and the
    // hypercalls/handlers run, on the guest's stack.
    unsafe {
        core::arch::asm!(
            "mov rsp, {sp}",
            "push {ret}",
            "xor ebp, ebp",
            "jmp {pc}",
            sp = in(reg) e.stack_top,
            ret = in(reg) ret,
            pc = in(reg) e.pc,
            in("rdi") e.boot_info,
            options(noreturn),
        )
    }
}
