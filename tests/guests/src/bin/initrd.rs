//! Checks the initial RAM disk the tender loaded: present, inside guest
//! memory, below the boot area, and with the length and FNV-1a hash given
//! on the command line (`LEN HASH`, as the test computed them).
#![no_std]
#![no_main]

use nabla_platform::println;

nabla_platform::guest_main!(main);

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn main(cmdline: &str) -> i32 {
    let mut words = cmdline.split_whitespace().map(|w| w.parse::<u64>().unwrap_or(0));
    let (len, hash) = (words.next().unwrap_or(0), words.next().unwrap_or(0));
    let b = nabla_platform::boot_info();
    if b.initrd_start == 0 || b.initrd_len != len {
        println!("initrd at {:#x}, {} bytes; expected {len} bytes", b.initrd_start, b.initrd_len);
        return 1;
    }
    let end = b.initrd_start + b.initrd_len;
    if !b.initrd_start.is_multiple_of(4096)
        || b.initrd_start < b.image_end
        || end > b.mem_end
        || b.stack_top > b.initrd_start
    {
        println!(
            "initrd {:#x}..{end:#x} misplaced (image end {:#x}, stack top {:#x})",
            b.initrd_start, b.image_end, b.stack_top
        );
        return 1;
    }
    // SAFETY: the tender placed `initrd_len` bytes at `initrd_start`.
    let data = unsafe { core::slice::from_raw_parts(b.initrd_start as *const u8, b.initrd_len as usize) };
    if fnv1a(data) != hash {
        println!("initrd content differs");
        return 1;
    }
    println!("initrd of {len} bytes at {:#x} intact", b.initrd_start);
    println!("SUCCESS");
    0
}
