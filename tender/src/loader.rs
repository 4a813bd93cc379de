//! Places a validated [`Image`] in guest memory and prepares the boot
//! block: map or copy segments, zero bss, apply relocations, protect
//! segments (W^X), make RELRO read-only, write [`BootInfo`] and the command
//! line.
//!
//! A segment whose pages it shares with no other segment, and whose file
//! offset and address agree modulo the page size, is mapped from the guest
//! file (private, copy on write, faulted in lazily) rather than copied: a
//! multi-MiB kernel then costs the pages it touches, not a full copy. The
//! parts of its first and last page outside the segment are cleared, so
//! the guest sees exactly what a copy into fresh memory would give. Guests
//! that ask for executable memory (a flags note) get everything outside
//! the image mapped read, write and execute.
//!
//! Guest memory layout (addresses grow up):
//!
//! ```text
//! mem_start  image (static-pie: at mem_start; ET_EXEC: at its link address)
//! image_end  heap ... (free for the guest)
//!            ... stack, growing down
//! stack_top  the initrd, if any (page aligned)
//!            BootInfo, the device table, the command line (BOOT_AREA bytes)
//! mem_end
//! ```

use crate::elf::{Image, Kind, PAGE};
use crate::memory::{GuestMemory, MemError};
use nabla_abi::note::GUEST_FLAG_EXEC_MEMORY;
use nabla_abi::{BOOT_MAGIC, BootInfo, CMDLINE_MAX, DeviceInfo};
use object::elf::{PF_W, PF_X};

/// Bytes at the top of guest memory for the boot block: `BootInfo` at
/// offset 0, the device table at [`DEVICES_OFFSET`], the command line at
/// [`CMDLINE_OFFSET`].
pub const BOOT_AREA: u64 = 16384;
/// Offset of the device table within the boot area.
const DEVICES_OFFSET: u64 = 256;
/// Offset of the command line within the boot area (the last 4 KiB).
const CMDLINE_OFFSET: u64 = 12288;
// The boot info, the largest device table and the longest command line
// (with its NUL) fit, without overlapping.
const _: () = assert!(size_of::<BootInfo>() as u64 <= DEVICES_OFFSET);
const _: () = assert!(DEVICES_OFFSET + (nabla_abi::MAX_DEVICES * size_of::<DeviceInfo>()) as u64 <= CMDLINE_OFFSET);
const _: () = assert!(CMDLINE_OFFSET + CMDLINE_MAX < BOOT_AREA);
/// Least free memory between the image and the stack.
pub const MIN_FREE: u64 = 256 * 1024;

/// Why an image could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A fixed-address image outside guest memory.
    #[error("image is linked at {0:#x}..{1:#x}, outside guest memory {2:#x}..{3:#x}")]
    OutOfRange(u64, u64, u64, u64),
    /// Not enough guest memory.
    #[error("--mem is too small for this image: it needs at least {0} MiB")]
    TooSmall(u64),
    /// Command line too long.
    #[error("guest command line is {0} bytes, the limit is {CMDLINE_MAX}")]
    CmdlineTooLong(usize),
    /// Memory setup failed.
    #[error(transparent)]
    Mem(#[from] MemError),
}

/// Where to enter a loaded guest.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Entry point (host = guest address).
    pub pc: u64,
    /// Initial stack top (16-byte aligned).
    pub stack_top: u64,
    /// Address of the [`BootInfo`].
    pub boot_info: u64,
    /// Where the image was loaded (start, end).
    pub image: (u64, u64),
}

/// What the guest is told at boot besides its image.
#[derive(Debug, Clone, Copy)]
pub struct BootParams<'a> {
    /// The command line.
    pub cmdline: &'a str,
    /// `BOOT_FLAG_*` bits.
    pub flags: u32,
    /// Address of the hypercall table.
    pub hypercalls: u64,
    /// The device table.
    pub devices: &'a [DeviceInfo],
    /// An initial RAM disk, placed page-aligned just below the boot area.
    pub initrd: Option<&'a [u8]>,
    /// The guest file's descriptor, when segments may be mapped from it
    /// rather than copied.
    pub file_fd: Option<i32>,
}

/// What [`load`] adds to `image`'s link addresses in guest memory
/// `range`: a static-pie goes to the start of guest memory, an `ET_EXEC`
/// image stays where it was linked.
pub fn bias(image: &Image, range: &std::ops::Range<u64>) -> u64 {
    match image.kind {
        Kind::Dyn => range.start.wrapping_sub(image.start),
        Kind::Exec => 0,
    }
}

