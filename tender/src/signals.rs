//! Signal handling: trapped guest syscalls (SIGSYS), guest faults
//! (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP), the preemption tick
//! (SIGVTALRM), and signals from outside (SIGTERM, SIGINT, SIGHUP,
//! SIGQUIT; with a guest that takes host signals also SIGUSR1, SIGUSR2
//! and SIGWINCH).
//!
//! Signals from outside end the tender with 128 + the number, unless the
//! guest has `GUEST_FLAG_HOST_SIGNALS`: then the handler only records the
//! signal in a pending set (an atomic) and writes an eventfd that sits,
//! edge-triggered, in `yield_until`'s epoll set, so a guest that idles is
//! woken even when the signal lands between the hypercall's look at the
//! set and its `epoll_pwait2`. `yield_until` reports
//! `HOST_SIGNAL_READY` while the set is not empty, and the guest takes it
//! with the `host_signals_take` hypercall. SIGKILL is not catchable and
//! still ends the tender at once.
//!
//! The handlers run on an alternate stack installed before the sandbox,
//! with the guest's `%fs`, so they follow the gate's rules (no libc, no
//! TLS, no allocation). For each signal they either
//!
//! * forward it to the guest's trap vector by rewriting the saved context
//!   and returning (the kernel's `rt_sigreturn` then resumes the guest
//!   there; the rules of that rewrite are in `forward.rs`), or
//! * report it in one line on stderr and end the process with the
//!   documented exit code (see `exit.rs`).
//!
//! A fault whose instruction pointer lies in host code (the tender, its C
//! library, the vDSO) is a tender bug and ends with code 70. Any other
//! fault is the guest's, wherever it is: in guest memory, in the syscall
//! sled and the reserved pages below it (a program called a rewritten
//! site with a number the sled does not take, see `sled.rs`), or at a
//! non-canonical address (`call *%rax` with a wild `rax`). A second fault
//! while a handler runs is blocked by the signal mask and so kills the
//! process outright, and a fault while the guest's fault entry still holds
//! the previous one is reported as a double fault rather than forwarded:
//! the handlers never loop.

use crate::exit;
use crate::forward::{self, Fault, SI_KERNEL};
use crate::runtime;
use crate::sandbox::{Pin, Rules};
use crate::sysnames::syscall_name;
use std::io;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// Size of the alternate signal stack.
const ALT_STACK: usize = 64 * 1024;

/// Signals the tender takes over.
pub const HANDLED: [libc::c_int; 7] =
    [libc::SIGSYS, libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP, libc::SIGVTALRM];

/// Period of the preemption tick, in microseconds of the process's CPU time.
pub const TICK_US: i64 = 10_000;

/// Arm the preemption tick (guests with `GUEST_FLAG_PREEMPT_TICK`): a
/// host interval timer counting the process's user CPU time, so an idle
/// guest (blocked in `yield_until`) takes no ticks, and the host kernel
/// re-arms it, so it needs no syscall once the sandbox is on.
pub fn arm_tick() -> io::Result<()> {
    let period = libc::timeval { tv_sec: 0, tv_usec: TICK_US as libc::suseconds_t };
    let it = libc::itimerval { it_interval: period, it_value: period };
    // SAFETY: `it` is a valid itimerval; the old value is not wanted.
    if unsafe { libc::setitimer(libc::ITIMER_VIRTUAL, &it, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The `SIGSYS` part of `siginfo_t` (Linux UAPI layout on x86_64).
#[repr(C)]
struct SigsysInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    call_addr: u64,
    syscall: i32,
    arch: u32,
}

/// The fault part of `siginfo_t`.
#[repr(C)]
#[derive(Clone, Copy)]
struct FaultInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    addr: u64,
}

/// The signals from outside that a guest with `GUEST_FLAG_HOST_SIGNALS`
/// takes (`nabla_abi::HOST_SIGNALS` as a list).
pub const FORWARDED: [libc::c_int; 7] =
    [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM, libc::SIGWINCH];

/// Host signals received and not yet taken by the guest (`1 << signo`).
static PENDING: AtomicU64 = AtomicU64::new(0);
/// The eventfd the handler writes to wake `yield_until` (-1: none).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// Whether host signals wait for the guest to take them.
pub fn host_signals_pending() -> bool {
    PENDING.load(Ordering::Acquire) != 0
}

/// `host_signals_take` hypercall: the pending set, cleared.
pub extern "C" fn host_signals_take() -> u64 {
    PENDING.swap(0, Ordering::AcqRel)
}

/// The host-signal wake-up of a guest with `GUEST_FLAG_HOST_SIGNALS`, set
/// up (a tender module: its rule is the one write to its eventfd).
#[derive(Debug)]
pub struct HostSignals {
    /// The eventfd in the epoll set.
    pub wake_fd: i32,
}

impl HostSignals {
    /// Create the eventfd and put it in `epfd`'s set, edge-triggered, as
    /// `HOST_SIGNAL_READY`: every write is a new edge, so it is never read.
    pub fn setup(epfd: i32) -> io::Result<HostSignals> {
        // SAFETY: plain syscall wrapper, no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ev =
            libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: nabla_abi::HOST_SIGNAL_READY };
        // SAFETY: `ev` is a valid event; both fds are open.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(io::Error::last_os_error());
        }
        WAKE_FD.store(fd, Ordering::Release);
        Ok(HostSignals { wake_fd: fd })
    }
}

