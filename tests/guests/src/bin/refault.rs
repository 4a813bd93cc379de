//! A fault entry that faults before it releases the frame (a double
//! fault), which the tender must report instead of forwarding again:
//!
//! * `inside`: the entry reads address 0x20 a few instructions in;
//! * `first`: the entry's first instruction is `ud2`.
//!
//! Both start with a null read in the guest's own code.
#![no_std]
#![no_main]

use core::arch::global_asm;
use nabla_platform::abi::FaultFrame;
use nabla_platform::println;

// An entry that faults at its first byte.
global_asm!(".globl refault_at_entry", "refault_at_entry: ud2");

unsafe extern "C" {
    fn refault_at_entry();
}

#[path = "../fault.rs"]
mod fault;

extern "C" fn on_fault(frame: *mut FaultFrame) -> ! {
    // SAFETY: the tender wrote a complete frame at `frame`; it is not
    // released (signo stays set), which is the mistake under test.
    let signo = unsafe { core::ptr::read_volatile(&raw const (*frame).signo) };
    // SAFETY: deliberately invalid: the second fault under test.
    let v = unsafe { core::ptr::read_volatile(0x20 as *const u64) };
    println!("fault entry (signal {signo}) read {v} at 0x20: no second fault");
    nabla_platform::exit(1)
}

nabla_platform::guest_main!(main);

fn main(cmdline: &str) -> i32 {
    let entry = match cmdline.trim() {
        "inside" => on_fault as *const () as u64,
        "first" => refault_at_entry as *const () as u64,
        other => {
            println!("unknown mode {other:?}");
            return 2;
        }
    };
    let v = fault::vector(0, entry);
    if !fault::register(&v) {
        return 1;
    }
    // SAFETY: deliberately invalid: the first fault.
    let v = unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
    println!("read {v} at 0: no fault");
    1
}
