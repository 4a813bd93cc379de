//! ELF notes a guest carries, read by the tender before it maps anything.
//!
//! A note is the standard ELF note record: `namesz`, `descsz`, `type`, the
//! name padded to 4 bytes, the descriptor padded to 4 bytes. Nabla's notes
//! are named [`NOTE_NAME`] and live in an allocated `SHT_NOTE` section so
//! that the linker puts them in a `PT_NOTE` program header; the tender
//! looks for them through program headers only (sections may be stripped).

use core::mem::size_of;
use static_assertions::const_assert_eq;

/// The note name, NUL included.
pub const NOTE_NAME: [u8; 6] = *b"Nabla\0";
/// [`NOTE_NAME`] padded to 4 bytes, as it sits in a note record.
pub const NOTE_NAME_PADDED: [u8; 8] = *b"Nabla\0\0\0";
/// Note type of [`AbiNote`].
pub const NOTE_TYPE_ABI: u32 = 1;
/// Note type of the device manifest ([`ManifestEntry`]s).
pub const NOTE_TYPE_MANIFEST: u32 = 2;
/// Note type of the guest's flags (one `u32` of `GUEST_FLAG_*` bits).
pub const NOTE_TYPE_FLAGS: u32 = 3;
/// Name of the section guests put their flags note in.
pub const FLAGS_NOTE_SECTION: &str = ".note.nabla.flags";
/// Guest flag: the guest runs code it places in its own free memory (a
/// kernel running user programs), so the tender maps all guest memory
/// outside the image read, write and execute. The guest could write and
/// run its own code anyway; the flag only lifts W^X outside the image.
pub const GUEST_FLAG_EXEC_MEMORY: u32 = 1 << 0;
/// Guest flag: deliver a preemption tick. The tender arms a host CPU-time
/// interval timer (`ITIMER_VIRTUAL`, before the sandbox, re-armed by the
/// host kernel) and forwards each tick that interrupts guest code outside
/// the image (user programs of a guest kernel) to the fault entry as
/// `SIGVTALRM`; ticks elsewhere are dropped.
pub const GUEST_FLAG_PREEMPT_TICK: u32 = 1 << 1;
/// Guest flag: the guest's net devices speak the virtio-net header
/// (`struct virtio_net_hdr_v1`, 12 bytes, little-endian) in front of
/// every frame, both ways, with checksum offload and TCP segmentation
/// offload (segments up to 64 KiB). The tender then opens taps with
/// `IFF_VNET_HDR` and the offloads on, and sets
/// [`crate::DEVICE_NET_VNET_HDR`] on each device where they are in effect
/// (a tap fd handed over without `IFF_VNET_HDR` carries plain frames).
/// Without the flag, frames are plain Ethernet frames, as in Solo5.
pub const GUEST_FLAG_NET_VNET_HDR: u32 = 1 << 2;
/// Guest flag: the guest takes the host signals in [`crate::HOST_SIGNALS`]
/// (SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGWINCH). The
/// tender's handler for them then no longer ends the run: it records the
/// signal and wakes the guest, which sees [`crate::HOST_SIGNAL_READY`] in
/// its ready set and takes the set with
/// [`crate::Hypercalls::host_signals_take`]. What a signal does is then
/// the guest's call, ending the run included (the Linux guest exits with
/// 128 + the number when its init has no handler). Such a guest declares
/// at most [`crate::MAX_DEVICES_HOST_SIGNALS`] devices.
pub const GUEST_FLAG_HOST_SIGNALS: u32 = 1 << 3;
/// Every guest flag this ABI version defines.
pub const GUEST_FLAGS_KNOWN: u32 =
    GUEST_FLAG_EXEC_MEMORY | GUEST_FLAG_PREEMPT_TICK | GUEST_FLAG_NET_VNET_HDR | GUEST_FLAG_HOST_SIGNALS;

/// A whole flags note record, as a guest embeds it.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug)]
pub struct FlagsNote {
    /// `NOTE_NAME.len()` (6).
    pub namesz: u32,
    /// 4.
    pub descsz: u32,
    /// [`NOTE_TYPE_FLAGS`].
    pub note_type: u32,
    /// [`NOTE_NAME`] padded to 8 bytes.
    pub name: [u8; 8],
    /// `GUEST_FLAG_*` bits.
    pub flags: u32,
}

const_assert_eq!(size_of::<FlagsNote>(), 24);

impl FlagsNote {
    /// A flags note with `flags`.
    pub const fn new(flags: u32) -> FlagsNote {
        FlagsNote {
            namesz: NOTE_NAME.len() as u32,
            descsz: 4,
            note_type: NOTE_TYPE_FLAGS,
            name: NOTE_NAME_PADDED,
            flags,
        }
    }
}