impl crate::modules::Module for HostSignals {
    fn name(&self) -> &'static str {
        "host signals"
    }

    fn rules(&self, r: &mut Rules) {
        // The handler's wake-up: 8 bytes to our eventfd only.
        r.allow(libc::SYS_write, &[Pin::Eq(0, self.wake_fd as u64), Pin::Eq(2, 8)]);
    }
}

/// Install the alternate stack and the handlers. Called before the sandbox.
/// `host_signals`: the guest takes the signals of [`FORWARDED`] (see the
/// module doc; [`HostSignals::setup`] must have run).
pub fn install(host_signals: bool) -> io::Result<()> {
    // SAFETY: a fresh anonymous mapping, used only as the signal stack.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            ALT_STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let ss = libc::stack_t { ss_sp: stack, ss_flags: 0, ss_size: ALT_STACK };
    // SAFETY: `ss` describes the mapping above, which is never unmapped.
    if unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for sig in HANDLED {
        // SAFETY: zeroed sigaction is a valid "no flags, empty mask" value.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = nabla_on_signal as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // No handled signal may nest inside another: a fault in the
        // handler then kills the process instead of recursing.
        // Nor may a terminating signal cut into a forward or a report.
        for other in HANDLED.iter().chain(&TERMINATING).chain(&FORWARDED) {
            // SAFETY: `sa_mask` is a valid sigset_t.
            unsafe { libc::sigaddset(&mut sa.sa_mask, *other) };
        }
        // SAFETY: `nabla_on_signal` enters `on_signal`, which has the
        // SA_SIGINFO signature and obeys the async-signal rules described
        // in the module doc.
        if unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let outside: &[libc::c_int] = if host_signals { &FORWARDED } else { &TERMINATING };
    for &sig in outside {
        // SAFETY: zeroed sigaction is a valid "no flags, empty mask" value.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = if host_signals {
            // Host calls the signal interrupts go on where they were.
            sa.sa_flags = libc::SA_ONSTACK | libc::SA_RESTART;
            nabla_on_host_signal as *const () as usize
        } else {
            sa.sa_flags = libc::SA_ONSTACK;
            nabla_on_terminate as *const () as usize
        };
        // One way out at a time: no other signal runs inside it.
        for other in HANDLED.iter().chain(&TERMINATING).chain(&FORWARDED) {
            // SAFETY: `sa_mask` is a valid sigset_t.
            unsafe { libc::sigaddset(&mut sa.sa_mask, *other) };
        }
        // SAFETY: `nabla_on_terminate` enters `on_terminate`, which only
        // restores the terminal and exits; `nabla_on_host_signal` enters
        // `on_host_signal`, which only records the signal and writes the
        // eventfd.
        if unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: ignoring SIGPIPE makes a closed stdout an EPIPE error that
    // the console hypercall reports, instead of killing the tender.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    Ok(())
}

// The handlers' real entry points. The host delivers a signal with the
// interrupted code's alignment-check flag (AC) still set (it clears only
// DF, RF and TF), and a guest may set AC for itself: the handler's own
// unaligned accesses (formatting a report) would then raise a SIGBUS,
// which the mask blocks, and the host kills the process without a word.
// So AC is cleared before any Rust code runs; the stack and the argument
// registers are left as the host set them.
core::arch::global_asm!(
    ".globl nabla_on_signal",
    "nabla_on_signal:",
    "pushfq",
    "btr qword ptr [rsp], 18",
    "popfq",
    "jmp {on_signal}",
    ".globl nabla_on_terminate",
    "nabla_on_terminate:",
    "pushfq",
    "btr qword ptr [rsp], 18",
    "popfq",
    "jmp {on_terminate}",
    ".globl nabla_on_host_signal",
    "nabla_on_host_signal:",
    "pushfq",
    "btr qword ptr [rsp], 18",
    "popfq",
    "jmp {on_host_signal}",
    on_signal = sym on_signal,
    on_terminate = sym on_terminate,
    on_host_signal = sym on_host_signal,
);

unsafe extern "C" {
    fn nabla_on_signal();
    fn nabla_on_terminate();
    fn nabla_on_host_signal();
}

/// A signal from outside for a guest that takes them: record it, wake the
/// guest (see the module doc). Set first, written second: a
/// `yield_until` that misses the set still sees the eventfd's edge.
extern "C" fn on_host_signal(sig: libc::c_int) {
    if exit::in_progress() || !(1..64).contains(&sig) {
        return;
    }
    PENDING.fetch_or(1u64 << sig, Ordering::AcqRel);
    let fd = WAKE_FD.load(Ordering::Acquire);
    if fd >= 0 {
        let one = 1u64.to_ne_bytes();
        // SAFETY: `one` is 8 readable bytes; a full eventfd (never, at one
        // write a signal) would only refuse with EAGAIN.
        let _ = unsafe { crate::gate::write(fd, one.as_ptr(), one.len()) };
    }
}

/// Signals from outside that end the tender: the terminal is restored
/// first, then the process exits with 128 + the signal number.
pub const TERMINATING: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT];

