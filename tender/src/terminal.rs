//! Raw mode for an interactive console, and its guaranteed restore.
//!
//! When stdin is a terminal the tender switches it to raw mode right
//! before the guest starts (no line editing, no echo, no signal keys: they
//! all belong to the guest) and restores the saved settings on every way
//! out: guest exit, abort, fault, forbidden syscall, and SIGTERM, SIGHUP,
//! SIGINT or SIGQUIT from outside. The restore is one raw
//! `ioctl(0, TCSETSW)`, which the console module allows (pinned to fd 0
//! and that request) only when a terminal is in use. Limit: seccomp cannot
//! pin the termios the pointer refers to, so a compromised guest could set
//! other settings on the user's terminal (nothing beyond that terminal).

use crate::gate;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

struct Saved(UnsafeCell<Option<libc::termios>>);

// SAFETY: written once by `enter_raw`, before the guest and any handler
// run; only read afterwards.
unsafe impl Sync for Saved {}

static SAVED: Saved = Saved(UnsafeCell::new(None));
static RAW: AtomicBool = AtomicBool::new(false);

/// Is stdin a terminal?
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty only queries fd 0.
    unsafe { libc::isatty(0) == 1 }
}

/// Put the terminal on stdin in raw mode, remembering its settings.
/// Does nothing when stdin is not a terminal or we are not its foreground
/// process group.
pub fn enter_raw() {
    if !stdin_is_tty() {
        return;
    }
    // Only the foreground job may change its controlling terminal: from the
    // background, tcsetattr would stop the tender with SIGTTOU. (On a
    // terminal that is not our controlling one, tcgetpgrp fails and there
    // is no such signal.)
    // SAFETY: tcgetpgrp/getpgrp only query.
    let fg = unsafe { libc::tcgetpgrp(0) };
    // SAFETY: as above.
    if fg >= 0 && fg != unsafe { libc::getpgrp() } {
        return;
    }
    // SAFETY: zeroed termios is a valid out-buffer for tcgetattr.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd 0 is a terminal; `t` is writable.
    if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
        return;
    }
    // SAFETY: single-threaded, before the guest runs (see `Saved`).
    unsafe { *SAVED.0.get() = Some(t) };
    let mut raw = t;
    raw.c_iflag &= !(libc::IGNBRK | libc::BRKINT | libc::PARMRK | libc::ISTRIP | libc::INLCR | libc::IGNCR);
    raw.c_iflag &= !(libc::ICRNL | libc::IXON);
    raw.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
    raw.c_cc[libc::VMIN] = 1;
    raw.c_cc[libc::VTIME] = 0;
    // Output processing stays on, so the guest's "\n" still starts a line.
    // SAFETY: `raw` is a valid termios for fd 0.
    if unsafe { libc::tcsetattr(0, libc::TCSADRAIN, &raw) } == 0 {
        RAW.store(true, Ordering::Release);
    }
}

/// Whether raw mode is on (so the sandbox must allow the restore).
pub fn is_raw() -> bool {
    RAW.load(Ordering::Acquire)
}

/// Restore the saved terminal settings, if raw mode is on. Safe in signal
/// handlers and hypercalls: one raw ioctl, no libc.
pub fn restore() {
    if !RAW.swap(false, Ordering::AcqRel) {
        return;
    }
    // SAFETY: written before raw mode was turned on, never again.
    if let Some(t) = unsafe { (*SAVED.0.get()).as_ref() } {
        // SAFETY: TCSETSW reads a kernel termios, a prefix of glibc's.
        unsafe { gate::syscall3(libc::SYS_ioctl, 0, libc::TCSETSW, t as *const libc::termios as u64) };
    }
}
