//! Executes a raw host syscall (default getpid, or the number given as
//! argument). The sandbox must stop it: the tender reports it, exit 159.
#![no_std]
#![no_main]

nabla_platform::guest_main!(main);

fn main(cmdline: &str) -> i32 {
    let nr: u64 = cmdline.trim().parse().unwrap_or(39);
    let ret: u64;
    // SAFETY: the syscall is trapped by the sandbox; no argument is a
    // valid pointer, so even a leak could not touch memory.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") nr => ret, in("rdi") 0u64, in("rsi") 0u64,
                         in("rdx") 0u64, in("r10") 0u64, in("r8") 0u64, in("r9") 0u64,
                         lateout("rcx") _, lateout("r11") _);
    }
    nabla_platform::println!("host syscall {nr} returned {ret}: the sandbox let it through");
    1
}