extern "C" fn on_terminate(sig: libc::c_int) {
    // The tender is already on its way out (a hypercall or report that
    // the signal interrupted): let that exit finish, with its own line.
    if exit::in_progress() {
        return;
    }
    let name = match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        _ => "SIGQUIT",
    };
    exit::with_message(exit::FAULT_BASE + sig, format_args!("terminated by {name}"))
}

/// Name of a signal the handlers report.
pub(crate) fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGSYS => "SIGSYS",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGVTALRM => "SIGVTALRM",
        _ => "signal",
    }
}

/// Syscall number of `uretprobe`.
const URETPROBE: u64 = 335;

/// Hosts since Linux 6.11 let the `uretprobe` syscall (335) through seccomp
/// unfiltered; called from anywhere but the uprobe trampoline it raises
/// SIGILL (SI_KERNEL) right after the `syscall` instruction and does
/// nothing else but set `rax` to -1. That is the one syscall the filter cannot trap, so we
/// recognise its refusal here and treat it as a trapped syscall 335.
fn is_uretprobe_refusal(rt: &runtime::Runtime, code: i32, ip: u64) -> bool {
    if code != SI_KERNEL {
        return false;
    }
    match rt.guest.readable(ip.wrapping_sub(2), 2) {
        Some(p) => {
            // SAFETY: two readable bytes of guest memory (checked).
            let insn = unsafe { core::ptr::read_unaligned(p.cast::<[u8; 2]>()) };
            insn == [0x0f, 0x05]
        }
        None => false,
    }
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(rt) = runtime::get() else {
        exit::with_message(exit::INTERNAL, format_args!("{} before the guest started", signal_name(sig)))
    };
    // SAFETY: the kernel passes a valid ucontext_t for SA_SIGINFO handlers,
    // live and exclusively ours until the handler returns.
    let uc = unsafe { &mut *ctx.cast::<libc::ucontext_t>() };
    // Whatever is resumed (a guest entry, or the kernel or tender code a
    // dropped tick interrupted) runs with the tender's PKRU: a program's
    // wrpkru must not lock its kernel out of memory (see `pkru.rs`).
    // SAFETY: `uc` is the host's ucontext of this handler.
    unsafe { crate::pkru::reset(uc) };
    let g = &mut uc.uc_mcontext.gregs;
    let ip = g[libc::REG_RIP as usize] as u64;

    // The preemption tick goes to the guest only when it interrupted guest
    // code outside the image (a user program of a guest kernel); in the
    // guest kernel or in the tender it is dropped, as the kernel checks its
    // timers itself whenever it returns to user code or idles. Code
    // outside 64-bit mode is always a guest program's, wherever it runs,
    // and the tick ends it (see `forward.rs`): it could never be preempted.
    // The sled and the pages below guest memory run only on behalf of a
    // program that called a rewritten syscall site: its ticks are its own.
    let tick = sig == libc::SIGVTALRM;
    let below_guest = ip < crate::memory::GUEST_BASE;
    let guest_user = below_guest || (rt.guest.contains(ip) && !(rt.image.0..rt.image.1).contains(&ip));
    if tick && !guest_user && forward::in_64bit_mode(g) {
        return;
    }

    // SAFETY: the kernel fills the common fields for every signal, and
    // `_sigsys` for SIGSYS (the struct only covers the union's start).
    let si = unsafe { &*info.cast::<SigsysInfo>() };
    let uretprobe = sig == libc::SIGILL && is_uretprobe_refusal(rt, si.code, ip);
    if uretprobe {
        g[libc::REG_RAX as usize] = URETPROBE as i64;
    }
    if sig == libc::SIGSYS || uretprobe {
        let (nr, arch) =
            if uretprobe { (URETPROBE, crate::gate::AUDIT_ARCH_X86_64) } else { (si.syscall as u64, si.arch) };
        let call_addr = if uretprobe { ip } else { si.call_addr };
        on_syscall(rt, g, nr, arch, call_addr);
        return;
    }

    let fault = if tick {
        // A tick has no fault address.
        Fault { signo: sig, code: 0, addr: 0 }
    } else {
        // SAFETY: for the fault signals the kernel fills `si_addr`.
        let fi = unsafe { &*info.cast::<FaultInfo>() };
        Fault { signo: sig, code: fi.code, addr: fi.addr }
    };
    // The tender never runs outside 64-bit mode: code there is the
    // guest's, wherever it jumped (even into host code).
    // An alignment-check fault (SIGBUS, BUS_ADRALN) in host code is the
    // guest's doing, as the tender never sets AC: a hypercall called with
    // AC set and a misaligned argument, say.
    const AC: i64 = 1 << 18;
    let alignment_check = sig == libc::SIGBUS && fault.code == libc::BUS_ADRALN;
    if rt.in_host_code(ip) && forward::in_64bit_mode(g) && alignment_check && g[libc::REG_EFL as usize] & AC != 0 {
        exit::with_message(
            exit::FAULT_BASE + sig,
            format_args!(
                "guest fault {} in tender code at {ip:#x} accessing {:#x}: the guest set the alignment-check flag",
                signal_name(sig),
                fault.addr
            ),
        )
    }
    if rt.in_host_code(ip) && forward::in_64bit_mode(g) {
        exit::with_message(
            exit::INTERNAL,
            format_args!("internal fault {} in the tender at {ip:#x} accessing {:#x}", signal_name(sig), fault.addr),
        )
    }
    if !forward::to_fault_entry(rt, g, fault) {
        exit::with_message(
            exit::FAULT_BASE + sig,
            format_args!("guest fault {} at {ip:#x} accessing {:#x}", signal_name(sig), fault.addr),
        )
    }
}

