//! The protection-key rights register (PKRU) across a forward to the guest.
//!
//! PKRU is a user register: any code, a guest kernel's user program
//! included, can write it with `wrpkru`, and all of them share the one host
//! thread. A program that write-disables key 0 (all our memory) and then
//! makes a syscall would have the guest kernel's entry run with that PKRU
//! and fault on its first store: the whole guest would end for one
//! program's register. (Recent hosts run signal handlers with the default
//! PKRU, but `rt_sigreturn` brings the program's back.)
//!
//! So before every forward to the guest's trap vector the saved PKRU in
//! the signal frame's xsave area is set back to the tender's own, read at
//! start. Guest kernels therefore always enter with PKRU as the tender
//! had it; protection keys mean nothing without an MMU anyway (a nommu
//! Linux has no `pkey_alloc`), and the Linux guest does not switch PKRU
//! between its processes.
//!
//! The host also writes tender memory on every signal before it switches
//! to the handler's PKRU: the C library's restartable-sequences (rseq)
//! area, which the host updates with the interrupted PKRU and which
//! would then fail and make the host kill the tender. The tender has no
//! use for rseq, so [`init`] unregisters it before the sandbox.
//!
//! Limit: on hosts whose kernel writes the signal frame with the
//! interrupted PKRU (before Linux 6.12), a write-disabled key 0 makes the
//! host kill the tender outright (no line), as it cannot deliver the
//! signal at all.

use core::sync::atomic::{AtomicU32, Ordering};

/// xsave component number of PKRU.
const PKRU_COMPONENT: u32 = 9;
/// `_fpx_sw_bytes::magic1` when the frame carries an xsave area.
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// Offset of `_fpx_sw_bytes` in the legacy fxsave area.
const SW_BYTES: usize = 464;
/// Offset of XSTATE_BV (the xsave header) in the xsave area.
const XSTATE_BV: usize = 512;

/// Offset of PKRU in the standard xsave format, 0 if the host has no PKRU.
static OFFSET: AtomicU32 = AtomicU32::new(0);
/// The tender's PKRU at start.
static VALUE: AtomicU32 = AtomicU32::new(0);

unsafe extern "C" {
    /// glibc (2.35+): offset of the thread's rseq area from the thread
    /// pointer, and its registered size (0 when none is registered).
    static __rseq_offset: isize;
    static __rseq_size: u32;
}

/// `RSEQ_FLAG_UNREGISTER`, and the signature glibc registers with on x86.
const RSEQ_FLAG_UNREGISTER: libc::c_long = 1;
const RSEQ_SIG: libc::c_long = 0x5305_3053;

/// Unregister the C library's rseq area (see the module doc). Best
/// effort: a host without rseq has nothing to unregister.
fn unregister_rseq() {
    // SAFETY: plain reads of two constants glibc sets before main.
    let (offset, size) = unsafe { (__rseq_offset, __rseq_size) };
    if size == 0 {
        return;
    }
    let tp: u64;
    // SAFETY: on x86_64 glibc, %fs:0 holds the thread pointer itself.
    unsafe { core::arch::asm!("mov {}, qword ptr fs:0", out(reg) tp, options(nostack, readonly)) };
    let area = tp.wrapping_add_signed(offset as i64);
    // The host wants the length glibc registered, which __rseq_size does
    // not give: glibc 2.35-2.39 registers 32 bytes and reports the 20 in
    // use; later ones register the feature size rounded up to 32. A wrong
    // length is refused with EINVAL and changes nothing.
    let rounded = size.div_ceil(32) * 32;
    for len in [32, rounded, size] {
        // SAFETY: the rseq syscall on the area glibc registered;
        // unregistering only stops the host from writing it.
        let r = unsafe { libc::syscall(libc::SYS_rseq, area, libc::c_long::from(len), RSEQ_FLAG_UNREGISTER, RSEQ_SIG) };
        if r == 0 {
            return;
        }
    }
}

/// Read the tender's PKRU and where it sits in a signal frame, and stop
/// the host's rseq writes. Called before the sandbox; does nothing on
/// hosts without OSPKE.
pub fn init() {
    let ospke = core::arch::x86_64::__cpuid_count(7, 0).ecx & (1 << 4) != 0;
    if !ospke {
        return;
    }
    unregister_rseq();
    let pkru: u32;
    // SAFETY: OSPKE is set, so rdpkru is enabled; it reads PKRU into eax
    // (ecx must be 0) and clears edx.
    unsafe { core::arch::asm!("rdpkru", in("ecx") 0u32, out("eax") pkru, out("edx") _, options(nomem, nostack)) };
    let offset = core::arch::x86_64::__cpuid_count(0xd, PKRU_COMPONENT).ebx;
    VALUE.store(pkru, Ordering::Relaxed);
    OFFSET.store(offset, Ordering::Release);
}

/// Where to write in an xsave area of `xstate_size` bytes whose features
/// are `xfeatures`, for PKRU at `offset`: `None` when the area has no PKRU.
fn slot(offset: u32, xfeatures: u64, xstate_size: u32) -> Option<usize> {
    let off = offset as usize;
    (offset != 0 && xfeatures & (1 << PKRU_COMPONENT) != 0 && off >= XSTATE_BV + 64 && off + 4 <= xstate_size as usize)
        .then_some(off)
}

/// Give the context that `rt_sigreturn` resumes the tender's PKRU.
///
/// # Safety
/// `uc` must be the ucontext the host passed to the running handler.
pub unsafe fn reset(uc: &mut libc::ucontext_t) {
    let offset = OFFSET.load(Ordering::Acquire);
    let area = uc.uc_mcontext.fpregs.cast::<u8>();
    if offset == 0 || area.is_null() {
        return;
    }
    // SAFETY: the host's signal frame holds a whole fxsave area at
    // `fpregs`; its software-reserved bytes say whether, and how large, an
    // xsave area follows (checked before anything beyond 512 bytes is
    // touched).
    unsafe {
        let magic = core::ptr::read_unaligned(area.add(SW_BYTES).cast::<u32>());
        let xfeatures = core::ptr::read_unaligned(area.add(SW_BYTES + 8).cast::<u64>());
        let xstate_size = core::ptr::read_unaligned(area.add(SW_BYTES + 16).cast::<u32>());
        if magic != FP_XSTATE_MAGIC1 {
            return;
        }
        let Some(off) = slot(offset, xfeatures, xstate_size) else { return };
        core::ptr::write_unaligned(area.add(off).cast::<u32>(), VALUE.load(Ordering::Relaxed));
        let bv = area.add(XSTATE_BV).cast::<u64>();
        core::ptr::write_unaligned(bv, core::ptr::read_unaligned(bv) | 1 << PKRU_COMPONENT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_must_lie_in_an_area_that_has_pkru() {
        // PKRU at 2432 (AVX2 host) or 2688 (AVX-512 host).
        assert_eq!(slot(2432, 0x207, 2440), Some(2432));
        assert_eq!(slot(2688, 0x2e7, 2696), Some(2688));
        assert_eq!(slot(2432, 0x7, 2440), None, "no PKRU in the frame");
        assert_eq!(slot(2432, 0x207, 2435), None, "frame too short");
        assert_eq!(slot(0, 0x207, 2440), None, "host without PKRU");
        assert_eq!(slot(100, 0x207, 2440), None, "inside the legacy area");
    }
}
