//! Host operations of a User-Mode Linux kernel built as a nabla guest
//! (feature `uml`; the kernel side is in `kernel-patches/`).
//!
//! Stock UML implements its host operations (`os_*` and friends, declared
//! in the kernel's `arch/um/include/shared/os.h`) in `arch/um/os-Linux`
//! over the host C library. A nabla kernel is linked against this module
//! instead, and every operation here goes through the tender's
//! hypercalls: clocks, the one-shot/periodic timer (a deadline the kernel
//! polls, see below), idle, the memory layout, console input, the trap
//! vector, exit.
//!
//! Design: there are no host signals. The timer is a deadline kept here;
//! the kernel sleeps through [`nabla_idle`] (`yield_until` the deadline)
//! and asks [`nabla_timer_due`] when it idles or returns to a user
//! process. What needs kernel types or control flow (thread switching,
//! interrupt delivery, the process model) lives on the kernel side.
//!
//! The ABI note comes from the Solo5 module; this module adds the flags
//! note asking for executable free memory.
//!
//! Limits: one CPU. `os_getrandom` needs RDRAND (else the kernel seeds
//! itself from other sources).

use crate::abi::note::{FlagsNote, GUEST_FLAG_EXEC_MEMORY, GUEST_FLAG_PREEMPT_TICK};
use crate::abi::{BootInfo, TrapVector};
use core::ffi::{c_char, c_int, c_long, c_ulonglong};
use core::sync::atomic::{AtomicU64, Ordering};

/// The kernel runs user programs from its free memory, and preempts them
/// on the tender's tick.
#[used]
#[unsafe(link_section = ".note.nabla.flags")]
static NABLA_FLAGS_NOTE: FlagsNote = FlagsNote::new(GUEST_FLAG_EXEC_MEMORY | GUEST_FLAG_PREEMPT_TICK);

unsafe extern "C" {
    fn linux_main(argc: c_int, argv: *mut *mut c_char) -> c_int;
}

/// Longest command line passed to the kernel, and most words in it.
const CMDLINE_MAX: usize = 4096;
const ARGS_MAX: usize = 256;

struct Args {
    text: [u8; CMDLINE_MAX + 8],
    argv: [*mut c_char; ARGS_MAX + 2],
}

static mut ARGS: Args = Args { text: [0; CMDLINE_MAX + 8], argv: [core::ptr::null_mut(); ARGS_MAX + 2] };

/// Boot Linux with the tender's command line; returns when it halts.
pub fn run() -> i32 {
    // SAFETY: a plain read keeps the flags note from being discarded.
    let _ = unsafe { core::ptr::read_volatile(&raw const NABLA_FLAGS_NOTE) };
    let cmdline = crate::cmdline().as_bytes();
    let p = &raw mut ARGS;
    // SAFETY: `run` is called once, before the kernel starts, on the only
    // thread; nothing else refers to ARGS.
    let args = unsafe { &mut *p };
    let name = b"linux\0";
    args.text[..name.len()].copy_from_slice(name);
    args.argv[0] = args.text.as_mut_ptr().cast();
    let mut at = name.len();
    let mut argc = 1;
    for word in cmdline.split(|c| c.is_ascii_whitespace()).filter(|w| !w.is_empty()) {
        if argc == ARGS_MAX || at + word.len() + 1 > CMDLINE_MAX {
            crate::println!("nabla: kernel command line too long; ignoring the rest");
            break;
        }
        args.text[at..at + word.len()].copy_from_slice(word);
        args.text[at + word.len()] = 0;
        args.argv[argc] = args.text[at..].as_mut_ptr().cast();
        at += word.len() + 1;
        argc += 1;
    }
    // SAFETY: argv holds argc NUL-terminated strings and a null entry, in
    // static memory the kernel may keep pointers into.
    unsafe { linux_main(argc as c_int, args.argv.as_mut_ptr()) };
    // The kernel halted or powered off (a reboot ends the guest as well).
    0
}

/// The tender's boot info.
#[unsafe(no_mangle)]
pub extern "C" fn nabla_boot_info() -> *const BootInfo {
    crate::boot_info()
}

/// Absolute monotonic deadline of the timer (0: disarmed).
static DEADLINE: AtomicU64 = AtomicU64::new(0);
/// Period of the timer in ns (0: one-shot).
static INTERVAL: AtomicU64 = AtomicU64::new(0);

/// Sleep until the timer deadline or until input is ready; returns the
/// ready set (bit 63: console input).
#[unsafe(no_mangle)]
pub extern "C" fn nabla_idle() -> u64 {
    let deadline = match DEADLINE.load(Ordering::Relaxed) {
        0 => u64::MAX,
        d => d,
    };
    crate::yield_until(deadline).unwrap_or(0)
}

/// The devices that are ready now, without sleeping (the kernel asks on
/// its preemption tick, so that input reaches it while programs spin).
#[unsafe(no_mangle)]
pub extern "C" fn nabla_ready_now() -> u64 {
    crate::yield_until(0).unwrap_or(0)
}

/// True once per expiry when the timer is due at monotonic time `now`;
/// re-arms a periodic timer.
#[unsafe(no_mangle)]
pub extern "C" fn nabla_timer_due(now: u64) -> c_int {
    let deadline = DEADLINE.load(Ordering::Relaxed);
    if deadline == 0 || now < deadline {
        return 0;
    }
    // Re-arm a periodic timer, skipping periods that passed unseen
    // rather than firing each.
    let next = match (now - deadline).checked_div(INTERVAL.load(Ordering::Relaxed)) {
        None => 0,
        Some(missed) => deadline.saturating_add((missed + 1).saturating_mul(INTERVAL.load(Ordering::Relaxed))),
    };
    DEADLINE.store(next, Ordering::Relaxed);
    1
}

