//! Registers a trap vector and checks that every syscall number 0..=450
//! executed in guest code arrives at the guest's syscall entry (with the
//! `syscall` instruction's register contract) instead of the host; then
//! that a fault arrives at the guest's fault entry with its frame.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use nabla_platform::abi::{FaultFrame, TrapVector};
use nabla_platform::println;

const MARK: u64 = 1_000_000;
const UPROBE: u64 = 336;
const ENXIO: u64 = -6i64 as u64;

// The syscall entry: return rax + MARK to the instruction after `syscall`
// (rcx), as a kernel's sysret would.
global_asm!(".globl guest_syscall_entry", "guest_syscall_entry:", "add rax, 1000000", "jmp rcx",);

unsafe extern "C" {
    fn guest_syscall_entry();
}

#[path = "../fault.rs"]
mod fault;

extern "C" fn on_fault(frame: *mut FaultFrame) -> ! {
    // Copy the frame out, then release it (signo = 0): from here on a
    // fault is a new fault, not a double fault.
    // SAFETY: the tender wrote a complete frame at `frame` (the frame of `fault`),
    // and nothing else touches it until we release it.
    let f = unsafe { core::ptr::read_volatile(frame) };
    // SAFETY: as above; `signo` is a field of that frame.
    unsafe { core::ptr::write_volatile(&raw mut (*frame).signo, 0) };
    let in_guest =
        f.regs.rip >= nabla_platform::boot_info().image_start && f.regs.rip < nabla_platform::boot_info().image_end;
    if f.signo != 11 || f.addr != 0x10 || !in_guest {
        println!("bad fault frame: signo {} addr {:#x} rip {:#x}", f.signo, f.addr, f.regs.rip);
        nabla_platform::exit(1);
    }
    println!("fault forwarded: SIGSEGV at {:#x} accessing {:#x}", f.regs.rip, f.addr);
    println!("SUCCESS");
    nabla_platform::exit(0)
}

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    let v = fault::vector(guest_syscall_entry as *const () as u64, on_fault as *const () as u64);
    // An entry point in data (not executable) must be refused.
    let bad = TrapVector { fault_entry: fault::frame_addr(), ..v };
    if nabla_platform::set_trap_vector(&bad).is_ok() {
        println!("set_trap_vector accepted a non-executable fault entry");
        return 1;
    }
    if !fault::register(&v) {
        return 1;
    }
    for nr in 0..=450u64 {
        let (ret, rcx_after): (u64, u64);
        // SAFETY: the syscall is delivered to our own entry above, which
        // only adds MARK to rax and returns.
        unsafe {
            asm!("syscall", "mov {r}, rcx", r = out(reg) rcx_after, inlateout("rax") nr => ret,
                 in("rdi") 0u64, in("rsi") 0u64, in("rdx") 0u64, in("r10") 0u64, in("r8") 0u64, in("r9") 0u64,
                 lateout("rcx") _, lateout("r11") _);
        }
        // Linux >= 6.16 runs `uprobe` (336) before seccomp; outside a uprobe
        // trampoline it only returns -ENXIO. No filter can trap it.
        if nr == UPROBE && ret == ENXIO {
            println!("syscall {nr} (uprobe) bypasses seccomp on this host: returned -ENXIO, no effect");
            continue;
        }
        if ret != nr + MARK || rcx_after == 0 {
            println!("syscall {nr} was not trapped to the guest: returned {ret}");
            return 1;
        }
    }
    println!("syscalls 0..=450 all trapped to the guest's entry");
    // SAFETY: deliberately invalid: the fault under test.
    let v = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
    println!("read {v} at 0x10: no fault");
    1
}
