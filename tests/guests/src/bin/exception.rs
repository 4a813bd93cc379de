//! Dereferences a null pointer: the tender reports a guest SIGSEGV.
//!
//! `ac`: sets the alignment-check flag first and reads an unaligned word
//! instead: the tender's handler runs with the flag still set (the host
//! keeps it) and must still report the SIGBUS.
//!
//! `ac-hypercall`: sets the flag and hands `set_trap_vector` a misaligned
//! vector: the tender's read of it faults in tender code, which is the
//! guest's doing and must be reported as a guest fault, not a tender bug.
#![no_std]
#![no_main]

use core::arch::asm;

nabla_platform::guest_main!(main);

static WORDS: [u64; 2] = [0; 2];
static VECTOR: [u64; 6] = [0; 6];

fn main(cmdline: &str) -> i32 {
    if cmdline.trim() == "ac-hypercall" {
        // SAFETY: the boot info's table is the tender's, read-only.
        let hc = unsafe { &*(nabla_platform::boot_info().hypercalls as *const nabla_platform::abi::Hypercalls) };
        let misaligned = VECTOR.as_ptr() as u64 + 1;
        // SAFETY: deliberately sets AC (bit 18) and calls the hypercall on
        // a misaligned but readable vector (all zeroes: no entries).
        let r = unsafe {
            asm!("pushfq", "or dword ptr [rsp], 0x40000", "popfq");
            (hc.set_trap_vector)(misaligned)
        };
        nabla_platform::println!("set_trap_vector with AC set returned {r}: no fault");
        return 1;
    }
    if cmdline.trim() == "ac" {
        let v: u64;
        // SAFETY: deliberately sets AC (bit 18) and reads a misaligned
        // word of WORDS (in bounds): the SIGBUS under test.
        unsafe {
            asm!("pushfq", "or dword ptr [rsp], 0x40000", "popfq", "mov {v}, qword ptr [{p} + 1]",
                 p = in(reg) WORDS.as_ptr(), v = out(reg) v);
        }
        nabla_platform::println!("read {v} at a misaligned address with AC set: no fault");
        return 1;
    }
    // SAFETY: deliberately invalid: this is the fault under test.
    let v = unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
    nabla_platform::println!("read {v} from address 0: the fault was not raised");
    1
}
