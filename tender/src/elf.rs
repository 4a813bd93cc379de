//! ELF parsing and validation of a guest image: every field is hostile.
//!
//! [`parse`] turns the bytes of a guest file into an [`Image`]: its load
//! segments, entry point, relative relocations and Nabla notes (ABI,
//! manifest, flags, fast syscall entry), or a one-line
//! [`ElfError`]. It maps nothing; `loader.rs` places the image in guest
//! memory. The low-level parsing (header, program headers, notes, dynamic
//! entries) is done by the `object` crate, which is fuzzed upstream and
//! bounds-checks every table it hands out; the rules of what a Nabla guest
//! may contain are ours and live here.
//!
//! Accepted: x86_64 little-endian ELF64, `ET_EXEC` (fixed address) or
//! `ET_DYN` (static-pie: relocated by the tender, `R_X86_64_RELATIVE` only),
//! no interpreter, no shared-library dependencies, at most
//! [`MAX_PHDRS`] program headers, no segment both writable and executable,
//! no overlapping segments.

use nabla_abi::note::{
    AbiDesc, GUEST_FLAGS_KNOWN, MANIFEST_FLAGS_KNOWN, ManifestEntry, NOTE_TYPE_ABI, NOTE_TYPE_FAST_SYSCALL,
    NOTE_TYPE_FLAGS, NOTE_TYPE_MANIFEST,
};
use nabla_abi::{DEVICE_BLOCK, DEVICE_NAME_MAX, DEVICE_NAME_SIZE, DEVICE_NET, MAX_DEVICES};
use object::LittleEndian as LE;
use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use std::mem::offset_of;
use std::ops::Range;

/// `DT_RELR` (packed relative relocations), not in `object`'s table.
const DT_RELR: u32 = 36;

/// Page size of the host and of guest segment protection.
pub const PAGE: u64 = 4096;
/// Most program headers a guest may have.
pub const MAX_PHDRS: usize = 64;

/// Why a guest file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    /// Not parseable as ELF64 at all.
    #[error("not a valid ELF64 file ({0})")]
    Malformed(&'static str),
    /// Wrong machine, class, byte order or type.
    #[error("unsupported ELF file: {0}")]
    Unsupported(String),
    /// A program header is inconsistent.
    #[error("bad program header {index}: {why}")]
    BadSegment {
        /// Index of the program header.
        index: usize,
        /// What is wrong with it.
        why: String,
    },
    /// Two segments overlap.
    #[error("program headers {0} and {1} overlap")]
    Overlap(usize, usize),
    /// The entry point is not inside an executable segment.
    #[error("entry point {0:#x} is not inside an executable segment")]
    BadEntry(u64),
    /// The dynamic section asks for something a static guest cannot have.
    #[error("unsupported dynamic section: {0}")]
    BadDynamic(String),
    /// No ABI note at all.
    #[error("no Nabla ABI note: not a Nabla guest (was it linked with nabla-platform?)")]
    NoAbiNote,
    /// A note header or descriptor is malformed.
    #[error("malformed ELF note ({0})")]
    BadNote(&'static str),
    /// The guest flags note is malformed or has unknown bits.
    #[error("bad guest flags note: {0}")]
    BadFlags(String),
    /// The fast syscall note is malformed.
    #[error("bad fast syscall note: its descriptor is {0} bytes, not 8")]
    BadFastSyscall(usize),
    /// The device manifest note is malformed.
    #[error("bad device manifest: {0}")]
    BadManifest(String),
    /// The guest was built for another ABI version.
    #[error("guest was built for Nabla ABI version {guest}, this tender implements version {ours}")]
    AbiVersion {
        /// The guest's version.
        guest: u32,
        /// Ours.
        ours: u32,
    },
    /// Same version, different struct layout.
    #[error("guest ABI layout fingerprint {guest:#010x} does not match the tender's {ours:#010x}")]
    AbiLayout {
        /// The guest's CRC.
        guest: u32,
        /// Ours.
        ours: u32,
    },
}

/// Fixed-address executable or position-independent (static-pie) image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ET_EXEC`: loaded at its link addresses.
    Exec,
    /// `ET_DYN`: loaded at a bias chosen by the loader, then relocated.
    Dyn,
}

