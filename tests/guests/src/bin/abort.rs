//! Aborts with a message: the tender reports it and exits 255.
#![no_std]
#![no_main]

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    nabla_platform::abort("deliberate abort from the abort test guest")
}
