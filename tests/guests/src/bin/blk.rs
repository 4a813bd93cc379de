//! Block device `storage`: writes a pattern across the whole disk with
//! single- and multi-sector requests, flushes, reads it back with other
//! request sizes and compares; out-of-range and misaligned requests must
//! get EINVAL. On a read-only device, writes must fail and reads work.
#![no_std]
#![no_main]
// `&mut *(&raw mut X)` is the Rust 2024 way to borrow a `static mut`;
// clippy's suggestion (`X`) would be a forbidden static-mut reference.
#![allow(clippy::deref_addrof)]

use nabla_platform::abi::{DEVICE_BLOCK, DEVICE_READ_ONLY, Hypercalls, RESULT_EINVAL};
use nabla_platform::{block_flush, block_read, block_write, println};

nabla_platform::guest_main!(main);
nabla_platform::devices![block "storage"];

const BUF: usize = 1024 * 1024;
static mut WBUF: [u8; BUF] = [0; BUF];
static mut RBUF: [u8; BUF] = [0; BUF];

/// The byte at disk offset `o` (the host test checks the same pattern).
fn pattern(o: u64) -> u8 {
    let w = (o / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x4E_4142_4C41;
    w.to_le_bytes()[(o % 8) as usize]
}

fn main(_cmdline: &str) -> i32 {
    let Some((h, info)) = nabla_platform::device("storage", DEVICE_BLOCK) else {
        println!("no block device storage");
        return 1;
    };
    let (cap, sector, max) = (info.capacity, u64::from(info.sector_size), u64::from(info.max_io));
    println!("storage: {cap} bytes, {sector}-byte sectors, up to {max} bytes per request");
    // SAFETY: single-threaded guest; the only references to the buffers.
    let (wbuf, rbuf) = unsafe { (&mut *(&raw mut WBUF), &mut *(&raw mut RBUF)) };

    let sizes = [1, 3, 8, 64, max / sector];
    if info.flags & DEVICE_READ_ONLY != 0 {
        if block_write(h, 0, &wbuf[..sector as usize]).is_ok() {
            println!("write to a read-only device succeeded");
            return 1;
        }
        if block_read(h, 0, &mut rbuf[..sector as usize]).is_err() {
            println!("read of a read-only device failed");
            return 1;
        }
        println!("read-only device refuses writes");
        println!("SUCCESS");
        return 0;
    }
    // Write with one rotation of request sizes, read back with another.
    for (pass, shift) in [(0, 0), (1, 2)] {
        let mut off = 0;
        let mut i = 0;
        while off < cap {
            let len = (sizes[(i + shift) % sizes.len()] * sector).min(cap - off).min(BUF as u64) as usize;
            if pass == 0 {
                for (j, b) in wbuf[..len].iter_mut().enumerate() {
                    *b = pattern(off + j as u64);
                }
                if let Err(e) = block_write(h, off, &wbuf[..len]) {
                    println!("write of {len} bytes at {off} failed: {e:?}");
                    return 1;
                }
            } else {
                if let Err(e) = block_read(h, off, &mut rbuf[..len]) {
                    println!("read of {len} bytes at {off} failed: {e:?}");
                    return 1;
                }
                if let Some(j) = (0..len).find(|&j| rbuf[j] != pattern(off + j as u64)) {
                    println!("mismatch at byte {}", off + j as u64);
                    return 1;
                }
            }
            off += len as u64;
            i += 1;
        }
        if pass == 0 && block_flush(h).is_err() {
            println!("flush failed");
            return 1;
        }
    }
    println!("pattern written, flushed and read back over {cap} bytes");

    let s = sector as usize;
    let bad: [(u64, usize, &str); 6] = [
        (cap, s, "offset at capacity"),
        (cap - sector, 2 * s, "request past the end"),
        (1, s, "misaligned offset"),
        (0, s + 1, "length not a multiple of the sector"),
        (0, 0, "empty request"),
        (0, BUF + s, "longer than the maximum"),
    ];
    // Room for the longest bad request with any sector size up to BUF.
    static mut BIG: [u8; 2 * BUF] = [0; 2 * BUF];
    // SAFETY: single-threaded guest; the only reference to BIG.
    let big = unsafe { &mut *(&raw mut BIG) };
    for (off, len, what) in bad {
        let r = block_read(h, off, &mut big[..len]);
        let w = block_write(h, off, &big[..len]);
        if r.map_err(|e| e.0) != Err(RESULT_EINVAL) || w.map_err(|e| e.0) != Err(RESULT_EINVAL) {
            println!("{what}: not refused with EINVAL");
            return 1;
        }
    }
    // A buffer outside guest memory.
    // SAFETY: the table is the tender's; the call validates the pointer.
    let hc = unsafe { &*(nabla_platform::boot_info().hypercalls as *const Hypercalls) };
    // SAFETY: the tender checks the (bad) buffer address and refuses it.
    if unsafe { (hc.block_read)(h, 0, 0x10, sector) } != RESULT_EINVAL || block_read(h + 1, 0, &mut rbuf[..s]).is_ok() {
        println!("bad buffer or handle not refused");
        return 1;
    }
    println!("bad requests refused with EINVAL");
    println!("SUCCESS");
    0
}