/// One `PT_LOAD` segment, in link addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Link address of the first byte.
    pub vaddr: u64,
    /// Size in memory (file bytes plus zero fill).
    pub memsz: u64,
    /// Bytes of the file copied to `vaddr`.
    pub file: Range<usize>,
    /// `PF_R`/`PF_W`/`PF_X` bits.
    pub flags: u32,
}

/// A validated guest image.
#[derive(Debug)]
pub struct Image {
    /// Executable or static-pie.
    pub kind: Kind,
    /// Entry point (link address).
    pub entry: u64,
    /// Load segments, sorted by address, non-overlapping.
    pub segments: Vec<Segment>,
    /// Page-aligned lowest link address of the image.
    pub start: u64,
    /// Page-aligned end of the image.
    pub end: u64,
    /// `R_X86_64_RELATIVE` relocations: (link address of the 8-byte slot,
    /// addend). Empty for `ET_EXEC`.
    pub relocs: Vec<(u64, i64)>,
    /// `PT_GNU_RELRO` range (link addresses), made read-only after
    /// relocation.
    pub relro: Option<Range<u64>>,
    /// The guest's ABI note.
    pub abi: AbiDesc,
    /// The devices the guest declares, in handle order.
    pub manifest: Vec<ManifestEntry>,
    /// `GUEST_FLAG_*` bits from the guest's flags note (0 without one).
    pub flags: u32,
    /// Link address of the guest's fast syscall entry, from its fast
    /// syscall note (`None` without one: no syscall sled).
    pub fast_syscall: Option<u64>,
}

fn page_down(x: u64) -> u64 {
    x & !(PAGE - 1)
}

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE - 1).map(page_down)
}

