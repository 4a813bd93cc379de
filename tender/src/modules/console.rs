//! The console module: guest output to stdout, stderr and the kernel
//! log, guest input from stdin.
//!
//! Output is `write(1)` (`console_write`, and `stream_write` of stream 1),
//! `write(2)` (stream 2) and, for stream 3, the kernel log, a write to the
//! file of `--kernel-log` (opened before the sandbox, append-only, created
//! with mode 0640) or, without it, to stdout as before the streams
//! existed. Input must never block the guest, yet setting
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
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::IntoRawFd;
use std::path::PathBuf;

/// Arguments owned by the console module.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// Append the guest kernel's log (stream 3: Linux's printk) to FILE,
    /// created with mode 0640 if missing, instead of standard output
    #[arg(long, value_name = "FILE")]
    pub kernel_log: Option<PathBuf>,
}

/// Why the console module could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// `--kernel-log` could not be opened.
    #[error("--kernel-log {0}: {1}")]
    KernelLog(String, std::io::Error),
}

/// The set-up console module.
#[derive(Debug)]
pub struct Console {
    /// Non-blocking input fd, or -1 when stdin is closed.
    pub input: i32,
    /// `input` is in the epoll set.
    pub pollable: bool,
    /// Where stream 3 (the kernel log) goes: the `--kernel-log` file, or
    /// 1 (stdout).
    pub kernel_log: i32,
}

/// Open the `--kernel-log` file: write-only, appending, created 0640.
fn open_kernel_log(path: &std::path::Path) -> Result<i32, ConsoleError> {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| ConsoleError::KernelLog(path.display().to_string(), e))?;
    Ok(file.into_raw_fd())
}

impl Console {
    /// Open the kernel log, prepare console input and register it with
    /// `epfd`.
    pub fn setup(args: &ConsoleArgs, epfd: i32) -> Result<Console, ConsoleError> {
        let kernel_log = match &args.kernel_log {
            Some(path) => open_kernel_log(path)?,
            None => 1,
        };
        let (input, pollable) = Self::input(epfd);
        Ok(Console { input, pollable, kernel_log })
    }

    /// The input fd and whether it is in the epoll set.
    fn input(epfd: i32) -> (i32, bool) {
        // SAFETY: zeroed stat is a valid out-buffer for fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat writes only into `st`.
        if unsafe { libc::fstat(0, &mut st) } != 0 {
            return (-1, false);
        }
        let fmt = st.st_mode & libc::S_IFMT;
        // SAFETY: isatty only queries fd 0.
        let tty = unsafe { libc::isatty(0) } == 1;
        if !(tty || fmt == libc::S_IFIFO || fmt == libc::S_IFSOCK) {
            return (0, false);
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
        (fd, pollable)
    }
}

impl super::Module for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn rules(&self, r: &mut Rules) {
        // console_write, stream_write: stdout (the core module allows
        // stderr) and the kernel log's own file.
        r.allow(libc::SYS_write, &[Pin::Eq(0, 1)]);
        if self.kernel_log != 1 {
            r.allow(libc::SYS_write, &[Pin::Eq(0, self.kernel_log as u64)]);
        }
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
