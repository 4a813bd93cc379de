//! Clock-hypercall benchmark: times `N` (argument, default 1,000,000)
//! `clock_monotonic` hypercalls, checking that the clock never goes
//! backwards. Prints nanoseconds per call.
#![no_std]
#![no_main]

use nabla_platform::{clock_monotonic, println};

nabla_platform::guest_main!(main);

fn main(cmdline: &str) -> i32 {
    let n: u64 = cmdline.trim().parse().unwrap_or(1_000_000).max(1);
    let start = clock_monotonic();
    let mut last = start;
    for _ in 0..n {
        let now = clock_monotonic();
        if now < last {
            println!("the monotonic clock went back from {last} to {now}");
            return 1;
        }
        last = now;
    }
    println!("{:.1}", (last - start) as f64 / n as f64);
    0
}
