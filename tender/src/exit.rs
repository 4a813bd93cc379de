//! Exit codes of `nabla-tender`, and the one way out once the guest runs.
//!
//! | code | meaning |
//! |---|---|
//! | 0..=254 | the guest's own exit status (`exit` hypercall); Linux: 0 for power-off, halt or a plain reboot, N for `reboot(LINUX_REBOOT_CMD_RESTART2, "N")` with N a decimal 0..=255 (how a container's init passes its process's status out) |
//! | 1 | bad input: unusable guest file (ELF, ABI note), `--mem`, command line |
//! | 2 | bad command-line usage (unknown flag, missing KERNEL) |
//! | 70 | internal error of the tender or host failure (a bug, or the host refused a resource) |
//! | 128+N | the guest faulted with signal N: 132 SIGILL, 133 SIGTRAP, 135 SIGBUS, 136 SIGFPE, 139 SIGSEGV |
//! | 139 | also: a guest double fault (a fault while the guest's fault entry still holds the previous one) |
//! | 129, 130, 131, 143 | the tender was sent SIGHUP, SIGINT, SIGQUIT or SIGTERM (terminal restored). A guest with `GUEST_FLAG_HOST_SIGNALS` takes these (and SIGUSR1, SIGUSR2, SIGWINCH) itself: Linux hands each to its init when init handles it, drops it when init ignores it, and otherwise ends with the same code and line (138 SIGUSR1, 140 SIGUSR2; SIGWINCH is dropped) |
//! | 159 | the guest made a forbidden host syscall (128 + SIGSYS) |
//! | 255 | the guest aborted (`abort` hypercall), or returned from its entry point |
//!
//! Codes from the guest and from the tender can collide (a guest may exit
//! 1); the tender always prints one line on stderr when *it* ends the run.

use crate::gate;
use core::sync::atomic::{AtomicBool, Ordering};

/// Bad input (guest file, options).
pub const LOAD_ERROR: i32 = 1;
/// Bad command-line usage.
pub const USAGE: i32 = 2;
/// Internal error or host failure.
pub const INTERNAL: i32 = 70;
/// Base of guest-fault codes (plus the signal number).
pub const FAULT_BASE: i32 = 128;
/// A fault while the fault frame is still in use (128 + SIGSEGV).
pub const DOUBLE_FAULT: i32 = 128 + libc::SIGSEGV;
/// Forbidden host syscall.
pub const FORBIDDEN_SYSCALL: i32 = 128 + libc::SIGSYS;
/// Guest abort.
pub const ABORT: i32 = 255;

/// Set once the tender starts to end the run (see [`in_progress`]).
static EXITING: AtomicBool = AtomicBool::new(false);

/// Whether an exit is already under way: a terminating signal that
/// interrupts it leaves it to finish, so the run ends with one line and
/// the terminal restored.
pub fn in_progress() -> bool {
    EXITING.load(Ordering::Acquire)
}

/// End the process now with `code`: no destructors, no libc, no
/// allocation. Safe to call from hypercalls and signal handlers.
pub fn now(code: i32) -> ! {
    EXITING.store(true, Ordering::Release);
    crate::terminal::restore();
    gate::exit_group(code)
}

/// Print `nabla-tender: MSG` on stderr and end with `code`. Usable after
/// the sandbox is on: formats into a stack buffer and writes with the gate.
pub fn with_message(code: i32, args: core::fmt::Arguments<'_>) -> ! {
    use core::fmt::Write;
    EXITING.store(true, Ordering::Release);
    let mut buf = gate::StackBuf::<512>::new();
    let _ = buf.write_str("nabla-tender: ");
    let _ = buf.write_fmt(args);
    let _ = buf.write_str("\n");
    gate::write_all(2, buf.as_bytes());
    now(code)
}
