//! Carries an ABI note for a version that does not exist: the tender must
//! refuse it before running anything.
#![no_std]
#![no_main]

use nabla_platform::abi::note::AbiNote;

/// The wrong note.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".note.nabla.abi")]
pub static NABLA_ABI_NOTE: AbiNote = AbiNote::with_version(999);

/// Must never run.
#[unsafe(no_mangle)]
pub fn nabla_main(_cmdline: &str) -> i32 {
    nabla_platform::println!("badabi ran: the tender accepted a wrong ABI version");
    1
}
