//! The Solo5 public C API over Nabla's hypercalls (feature `solo5`), so
//! that a unikernel written for Solo5 links against `libnabla_platform.a`
//! and runs under `nabla-tender`. The declarations are in
//! `platform/include/solo5.h`.
//!
//! Semantics follow Solo5's documentation: results OK/AGAIN/EINVAL/EUNSPEC;
//! each device is acquired once by name; block I/O in whole blocks (here
//! any number of blocks up to the device's maximum per call, where Solo5
//! implementations allow one); `solo5_yield` returns at the deadline or
//! when a network device has input. Unlike some Solo5 bindings, calls on a
//! device that is not present return EINVAL rather than aborting (the
//! header allows both).
//!
//! Besides the API, the library gives a C guest what Solo5's bindings
//! give it: the entry point, the command-line options `--solo5:quiet` and
//! `--solo5:debug` ([`crate::solo5_cmdline`]), the TLS API ([`tls`]) and
//! the stack protector ([`ssp`]). Everything else in the library (memcpy
//! and friends, compiler helpers, Rust code) is made local when the static
//! library is built (`scripts/build-solo5-lib.sh`), so the guest's own
//! libc never collides with it.

use crate::abi::{DEVICE_BLOCK, DEVICE_NET, RESULT_AGAIN, RESULT_EINVAL, RESULT_OK};
use core::ffi::{CStr, c_char, c_int};
use core::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(feature = "uml"))]
mod ssp;
#[cfg(not(feature = "uml"))]
mod tls;

/// Stack kept below the top of memory when computing the Solo5 heap.
#[cfg(not(feature = "uml"))]
const STACK_RESERVE: u64 = 128 * 1024;

/// `struct solo5_start_info`.
#[repr(C)]
pub struct StartInfo {
    /// NUL-terminated command line.
    pub cmdline: *const c_char,
    /// First byte of the heap.
    pub heap_start: usize,
    /// Heap size in bytes.
    pub heap_size: usize,
}

/// `struct solo5_block_info`.
#[repr(C)]
pub struct BlockInfo {
    /// Capacity in bytes.
    pub capacity: u64,
    /// Block size in bytes.
    pub block_size: u64,
}

/// `struct solo5_net_info`.
#[repr(C)]
pub struct NetInfo {
    /// MAC address.
    pub mac_address: [u8; 6],
    /// MTU, without the Ethernet header.
    pub mtu: usize,
}

#[cfg(not(feature = "uml"))]
unsafe extern "C" {
    fn solo5_app_main(si: *const StartInfo) -> c_int;
}

/// The whole command line the tender passed.
#[cfg(not(feature = "uml"))]
fn full_cmdline() -> &'static [u8] {
    let b = crate::boot_info();
    // SAFETY: the tender wrote `cmdline_len` bytes (and a NUL) at
    // `cmdline`, which stay valid for the life of the guest.
    unsafe { core::slice::from_raw_parts(b.cmdline as *const u8, b.cmdline_len as usize) }
}

/// What the leading `--solo5:` options ask the platform to say.
#[cfg(not(feature = "uml"))]
pub fn log_level() -> crate::solo5_cmdline::LogLevel {
    crate::solo5_cmdline::parse(full_cmdline()).0
}

/// Run the C application (called by the runtime's `_start`, after the
/// banner).
#[cfg(not(feature = "uml"))]
pub fn run_app() -> i32 {
    let guard = ssp::init();
    let b = crate::boot_info();
    let (level, at) = crate::solo5_cmdline::parse(full_cmdline());
    let heap_end = b.stack_top.saturating_sub(STACK_RESERVE).max(b.image_end);
    let si = StartInfo {
        // The rest of the line keeps the tender's final NUL.
        cmdline: (b.cmdline as usize + at) as *const c_char,
        heap_start: b.image_end as usize,
        heap_size: (heap_end - b.image_end) as usize,
    };
    if level == crate::solo5_cmdline::LogLevel::Debug {
        debug_report(&si, guard);
    }
    // SAFETY: the application defines `solo5_app_main` with this signature.
    unsafe { solo5_app_main(&si) }
}

/// The `--solo5:debug` lines: heap, devices, the canary's source.
#[cfg(not(feature = "uml"))]
fn debug_report(si: &StartInfo, guard: crate::random::Source) {
    crate::println!(
        "Solo5: debug: heap {:#x}..{:#x} ({} KiB)",
        si.heap_start,
        si.heap_start + si.heap_size,
        si.heap_size / 1024
    );
    for (handle, d) in crate::devices().iter().enumerate() {
        let name = crate::device_name(d);
        if d.kind == DEVICE_BLOCK {
            let ro = if d.flags & crate::abi::DEVICE_READ_ONLY != 0 { ", read-only" } else { "" };
            crate::println!(
                "Solo5: debug: device {handle} {name}: block, {} bytes, {}-byte blocks{ro}",
                d.capacity,
                d.sector_size
            );
        } else {
            let m = &d.mac;
            crate::println!(
                "Solo5: debug: device {handle} {name}: net, mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, mtu {}",
                m[0],
                m[1],
                m[2],
                m[3],
                m[4],
                m[5],
                d.mtu
            );
        }
    }
    let source = match guard {
        crate::random::Source::Rdrand => "RDRAND",
        crate::random::Source::Clock => "the clocks (no RDRAND)",
    };
    crate::println!("Solo5: debug: stack protector guard from {source}");
}

/// Handles acquired so far (each device may be acquired once).
static ACQUIRED: AtomicU64 = AtomicU64::new(0);

