//! Block throughput benchmark: `blkbench read|write SIZE` moves the whole
//! `storage` device sequentially in SIZE-byte requests (writes end with a
//! flush) and prints `MiB/s`. `make bench` compares it with the same loop
//! run natively on the same file.
#![no_std]
#![no_main]

use nabla_platform::abi::DEVICE_BLOCK;
use nabla_platform::{block_flush, block_read, block_write, clock_monotonic, println};

nabla_platform::guest_main!(main);
nabla_platform::devices![block "storage"];

static mut BUF: [u8; 256 * 1024] = [0x5a; 256 * 1024];

fn main(cmdline: &str) -> i32 {
    let mut words = cmdline.split_whitespace();
    let (Some(mode), Some(size)) = (words.next(), words.next().and_then(|s| s.parse::<usize>().ok())) else {
        println!("usage: blkbench read|write SIZE");
        return 2;
    };
    let Some((h, info)) = nabla_platform::device("storage", DEVICE_BLOCK) else { return 1 };
    if size == 0 || size > 256 * 1024 {
        return 2;
    }
    // SAFETY: single-threaded guest; the only reference to BUF.
    let buf = unsafe { core::slice::from_raw_parts_mut((&raw mut BUF).cast::<u8>(), size) };
    let start = clock_monotonic();
    let mut off = 0;
    while off + size as u64 <= info.capacity {
        let r = if mode == "write" { block_write(h, off, buf) } else { block_read(h, off, buf) };
        if r.is_err() {
            println!("I/O error at {off}");
            return 1;
        }
        off += size as u64;
    }
    if mode == "write" && block_flush(h).is_err() {
        return 1;
    }
    let ns = clock_monotonic() - start;
    println!("{:.1}", off as f64 / (1 << 20) as f64 / (ns as f64 / 1e9));
    0
}
