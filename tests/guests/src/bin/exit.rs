//! Exits with the status given as its argument (default 0).
#![no_std]
#![no_main]

nabla_platform::guest_main!(main);

fn main(cmdline: &str) -> i32 {
    cmdline.trim().parse::<u8>().map(i32::from).unwrap_or(0)
}
