//! The console module: guest output to stdout, guest input from stdin.
//!
//! Output is `write(1)`. Input must never block the guest, yet setting
//! `O_NONBLOCK` on an inherited stdin would also change it for the shell
//! that shares it. So when stdin is a terminal or a pipe we open our own
//! description of it (`/proc/self/fd/0`) with `O_NONBLOCK`, and watch it
//! edge-triggered in the epoll set; `yield_until` keeps a "maybe pending"
//! flag so the guest still sees level-triggered readiness, with no extra
//! syscall after the sandbox is on. A regular file or `/dev/null` on stdin
//! never blocks and is read directly (not in the ready set). A socket on
//! stdin is switched to `O_NONBLOCK` in place (a documented limit).
//! A terminal on stdin is put in raw mode (see `terminal.rs`).

use crate::hypercalls::CONSOLE_READY_BIT;
use crate::sandbox::{Pin, Rules};
use std::ffi::CStr;

/// The set-up console module.
#[derive(Debug)]
pub struct Console {
    /// Non-blocking input fd, or -1 when stdin is closed.
    pub input: i32,
    /// `input` is in the epoll set.
    pub pollable: bool,
}

impl Console {
    /// Prepare console input and register it with `epfd`.
    pub fn setup(epfd: i32) -> Console {
        // SAFETY: zeroed stat is a valid out-buffer for fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat writes only into `st`.
        if unsafe { libc::fstat(0, &mut st) } != 0 {
            return Console { input: -1, pollable: false };
        }
        let fmt = st.st_mode & libc::S_IFMT;
        // SAFETY: isatty only queries fd 0.
        let tty = unsafe { libc::isatty(0) } == 1;
        if !(tty || fmt == libc::S_IFIFO || fmt == libc::S_IFSOCK) {
            return Console { input: 0, pollable: false };
        }
        let path: &CStr = c"/proc/self/fd/0";
        // SAFETY: a NUL-terminated path; the new fd is ours.
        let mut fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if fd < 0 {
            fd = 0;
            // SAFETY: F_GETFL/F_SETFL on fd 0 change only its status flags.
            unsafe { libc::fcntl(0, libc::F_SETFL, libc::fcntl(0, libc::F_GETFL) | libc::O_NONBLOCK) };
        }
        let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: CONSOLE_READY_BIT };
        // SAFETY: `ev` is a valid event; both fds are open.
        let pollable = unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } == 0;
        Console { input: fd, pollable }
    }
}

impl super::Module for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn rules(&self, r: &mut Rules) {
        // console_write: stdout only.
        r.allow(libc::SYS_write, &[Pin::Eq(0, 1)]);
        if self.input >= 0 {
            // console_read: our stdin description only.
            r.allow(libc::SYS_read, &[Pin::Eq(0, self.input as u64)]);
        }
        if crate::terminal::is_raw() {
            // Restoring the terminal on every exit path: fd 0, TCSETSW only.
            r.allow(libc::SYS_ioctl, &[Pin::Eq(0, 0), Pin::Eq(1, libc::TCSETSW)]);
        }
    }
}
