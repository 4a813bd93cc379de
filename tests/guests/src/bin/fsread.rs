//! Reads `%fs:0x28` (where x86_64 code keeps its stack canary) before
//! setting a TLS base. A guest starts with an `%fs` base of 0, so the read
//! must fault (exit 139) instead of finding the tender's TLS block.
#![no_std]
#![no_main]

use core::arch::asm;

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    let v: u64;
    // SAFETY: deliberately reads through an unset %fs: the fault under test.
    unsafe { asm!("mov {}, qword ptr fs:[0x28]", out(reg) v, options(nostack, readonly)) };
    nabla_platform::println!("read {v:#x} at %fs:0x28: the tender's TLS block");
    1
}