/// `os_timer_create`: the timer is the deadline above; nothing to create.
#[unsafe(no_mangle)]
pub extern "C" fn os_timer_create() -> c_int {
    0
}

/// `os_timer_set_interval`: periodic timer every `nsecs`.
#[unsafe(no_mangle)]
pub extern "C" fn os_timer_set_interval(nsecs: c_ulonglong) -> c_int {
    let ns = nsecs.max(1);
    INTERVAL.store(ns, Ordering::Relaxed);
    DEADLINE.store(crate::clock_monotonic().saturating_add(ns), Ordering::Relaxed);
    0
}

/// `os_timer_one_shot`: one expiry `nsecs` from now.
#[unsafe(no_mangle)]
pub extern "C" fn os_timer_one_shot(nsecs: c_ulonglong) -> c_int {
    INTERVAL.store(0, Ordering::Relaxed);
    DEADLINE.store(crate::clock_monotonic().saturating_add(nsecs.max(1)), Ordering::Relaxed);
    0
}

/// `os_timer_disable`.
#[unsafe(no_mangle)]
pub extern "C" fn os_timer_disable() {
    DEADLINE.store(0, Ordering::Relaxed);
    INTERVAL.store(0, Ordering::Relaxed);
}

/// `os_nsecs`: the kernel's clocksource, monotonic ns.
#[unsafe(no_mangle)]
pub extern "C" fn os_nsecs() -> i64 {
    crate::clock_monotonic() as i64
}

/// `os_persistent_clock_emulation`: wall-clock ns since 1970.
#[unsafe(no_mangle)]
pub extern "C" fn os_persistent_clock_emulation() -> i64 {
    crate::clock_wall() as i64
}

/// `os_early_checks`: stock UML probes host features it relies on
/// (ptrace, /dev/shm); a nabla guest relies only on the hypercalls,
/// whose ABI version the tender checked before loading the kernel.
#[unsafe(no_mangle)]
pub extern "C" fn os_early_checks() {}

/// `os_check_bugs`: as `os_early_checks`.
#[unsafe(no_mangle)]
pub extern "C" fn os_check_bugs() {}

/// `os_flush_stdout`: console output is written synchronously.
#[unsafe(no_mangle)]
pub extern "C" fn os_flush_stdout() {}

/// `setup_machinename`: what `uname -m` reports.
///
/// # Safety
/// `out` must have room for 65 bytes (`__NEW_UTS_LEN + 1`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setup_machinename(out: *mut c_char) {
    let name = b"x86_64\0";
    // SAFETY: the caller's buffer holds at least 65 bytes.
    unsafe { core::ptr::copy_nonoverlapping(name.as_ptr(), out.cast(), name.len()) };
}

/// `setup_hostinfo`: the "host" line of /proc/cpuinfo and the banner.
///
/// # Safety
/// `buf` must be writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setup_hostinfo(buf: *mut c_char, len: c_int) {
    let text = concat!("nabla-tender, nabla-platform ", env!("CARGO_PKG_VERSION"), "\0").as_bytes();
    let Ok(len) = usize::try_from(len) else { return };
    if len == 0 {
        return;
    }
    let n = text.len().min(len);
    // SAFETY: the caller's buffer is writable for `len` >= n bytes.
    unsafe {
        core::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast(), n);
        *buf.add(n - 1) = 0;
    }
}

/// `os_getrandom`: bytes from the CPU's RDRAND (no host call).
///
/// # Safety
/// `buf` must be writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn os_getrandom(buf: *mut u8, len: usize, _flags: u32) -> isize {
    const ENOSYS: isize = 38;
    let mut done = 0;
    while done < len {
        let Some(v) = crate::random::rdrand() else { break };
        let n = (len - done).min(8);
        // SAFETY: `done + n <= len`, inside the caller's buffer.
        unsafe { core::ptr::copy_nonoverlapping(v.to_le_bytes().as_ptr(), buf.add(done), n) };
        done += n;
    }
    if done == 0 { -ENOSYS } else { done as isize }
}

/// `os_dump_core`: the kernel panicked; end the guest abnormally.
#[unsafe(no_mangle)]
pub extern "C" fn os_dump_core() -> ! {
    crate::abort("the Linux kernel panicked (see the console above)")
}

/// Register the kernel's syscall and fault entries.
///
/// # Safety
/// `v` must point at a valid `TrapVector`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nabla_set_trap_vector(v: *const TrapVector) -> c_int {
    // SAFETY: the caller passes a valid TrapVector.
    match crate::set_trap_vector(unsafe { &*v }) {
        Ok(()) => 0,
        Err(_) => -22,
    }
}

/// Set the `%fs` base through the tender (hosts without FSGSBASE).
#[unsafe(no_mangle)]
pub extern "C" fn nabla_set_tls_base(base: u64) -> c_int {
    match crate::set_tls_base(base) {
        Ok(()) => 0,
        Err(_) => -22,
    }
}

/// Read console input: bytes read, 0 at end of input, -11 (EAGAIN) when
/// nothing is pending, -5 (EIO) on error.
///
/// # Safety
/// `buf` must be writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nabla_console_read(buf: *mut u8, len: usize) -> c_long {
    // SAFETY: the caller's buffer is writable for `len` bytes.
    let slice = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    match crate::console_read(slice) {
        Ok(Some(n)) => n as c_long,
        Ok(None) => -11,
        Err(_) => -5,
    }
}

/// `exit`: the kernel's early-boot error exits (stock UML calls the C
/// library's); ends the guest with `status`.
#[unsafe(no_mangle)]
pub extern "C" fn exit(status: c_int) -> ! {
    crate::exit(status as u32)
}
