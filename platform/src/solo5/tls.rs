//! Solo5's TLS API (`solo5_tls_size`, `solo5_tls_tp_offset`,
//! `solo5_tls_init`) for guests linked as ordinary static-pie programs,
//! without Solo5's linker script: the TLS template is found through the
//! program's own `PT_TLS` program header, which the linker puts in the
//! first loaded segment together with the ELF header (`__ehdr_start`,
//! which the linker defines for every program whose ELF header is loaded).
//! The block layout is in [`crate::tls_block`].
//!
//! As in Solo5, `solo5_tls_init` only fills the block; the application
//! switches to it with `solo5_set_tls_base(solo5_tls_tp_offset(tls))`.
//! Unlike Solo5 it also zeroes `.tbss`, so the area need not be zeroed
//! beforehand.

use crate::abi::{RESULT_EINVAL, RESULT_OK};
use crate::tls_block::TlsTemplate;

unsafe extern "C" {
    /// The program's ELF header, defined by the linker.
    static __ehdr_start: u8;
}

const PT_LOAD: u32 = 1;
const PT_TLS: u32 = 7;
/// `sizeof(Elf64_Phdr)`.
const PHDR_SIZE: usize = 56;

/// Read a little-endian field of `N` bytes at `at`.
///
/// # Safety
/// `at..at + N` must be readable.
unsafe fn field<const N: usize>(at: usize) -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: the caller guarantees `N` readable bytes at `at`.
    unsafe { core::ptr::copy_nonoverlapping(at as *const u8, b.as_mut_ptr(), N) };
    u64::from_le_bytes(b)
}

/// The program's TLS template; an empty one if it has no `PT_TLS` (or if
/// its program headers are not where every static link puts them: in the
/// page of the ELF header).
fn template() -> TlsTemplate {
    const PAGE: u64 = 4096;
    let ehdr = &raw const __ehdr_start as usize;
    // SAFETY: `__ehdr_start` is the loaded ELF header (64 bytes); the
    // tender checked it is an x86_64 ELF before loading it.
    let (phoff, phentsize, phnum) = unsafe { (field::<8>(ehdr + 32), field::<2>(ehdr + 54), field::<2>(ehdr + 56)) };
    if phentsize as usize != PHDR_SIZE || phoff.saturating_add(phnum * PHDR_SIZE as u64) > PAGE {
        return TlsTemplate::default();
    }
    // Program header `i`, `(p_type, p_offset, p_vaddr, p_filesz, p_memsz,
    // p_align)`.
    let phdr = |i: usize| {
        let at = ehdr + phoff as usize + i * PHDR_SIZE;
        // SAFETY: the table lies in the first page of the file, which is
        // mapped at `__ehdr_start`: the linker defines that symbol only
        // for a header inside a loaded segment, and segments are mapped
        // in whole pages.
        unsafe {
            (
                field::<4>(at) as u32,
                field::<8>(at + 8),
                field::<8>(at + 16) as usize,
                field::<8>(at + 32) as usize,
                field::<8>(at + 40) as usize,
                field::<8>(at + 48) as usize,
            )
        }
    };
    // The segment loaded from file offset 0 holds the ELF header: its
    // address gives the load bias (0 for ET_EXEC).
    let Some(bias) = (0..phnum as usize)
        .map(phdr)
        .find(|&(ty, offset, ..)| ty == PT_LOAD && offset == 0)
        .map(|(_, _, vaddr, ..)| ehdr.wrapping_sub(vaddr))
    else {
        return TlsTemplate::default();
    };
    match (0..phnum as usize).map(phdr).find(|&(ty, ..)| ty == PT_TLS) {
        Some((_, _, vaddr, filesz, memsz, align)) if filesz <= memsz => {
            TlsTemplate { image: bias.wrapping_add(vaddr), filesz, memsz, align }
        }
        _ => TlsTemplate::default(),
    }
}

/// `solo5_tls_size`: bytes of one TLS block, for any alignment of it.
#[unsafe(no_mangle)]
pub extern "C" fn solo5_tls_size() -> usize {
    template().size()
}

/// `solo5_tls_tp_offset`: the thread pointer (the value for
/// `solo5_set_tls_base`) of the block at `tls`.
#[unsafe(no_mangle)]
pub extern "C" fn solo5_tls_tp_offset(tls: usize) -> usize {
    template().tp(tls).unwrap_or(0)
}

/// `solo5_tls_init`: fill the block at `tls` (`solo5_tls_size()` bytes):
/// `.tdata` copied, `.tbss` zeroed, the word at the thread pointer set to
/// its own address. EINVAL for a null `tls`.
///
/// # Safety
/// `tls` must be null or point at `solo5_tls_size()` writable bytes that
/// hold no live object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solo5_tls_init(tls: usize) -> u32 {
    if tls == 0 {
        return RESULT_EINVAL;
    }
    let t = template();
    let (Some(tp), Some(data)) = (t.tp(tls), t.data(tls)) else { return RESULT_EINVAL };
    // SAFETY: `data..tp + 8` lies inside the caller's block (tls_block
    // guarantees it for blocks of `size()` bytes); the template is the
    // program's own loaded `.tdata`, `filesz <= memsz <= tp - data`.
    unsafe {
        core::ptr::copy_nonoverlapping(t.image as *const u8, data as *mut u8, t.filesz);
        core::ptr::write_bytes((data + t.filesz) as *mut u8, 0, tp - data - t.filesz);
        (tp as *mut usize).write(tp);
    }
    RESULT_OK
}
