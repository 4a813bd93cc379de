//! With --quiet, the only output is the guest's own SUCCESS line.
#![no_std]
#![no_main]

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    if !nabla_platform::quiet() {
        nabla_platform::println!("not quiet");
    }
    nabla_platform::println!("SUCCESS");
    0
}
