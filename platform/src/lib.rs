//! `nabla-platform`: the guest side of Nabla.
//!
//! A guest is a freestanding x86_64 ELF; the tender enters it with the
//! address of a [`BootInfo`] and a table of hypercalls. This crate keeps
//! that table and wraps each hypercall in a safe Rust function; with the
//! `rt` feature it also provides the guest runtime (`_start`, the panic
//! handler, `memcpy` and friends) so that a Rust guest is just
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! nabla_platform::guest_main!(main);
//! fn main(cmdline: &str) -> i32 { nabla_platform::println!("{cmdline}"); 0 }
//! ```
//!
//! Limits: one thread of execution; the wrappers assume [`init`] ran
//! (the runtime's `_start` does it first thing).
#![cfg_attr(not(test), no_std)]

use core::sync::atomic::{AtomicPtr, Ordering};
pub use nabla_abi as abi;
use nabla_abi::{BootInfo, DeviceInfo, Hypercalls, RESULT_AGAIN, RESULT_OK, TrapVector};

#[cfg(feature = "solo5")]
mod random;
#[cfg(feature = "rt")]
pub mod rt;
#[cfg(feature = "solo5")]
pub mod solo5;
#[cfg(any(test, feature = "solo5"))]
pub mod solo5_cmdline;
#[cfg(any(test, feature = "solo5"))]
pub mod tls_block;
#[cfg(feature = "uml")]
pub mod uml;
pub mod xsave;

static BOOT: AtomicPtr<BootInfo> = AtomicPtr::new(core::ptr::null_mut());

/// A hypercall failed with this `RESULT_*` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(pub u32);

/// Adopt the boot info the tender passed. Returns false (and adopts
/// nothing) if it is not a boot info of our ABI version.
///
/// # Safety
/// `bi` must be null or point at readable memory of `size_of::<BootInfo>()`
/// bytes that stays valid and unchanged for the life of the guest.
pub unsafe fn init(bi: *const BootInfo) -> bool {
    if bi.is_null() {
        return false;
    }
    // SAFETY: the caller guarantees `bi` is readable.
    let b = unsafe { &*bi };
    let ok = b.magic == nabla_abi::BOOT_MAGIC
        && b.abi_version == nabla_abi::ABI_VERSION
        && b.size as usize >= size_of::<BootInfo>()
        && b.hypercalls != 0;
    if ok {
        BOOT.store(bi.cast_mut(), Ordering::Release);
    }
    ok
}

/// The boot info. Panics if [`init`] did not succeed.
pub fn boot_info() -> &'static BootInfo {
    let p = BOOT.load(Ordering::Acquire);
    assert!(!p.is_null(), "nabla-platform used before init");
    // SAFETY: `init` stored a pointer valid for the guest's lifetime.
    unsafe { &*p }
}

#[cfg(feature = "uml")]
unsafe extern "C" {
    /// The Linux kernel's (arch/um/nabla/entry.S): saves the user FPU
    /// registers a syscall left live into their task's area.
    fn nabla_fpu_flush();
}

pub(crate) fn hc() -> &'static Hypercalls {
    // Every hypercall runs tender code, built with SSE and AVX, which may
    // use any FPU register: a user program's live registers are saved
    // first (the kernel itself is built without SSE and leaves them be).
    // SAFETY: `nabla_fpu_flush` takes no arguments and only saves
    // registers into memory the kernel owns, from any kernel context.
    #[cfg(feature = "uml")]
    unsafe {
        nabla_fpu_flush()
    };
    // SAFETY: `init` checked the table pointer is set; the tender's table
    // is static and read-only for the life of the process.
    unsafe { &*(boot_info().hypercalls as *const Hypercalls) }
}

fn result(r: u32) -> Result<(), Error> {
    if r == RESULT_OK { Ok(()) } else { Err(Error(r)) }
}

/// The command line given after the guest's name.
pub fn cmdline() -> &'static str {
    let b = boot_info();
    // SAFETY: the tender wrote `cmdline_len` bytes of UTF-8 (it came from
    // Rust `String`s) at `cmdline`, which stays valid.
    let bytes = unsafe { core::slice::from_raw_parts(b.cmdline as *const u8, b.cmdline_len as usize) };
    core::str::from_utf8(bytes).unwrap_or("")
}

/// The user passed `--quiet`.
pub fn quiet() -> bool {
    boot_info().flags & nabla_abi::BOOT_FLAG_QUIET != 0
}

/// Write bytes to the console.
pub fn console_write(bytes: &[u8]) -> Result<(), Error> {
    // SAFETY: the slice is valid for its length; the tender checks again.
    result(unsafe { (hc().console_write)(bytes.as_ptr() as u64, bytes.len() as u64) })
}

