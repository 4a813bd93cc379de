//! The preemption tick is never a double fault: a tick that arrives while
//! the fault frame is in use is dropped, and ticks arrive again once the
//! fault entry releases it.
//!
//! With the tick on (flags note), the guest takes a fault and, inside its
//! fault entry and without releasing the frame, spins for 300 ms in code
//! outside its image (where ticks are otherwise delivered). The entry must
//! not be re-entered. Then it releases the frame and spins again until a
//! tick arrives at the entry.
#![no_std]
#![no_main]

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};
use nabla_platform::abi::FaultFrame;
use nabla_platform::abi::note::{FlagsNote, GUEST_FLAG_EXEC_MEMORY, GUEST_FLAG_PREEMPT_TICK};
use nabla_platform::{boot_info, clock_monotonic, println};

/// Ticks, and free memory we can run code from.
#[used]
#[unsafe(link_section = ".note.nabla.flags")]
static FLAGS: FlagsNote = FlagsNote::new(GUEST_FLAG_EXEC_MEMORY | GUEST_FLAG_PREEMPT_TICK);

/// `dec rcx; jnz .-3; ret`: spins rcx times.
const SPIN: [u8; 6] = [0x48, 0xff, 0xc9, 0x75, 0xfb, 0xc3];

const SIGILL: u32 = 4;
const SIGVTALRM: u32 = 26;

#[path = "../fault.rs"]
mod fault;
/// 0: before the first fault; 1: in the entry, frame in use; 2: released.
static STAGE: AtomicU32 = AtomicU32::new(0);

/// Where SPIN is copied: the first page after the image.
fn spin_code() -> u64 {
    (boot_info().image_end + 0xfff) & !0xfff
}

/// Run SPIN (outside the image) until `ms` milliseconds have passed.
fn spin_outside_image(ms: u64) {
    let end = clock_monotonic() + ms * 1_000_000;
    while clock_monotonic() < end {
        // SAFETY: SPIN was copied to spin_code() (executable free memory);
        // it only counts rcx down to 0 and returns.
        unsafe { asm!("call {f}", f = in(reg) spin_code(), inout("rcx") 1_000_000u64 => _) };
    }
}

extern "C" fn on_fault(frame: *mut FaultFrame) -> ! {
    // SAFETY: the tender wrote a complete frame at `frame` (the frame of `fault`).
    let f = unsafe { core::ptr::read_volatile(frame) };
    let outside = f.regs.rip < boot_info().image_start || f.regs.rip >= boot_info().image_end;
    match STAGE.load(Ordering::SeqCst) {
        0 if f.signo == SIGILL => {
            STAGE.store(1, Ordering::SeqCst);
            spin_outside_image(300);
            STAGE.store(2, Ordering::SeqCst);
            println!("no tick delivered while the frame was in use");
            // SAFETY: releases our frame (a field of the frame of `fault`).
            unsafe { core::ptr::write_volatile(&raw mut (*frame).signo, 0) };
            spin_outside_image(10_000);
            println!("no tick arrived in 10 s after the frame was released");
            nabla_platform::exit(1)
        }
        2 if f.signo == SIGVTALRM && outside => {
            println!("tick delivered at {:#x} once the frame was released", f.regs.rip);
            println!("SUCCESS");
            nabla_platform::exit(0)
        }
        stage => {
            println!("fault entry entered in stage {stage} with signal {} at {:#x}", f.signo, f.regs.rip);
            nabla_platform::exit(1)
        }
    }
}

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    let at = spin_code();
    if at + SPIN.len() as u64 > boot_info().stack_top - 65536 {
        println!("no free memory after the image");
        return 1;
    }
    // SAFETY: free guest memory between the image and the stack (checked).
    unsafe { core::ptr::copy_nonoverlapping(SPIN.as_ptr(), at as *mut u8, SPIN.len()) };
    let v = fault::vector(0, on_fault as *const () as u64);
    if !fault::register(&v) {
        return 1;
    }
    // SAFETY: deliberately faults: the first fault.
    unsafe { asm!("ud2", options(nostack)) };
    println!("ud2 did not fault");
    1
}
