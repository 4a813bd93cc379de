//! Forwarding a host signal to the guest's trap vector: the rewrites of the
//! saved context (`ucontext_t`) after which the host's `rt_sigreturn`
//! resumes the guest in its syscall entry or its fault entry.
//!
//! Every forward follows three rules, so that no mistake of guest code can
//! make the tender loop:
//!
//! * **The entries run in 64-bit mode.** A guest program can switch itself
//!   to 32-bit (compatibility) mode with a far jump or `lret` to Linux's
//!   32-bit user code segment. Resuming an entry with that segment still in
//!   the context would run 64-bit code in 32-bit mode, fault, and forward
//!   again, forever. So every forward resumes with the 64-bit user code and
//!   data segments, and whatever interrupted code that was *not* in 64-bit
//!   mode becomes a `SIGSEGV` (`SI_KERNEL`) of that program: neither entry
//!   could return to it, and a guest kernel then signals only that program.
//! * **One fault at a time.** The fault frame is in use from the moment the
//!   tender writes it (`signo` non-zero) until the guest's fault entry
//!   writes 0 to `signo`. A fault that arrives while it is in use is a
//!   double fault (the entry itself faulted, or it never released the
//!   frame): reported in one line, exit 139. A preemption tick that finds
//!   the frame in use is dropped; the next one comes 10 ms later.
//! * **Flags the interrupted code set for itself stay behind**
//!   ([`ENTRY_CLEARED_FLAGS`]); the originals are in `r11` or the frame.
//!
//! Runs inside the signal handlers: no libc, no TLS, no allocation.

use crate::exit;
use crate::runtime::{self, Ordering, TRAP_FAULT, TRAP_FRAME, TRAP_STACK, TRAP_SYSCALL};
use crate::signals::signal_name;
use nabla_abi::{FaultFrame, GuestRegs};

/// Saved general registers of the interrupted code.
pub type Regs = [libc::greg_t; 23];

/// Flags a guest's code may set for itself that must not follow it into
/// its trap vector: TF would trap again at the entry, forever; AC would
/// fault on the entry's unaligned accesses; DF, NT and RF would break the
/// entry's code.
const ENTRY_CLEARED_FLAGS: i64 = 0x100 | 0x400 | 0x4000 | 0x1_0000 | 0x4_0000;

/// x86_64 Linux's 64-bit user code segment (`__USER_CS`). It is the only
/// 64-bit code segment user code can load; every other one it can reach
/// (`__USER32_CS`, 0x23) runs in compatibility mode.
const USER_CS: u64 = 0x33;
/// Linux's user data segment (`__USER_DS`), the stack segment of 64-bit
/// user code.
const USER_DS: u64 = 0x2b;

/// `si_code` of a signal the kernel raised itself.
pub const SI_KERNEL: i32 = 0x80;

/// What a fault entry is told: `FaultFrame`'s first fields.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    /// Host signal number.
    pub signo: i32,
    /// `si_code`.
    pub code: i32,
    /// Fault address.
    pub addr: u64,
}

/// The fault a program gets for code outside 64-bit mode, and for a
/// 32-bit syscall: x86_64 Linux without IA32 emulation raises a general
/// protection fault there, which it signals as SIGSEGV, `SI_KERNEL`,
/// address 0.
pub const NOT_64BIT: Fault = Fault { signo: libc::SIGSEGV, code: SI_KERNEL, addr: 0 };

fn reg(g: &Regs, r: libc::c_int) -> u64 {
    g[r as usize] as u64
}

/// Was the interrupted code running in 64-bit mode? `REG_CSGSFS` holds
/// `cs` in its low 16 bits.
pub fn in_64bit_mode(g: &Regs) -> bool {
    reg(g, libc::REG_CSGSFS) & 0xffff == USER_CS
}

/// Make `rt_sigreturn` resume in 64-bit mode with a valid stack segment.
/// `REG_CSGSFS` is `cs`, `gs`, `fs`, `ss`, 16 bits each. The host restores
/// `cs` (forcing only the privilege level) and `ss` (the kernel saves it
/// and sets `UC_SIGCONTEXT_SS`; for a signal from compatibility mode it
/// also omits `UC_STRICT_RESTORE_SS`, and then replaces an `ss` unusable in
/// 64-bit mode); `gs` and `fs` are padding on x86_64. Setting both
/// selectors explicitly makes the entry's mode independent of those rules.
fn resume_64bit(g: &mut Regs) {
    let v = reg(g, libc::REG_CSGSFS);
    g[libc::REG_CSGSFS as usize] = ((v & 0x0000_ffff_ffff_0000) | USER_CS | (USER_DS << 48)) as i64;
}