/// Note type of the guest's fast syscall entry ([`FastSyscallNote`]).
pub const NOTE_TYPE_FAST_SYSCALL: u32 = 4;
/// Name of the section guests put their fast syscall note in.
pub const FAST_SYSCALL_NOTE_SECTION: &str = ".note.nabla.fastsyscall";

/// A whole fast syscall note record: where a guest kernel takes the
/// syscalls of rewritten sites (see [`crate::BOOT_FLAG_SYSCALL_SLED`]).
/// Without this note the tender maps no sled and the guest keeps every
/// syscall on the trap path.
///
/// The descriptor is one little-endian `u64`: the link-time address of the
/// entry (an `ET_EXEC` image: where it runs; a static-pie: the tender adds
/// the load bias, so the file must hold the unrelocated link address). It
/// must lie inside an executable `PT_LOAD` segment, or the tender leaves
/// the sled off. 28 bytes, all fields 4-aligned:
///
/// ```text
/// offset  size  value
///      0     4  namesz = 6
///      4     4  descsz = 8
///      8     4  type   = 4 (NOTE_TYPE_FAST_SYSCALL)
///     12     8  "Nabla\0\0\0"
///     20     8  the entry address, little-endian (only 4-aligned)
/// ```
///
/// From assembly (the section must be 4-aligned, not 8: the note reader
/// pads fields to the alignment of the `PT_NOTE` segment holding them):
///
/// ```text
///     .section .note.nabla.fastsyscall, "a", @note
///     .balign 4
///     .long 6, 8, 4
///     .asciz "Nabla"
///     .balign 4
///     .quad fast_syscall_entry
/// ```
///
/// The entry is a `u32` pair rather than a `u64` so that the record has
/// no padding and the alignment of every other Nabla note.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug)]
pub struct FastSyscallNote {
    /// `NOTE_NAME.len()` (6).
    pub namesz: u32,
    /// 8.
    pub descsz: u32,
    /// [`NOTE_TYPE_FAST_SYSCALL`].
    pub note_type: u32,
    /// [`NOTE_NAME`] padded to 8 bytes.
    pub name: [u8; 8],
    /// Low 32 bits of the entry address.
    pub entry_lo: u32,
    /// High 32 bits of the entry address.
    pub entry_hi: u32,
}

const_assert_eq!(size_of::<FastSyscallNote>(), 28);
const_assert_eq!(core::mem::align_of::<FastSyscallNote>(), 4);
const_assert_eq!(core::mem::offset_of!(FastSyscallNote, name), 12);
const_assert_eq!(core::mem::offset_of!(FastSyscallNote, entry_lo), 20);
const_assert_eq!(core::mem::offset_of!(FastSyscallNote, entry_hi), 24);

impl FastSyscallNote {
    /// The note for a fast syscall entry at link address `entry`.
    pub const fn new(entry: u64) -> FastSyscallNote {
        FastSyscallNote {
            namesz: NOTE_NAME.len() as u32,
            descsz: 8,
            note_type: NOTE_TYPE_FAST_SYSCALL,
            name: NOTE_NAME_PADDED,
            entry_lo: entry as u32,
            entry_hi: (entry >> 32) as u32,
        }
    }

    /// The entry address the note holds.
    pub const fn entry(&self) -> u64 {
        self.entry_lo as u64 | (self.entry_hi as u64) << 32
    }
}

/// Name of the section guests put their manifest note in.
pub const MANIFEST_NOTE_SECTION: &str = ".note.nabla.manifest";
/// Name of the section guests put their ABI note in.
pub const ABI_NOTE_SECTION: &str = ".note.nabla.abi";

/// Descriptor of the ABI note.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbiDesc {
    /// The [`crate::ABI_VERSION`] the guest was built against.
    pub abi_version: u32,
    /// The [`crate::LAYOUT_CRC`] the guest was built against.
    pub layout_crc: u32,
}

/// A whole ABI note record, as a guest embeds it.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug)]
pub struct AbiNote {
    /// `NOTE_NAME.len()` (6).
    pub namesz: u32,
    /// `size_of::<AbiDesc>()` (8).
    pub descsz: u32,
    /// [`NOTE_TYPE_ABI`].
    pub note_type: u32,
    /// [`NOTE_NAME`] padded to 8 bytes.
    pub name: [u8; 8],
    /// The descriptor.
    pub desc: AbiDesc,
}

const_assert_eq!(size_of::<AbiNote>(), 28);

impl AbiNote {
    /// The note for a guest built against this crate.
    pub const CURRENT: AbiNote = AbiNote::with_version(crate::ABI_VERSION);

