//! The stack protector of C guests built with `-fstack-protector-strong
//! -mstack-protector-guard=global` (the recipe's flags, as Solo5's): the
//! canary is the global `__stack_chk_guard` instead of `%fs:0x28`, so it
//! works before (and without) any TLS, and a smashed canary calls
//! `__stack_chk_fail`.
//!
//! The guard is set once, before the application runs, from RDRAND when
//! the CPU has it, else from the clocks and the time-stamp counter
//! ([`crate::random`]). Its lowest byte is zero, as in glibc, so that a
//! string overflow cannot reproduce it and a string read stops at it.

use crate::random::{self, Source};
use core::sync::atomic::{AtomicUsize, Ordering};

/// The canary compiled code compares against. An `AtomicUsize` has the
/// layout of the `uintptr_t` the compiler reads; the value before
/// [`init`] is only a placeholder.
#[unsafe(no_mangle)]
pub static __stack_chk_guard: AtomicUsize = AtomicUsize::new(0x00c0_ffee_5a1e_5500);

/// Set the guard from a random word; returns where it came from. Called
/// once by `_start`, before any protected function runs (a protected
/// function running across the change would fail its check).
pub fn init() -> Source {
    let (word, source) = random::word();
    __stack_chk_guard.store((word & !0xff) as usize, Ordering::Relaxed);
    source
}

/// Called by compiled code whose canary was overwritten: the stack of the
/// application is corrupt, so end it at once (exit 255) with a message.
#[unsafe(no_mangle)]
pub extern "C" fn __stack_chk_fail() -> ! {
    crate::abort("stack smashing detected (__stack_chk_fail)")
}