/// Load `image` (from `data`) into `mem` and write the boot block.
pub fn load(mem: &mut GuestMemory, image: &Image, data: &[u8], p: &BootParams<'_>) -> Result<Entry, LoadError> {
    let (cmdline, flags, hypercalls, devices) = (p.cmdline, p.flags, p.hypercalls, p.devices);
    if cmdline.len() as u64 > CMDLINE_MAX {
        return Err(LoadError::CmdlineTooLong(cmdline.len()));
    }
    let range = mem.range();
    let boot_area = range.end - BOOT_AREA;
    // The stack grows down from below the initrd (or the boot area).
    let initrd_len = p.initrd.map_or(0, |i| i.len() as u64);
    let initrd_start = boot_area.saturating_sub(initrd_len) & !(PAGE - 1);
    let boot = initrd_start;
    let bias = bias(image, &range);
    let (lo, hi) = (image.start.wrapping_add(bias), image.end.wrapping_add(bias));
    if image.kind == Kind::Exec && (lo < range.start || hi > range.end) {
        return Err(LoadError::OutOfRange(image.start, image.end, range.start, range.end));
    }
    if lo > hi || hi.saturating_add(MIN_FREE) > boot || initrd_start < range.start {
        let need = hi.saturating_sub(range.start).saturating_add(MIN_FREE + BOOT_AREA + initrd_len + PAGE);
        return Err(LoadError::TooSmall(need.div_ceil(1 << 20)));
    }

    for (i, seg) in image.segments.iter().enumerate() {
        let at = seg.vaddr.wrapping_add(bias);
        let bytes = data.get(seg.file.clone()).unwrap_or(&[]);
        match p.file_fd {
            Some(fd) if mappable(image, i, bias) => {
                // Map the file's pages, then clear what they hold outside
                // the segment's file bytes, as a fresh copy would have.
                let start = at & !(PAGE - 1);
                let end = (at + bytes.len() as u64).next_multiple_of(PAGE);
                mem.map_file(start..end, fd, seg.file.start as u64 - (at - start))?;
                mem.write(start, &ZERO_PAGE[..(at - start) as usize])?;
                let tail = at + bytes.len() as u64;
                mem.write(tail, &ZERO_PAGE[..(end - tail) as usize])?;
            }
            // The mapping is fresh and zeroed, so bss needs no explicit fill.
            _ => mem.write(at, bytes)?,
        }
    }
    for &(slot, addend) in &image.relocs {
        let value = bias.wrapping_add(addend as u64);
        mem.write(slot.wrapping_add(bias), &value.to_le_bytes())?;
    }
    for seg in &image.segments {
        let start = (seg.vaddr.wrapping_add(bias)) & !(PAGE - 1);
        let end = (seg.vaddr.wrapping_add(bias) + seg.memsz).next_multiple_of(PAGE);
        let mut prot = libc::PROT_READ;
        if seg.flags & PF_W != 0 {
            prot |= libc::PROT_WRITE;
        }
        if seg.flags & PF_X != 0 {
            prot |= libc::PROT_EXEC;
        }
        if prot != libc::PROT_READ | libc::PROT_WRITE {
            mem.protect(start..end, prot)?;
        }
    }
    if image.flags & GUEST_FLAG_EXEC_MEMORY != 0 {
        // A kernel loads and runs user programs in its free memory: make
        // everything outside the image executable (the guest's choice;
        // it can only run code it could already write).
        let img = (lo & !(PAGE - 1))..hi.next_multiple_of(PAGE);
        let rwx = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
        if img.start > range.start {
            mem.protect(range.start..img.start, rwx)?;
        }
        if img.end < boot_area {
            mem.protect(img.end..boot_area, rwx)?;
        }
    }
    if let Some(relro) = &image.relro {
        // Rounded down at both ends, as ld.so does: the linker pads RELRO
        // so that its pages hold nothing that is written later.
        let start = relro.start.wrapping_add(bias) & !(PAGE - 1);
        let end = relro.end.wrapping_add(bias) & !(PAGE - 1);
        if start < end && start >= lo && end <= hi {
            mem.protect(start..end, libc::PROT_READ)?;
        }
    }

    if let Some(initrd) = p.initrd {
        mem.write(initrd_start, initrd)?;
    }
    let cmd_addr = boot_area + CMDLINE_OFFSET;
    let mut cmd = Vec::with_capacity(cmdline.len() + 1);
    cmd.extend_from_slice(cmdline.as_bytes());
    cmd.push(0);
    mem.write(cmd_addr, &cmd)?;
    let dev_addr = boot_area + DEVICES_OFFSET;
    for (i, d) in devices.iter().enumerate() {
        mem.write(dev_addr + (i * size_of::<DeviceInfo>()) as u64, as_bytes(d))?;
    }
    let info = BootInfo {
        magic: BOOT_MAGIC,
        abi_version: nabla_abi::ABI_VERSION,
        size: size_of::<BootInfo>() as u32,
        mem_start: range.start,
        mem_end: range.end,
        image_start: lo,
        image_end: hi,
        stack_top: boot,
        cmdline: cmd_addr,
        cmdline_len: cmdline.len() as u64,
        hypercalls,
        devices: dev_addr,
        device_count: devices.len() as u32,
        flags,
        initrd_start: if p.initrd.is_some() { initrd_start } else { 0 },
        initrd_len,
        ..BootInfo::default()
    };
    mem.write(boot_area, as_bytes(&info))?;
    Ok(Entry { pc: image.entry.wrapping_add(bias), stack_top: boot, boot_info: boot_area, image: (lo, hi) })
}

