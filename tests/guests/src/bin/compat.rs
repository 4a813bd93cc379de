//! 32-bit code must never hang the guest: registers a fault entry, then
//! runs the stages named on the command line, one after the other, each
//! ending in a fault the entry must receive as SIGSEGV, `SI_KERNEL`,
//! address 0, in 64-bit mode:
//!
//! * `ud2`, `load`, `syscall`: a far return to the 32-bit code segment
//!   (0x23) into code that runs `ud2`, reads address 0x10, or makes a
//!   32-bit `syscall`;
//! * `int80`: `int $0x80` (a 32-bit syscall) from 64-bit code.
//!
//! After each stage the entry releases the frame and starts the next
//! stage from the fault stack; after the last a plain null read must
//! arrive as an ordinary SIGSEGV, and the guest exits 42.
//!
//! `bare-int80` runs `int $0x80` with no fault entry registered.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicUsize, Ordering};
use nabla_platform::abi::FaultFrame;
use nabla_platform::println;

/// x86_64 Linux's 32-bit user code segment (`__USER32_CS`).
const USER32_CS: u64 = 0x23;
const SIGSEGV: u32 = 11;
const SI_KERNEL: i32 = 0x80;
const SEGV_MAPERR: i32 = 1;

// The code under test, at known addresses. The image lies below 4 GiB
// (guest memory starts at 1 MiB), so 32-bit code can run where it is.
global_asm!(
    ".code32",
    ".globl compat_ud2",
    "compat_ud2: ud2",
    ".globl compat_load",
    "compat_load: mov eax, dword ptr [0x10]",
    "ud2",
    ".globl compat_syscall",
    "compat_syscall: syscall",
    "ud2",
    ".code64",
    ".globl native_int80",
    "native_int80: int 0x80",
    "ud2",
    ".globl native_null",
    "native_null: mov rax, qword ptr [0]",
    "ud2",
);

unsafe extern "C" {
    fn compat_ud2();
    fn compat_load();
    fn compat_syscall();
    fn native_int80();
    fn native_null();
}

#[path = "../fault.rs"]
mod fault;
/// Index of the stage running now (the last one is the null read).
static STAGE: AtomicUsize = AtomicUsize::new(0);

fn addr(f: unsafe extern "C" fn()) -> u64 {
    f as usize as u64
}

fn stages() -> core::str::SplitWhitespace<'static> {
    nabla_platform::cmdline().split_whitespace()
}

/// Continue in 32-bit mode at `target`, with a far return to the 32-bit
/// code segment.
fn far_return_to_compat(target: unsafe extern "C" fn()) -> ! {
    // SAFETY: deliberately leaves 64-bit mode; the code at `target` ends
    // in a fault, which the tender forwards to our fault entry.
    unsafe {
        asm!("push {cs}", "push {ip}", "lretq", cs = in(reg) USER32_CS, ip = in(reg) addr(target),
             options(att_syntax, noreturn));
    }
}

fn jump(target: unsafe extern "C" fn()) -> ! {
    // SAFETY: the code at `target` ends in a fault (forwarded to us).
    unsafe { asm!("jmp {}", in(reg) addr(target), options(noreturn)) }
}

/// Run stage `i`: each ends in a fault.
fn run(i: usize) -> ! {
    STAGE.store(i, Ordering::SeqCst);
    match stages().nth(i) {
        None => jump(native_null),
        Some("ud2") => far_return_to_compat(compat_ud2),
        Some("load") => far_return_to_compat(compat_load),
        Some("syscall") => far_return_to_compat(compat_syscall),
        Some("int80") => jump(native_int80),
        Some(other) => {
            println!("unknown stage {other}");
            nabla_platform::exit(2)
        }
    }
}

extern "C" fn on_fault(frame: *mut FaultFrame) -> ! {
    // SAFETY: the tender wrote a complete frame at `frame` (the frame of `fault`);
    // copy it out, then release it.
    let f = unsafe { core::ptr::read_volatile(frame) };
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(&raw mut (*frame).signo, 0) };
    let i = STAGE.load(Ordering::SeqCst);
    let stage = stages().nth(i);
    let (code, rip): (i32, &[u64]) = match stage {
        None => (SEGV_MAPERR, &[addr(native_null)]),
        Some("ud2") => (SI_KERNEL, &[addr(compat_ud2)]),
        Some("load") => (SI_KERNEL, &[addr(compat_load)]),
        // Intel refuses `syscall` in 32-bit mode at the instruction; AMD
        // makes it a 32-bit syscall, whose address the host does not keep.
        Some("syscall") => (SI_KERNEL, &[addr(compat_syscall), 0]),
        Some(_) => (SI_KERNEL, &[addr(native_int80)]),
    };
    let name = stage.unwrap_or("null");
    if f.signo != SIGSEGV || f.code != code || f.addr != 0 || !rip.contains(&f.regs.rip) {
        println!(
            "{name}: got signal {} code {:#x} addr {:#x} rip {:#x}, wanted SIGSEGV code {code:#x} at {:#x}",
            f.signo, f.code, f.addr, f.regs.rip, rip[0]
        );
        nabla_platform::exit(1);
    }
    println!("{name}: SIGSEGV code {:#x} at {:#x}", f.code, f.regs.rip);
    if stage.is_none() {
        println!("SUCCESS");
        nabla_platform::exit(42);
    }
    run(i + 1)
}

nabla_platform::guest_main!(main);

fn main(cmdline: &str) -> i32 {
    // Without a fault entry, a 32-bit syscall ends the guest.
    if cmdline.trim() == "bare-int80" {
        jump(native_int80)
    }
    let v = fault::vector(0, on_fault as *const () as u64);
    if !fault::register(&v) {
        return 1;
    }
    run(0)
}