/// Parse and validate a guest image. Checks the ABI note last so that the
/// structure of the file is known good before its notes are trusted.
pub fn parse(data: &[u8]) -> Result<Image, ElfError> {
    let hdr = elf::FileHeader64::<LE>::parse(data).map_err(|_| ElfError::Malformed("bad or truncated ELF header"))?;
    let e = LE;
    let ident = hdr.e_ident();
    if ident.data != elf::ELFDATA2LSB {
        return Err(ElfError::Unsupported("not little-endian".into()));
    }
    if hdr.e_machine(e) != elf::EM_X86_64 {
        return Err(ElfError::Unsupported(format!("machine {} is not x86_64", hdr.e_machine(e))));
    }
    let kind = match hdr.e_type(e) {
        elf::ET_EXEC => Kind::Exec,
        elf::ET_DYN => Kind::Dyn,
        t => {
            return Err(ElfError::Unsupported(format!("type {t} is neither ET_EXEC nor ET_DYN")));
        }
    };
    if usize::from(hdr.e_phentsize(e)) != size_of::<elf::ProgramHeader64<LE>>() {
        return Err(ElfError::Malformed("wrong program header size"));
    }
    let phdrs = hdr.program_headers(e, data).map_err(|_| ElfError::Malformed("program headers out of file"))?;
    if phdrs.is_empty() {
        return Err(ElfError::Malformed("no program headers"));
    }
    if phdrs.len() > MAX_PHDRS {
        return Err(ElfError::Unsupported(format!("{} program headers (at most {MAX_PHDRS})", phdrs.len())));
    }

    let mut segments: Vec<(usize, Segment)> = Vec::new();
    let mut relro = None;
    let mut dynamic = None;
    for (index, ph) in phdrs.iter().enumerate() {
        let bad = |why: String| ElfError::BadSegment { index, why };
        match ph.p_type(e) {
            elf::PT_LOAD => {
                let (vaddr, memsz, filesz, off) = (ph.p_vaddr(e), ph.p_memsz(e), ph.p_filesz(e), ph.p_offset(e));
                let flags = ph.p_flags(e);
                if memsz == 0 {
                    continue;
                }
                if filesz > memsz {
                    return Err(bad(format!("file size {filesz:#x} exceeds memory size {memsz:#x}")));
                }
                let file_end = off.checked_add(filesz).filter(|&end| end <= data.len() as u64);
                let Some(file_end) = file_end else {
                    return Err(bad("file data lies outside the file".into()));
                };
                if vaddr.checked_add(memsz).and_then(page_up).is_none() {
                    return Err(bad("address range overflows".into()));
                }
                if flags & elf::PF_W != 0 && flags & elf::PF_X != 0 {
                    return Err(bad("segment is both writable and executable (W^X)".into()));
                }
                let file = off as usize..file_end as usize;
                segments.push((index, Segment { vaddr, memsz, file, flags }));
            }
            elf::PT_INTERP => {
                return Err(ElfError::Unsupported(
                    "it asks for a dynamic linker (PT_INTERP); link it static-pie".into(),
                ));
            }
            elf::PT_GNU_RELRO => {
                let (v, m) = (ph.p_vaddr(e), ph.p_memsz(e));
                relro = v.checked_add(m).map(|end| v..end);
            }
            elf::PT_DYNAMIC => dynamic = Some(index),
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(ElfError::Malformed("no loadable segment"));
    }
    segments.sort_by_key(|(_, s)| s.vaddr);
    for pair in segments.windows(2) {
        let [(ia, a), (ib, b)] = pair else { continue };
        // Different permissions may not share a page; equal ones may, but
        // the bytes themselves may never overlap.
        let a_end = a.vaddr + a.memsz;
        let clash =
            if a.flags == b.flags { a_end > b.vaddr } else { page_up(a_end).unwrap_or(u64::MAX) > page_down(b.vaddr) };
        if clash {
            return Err(ElfError::Overlap(*ia, *ib));
        }
    }
    let segments: Vec<Segment> = segments.into_iter().map(|(_, s)| s).collect();
    let start = page_down(segments[0].vaddr);
    let last = &segments[segments.len() - 1];
    let end = page_up(last.vaddr + last.memsz).ok_or(ElfError::Malformed("image end overflows"))?;

    let entry = hdr.e_entry(e);
    let in_exec = segments.iter().any(|s| s.flags & elf::PF_X != 0 && entry >= s.vaddr && entry < s.vaddr + s.memsz);
    if !in_exec {
        return Err(ElfError::BadEntry(entry));
    }

    let relocs = match dynamic {
        Some(i) => parse_dynamic(data, &phdrs[i], &segments, kind)?,
        None => Vec::new(),
    };
    let abi = find_abi_note(data, phdrs)?;
    check_abi(&abi)?;
    let manifest = find_manifest(data, phdrs)?;
    let flags = find_flags(data, phdrs)?;
    // Bit 62 of the ready set is then the host signals' (see nabla-abi).
    if flags & nabla_abi::note::GUEST_FLAG_HOST_SIGNALS != 0 && manifest.len() > nabla_abi::MAX_DEVICES_HOST_SIGNALS {
        return Err(ElfError::BadManifest(format!(
            "{} devices (at most {} for a guest that takes host signals)",
            manifest.len(),
            nabla_abi::MAX_DEVICES_HOST_SIGNALS
        )));
    }
    let fast_syscall = find_fast_syscall(data, phdrs)?;
    Ok(Image { kind, entry, segments, start, end, relocs, relro, abi, manifest, flags, fast_syscall })
}

/// Bytes of the file that back link addresses `vaddr..vaddr+len`.
fn file_bytes<'a>(data: &'a [u8], segments: &[Segment], vaddr: u64, len: u64) -> Option<&'a [u8]> {
    let s = segments.iter().find(|s| vaddr >= s.vaddr && vaddr < s.vaddr + s.memsz)?;
    let rel = vaddr - s.vaddr;
    let end = rel.checked_add(len)?;
    if end > (s.file.end - s.file.start) as u64 {
        return None;
    }
    data.get(s.file.start + rel as usize..s.file.start + end as usize)
}