/// # Safety
/// `name` must be a NUL-terminated string; `h` and the info pointer valid.
unsafe fn acquire(name: *const c_char, kind: u32, h: *mut u64) -> Option<(u32, &'static crate::abi::DeviceInfo)> {
    if name.is_null() || h.is_null() {
        return None;
    }
    // SAFETY: the caller passes a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(name) }.to_str().ok()?;
    let (handle, d) = crate::device(name, kind)?;
    let bit = 1u64 << handle;
    if ACQUIRED.fetch_or(bit, Ordering::Relaxed) & bit != 0 {
        return None;
    }
    // SAFETY: `h` is a valid out-pointer (checked non-null; caller's contract).
    unsafe { *h = u64::from(handle) };
    Some((handle, d))
}

fn handle(h: u64) -> u32 {
    u32::try_from(h).unwrap_or(u32::MAX)
}

/// `solo5_console_write`.
///
/// # Safety
/// `buf` must be readable for `size` bytes (or null).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solo5_console_write(buf: *const c_char, size: usize) {
    if !buf.is_null() {
        // SAFETY: the caller passes `size` readable bytes.
        let _ = crate::console_write(unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), size) });
    }
}

/// `solo5_clock_monotonic`.
#[unsafe(no_mangle)]
pub extern "C" fn solo5_clock_monotonic() -> u64 {
    crate::clock_monotonic()
}

/// `solo5_clock_wall`.
#[unsafe(no_mangle)]
pub extern "C" fn solo5_clock_wall() -> u64 {
    crate::clock_wall()
}

/// `solo5_yield`.
///
/// # Safety
/// `ready_set` must be null or point at a writable `u64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solo5_yield(deadline: u64, ready_set: *mut u64) {
    let ready = crate::yield_until(deadline).unwrap_or(0) & !crate::abi::CONSOLE_READY;
    if !ready_set.is_null() {
        // SAFETY: the caller passes a valid out-pointer or NULL.
        unsafe { *ready_set = ready };
    }
}

/// `solo5_exit`.
#[unsafe(no_mangle)]
pub extern "C" fn solo5_exit(status: c_int) -> ! {
    crate::exit(status as u32)
}

/// `solo5_abort`.
#[unsafe(no_mangle)]
pub extern "C" fn solo5_abort() -> ! {
    crate::abort("solo5_abort() called")
}

/// `solo5_set_tls_base`.
#[unsafe(no_mangle)]
pub extern "C" fn solo5_set_tls_base(base: usize) -> u32 {
    match crate::set_tls_base(base as u64) {
        Ok(()) => RESULT_OK,
        Err(_) => RESULT_EINVAL,
    }
}

/// `solo5_block_acquire`.
///
/// # Safety
/// `name` must be a NUL-terminated string; `h` and `info` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solo5_block_acquire(name: *const c_char, h: *mut u64, info: *mut BlockInfo) -> u32 {
    // SAFETY: forwarded caller contract.
    match unsafe { acquire(name, DEVICE_BLOCK, h) } {
        Some((_, d)) if !info.is_null() => {
            // SAFETY: `info` is a valid out-pointer (non-null).
            unsafe { *info = BlockInfo { capacity: d.capacity, block_size: u64::from(d.sector_size) } };
            RESULT_OK
        }
        _ => RESULT_EINVAL,
    }
}

/// `solo5_block_read`.
///
/// # Safety
/// `buf` must be writable for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solo5_block_read(h: u64, offset: u64, buf: *mut u8, size: usize) -> u32 {
    // SAFETY: the tender validates the range; `buf` is the caller's.
    unsafe { (crate::hc().block_read)(handle(h), offset, buf as u64, size as u64) }
}

/// `solo5_block_write`.
///
/// # Safety
/// `buf` must be readable for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solo5_block_write(h: u64, offset: u64, buf: *const u8, size: usize) -> u32 {
    // SAFETY: the tender validates the range; `buf` is the caller's.
    unsafe { (crate::hc().block_write)(handle(h), offset, buf as u64, size as u64) }
}

/// `solo5_net_acquire`.
///
/// # Safety
/// `name` must be a NUL-terminated string; `h` and `info` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solo5_net_acquire(name: *const c_char, h: *mut u64, info: *mut NetInfo) -> u32 {
    // SAFETY: forwarded caller contract.
    match unsafe { acquire(name, DEVICE_NET, h) } {
        Some((_, d)) if !info.is_null() => {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&d.mac[..6]);
            // SAFETY: `info` is a valid out-pointer (non-null).
            unsafe { *info = NetInfo { mac_address: mac, mtu: d.mtu as usize } };
            RESULT_OK
        }
        _ => RESULT_EINVAL,
    }
}

/// `solo5_net_read`.
///
/// # Safety
/// `buf` must be writable for `size` bytes and `read_size` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solo5_net_read(h: u64, buf: *mut u8, size: usize, read_size: *mut usize) -> u32 {
    let mut n = 0u64;
    // SAFETY: the tender validates the buffer; `n` is ours.
    let r = unsafe { (crate::hc().net_read)(handle(h), buf as u64, size as u64, &raw mut n as u64) };
    if r == RESULT_OK && !read_size.is_null() {
        // SAFETY: non-null out-pointer from the caller.
        unsafe { *read_size = n as usize };
    }
    r
}

/// `solo5_net_write`.
///
/// # Safety
/// `buf` must be readable for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solo5_net_write(h: u64, buf: *const u8, size: usize) -> u32 {
    // SAFETY: the tender validates the buffer.
    let r = unsafe { (crate::hc().net_write)(handle(h), buf as u64, size as u64) };
    // Solo5: transient failures are dropped silently.
    if r == RESULT_AGAIN { RESULT_OK } else { r }
}

/// The ABI note of a C guest (Rust guests get theirs from `guest_main!`).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".note.nabla.abi")]
pub static NABLA_ABI_NOTE: crate::abi::note::AbiNote = crate::abi::note::AbiNote::CURRENT;