/// Write bytes to host stream `stream` (`abi::STREAM_STDOUT`,
/// `STREAM_STDERR` or `STREAM_KERNEL_LOG`).
pub fn stream_write(stream: u32, bytes: &[u8]) -> Result<(), Error> {
    // SAFETY: the slice is valid for its length; the tender checks again.
    result(unsafe { (hc().stream_write)(stream, bytes.as_ptr() as u64, bytes.len() as u64) })
}

/// The host signals received since the last call (`1 << signo` bits of
/// `abi::HOST_SIGNALS`), cleared; always 0 without
/// `GUEST_FLAG_HOST_SIGNALS`.
pub fn host_signals_take() -> u64 {
    // SAFETY: no arguments.
    unsafe { (hc().host_signals_take)() }
}

/// Read console input without blocking: `Ok(Some(n))` bytes read
/// (`Some(0)` at end of input), `Ok(None)` when nothing is pending.
pub fn console_read(buf: &mut [u8]) -> Result<Option<usize>, Error> {
    let mut n = 0u64;
    // SAFETY: `buf` and `n` are valid and writable.
    let r = unsafe { (hc().console_read)(buf.as_mut_ptr() as u64, buf.len() as u64, &raw mut n as u64) };
    match r {
        RESULT_OK => Ok(Some(n as usize)),
        RESULT_AGAIN => Ok(None),
        e => Err(Error(e)),
    }
}

/// Monotonic time in nanoseconds.
pub fn clock_monotonic() -> u64 {
    // SAFETY: no arguments.
    unsafe { (hc().clock_monotonic)() }
}

/// Wall-clock time in nanoseconds since 1970.
pub fn clock_wall() -> u64 {
    // SAFETY: no arguments.
    unsafe { (hc().clock_wall)() }
}

/// Sleep until monotonic time `deadline` or until input is ready; returns
/// the ready set (bit 63: console input).
pub fn yield_until(deadline: u64) -> Result<u64, Error> {
    let mut ready = 0u64;
    // SAFETY: `ready` is valid and writable.
    result(unsafe { (hc().yield_until)(deadline, &raw mut ready as u64) })?;
    Ok(ready)
}

/// End the guest with `status`.
pub fn exit(status: u32) -> ! {
    // SAFETY: no pointers.
    unsafe { (hc().exit)(status) }
}

/// End the guest abnormally with a message.
pub fn abort(msg: &str) -> ! {
    // SAFETY: the message is valid for its length.
    unsafe { (hc().abort)(msg.as_ptr() as u64, msg.len() as u64) }
}

/// Set the `%fs` base (thread-local storage pointer).
pub fn set_tls_base(base: u64) -> Result<(), Error> {
    // SAFETY: no pointers; the tender validates the value.
    result(unsafe { (hc().set_tls_base)(base) })
}

/// Register where trapped syscalls and faults go.
pub fn set_trap_vector(v: &TrapVector) -> Result<(), Error> {
    // SAFETY: `v` is a valid TrapVector for the duration of the call.
    result(unsafe { (hc().set_trap_vector)(v as *const TrapVector as u64) })
}

/// The devices the tender attached, in handle order.
pub fn devices() -> &'static [DeviceInfo] {
    let b = boot_info();
    if b.devices == 0 || b.device_count == 0 {
        return &[];
    }
    // SAFETY: the tender wrote `device_count` DeviceInfos at `devices`,
    // valid for the life of the guest.
    unsafe { core::slice::from_raw_parts(b.devices as *const DeviceInfo, b.device_count as usize) }
}

/// The name of a device.
pub fn device_name(d: &DeviceInfo) -> &str {
    let len = d.name.iter().position(|&c| c == 0).unwrap_or(d.name.len());
    core::str::from_utf8(&d.name[..len]).unwrap_or("")
}

/// The handle and description of the attached device called `name` of
/// `kind` (an optional device left unattached is not found).
pub fn device(name: &str, kind: u32) -> Option<(u32, &'static DeviceInfo)> {
    devices()
        .iter()
        .enumerate()
        .find(|(_, d)| d.kind == kind && d.flags & nabla_abi::DEVICE_ABSENT == 0 && device_name(d) == name)
        .map(|(i, d)| (i as u32, d))
}

/// Read whole sectors at byte `offset` of block device `handle` into `buf`.
pub fn block_read(handle: u32, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
    // SAFETY: `buf` is valid and writable for its length.
    result(unsafe { (hc().block_read)(handle, offset, buf.as_mut_ptr() as u64, buf.len() as u64) })
}

