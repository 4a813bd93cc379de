//! Trap-path benchmark: registers a syscall entry that returns at once,
//! then times `N` (argument, default 1,000,000) `syscall` instructions,
//! each trapped by the sandbox and forwarded by the tender's SIGSYS
//! handler to that entry. Prints nanoseconds per round trip.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use nabla_platform::abi::TrapVector;
use nabla_platform::{clock_monotonic, println};

global_asm!(".globl bench_syscall_entry", "bench_syscall_entry:", "xor eax, eax", "jmp rcx");

unsafe extern "C" {
    fn bench_syscall_entry();
}

nabla_platform::guest_main!(main);

fn main(cmdline: &str) -> i32 {
    let n: u64 = cmdline.trim().parse().unwrap_or(1_000_000);
    let v = TrapVector { syscall_entry: bench_syscall_entry as *const () as u64, ..TrapVector::default() };
    if nabla_platform::set_trap_vector(&v).is_err() {
        return 1;
    }
    let start = clock_monotonic();
    for _ in 0..n {
        // SAFETY: trapped and sent to `bench_syscall_entry`, which returns 0.
        unsafe {
            asm!("syscall", inlateout("rax") 39u64 => _, lateout("rcx") _, lateout("r11") _);
        }
    }
    let ns = clock_monotonic() - start;
    println!("{:.1}", ns as f64 / n as f64);
    0
}
