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
/// Note type of [`AbiNote`].
pub const NOTE_TYPE_ABI: u32 = 1;
/// Note type of the device manifest (reserved for the next ABI version).
pub const NOTE_TYPE_MANIFEST: u32 = 2;
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
            name: [b'N', b'a', b'b', b'l', b'a', 0, 0, 0],
            desc: AbiDesc { abi_version, layout_crc: crate::LAYOUT_CRC },
        }
    }
}
