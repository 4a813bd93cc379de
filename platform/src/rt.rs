//! The guest runtime (feature `rt`): entry point, panic handler and the
//! memory functions the compiler expects (`memcpy`, `memmove`, `memset`,
//! `memcmp`, `bcmp`), since a guest links no C library.
//!
//! `_start` is entered as a function call with `rdi` = `BootInfo`; it
//! adopts the boot info, prints a one-line banner unless `--quiet` (or a
//! Solo5 guest's `--solo5:quiet`), runs the guest's `nabla_main` (declared
//! with [`crate::guest_main!`]) and exits with its return value.
//!
//! With the `uml` feature the kernel provides the memory functions, so the
//! runtime leaves them out. In the Solo5 library (feature `solo5`) they
//! are global only until the library is built: `scripts/build-solo5-lib.sh`
//! makes them local, so a C guest may define its own.
//!
//! The memory functions use `rep movsb` / `rep stosb` in inline assembly:
//! written as Rust loops, the optimiser would turn them back into calls to
//! themselves.

use core::arch::asm;
use core::fmt::Write;
use nabla_abi::BootInfo;

#[cfg(not(any(feature = "solo5", feature = "uml")))]
unsafe extern "Rust" {
    fn nabla_main(cmdline: &str) -> i32;
}

#[cfg(not(any(feature = "solo5", feature = "uml")))]
fn run_main() -> i32 {
    // SAFETY: `nabla_main` is defined by `guest_main!` with this signature.
    unsafe { nabla_main(crate::cmdline()) }
}

#[cfg(all(feature = "solo5", not(feature = "uml")))]
fn run_main() -> i32 {
    crate::solo5::run_app()
}

#[cfg(feature = "uml")]
fn run_main() -> i32 {
    crate::uml::run()
}

/// Print the banner: not with the tender's `--quiet`, nor, for a Solo5
/// guest, with `--solo5:quiet`.
#[cfg(all(feature = "solo5", not(feature = "uml")))]
fn banner_wanted() -> bool {
    !crate::quiet() && crate::solo5::log_level() != crate::solo5_cmdline::LogLevel::Quiet
}

#[cfg(not(all(feature = "solo5", not(feature = "uml"))))]
fn banner_wanted() -> bool {
    !crate::quiet()
}

unsafe extern "C" {
    static NABLA_ABI_NOTE: nabla_abi::note::AbiNote;
}

/// The guest entry point.
///
/// # Safety
/// Called once, by the tender, with a valid boot info.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start(bi: *const BootInfo) -> ! {
    // Referencing the note keeps the linker from discarding it.
    // SAFETY: the note is a plain static defined by `guest_main!`.
    let _ = unsafe { core::ptr::read_volatile(&raw const NABLA_ABI_NOTE) };
    // SAFETY: the tender passes a valid boot info.
    if !unsafe { crate::init(bi) } {
        // No usable hypercall table: the only way to stop is to fault.
        // SAFETY: ud2 raises SIGILL, which the tender reports.
        unsafe { asm!("ud2", options(noreturn)) }
    }
    if banner_wanted() {
        let b = crate::boot_info();
        // A kernel's banner belongs with its log (the tender's
        // `--kernel-log`, else stdout); a unikernel's on its console.
        #[cfg(feature = "uml")]
        let mut out = crate::Stream(nabla_abi::STREAM_KERNEL_LOG);
        #[cfg(not(feature = "uml"))]
        let mut out = crate::Console;
        let _ = writeln!(
            out,
            "Nabla platform {}: memory {:#x}..{:#x}, image {:#x}..{:#x}",
            env!("CARGO_PKG_VERSION"),
            b.mem_start,
            b.mem_end,
            b.image_start,
            b.image_end
        );
    }
    let status = run_main();
    crate::exit(status as u32)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::println!("guest panic: {info}");
    crate::abort("guest panicked")
}

/// # Safety
/// As C `memcpy`.
#[cfg(not(feature = "uml"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the C contract: both ranges valid, not overlapping.
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _, options(nostack, preserves_flags))
    };
    dst
}

/// # Safety
/// As C `memmove`.
#[cfg(not(feature = "uml"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: forward copy is safe when dst does not start inside src.
        return unsafe { memcpy(dst, src, n) };
    }
    // SAFETY: backward copy with the direction flag set, restored after.
    unsafe {
        asm!("std", "rep movsb", "cld",
             inout("rcx") n => _, inout("rdi") dst.add(n - 1) => _, inout("rsi") src.add(n - 1) => _,
             options(nostack));
    }
    dst
}

/// # Safety
/// As C `memset`.
#[cfg(not(feature = "uml"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the C contract: the range is valid.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c as u8, options(nostack, preserves_flags))
    };
    dst
}

/// # Safety
/// As C `memcmp`.
#[cfg(not(feature = "uml"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: the C contract: both ranges valid for `n` bytes.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

/// # Safety
/// As C `bcmp`.
#[cfg(not(feature = "uml"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
}

/// The precompiled `core` is built with unwinding and references this
/// symbol from its unwind tables; guests abort on panic, so nothing ever
/// unwinds and this is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// # Safety
/// As C `strlen`: `s` is NUL-terminated.
#[cfg(not(feature = "uml"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the C contract: readable up to and including the NUL.
    while unsafe { *s.add(n) } != 0 {
        n += 1;
    }
    n
}
