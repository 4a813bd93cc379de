//! The jump into the guest: the last thing the tender does.
//!
//! The guest is entered as if called: `rsp` = stack top - 8, where the
//! return address of [`guest_returned`] sits, so `rsp + 8` is 16-byte
//! aligned as the System V ABI expects at a function's first instruction,
//! and `rdi` = the address of the `BootInfo`.

use crate::exit;
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

/// Switch to the guest stack and jump to its entry.
///
/// # Safety
/// `e` must come from a successful `loader::load` into guest memory that is
/// still mapped, and everything the guest needs (runtime state, signal
/// handlers, sandbox) must already be installed. Never returns.
pub unsafe fn enter(e: Entry) -> ! {
    let ret = nabla_guest_returned as *const () as u64;
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
