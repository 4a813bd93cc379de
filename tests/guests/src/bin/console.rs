//! Echoes console input, line by line, until end of input.
#![no_std]
#![no_main]

use nabla_platform::{clock_monotonic, console_read, console_write, println, yield_until};

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    let mut buf = [0u8; 512];
    let mut total = 0usize;
    loop {
        match console_read(&mut buf) {
            Ok(Some(0)) => break,
            Ok(Some(n)) => {
                total += n;
                if console_write(&buf[..n]).is_err() {
                    return 1;
                }
            }
            Ok(None) => {
                if yield_until(clock_monotonic() + 1_000_000_000).is_err() {
                    return 1;
                }
            }
            Err(e) => {
                println!("console_read failed: {e:?}");
                return 1;
            }
        }
    }
    println!("echoed {total} bytes");
    println!("SUCCESS");
    0
}
