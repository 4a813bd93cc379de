//! 63 block devices, the most a guest may declare: writes each device's
//! handle into its first sector and reads every one back.
#![no_std]
#![no_main]

use nabla_platform::abi::DEVICE_BLOCK;
use nabla_platform::{block_read, block_write, println};

nabla_platform::guest_main!(main);
nabla_platform::devices![
    block "b0", block "b1", block "b2", block "b3", block "b4", block "b5", block "b6", block "b7",
    block "b8", block "b9", block "b10", block "b11", block "b12", block "b13", block "b14", block "b15",
    block "b16", block "b17", block "b18", block "b19", block "b20", block "b21", block "b22", block "b23",
    block "b24", block "b25", block "b26", block "b27", block "b28", block "b29", block "b30", block "b31",
    block "b32", block "b33", block "b34", block "b35", block "b36", block "b37", block "b38", block "b39",
    block "b40", block "b41", block "b42", block "b43", block "b44", block "b45", block "b46", block "b47",
    block "b48", block "b49", block "b50", block "b51", block "b52", block "b53", block "b54", block "b55",
    block "b56", block "b57", block "b58", block "b59", block "b60", block "b61", block "b62",
];

fn main(_cmdline: &str) -> i32 {
    let devs = nabla_platform::devices();
    if devs.len() != 63 {
        println!("{} devices attached, expected 63", devs.len());
        return 1;
    }
    let mut sector = [0u8; 512];
    for (h, d) in devs.iter().enumerate() {
        if d.kind != DEVICE_BLOCK {
            println!("device {h} is not a block device");
            return 1;
        }
        sector[..8].copy_from_slice(&(h as u64 * 1001).to_le_bytes());
        if block_write(h as u32, 0, &sector).is_err() {
            println!("write to device {h} failed");
            return 1;
        }
    }
    for h in 0..devs.len() {
        if block_read(h as u32, 0, &mut sector).is_err() || sector[..8] != (h as u64 * 1001).to_le_bytes() {
            println!("device {h} did not keep its data");
            return 1;
        }
    }
    println!("63 block devices written and read back");
    println!("SUCCESS");
    0
}