/// A trapped syscall. A 64-bit `syscall` from guest code goes to the
/// guest's syscall entry. A 32-bit one (`int $0x80`, or `syscall` or
/// `sysenter` in 32-bit mode; the filter traps all of them, and only guest
/// code makes them) is what an x86_64 Linux without IA32 emulation refuses
/// with a general protection fault at the instruction, so it goes to the
/// fault entry as that program's SIGSEGV. The host reports a 32-bit
/// `syscall` or `sysenter` at the 32-bit vDSO's return address, not at the
/// instruction, which it does not know; `rip` is then 0. Anything not
/// forwarded ends the guest as a forbidden host syscall.
///
/// The filter also traps 64-bit syscalls from below guest memory (the
/// syscall sled), which are not forwarded: the sled holds no syscall
/// instruction, so one there means something is wrong, and it ends the
/// guest like any syscall from outside guest memory.
fn on_syscall(rt: &runtime::Runtime, g: &mut forward::Regs, nr: u64, arch: u32, call_addr: u64) {
    let native = arch == crate::gate::AUDIT_ARCH_X86_64;
    // Guest memory only, not the sled below it.
    let from_guest = rt.guest.contains(g[libc::REG_RIP as usize] as u64);
    if native && forward::in_64bit_mode(g) {
        if from_guest && forward::to_syscall_entry(g) {
            return;
        }
    } else if from_guest || !native {
        // Every syscall instruction is two bytes long.
        let at = if from_guest { call_addr.wrapping_sub(2) } else { 0 };
        g[libc::REG_RIP as usize] = at as i64;
        if forward::to_fault_entry(rt, g, forward::NOT_64BIT) {
            return;
        }
    }
    let name = if native { syscall_name(nr) } else { "non-x86_64" };
    exit::with_message(
        exit::FORBIDDEN_SYSCALL,
        format_args!("guest made a forbidden host syscall {name} ({nr}) at {:#x}", call_addr.wrapping_sub(2)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_signals_are_the_abis_host_signals() {
        let mask = FORWARDED.iter().fold(0u64, |m, &s| m | 1 << s);
        assert_eq!(mask, nabla_abi::HOST_SIGNALS);
        assert!(TERMINATING.iter().all(|s| FORWARDED.contains(s)));
    }

    #[test]
    fn a_host_signal_is_pending_until_taken() {
        on_host_signal(libc::SIGTERM);
        on_host_signal(libc::SIGTERM);
        on_host_signal(libc::SIGHUP);
        assert!(host_signals_pending());
        assert_eq!(host_signals_take(), 1 << libc::SIGTERM | 1 << libc::SIGHUP);
        assert!(!host_signals_pending());
        assert_eq!(host_signals_take(), 0);
    }
}
