//! set_tls_base, then %fs-relative loads and stores; a non-canonical base
//! is refused.
#![no_std]
#![no_main]

use core::arch::asm;
use nabla_platform::{println, set_tls_base};

#[repr(C, align(64))]
struct Block([u64; 8]);

static mut BLOCK: Block = Block([0; 8]);

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    let base = &raw mut BLOCK as u64;
    // SAFETY: single-threaded guest; BLOCK is only touched here.
    unsafe {
        BLOCK.0[0] = base;
        BLOCK.0[1] = 0xfeed_f00d;
    }
    if set_tls_base(base).is_err() {
        println!("set_tls_base failed");
        return 1;
    }
    let (selfp, value): (u64, u64);
    // SAFETY: %fs points at BLOCK, which is 64 bytes long.
    unsafe {
        asm!("mov {0}, fs:[0]", "mov {1}, fs:[8]", "mov qword ptr fs:[16], 0x77",
             out(reg) selfp, out(reg) value, options(nostack));
    }
    // SAFETY: as above.
    let stored = unsafe { core::ptr::read_volatile(&raw const BLOCK.0[2]) };
    if selfp != base || value != 0xfeed_f00d || stored != 0x77 {
        println!("fs-relative access wrong: {selfp:#x} {value:#x} {stored:#x}");
        return 1;
    }
    if set_tls_base(0x8000_0000_0000_0000).is_ok() {
        println!("non-canonical base accepted");
        return 1;
    }
    println!("SUCCESS");
    0
}
