//! Initialised data, relocated pointers and zeroed bss.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use nabla_platform::println;

static NUMBER: AtomicU64 = AtomicU64::new(0x1234_5678_9abc_def0);
// Pointers in data: a static-pie needs R_X86_64_RELATIVE relocations here.
static NAMES: [&str; 3] = ["alpha", "beta", "gamma"];
static mut BSS: [u64; 4096] = [0; 4096];

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    if NUMBER.load(Ordering::Relaxed) != 0x1234_5678_9abc_def0 {
        println!("data not initialised");
        return 1;
    }
    NUMBER.store(7, Ordering::Relaxed);
    if NAMES.concat_len() != 14 || NAMES[2] != "gamma" {
        println!("relocated pointers are wrong");
        return 1;
    }
    // SAFETY: single-threaded guest; no other reference to BSS exists.
    let bss = unsafe { core::slice::from_raw_parts_mut((&raw mut BSS).cast::<u64>(), 4096) };
    if bss.iter().any(|&w| w != 0) {
        println!("bss not zeroed");
        return 1;
    }
    for (i, w) in bss.iter_mut().enumerate() {
        *w = i as u64 * 3;
    }
    if bss.iter().enumerate().any(|(i, &w)| w != i as u64 * 3) || NUMBER.load(Ordering::Relaxed) != 7 {
        println!("memory does not hold values");
        return 1;
    }
    println!("SUCCESS");
    0
}

trait ConcatLen {
    fn concat_len(&self) -> usize;
}

impl ConcatLen for [&str; 3] {
    fn concat_len(&self) -> usize {
        self.iter().map(|s| s.len()).sum()
    }
}
