//! Five yields of 1 s, each within ±20% on the monotonic clock; the wall
//! clock is after 2025-01-01.
#![no_std]
#![no_main]

use nabla_platform::{clock_monotonic, clock_wall, println, yield_until};

const SECOND: u64 = 1_000_000_000;
const Y2025: u64 = 1_735_689_600 * SECOND;

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    let wall = clock_wall();
    if wall < Y2025 {
        println!("wall clock {wall} is before 2025");
        return 1;
    }
    for i in 0..5 {
        let start = clock_monotonic();
        let deadline = start + SECOND;
        while clock_monotonic() < deadline {
            if yield_until(deadline).is_err() {
                println!("yield failed");
                return 1;
            }
        }
        let took = clock_monotonic() - start;
        println!("yield {i}: {} ms", took / 1_000_000);
        if !(SECOND * 8 / 10..=SECOND * 12 / 10).contains(&took) {
            println!("yield {i} took {took} ns, outside 1 s ± 20%");
            return 1;
        }
    }
    if clock_wall() <= wall {
        println!("wall clock did not advance");
        return 1;
    }
    println!("SUCCESS");
    0
}
