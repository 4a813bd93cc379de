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
//! Design: no host signal interrupts the kernel. Signals sent to the
//! tender from outside (SIGTERM and friends) are recorded by the tender
//! (the flags note asks for it) and reach the kernel as a ready bit, which
//! it takes with [`nabla_host_signals_take`]. The timer is a deadline kept here;
//! the kernel sleeps through [`nabla_idle`] (`yield_until` the deadline)
//! and asks [`nabla_timer_due`] when it idles or returns to a user
//! process. What needs kernel types or control flow (thread switching,
//! interrupt delivery, the process model) lives on the kernel side.
//!
//! The ABI note comes from the Solo5 module; this module adds the flags
//! note asking for executable free memory, the preemption tick, the
//! virtio-net header and host signals.
//!
//! Limits: one CPU. `os_getrandom` needs RDRAND (else the kernel seeds
//! itself from other sources).

use crate::abi::note::{
    FlagsNote, GUEST_FLAG_EXEC_MEMORY, GUEST_FLAG_HOST_SIGNALS, GUEST_FLAG_NET_VNET_HDR, GUEST_FLAG_PREEMPT_TICK,
};
use crate::abi::{BootInfo, TrapVector};
use core::ffi::{c_char, c_int, c_long, c_ulonglong};
use core::sync::atomic::{AtomicU64, Ordering};

/// The kernel runs user programs from its free memory, preempts them on
/// the tender's tick, its net driver speaks the virtio-net header
/// (checksum and segmentation offloads; see the kernel's net.c), and it
/// takes host signals (hands them to its init; see the kernel's signal.c).
#[used]
#[unsafe(link_section = ".note.nabla.flags")]
static NABLA_FLAGS_NOTE: FlagsNote = FlagsNote::new(
    GUEST_FLAG_EXEC_MEMORY | GUEST_FLAG_PREEMPT_TICK | GUEST_FLAG_NET_VNET_HDR | GUEST_FLAG_HOST_SIGNALS,
);

// The kernel's devices, all optional: the user attaches any subset. Block
// devices are /dev/vda (rootfs) to /dev/vdh (disk7) in this order, net
// devices eth0 to eth3, whatever is attached (see the kernel's block.c).
crate::devices![
    block "rootfs" optional, block "disk1" optional, block "disk2" optional, block "disk3" optional,
    block "disk4" optional, block "disk5" optional, block "disk6" optional, block "disk7" optional,
    net "eth0" optional, net "eth1" optional, net "eth2" optional, net "eth3" optional,
];

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
    // SAFETY: as above, for the manifest note.
    let _ = unsafe { core::ptr::read_volatile(&raw const NABLA_MANIFEST_NOTE) };
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
    let words = || cmdline.split(|c| c.is_ascii_whitespace()).filter(|w| !w.is_empty());
    // Tell user space (in /proc/cmdline) when the console is not a
    // terminal, so that an init can run its shell on a pipe (no prompt,
    // no job control) instead of on a terminal nobody types at.
    let pipe = crate::boot_info().flags & crate::abi::BOOT_FLAG_CONSOLE_TTY == 0;
    let console: Option<&[u8]> = pipe.then_some(b"nabla.console=pipe");
    let defaults = root_defaults(words());
    for word in defaults.iter().chain(core::iter::once(&console)).flatten().copied().chain(words()) {
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

/// The words a root disk implies, ahead of the user's: with `rootfs`
/// attached and no `root=` before a `--`, `root=/dev/vda`, and `rw` (or
/// `ro` for a read-only attachment) unless the user said `ro` or `rw`.
/// Linux itself would mount a root read-only by default; a disk attached
/// read-write is meant to be written.
fn root_defaults<'a>(words: impl Iterator<Item = &'a [u8]>) -> [Option<&'static [u8]>; 2] {
    let Some((_, d)) = crate::device("rootfs", crate::abi::DEVICE_BLOCK) else { return [None, None] };
    let (mut root, mut mode) = (false, false);
    for w in words.take_while(|w| *w != b"--") {
        root |= w.starts_with(b"root=");
        mode |= w == b"ro" || w == b"rw";
    }
    if root {
        return [None, None];
    }
    let read_only = d.flags & crate::abi::DEVICE_READ_ONLY != 0;
    [Some(b"root=/dev/vda"), (!mode).then_some(if read_only { b"ro" } else { b"rw" })]
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
/// ready set (bit 63: console input, bit 62: host signals, the others:
/// device handles).
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

/// The tender's monotonic clock itself, for the guest's vDSO, which user
/// programs call directly (arch/um/nabla/vsyscall.c): the same read as
/// [`os_nsecs`], without the kernel in between.
#[unsafe(no_mangle)]
pub extern "C" fn nabla_clock_monotonic_fn() -> unsafe extern "C" fn() -> u64 {
    crate::hc().clock_monotonic
}

/// The timer's deadline itself (absolute monotonic ns, 0: disarmed), for
/// the guest's vDSO: a program that reads the clock there past it makes
/// the syscall, so that the kernel sees the timer due (the preemption tick
/// is dropped while the tender's clock runs).
#[unsafe(no_mangle)]
pub extern "C" fn nabla_timer_deadline() -> *const u64 {
    DEADLINE.as_ptr().cast_const()
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
    crate::abort("the Linux kernel panicked (see the kernel log)")
}

/// Write `len` bytes at `buf` to host stream `stream` (1 stdout, 2 stderr,
/// 3 the kernel log): 0, -EINVAL (22) for another stream, -EIO (5) when
/// the host write failed.
///
/// # Safety
/// `buf` must be readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nabla_stream_write(stream: u32, buf: *const u8, len: usize) -> c_int {
    // SAFETY: the caller's buffer is readable for `len` bytes.
    let slice = unsafe { core::slice::from_raw_parts(buf, len) };
    block_result(crate::stream_write(stream, slice))
}