fn parse_dynamic(
    data: &[u8],
    ph: &elf::ProgramHeader64<LE>,
    segments: &[Segment],
    kind: Kind,
) -> Result<Vec<(u64, i64)>, ElfError> {
    let e = LE;
    let dynamic = ph
        .dynamic(e, data)
        .map_err(|_| ElfError::BadDynamic("dynamic section lies outside the file".into()))?
        .unwrap_or(&[]);
    let (mut rela, mut relasz, mut relaent) = (None, 0u64, 24u64);
    for d in dynamic {
        let tag = d.d_tag(e) as u32;
        let val = d.d_val(e);
        match tag {
            elf::DT_NULL => break,
            elf::DT_RELA => rela = Some(val),
            elf::DT_RELASZ => relasz = val,
            elf::DT_RELAENT => relaent = val,
            elf::DT_NEEDED => {
                return Err(ElfError::BadDynamic("it needs shared libraries (DT_NEEDED)".into()));
            }
            elf::DT_REL | DT_RELR => {
                return Err(ElfError::BadDynamic(format!("relocation table type {tag:#x} is not supported")));
            }
            elf::DT_PLTRELSZ if val != 0 => {
                return Err(ElfError::BadDynamic("it has PLT relocations; link it static-pie".into()));
            }
            _ => {}
        }
    }
    let Some(rela) = rela else {
        return Ok(Vec::new());
    };
    if relaent != 24 || relasz % 24 != 0 {
        return Err(ElfError::BadDynamic("bad RELA entry size".into()));
    }
    if kind == Kind::Exec && relasz != 0 {
        return Err(ElfError::BadDynamic("a fixed-address executable with relocations".into()));
    }
    let table = file_bytes(data, segments, rela, relasz)
        .ok_or_else(|| ElfError::BadDynamic("relocation table lies outside the loaded file data".into()))?;
    let mut out = Vec::with_capacity(table.len() / 24);
    for chunk in table.chunks_exact(24) {
        let word = |i: usize| u64::from_le_bytes(chunk[i..i + 8].try_into().unwrap_or([0; 8]));
        let (offset, info, addend) = (word(0), word(8), word(16) as i64);
        match (info & 0xffff_ffff) as u32 {
            elf::R_X86_64_NONE => {}
            elf::R_X86_64_RELATIVE if info >> 32 == 0 => {
                let inside = segments
                    .iter()
                    .any(|s| offset >= s.vaddr && offset.checked_add(8).is_some_and(|e| e <= s.vaddr + s.memsz));
                if !inside {
                    return Err(ElfError::BadDynamic(format!("relocation at {offset:#x} is outside the image")));
                }
                out.push((offset, addend));
            }
            t => {
                return Err(ElfError::BadDynamic(format!("relocation type {t} (only R_X86_64_RELATIVE is supported)")));
            }
        }
    }
    Ok(out)
}

/// Refuse a guest built against another version or layout of the ABI.
pub fn check_abi(abi: &AbiDesc) -> Result<(), ElfError> {
    if abi.abi_version != nabla_abi::ABI_VERSION {
        return Err(ElfError::AbiVersion { guest: abi.abi_version, ours: nabla_abi::ABI_VERSION });
    }
    if abi.layout_crc != nabla_abi::LAYOUT_CRC {
        return Err(ElfError::AbiLayout { guest: abi.layout_crc, ours: nabla_abi::LAYOUT_CRC });
    }
    Ok(())
}

/// The ABI note of a guest file, unchecked (for `nabla-elftool`).
pub fn abi_note(data: &[u8]) -> Result<AbiDesc, ElfError> {
    let hdr = elf::FileHeader64::<LE>::parse(data).map_err(|_| ElfError::Malformed("bad or truncated ELF header"))?;
    let phdrs = hdr.program_headers(LE, data).map_err(|_| ElfError::Malformed("program headers out of file"))?;
    find_abi_note(data, phdrs)
}

/// The descriptor of the first `Nabla` note of type `note_type` in the
/// `PT_NOTE` segments, if any.
fn find_note<'a>(
    data: &'a [u8],
    phdrs: &[elf::ProgramHeader64<LE>],
    note_type: u32,
) -> Result<Option<&'a [u8]>, ElfError> {
    let e = LE;
    for ph in phdrs.iter().filter(|p| p.p_type(e) == elf::PT_NOTE) {
        let notes = ph.notes(e, data).map_err(|_| ElfError::BadNote("note segment lies outside the file"))?;
        let Some(mut notes) = notes else { continue };
        loop {
            let note = match notes.next() {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(_) => return Err(ElfError::BadNote("a note header or descriptor runs past its segment")),
            };
            if note.name() == b"Nabla" && note.n_type(e) == note_type {
                return Ok(Some(note.desc()));
            }
        }
    }
    Ok(None)
}

fn find_abi_note(data: &[u8], phdrs: &[elf::ProgramHeader64<LE>]) -> Result<AbiDesc, ElfError> {
    let desc = find_note(data, phdrs, NOTE_TYPE_ABI)?.ok_or(ElfError::NoAbiNote)?;
    if desc.len() != size_of::<AbiDesc>() {
        return Err(ElfError::BadNote("ABI note descriptor has the wrong size"));
    }
    let w = |i: usize| u32::from_le_bytes([desc[i], desc[i + 1], desc[i + 2], desc[i + 3]]);
    Ok(AbiDesc { abi_version: w(0), layout_crc: w(4) })
}

