//! Dereferences a null pointer: the tender reports a guest SIGSEGV.
#![no_std]
#![no_main]

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    // SAFETY: deliberately invalid: this is the fault under test.
    let v = unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
    nabla_platform::println!("read {v} from address 0: the fault was not raised");
    1
}