/// Write whole sectors from `buf` at byte `offset` of block device `handle`.
pub fn block_write(handle: u32, offset: u64, buf: &[u8]) -> Result<(), Error> {
    // SAFETY: `buf` is valid for its length.
    result(unsafe { (hc().block_write)(handle, offset, buf.as_ptr() as u64, buf.len() as u64) })
}

/// Make completed writes of block device `handle` durable.
pub fn block_flush(handle: u32) -> Result<(), Error> {
    // SAFETY: no pointers.
    result(unsafe { (hc().block_flush)(handle) })
}

/// Receive one frame: `Ok(Some(len))`, or `Ok(None)` when none is pending.
pub fn net_read(handle: u32, buf: &mut [u8]) -> Result<Option<usize>, Error> {
    let mut n = 0u64;
    // SAFETY: `buf` and `n` are valid and writable.
    let r = unsafe { (hc().net_read)(handle, buf.as_mut_ptr() as u64, buf.len() as u64, &raw mut n as u64) };
    match r {
        RESULT_OK => Ok(Some(n as usize)),
        RESULT_AGAIN => Ok(None),
        e => Err(Error(e)),
    }
}

/// Receive one frame scattered over `iov` (whose lengths add up to at
/// least the device's `max_io`): `Ok(Some(len))`, or `Ok(None)` when none
/// is pending.
pub fn net_readv(handle: u32, iov: &[crate::abi::IoVec]) -> Result<Option<usize>, Error> {
    let mut n = 0u64;
    // SAFETY: `iov` and `n` are valid; the tender checks every piece.
    let r = unsafe { (hc().net_readv)(handle, iov.as_ptr() as u64, iov.len() as u64, &raw mut n as u64) };
    match r {
        RESULT_OK => Ok(Some(n as usize)),
        RESULT_AGAIN => Ok(None),
        e => Err(Error(e)),
    }
}

/// Send one frame.
pub fn net_write(handle: u32, frame: &[u8]) -> Result<(), Error> {
    // SAFETY: `frame` is valid for its length.
    result(unsafe { (hc().net_write)(handle, frame.as_ptr() as u64, frame.len() as u64) })
}

/// A `core::fmt::Write` sink on the console.
pub struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        console_write(s.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

/// A `core::fmt::Write` sink on a host stream (`abi::STREAM_*`).
pub struct Stream(pub u32);

impl core::fmt::Write for Stream {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        stream_write(self.0, s.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

/// Print to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::Console, format_args!($($arg)*));
    }};
}

/// Print a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{ $crate::print!($($arg)*); $crate::print!("\n"); }};
}

/// Declare a Rust guest's `main(cmdline: &str) -> i32` and embed the ABI
/// note. The runtime (`rt` feature) calls `main` and exits with its value.
#[macro_export]
macro_rules! guest_main {
    ($main:path) => {
        /// The guest's ABI note (read by the tender before loading).
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".note.nabla.abi")]
        pub static NABLA_ABI_NOTE: $crate::abi::note::AbiNote = $crate::abi::note::AbiNote::CURRENT;

        /// Called by the runtime's `_start`.
        #[unsafe(no_mangle)]
        pub fn nabla_main(cmdline: &str) -> i32 {
            $main(cmdline)
        }
    };
}

/// Declare the guest's devices in its manifest note:
/// `devices![block "storage", net "service0", block "spare" optional]`.
/// The handles are the positions in this list; an `optional` device may be
/// left unattached.
#[macro_export]
macro_rules! devices {
    ($($kind:ident $name:literal $($opt:ident)?),* $(,)?) => {
        /// The guest's device manifest (read by the tender).
        #[used]
        #[unsafe(link_section = ".note.nabla.manifest")]
        pub static NABLA_MANIFEST_NOTE: $crate::abi::note::ManifestNote<{ [$($name),*].len() }> =
            $crate::abi::note::ManifestNote::new([$($crate::abi::note::ManifestEntry::with_flags(
                $name, $crate::devices!(@kind $kind), $crate::devices!(@flags $($opt)?))),*]);
    };
    (@kind block) => { $crate::abi::DEVICE_BLOCK };
    (@kind net) => { $crate::abi::DEVICE_NET };
    (@flags) => { 0 };
    (@flags optional) => { $crate::abi::note::MANIFEST_OPTIONAL };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_rejects_bad_boot_info() {
        // SAFETY: null is allowed.
        assert!(!unsafe { init(core::ptr::null()) });
        let bi = BootInfo::default();
        // SAFETY: a valid, live BootInfo.
        assert!(!unsafe { init(&bi) });
        let bi =
            BootInfo { magic: nabla_abi::BOOT_MAGIC, abi_version: 99, size: 176, hypercalls: 8, ..BootInfo::default() };
        // SAFETY: as above.
        assert!(!unsafe { init(&bi) });
    }
}