/// The host signals sent to the tender since the last call, as
/// `1 << signo` bits, cleared (see the kernel's signal.c).
#[unsafe(no_mangle)]
pub extern "C" fn nabla_host_signals_take() -> u64 {
    crate::host_signals_take()
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

/// Errno-style result of a block hypercall: 0, -EINVAL (22) for a request
/// the tender refused as malformed, -EIO (5) for a host error.
fn block_result(r: Result<(), crate::Error>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(crate::Error(crate::abi::RESULT_EINVAL)) => -22,
        Err(_) => -5,
    }
}

/// Read `len` bytes at byte `offset` of block device `handle` into `buf`
/// (whole sectors, at most the device's `max_io`): 0, -EINVAL or -EIO.
///
/// # Safety
/// `buf` must be writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nabla_block_read(handle: u32, offset: u64, buf: *mut u8, len: usize) -> c_int {
    // SAFETY: the caller's buffer is writable for `len` bytes.
    let slice = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    block_result(crate::block_read(handle, offset, slice))
}

/// Write `len` bytes from `buf` at byte `offset` of block device `handle`:
/// 0, -EINVAL (also on a read-only device) or -EIO.
///
/// # Safety
/// `buf` must be readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nabla_block_write(handle: u32, offset: u64, buf: *const u8, len: usize) -> c_int {
    // SAFETY: the caller's buffer is readable for `len` bytes.
    let slice = unsafe { core::slice::from_raw_parts(buf, len) };
    block_result(crate::block_write(handle, offset, slice))
}

/// Make every completed write of block device `handle` durable (the
/// host's fdatasync): 0 or -EIO.
#[unsafe(no_mangle)]
pub extern "C" fn nabla_block_flush(handle: u32) -> c_int {
    block_result(crate::block_flush(handle))
}

/// Receive one frame of net device `handle` into `buf` (at least the
/// device's `max_io` bytes): its length, -EAGAIN (-11) when none is
/// pending, -EINVAL (-22) for a request the tender refused, -EIO (-5) when
/// the host failed (the tap is gone).
///
/// # Safety
/// `buf` must be writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nabla_net_read(handle: u32, buf: *mut u8, len: usize) -> c_long {
    // SAFETY: the caller's buffer is writable for `len` bytes.
    let slice = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    match crate::net_read(handle, slice) {
        Ok(Some(n)) => n as c_long,
        Ok(None) => -11,
        Err(crate::Error(crate::abi::RESULT_EINVAL)) => -22,
        Err(_) => -5,
    }
}

/// Receive one frame of net device `handle` scattered over the `cnt`
/// pieces at `iov` (their lengths adding up to at least the device's
/// `max_io`): as [`nabla_net_read`].
///
/// # Safety
/// `iov` must point at `cnt` pieces, each writable for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nabla_net_readv(handle: u32, iov: *const crate::abi::IoVec, cnt: u32) -> c_long {
    // SAFETY: the caller passes `cnt` valid pieces.
    let pieces = unsafe { core::slice::from_raw_parts(iov, cnt as usize) };
    match crate::net_readv(handle, pieces) {
        Ok(Some(n)) => n as c_long,
        Ok(None) => -11,
        Err(crate::Error(crate::abi::RESULT_EINVAL)) => -22,
        Err(_) => -5,
    }
}

/// Send one frame of `len` bytes on net device `handle`: 0, -EAGAIN (-11)
/// when the host's queue is full, -EINVAL (-22) or -EIO (-5).
///
/// # Safety
/// `buf` must be readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nabla_net_write(handle: u32, buf: *const u8, len: usize) -> c_int {
    // SAFETY: the caller's buffer is readable for `len` bytes.
    let slice = unsafe { core::slice::from_raw_parts(buf, len) };
    match crate::net_write(handle, slice) {
        Ok(()) => 0,
        Err(crate::Error(crate::abi::RESULT_AGAIN)) => -11,
        Err(e) => block_result(Err(e)),
    }
}
