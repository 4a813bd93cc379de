//! Prints its command line, then SUCCESS.
#![no_std]
#![no_main]

nabla_platform::guest_main!(main);

fn main(cmdline: &str) -> i32 {
    nabla_platform::println!("Hello from a Nabla guest! Command line: \"{cmdline}\"");
    nabla_platform::println!("SUCCESS");
    0
}