/// The device manifest of a guest file (empty when it declares none).
pub fn manifest(data: &[u8]) -> Result<Vec<ManifestEntry>, ElfError> {
    let hdr = elf::FileHeader64::<LE>::parse(data).map_err(|_| ElfError::Malformed("bad or truncated ELF header"))?;
    let phdrs = hdr.program_headers(LE, data).map_err(|_| ElfError::Malformed("program headers out of file"))?;
    find_manifest(data, phdrs)
}

/// The guest's flags note: one `u32`, only bits this ABI defines.
fn find_flags(data: &[u8], phdrs: &[elf::ProgramHeader64<LE>]) -> Result<u32, ElfError> {
    let Some(desc) = find_note(data, phdrs, NOTE_TYPE_FLAGS)? else { return Ok(0) };
    let bytes: [u8; 4] = desc.try_into().map_err(|_| ElfError::BadFlags(format!("{} bytes, not 4", desc.len())))?;
    let flags = u32::from_le_bytes(bytes);
    if flags & !GUEST_FLAGS_KNOWN != 0 {
        return Err(ElfError::BadFlags(format!("unknown flags {:#x}", flags & !GUEST_FLAGS_KNOWN)));
    }
    Ok(flags)
}

/// The guest's fast syscall note: one little-endian `u64`, a link
/// address. Where it points is checked by the sled, which stays off when
/// it is not in the guest's code.
fn find_fast_syscall(data: &[u8], phdrs: &[elf::ProgramHeader64<LE>]) -> Result<Option<u64>, ElfError> {
    let Some(desc) = find_note(data, phdrs, NOTE_TYPE_FAST_SYSCALL)? else { return Ok(None) };
    let bytes: [u8; 8] = desc.try_into().map_err(|_| ElfError::BadFastSyscall(desc.len()))?;
    Ok(Some(u64::from_le_bytes(bytes)))
}

fn find_manifest(data: &[u8], phdrs: &[elf::ProgramHeader64<LE>]) -> Result<Vec<ManifestEntry>, ElfError> {
    let Some(desc) = find_note(data, phdrs, NOTE_TYPE_MANIFEST)? else { return Ok(Vec::new()) };
    let size = size_of::<ManifestEntry>();
    if desc.len() % size != 0 {
        return Err(ElfError::BadManifest("its size is not a whole number of entries".into()));
    }
    if desc.len() / size > MAX_DEVICES {
        return Err(ElfError::BadManifest(format!("{} devices (at most {MAX_DEVICES})", desc.len() / size)));
    }
    let mut out: Vec<ManifestEntry> = Vec::new();
    for (i, chunk) in desc.chunks_exact(size).enumerate() {
        let mut name = [0u8; DEVICE_NAME_SIZE];
        name.copy_from_slice(&chunk[..DEVICE_NAME_SIZE]);
        let w = |o: usize| u32::from_le_bytes([chunk[o], chunk[o + 1], chunk[o + 2], chunk[o + 3]]);
        let kind = offset_of!(ManifestEntry, kind);
        let flags = offset_of!(ManifestEntry, flags);
        let entry = ManifestEntry { name, kind: w(kind), flags: w(flags) };
        let text = entry_name(&entry).ok_or_else(|| ElfError::BadManifest(format!("entry {i} has an invalid name")))?;
        if entry.flags & !MANIFEST_FLAGS_KNOWN != 0 {
            let unknown = entry.flags & !MANIFEST_FLAGS_KNOWN;
            return Err(ElfError::BadManifest(format!("device {text} has unknown flags {unknown:#x}")));
        }
        if entry.kind != DEVICE_BLOCK && entry.kind != DEVICE_NET {
            return Err(ElfError::BadManifest(format!("device {text} has unknown type {}", entry.kind)));
        }
        if out.iter().any(|e| e.name == entry.name) {
            return Err(ElfError::BadManifest(format!("device {text} is declared twice")));
        }
        out.push(entry);
    }
    Ok(out)
}

/// The name of a manifest entry, if it is a valid device name: 1 to
/// [`DEVICE_NAME_MAX`] characters from `[A-Za-z0-9_.-]`, NUL-padded.
pub fn entry_name(e: &ManifestEntry) -> Option<&str> {
    let len = e.name.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(&e.name[..len]).ok()?;
    let ok = (1..=DEVICE_NAME_MAX).contains(&len)
        && e.name[len..].iter().all(|&b| b == 0)
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    ok.then_some(name)
}