static ZERO_PAGE: [u8; PAGE as usize] = [0; PAGE as usize];

/// Whether segment `i` can be mapped from the file: it has file bytes, its
/// file offset and address agree modulo the page size, and no other
/// segment shares its pages (the copy path handles those).
fn mappable(image: &Image, i: usize, bias: u64) -> bool {
    let seg = &image.segments[i];
    let at = seg.vaddr.wrapping_add(bias);
    let len = (seg.file.end - seg.file.start) as u64;
    if len == 0 || (seg.file.start as u64) % PAGE != at % PAGE {
        return false;
    }
    let (start, end) = (at & !(PAGE - 1), (at + len).next_multiple_of(PAGE));
    image.segments.iter().enumerate().all(|(j, o)| {
        let o_start = o.vaddr.wrapping_add(bias) & !(PAGE - 1);
        let o_end = (o.vaddr.wrapping_add(bias) + o.memsz).next_multiple_of(PAGE);
        j == i || o_end <= start || o_start >= end
    })
}

/// The bytes of an ABI struct.
fn as_bytes<T: AbiStruct>(v: &T) -> &[u8] {
    // SAFETY: `AbiStruct` types are repr(C) plain data without padding
    // bytes (layouts asserted in nabla-abi), so all their bytes are
    // initialised.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

/// ABI structs that may be viewed as bytes.
trait AbiStruct {}
impl AbiStruct for BootInfo {}
impl AbiStruct for DeviceInfo {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::Segment;
    use nabla_abi::note::AbiDesc;

    fn image(segments: Vec<Segment>) -> Image {
        Image {
            kind: Kind::Exec,
            entry: 0,
            start: segments.first().map_or(0, |s| s.vaddr),
            end: segments.last().map_or(0, |s| s.vaddr + s.memsz),
            segments,
            relocs: Vec::new(),
            relro: None,
            abi: AbiDesc { abi_version: 0, layout_crc: 0 },
            manifest: Vec::new(),
            flags: 0,
            fast_syscall: None,
        }
    }

    fn seg(vaddr: u64, memsz: u64, file: std::ops::Range<usize>) -> Segment {
        Segment { vaddr, memsz, file, flags: 0 }
    }

    #[test]
    fn only_page_congruent_segments_alone_on_their_pages_are_mapped() {
        // Text and data on pages of their own, like the Linux kernel's.
        let img = image(vec![seg(0x101000, 0x2000, 0x1000..0x3000), seg(0x104000, 0x3000, 0x4000..0x5000)]);
        assert!(mappable(&img, 0, 0));
        assert!(mappable(&img, 1, 0));
        // A segment whose file offset disagrees with its address mod 4096.
        let img = image(vec![seg(0x101000, 0x1000, 0x1010..0x1800)]);
        assert!(!mappable(&img, 0, 0));
        // Two segments sharing a page are copied, both of them.
        let img = image(vec![seg(0x101000, 0x800, 0x1000..0x1800), seg(0x101800, 0x800, 0x1800..0x2000)]);
        assert!(!mappable(&img, 0, 0));
        assert!(!mappable(&img, 1, 0));
        // Pure bss has nothing to map.
        let img = image(vec![seg(0x101000, 0x1000, 0x1000..0x1000)]);
        assert!(!mappable(&img, 0, 0));
    }
}
