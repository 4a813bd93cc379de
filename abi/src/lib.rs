//! `nabla-abi`: the one contract between `nabla-tender` and the guests it runs.
//!
//! Everything that crosses the tender/guest boundary is defined here:
//!
//! * [`BootInfo`], the block the tender writes into guest memory and whose
//!   address it passes in `rdi` when it enters the guest;
//! * [`Hypercalls`], a table of plain `extern "C"` function pointers into the
//!   tender that the guest calls like any function (no trap, no VM exit);
//! * [`TrapVector`] and [`FaultFrame`], which let a guest kernel receive the
//!   syscalls and faults of its own programs;
//! * the ELF notes a guest carries ([`note`]), checked before anything is
//!   mapped.
//!
//! Design rules: every struct is `#[repr(C)]` with fixed-width fields and
//! explicit padding; sizes and offsets are asserted at compile time; the
//! layout is summarised by [`LAYOUT_CRC`], which a guest embeds in its ABI
//! note, so a guest built against another layout is refused even when
//! someone forgot to bump [`ABI_VERSION`]. Structs are append-only; any
//! change bumps [`ABI_VERSION`].
//!
//! Limits: x86_64 only; guest and tender share one address space, so
//! "guest addresses" are host virtual addresses inside the guest range.
#![no_std]

pub mod crc;
pub mod note;
mod structs;

pub use structs::*;

/// Version of this contract. Bumped on every change to any struct here.
pub const ABI_VERSION: u32 = 8;

/// CRC32 of [`LAYOUT`]: a fingerprint of the size and field offsets of every
/// struct in this crate.
pub const LAYOUT_CRC: u32 = crc::crc32_words(&LAYOUT);
