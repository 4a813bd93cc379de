//! The gate: the only code that issues host syscalls once the guest runs.
//!
//! Hypercalls and signal handlers run on the guest's stack (or the signal
//! stack) with the guest's `%fs`, so they may not touch libc, thread-local
//! storage, locks or the allocator. Every host syscall they need is a raw
//! `syscall` instruction here, returning the kernel's `-errno` convention.
//! The seccomp filter pins each of these syscalls to its arguments; see
//! `sandbox.rs` and each module's `rules()`. The one other code that may
//! make a host syscall then is the host's vDSO `clock_gettime`, which
//! [`clock_ns`] calls when `vdso::init` found it: on a host whose
//! clocksource it cannot read from user mode it makes the same pinned
//! `clock_gettime` syscall itself (see `vdso.rs`).
//!
//! Limits: x86_64 only.

use core::arch::asm;

/// `arch_prctl` code to set the `%fs` base (asm/prctl.h).
pub const ARCH_SET_FS: u64 = 0x1002;
/// `AUDIT_ARCH_X86_64` (linux/audit.h): `seccomp_data.arch` / `si_arch`.
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

/// Raw syscall with up to three arguments. Returns the raw result
/// (negative errno on failure).
///
/// # Safety
/// The caller guarantees that the arguments are valid for syscall `nr`
/// (pointers point at memory of the right size and mutability).
#[inline(always)]
pub unsafe fn syscall3(nr: i64, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret: i64;
    // SAFETY: the `syscall` instruction clobbers only rax, rcx and r11,
    // which are declared; memory effects are the caller's contract.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a1, in("rsi") a2,
             in("rdx") a3, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Raw syscall with up to six arguments.
///
/// # Safety
/// As for [`syscall3`].
#[inline(always)]
pub unsafe fn syscall6(nr: i64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64, a6: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `syscall3`; r10, r8 and r9 carry arguments 4 to 6.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a1, in("rsi") a2,
             in("rdx") a3, in("r10") a4, in("r8") a5, in("r9") a6,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// `write(2)` once; returns bytes written or `-errno`.
///
/// # Safety
/// `buf..buf+len` must be readable.
pub unsafe fn write(fd: i32, buf: *const u8, len: usize) -> i64 {
    // SAFETY: forwarded contract.
    unsafe { syscall3(libc::SYS_write, fd as u64, buf as u64, len as u64) }
}

/// `write(2)` until everything is written or an error other than EINTR.
pub fn write_all(fd: i32, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live slice.
        let n = unsafe { write(fd, bytes.as_ptr(), bytes.len()) };
        if n == -(libc::EINTR as i64) {
            continue;
        }
        if n <= 0 {
            return false;
        }
        bytes = bytes.get(n as usize..).unwrap_or(&[]);
    }
    true
}

/// `read(2)` once; returns bytes read or `-errno`.
///
/// # Safety
/// `buf..buf+len` must be writable.
pub unsafe fn read(fd: i32, buf: *mut u8, len: usize) -> i64 {
    // SAFETY: forwarded contract.
    unsafe { syscall3(libc::SYS_read, fd as u64, buf as u64, len as u64) }
}

/// `readv(fd, iov, n)`; returns bytes read or `-errno`.
///
/// # Safety
/// Every `iov` entry must describe writable memory of its length.
pub unsafe fn readv(fd: i32, iov: &[libc::iovec]) -> i64 {
    // SAFETY: forwarded contract; the array itself is live for the call.
    unsafe { syscall3(libc::SYS_readv, fd as u64, iov.as_ptr() as u64, iov.len() as u64) }
}

/// `clock_gettime(clock)` in nanoseconds (0 if the host refuses, which the
/// filter never makes it do for the two clocks we use). Through the host's
/// vDSO when `vdso::init` found it (no syscall at all when the host's
/// clocksource is the TSC), else the raw syscall.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let r = match crate::vdso::clock_gettime() {
        // SAFETY: `f` is the vDSO's clock_gettime (see `vdso.rs`): it only
        // writes the valid, writable `ts`, and uses no TLS, lock or
        // allocation, so it may run in hypercall context.
        Some(f) => i64::from(unsafe { f(clock, &raw mut ts) }),
        // SAFETY: `ts` is a valid, writable timespec.
        None => unsafe { syscall3(libc::SYS_clock_gettime, clock as u64, &raw mut ts as u64, 0) },
    };
    if r != 0 {
        return 0;
    }
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// `epoll_pwait2(epfd, events, n, timeout, NULL, 0)`; returns the number of
/// events or `-errno`. `timeout_ns` of `None` blocks without limit.
pub fn epoll_wait(epfd: i32, events: &mut [libc::epoll_event], timeout_ns: Option<u64>) -> i64 {
    let ts;
    let tsp = match timeout_ns {
        Some(ns) => {
            ts = libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            };
            &raw const ts as u64
        }
        None => 0,
    };
    // SAFETY: `events` is a live, writable array of its length and `tsp` is
    // null or points at `ts`, which lives until the call returns.
    unsafe { syscall6(libc::SYS_epoll_pwait2, epfd as u64, events.as_mut_ptr() as u64, events.len() as u64, tsp, 0, 0) }
}

/// `epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL)`; returns 0 or `-errno`.
pub fn epoll_del(epfd: i32, fd: i32) -> i64 {
    // SAFETY: EPOLL_CTL_DEL reads no event argument (null is allowed).
    unsafe { syscall6(libc::SYS_epoll_ctl, epfd as u64, libc::EPOLL_CTL_DEL as u64, fd as u64, 0, 0, 0) }
}

/// `arch_prctl(ARCH_SET_FS, base)`, for hosts without FSGSBASE.
pub fn arch_set_fs(base: u64) -> i64 {
    // SAFETY: ARCH_SET_FS only changes this thread's %fs base.
    unsafe { syscall3(libc::SYS_arch_prctl, ARCH_SET_FS, base, 0) }
}

/// Set `%fs` base with the `wrfsbase` instruction (needs FSGSBASE).
///
/// # Safety
/// The CPU and kernel must have enabled FSGSBASE for user mode.
pub unsafe fn wrfsbase(base: u64) {
    // SAFETY: the caller checked HWCAP2_FSGSBASE; the instruction only
    // changes %fs base.
    unsafe { asm!("wrfsbase {}", in(reg) base, options(nostack, preserves_flags)) };
}

/// End the process with `code`. Never returns.
pub fn exit_group(code: i32) -> ! {
    loop {
        // SAFETY: exit_group takes no pointers.
        unsafe { syscall3(libc::SYS_exit_group, code as u64, 0, 0) };
    }
}

/// A small stack buffer implementing `core::fmt::Write`, for formatting
/// messages where allocation is not allowed. Output past its capacity is
/// dropped (the message is truncated, never a panic).
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        StackBuf { buf: [0; N], len: 0 }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl<const N: usize> Default for StackBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = b;
                    self.len += 1;
                }
                None => return Err(core::fmt::Error),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn stackbuf_truncates() {
        let mut b = StackBuf::<4>::new();
        assert!(write!(b, "abcdef").is_err());
        assert_eq!(b.as_bytes(), b"abcd");
    }

    #[test]
    fn clocks_advance() {
        let a = clock_ns(libc::CLOCK_MONOTONIC);
        let b = clock_ns(libc::CLOCK_MONOTONIC);
        assert!(a > 0 && b >= a);
        assert!(clock_ns(libc::CLOCK_REALTIME) > 1_700_000_000 * 1_000_000_000);
    }
}