    /// A note claiming `abi_version` (tests use this to build bad guests).
    pub const fn with_version(abi_version: u32) -> AbiNote {
        AbiNote {
            namesz: NOTE_NAME.len() as u32,
            descsz: size_of::<AbiDesc>() as u32,
            note_type: NOTE_TYPE_ABI,
            name: NOTE_NAME_PADDED,
            desc: AbiDesc { abi_version, layout_crc: crate::LAYOUT_CRC },
        }
    }
}

/// One device a guest declares in its manifest note. The note's
/// descriptor is an array of these (up to [`crate::MAX_DEVICES`]); the
/// order is the order of device handles.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Device name, NUL-padded (at most [`crate::DEVICE_NAME_MAX`] bytes,
    /// then at least one NUL).
    pub name: [u8; crate::DEVICE_NAME_SIZE],
    /// [`crate::DEVICE_BLOCK`] or [`crate::DEVICE_NET`].
    pub kind: u32,
    /// `MANIFEST_*` flag bits; the others are zero.
    pub flags: u32,
}

/// `ManifestEntry::flags` bit: the device is optional. The user may leave
/// it unattached; the guest then finds it in the device table with
/// [`crate::DEVICE_ABSENT`] set. Without the bit a device must be attached
/// (the Solo5 rule, which unikernels keep).
pub const MANIFEST_OPTIONAL: u32 = 1;
/// Every `ManifestEntry::flags` bit this ABI version defines.
pub const MANIFEST_FLAGS_KNOWN: u32 = MANIFEST_OPTIONAL;

const_assert_eq!(size_of::<ManifestEntry>(), 76);
const_assert_eq!(core::mem::offset_of!(ManifestEntry, kind), 68);
const_assert_eq!(core::mem::offset_of!(ManifestEntry, flags), 72);

impl ManifestEntry {
    /// An entry for a device called `name` of `kind`.
    ///
    /// Panics (at compile time, in a `static`) if `name` is longer than
    /// [`crate::DEVICE_NAME_MAX`] bytes.
    pub const fn new(name: &str, kind: u32) -> ManifestEntry {
        ManifestEntry::with_flags(name, kind, 0)
    }

    /// An optional entry (see [`MANIFEST_OPTIONAL`]).
    pub const fn optional(name: &str, kind: u32) -> ManifestEntry {
        ManifestEntry::with_flags(name, kind, MANIFEST_OPTIONAL)
    }

    /// An entry with `MANIFEST_*` `flags`.
    pub const fn with_flags(name: &str, kind: u32, flags: u32) -> ManifestEntry {
        let mut n = [0u8; crate::DEVICE_NAME_SIZE];
        let b = name.as_bytes();
        assert!(b.len() <= crate::DEVICE_NAME_MAX, "device names are at most 67 bytes");
        let mut i = 0;
        while i < b.len() {
            n[i] = b[i];
            i += 1;
        }
        ManifestEntry { name: n, kind, flags }
    }
}

/// A whole manifest note record with `N` entries, as a guest embeds it.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug)]
pub struct ManifestNote<const N: usize> {
    /// `NOTE_NAME.len()` (6).
    pub namesz: u32,
    /// `N * size_of::<ManifestEntry>()`.
    pub descsz: u32,
    /// [`NOTE_TYPE_MANIFEST`].
    pub note_type: u32,
    /// [`NOTE_NAME`] padded to 8 bytes.
    pub name: [u8; 8],
    /// The entries.
    pub entries: [ManifestEntry; N],
}

impl<const N: usize> ManifestNote<N> {
    /// The note declaring `entries`.
    pub const fn new(entries: [ManifestEntry; N]) -> Self {
        ManifestNote {
            namesz: NOTE_NAME.len() as u32,
            descsz: (N * size_of::<ManifestEntry>()) as u32,
            note_type: NOTE_TYPE_MANIFEST,
            name: NOTE_NAME_PADDED,
            entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_syscall_note_has_the_documented_bytes() {
        let note = FastSyscallNote::new(0x1234_5678_9abc_def0);
        assert_eq!(note.entry(), 0x1234_5678_9abc_def0);
        // SAFETY: the note is repr(C) plain data without padding (its
        // size and offsets are asserted above), so every byte is initialised.
        let bytes: [u8; 28] = unsafe { core::mem::transmute(note) };
        let mut want = [0u8; 28];
        want[0] = 6;
        want[4] = 8;
        want[8] = 4;
        want[12..20].copy_from_slice(b"Nabla\0\0\0");
        want[20..28].copy_from_slice(&0x1234_5678_9abc_def0u64.to_le_bytes());
        assert_eq!(bytes, want);
    }
}