/// Resume a trapped 64-bit `syscall` at the guest's syscall entry, as the
/// instruction would enter a kernel: return address in rcx, flags in r11,
/// number still in rax. Returns false when no syscall entry is registered.
pub fn to_syscall_entry(g: &mut Regs) -> bool {
    let entry = TRAP_SYSCALL.load(Ordering::Acquire);
    if entry == 0 {
        return false;
    }
    g[libc::REG_RCX as usize] = g[libc::REG_RIP as usize];
    g[libc::REG_R11 as usize] = g[libc::REG_EFL as usize];
    g[libc::REG_EFL as usize] &= !ENTRY_CLEARED_FLAGS;
    g[libc::REG_RIP as usize] = entry as i64;
    resume_64bit(g);
    true
}

/// Resume the guest at its fault entry, as a call `entry(frame)` on the
/// fault stack, with `f` and the interrupted registers in the frame (a
/// fault outside 64-bit mode is described as [`NOT_64BIT`]). Returns false
/// when no fault entry is registered (the caller reports the fault). A
/// tick (SIGVTALRM) that finds the frame in use is dropped (returns true,
/// the context untouched); any other signal then ends the guest.
pub fn to_fault_entry(rt: &runtime::Runtime, g: &mut Regs, f: Fault) -> bool {
    let entry = TRAP_FAULT.load(Ordering::Acquire);
    if entry == 0 {
        return false;
    }
    let frame_addr = TRAP_FRAME.load(Ordering::Relaxed);
    let stack = TRAP_STACK.load(Ordering::Relaxed);
    // Both were checked to be writable guest memory when registered.
    let (Some(frame), Some(ret)) =
        (rt.guest.writable(frame_addr, size_of::<FaultFrame>() as u64), rt.guest.writable(stack.wrapping_sub(8), 8))
    else {
        return false;
    };
    let ip = reg(g, libc::REG_RIP);
    // SAFETY: `frame` is writable guest memory holding a whole FaultFrame
    // (checked above), whose first field is the u32 `signo`.
    let busy = unsafe { core::ptr::read_unaligned(frame.cast::<u32>()) };
    if busy != 0 {
        if f.signo == libc::SIGVTALRM {
            return true;
        }
        exit::with_message(
            exit::DOUBLE_FAULT,
            format_args!(
                "guest double fault: {} at {ip:#x} accessing {:#x} while delivering {}",
                signal_name(f.signo),
                f.addr,
                signal_name(busy as i32)
            ),
        )
    }
    let f = if in_64bit_mode(g) { f } else { NOT_64BIT };
    let regs = GuestRegs {
        rax: reg(g, libc::REG_RAX),
        rbx: reg(g, libc::REG_RBX),
        rcx: reg(g, libc::REG_RCX),
        rdx: reg(g, libc::REG_RDX),
        rsi: reg(g, libc::REG_RSI),
        rdi: reg(g, libc::REG_RDI),
        rbp: reg(g, libc::REG_RBP),
        rsp: reg(g, libc::REG_RSP),
        r8: reg(g, libc::REG_R8),
        r9: reg(g, libc::REG_R9),
        r10: reg(g, libc::REG_R10),
        r11: reg(g, libc::REG_R11),
        r12: reg(g, libc::REG_R12),
        r13: reg(g, libc::REG_R13),
        r14: reg(g, libc::REG_R14),
        r15: reg(g, libc::REG_R15),
        rip: ip,
        rflags: reg(g, libc::REG_EFL),
    };
    let ff = FaultFrame { signo: f.signo as u32, code: f.code, addr: f.addr, regs };
    // SAFETY: `frame` and `ret` are writable guest memory of the right
    // sizes (checked above).
    unsafe {
        core::ptr::write_unaligned(frame.cast::<FaultFrame>(), ff);
        core::ptr::write_unaligned(ret.cast::<u64>(), 0);
    }
    g[libc::REG_EFL as usize] &= !ENTRY_CLEARED_FLAGS;
    g[libc::REG_RDI as usize] = frame_addr as i64;
    g[libc::REG_RSP as usize] = stack.wrapping_sub(8) as i64;
    g[libc::REG_RIP as usize] = entry as i64;
    resume_64bit(g);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_forced_to_64bit_user_mode() {
        let mut g: Regs = [0; 23];
        // cs 0x23 (32-bit), gs/fs padding 0x1234/0x5678, ss 0x2b.
        g[libc::REG_CSGSFS as usize] = 0x002b_5678_1234_0023;
        assert!(!in_64bit_mode(&g));
        resume_64bit(&mut g);
        assert!(in_64bit_mode(&g));
        assert_eq!(g[libc::REG_CSGSFS as usize] as u64, 0x002b_5678_1234_0033);
        g[libc::REG_CSGSFS as usize] = 0x0000_0000_0000_0033;
        resume_64bit(&mut g);
        assert_eq!(g[libc::REG_CSGSFS as usize] as u64, 0x002b_0000_0000_0033);
    }
}
