//! The host's vDSO `clock_gettime`: the clock hypercalls without a host
//! syscall.
//!
//! What: before the sandbox, [`init`] finds the vDSO the host maps into
//! every process (`getauxval(AT_SYSINFO_EHDR)`), looks up its
//! `clock_gettime` (`__vdso_clock_gettime`, else plain `clock_gettime`)
//! and records the address in a static, which `gate::clock_ns` reads
//! through [`clock_gettime`]. When the host's clocksource can be read from
//! user mode (the TSC, or a hypervisor's paravirtual clock), the vDSO
//! computes the time from its data pages and the TSC: no syscall, and no
//! seccomp filter run. Otherwise the vDSO makes the `clock_gettime`
//! syscall itself, with the same clock id, from its own code (outside
//! guest memory), which the core module's pinned rule allows exactly as it
//! allows the gate's own call. Without a usable vDSO the gate makes that
//! syscall, as before.
//!
//! Design: the image is parsed as a byte slice ([`image_size`], [`lookup`])
//! and every offset is checked against it: an x86_64 little-endian ELF64
//! `ET_DYN`; exactly one `PT_LOAD`, at file offset 0 and executable, whose
//! file size (at most [`MAX_IMAGE`]) is the image's size (and `mincore`
//! confirms those pages are mapped before they are read); exactly one
//! `PT_DYNAMIC` inside it; `DT_SYMTAB`, `DT_STRTAB` and `DT_STRSZ`; the
//! symbol count from `DT_HASH` (`nchain`), or else from `DT_GNU_HASH` (the
//! end of its last chain). The symbol must be a defined global or weak
//! `STT_FUNC` lying inside the image. The low-level reads (headers,
//! dynamic entries, hash tables, symbols) are the `object` crate's, which
//! bounds-checks each, as in `elf.rs`. Anything unexpected is an error
//! that only leaves the static unset: the vDSO is an optimisation, never a
//! requirement.
//!
//! Hypercall context (see `gate.rs`): the static is an `AtomicUsize`,
//! written before the sandbox while the tender is single-threaded and only
//! loaded afterwards: no lock, no allocation, no TLS. The vDSO function
//! needs none of those either: the kernel builds it without a stack
//! protector or TLS, it reads only its own data pages and writes only the
//! `timespec` it is given, on the caller's (the guest's) stack, with a
//! small frame.
//!
//! Security: nothing changes in the filter. The vDSO was always mapped in
//! the tender's process, and a guest that jumps to its `syscall`
//! instruction reaches the same pinned rules as one that jumps to the
//! gate's.
//!
//! Limits: x86_64 only. Symbol versions are not checked (the x86_64 vDSO
//! defines each name once, at `LINUX_2.6`). `mincore` shows the image's
//! pages are mapped, not that they are readable; the vDSO's are.

use object::LittleEndian as LE;
use object::ReadRef;
use object::elf;
use object::read::elf::{Dyn, FileHeader, GnuHashTable, HashTable, ProgramHeader, Sym};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The C signature of the vDSO's `clock_gettime`.
pub type ClockGettime = unsafe extern "C" fn(libc::clockid_t, *mut libc::timespec) -> libc::c_int;

/// The names the vDSO's `clock_gettime` goes by, in order of preference.
pub const NAMES: [&str; 2] = ["__vdso_clock_gettime", "clock_gettime"];

/// Host page size.
const PAGE: usize = 4096;
/// Largest vDSO image accepted, in bytes (the x86_64 one is two pages).
pub const MAX_IMAGE: usize = 64 * PAGE;
/// Where the host names its current clocksource (for `--verbose` only).
const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

/// The address of the vDSO's `clock_gettime`, 0 when it is not used.
static CLOCK_GETTIME: AtomicUsize = AtomicUsize::new(0);

type Header = elf::FileHeader64<LE>;
type Phdr = elf::ProgramHeader64<LE>;

/// Why the vDSO's `clock_gettime` is not used (the clocks then make the
/// syscall themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VdsoError {
    /// `AT_SYSINFO_EHDR` is 0 (e.g. a host booted with `vdso=0`).
    #[error("the host maps no vDSO")]
    Absent,
    /// The image is not what a vDSO looks like.
    #[error("malformed vDSO: {0}")]
    Malformed(&'static str),
    /// The image is fine but defines no `clock_gettime`.
    #[error("the vDSO defines no clock_gettime")]
    NoSymbol,
}

use VdsoError::Malformed;

/// A symbol found by [`lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol {
    /// Which of [`NAMES`] it is.
    pub name: &'static str,
    /// Its offset from the start of the image.
    pub offset: usize,
}

/// The header and program headers of an image, checked to be an x86_64
/// little-endian ELF64 shared object.
fn headers(image: &[u8]) -> Result<&[Phdr], VdsoError> {
    let h = Header::parse(image).map_err(|_| Malformed("no ELF64 header"))?;
    if h.e_ident.data != elf::ELFDATA2LSB {
        return Err(Malformed("not little-endian"));
    }
    if h.e_machine.get(LE) != elf::EM_X86_64 || h.e_type.get(LE) != elf::ET_DYN {
        return Err(Malformed("not an x86_64 shared object"));
    }
    h.program_headers(LE, image).map_err(|_| Malformed("program headers out of bounds"))
}

/// The one segment of type `kind`.
fn only<'a>(phdrs: &'a [Phdr], kind: u32, what: &'static str) -> Result<&'a Phdr, VdsoError> {
    let mut all = phdrs.iter().filter(|p| p.p_type(LE) == kind);
    match (all.next(), all.next()) {
        (Some(p), None) => Ok(p),
        _ => Err(Malformed(what)),
    }
}

/// The image's size: the file size of its one `PT_LOAD`, which must start
/// at file offset 0 (so it holds the headers, and the image is mapped from
/// its first byte), be executable and be at most [`MAX_IMAGE`].
fn load_size(load: &Phdr) -> Result<usize, VdsoError> {
    if load.p_offset(LE) != 0 {
        return Err(Malformed("PT_LOAD not at file offset 0"));
    }
    if load.p_flags(LE) & elf::PF_X == 0 {
        return Err(Malformed("PT_LOAD not executable"));
    }
    usize::try_from(load.p_filesz(LE))
        .ok()
        .filter(|&n| (size_of::<Header>()..=MAX_IMAGE).contains(&n))
        .ok_or(Malformed("PT_LOAD size out of range"))
}

/// The size of the image that starts with `head` (at least its headers),
/// from its `PT_LOAD`. The caller checks that it is mapped.
pub fn image_size(head: &[u8]) -> Result<usize, VdsoError> {
    load_size(only(headers(head)?, elf::PT_LOAD, "not exactly one PT_LOAD")?)
}

/// The NUL-terminated name at `offset` in `strings`.
fn name_at(strings: &[u8], offset: u32) -> Option<&[u8]> {
    let rest = strings.get(usize::try_from(offset).ok()?..)?;
    rest.get(..rest.iter().position(|&b| b == 0)?)
}

/// The dynamic entries this lookup needs.
#[derive(Default)]
struct Tables {
    symtab: Option<u64>,
    strtab: Option<u64>,
    strsz: Option<u64>,
    syment: Option<u64>,
    hash: Option<u64>,
    gnu_hash: Option<u64>,
}

/// Find the vDSO's `clock_gettime` in `image`, the vDSO's bytes from its
/// first (as mapped: at least its `PT_LOAD`'s file size; more is ignored).
/// Every table is bounds-checked against the `PT_LOAD`; nothing panics.
pub fn lookup(image: &[u8]) -> Result<Symbol, VdsoError> {
    let phdrs = headers(image)?;
    let load = only(phdrs, elf::PT_LOAD, "not exactly one PT_LOAD")?;
    let image = image.get(..load_size(load)?).ok_or(Malformed("image shorter than its PT_LOAD"))?;
    let base = load.p_vaddr(LE);
    // A link-time address as an offset into the image.
    let at = |vaddr: u64| {
        vaddr
            .checked_sub(base)
            .and_then(|o| usize::try_from(o).ok())
            .filter(|&o| o < image.len())
            .ok_or(Malformed("address outside the image"))
    };

    let dynamic = only(phdrs, elf::PT_DYNAMIC, "not exactly one PT_DYNAMIC")?
        .dynamic(LE, image)
        .ok()
        .flatten()
        .ok_or(Malformed("PT_DYNAMIC out of bounds"))?;
    let mut t = Tables::default();
    for d in dynamic {
        let slot = match d.tag32(LE) {
            Some(elf::DT_NULL) => break,
            Some(elf::DT_SYMTAB) => &mut t.symtab,
            Some(elf::DT_STRTAB) => &mut t.strtab,
            Some(elf::DT_STRSZ) => &mut t.strsz,
            Some(elf::DT_SYMENT) => &mut t.syment,
            Some(elf::DT_HASH) => &mut t.hash,
            Some(elf::DT_GNU_HASH) => &mut t.gnu_hash,
            _ => continue,
        };
        slot.get_or_insert(d.d_val(LE));
    }

    if t.syment.is_some_and(|n| n != size_of::<elf::Sym64<LE>>() as u64) {
        return Err(Malformed("DT_SYMENT is not 24"));
    }
    let from = |vaddr: u64| image.get(at(vaddr)?..).ok_or(Malformed("address outside the image"));
    let count = match (t.hash, t.gnu_hash) {
        (Some(hash), _) => HashTable::<Header>::parse(LE, from(hash)?)
            .map_err(|_| Malformed("DT_HASH out of bounds"))?
            .symbol_table_length(),
        (None, Some(gnu)) => GnuHashTable::<Header>::parse(LE, from(gnu)?)
            .ok()
            .and_then(|h| h.symbol_table_length(LE))
            .ok_or(Malformed("DT_GNU_HASH out of bounds or empty"))?,
        (None, None) => return Err(Malformed("neither DT_HASH nor DT_GNU_HASH")),
    };
    let symtab = at(t.symtab.ok_or(Malformed("no DT_SYMTAB"))?)?;
    let symbols: &[elf::Sym64<LE>] =
        image.read_slice_at(symtab as u64, count as usize).map_err(|()| Malformed("symbol table out of bounds"))?;
    let strtab = at(t.strtab.ok_or(Malformed("no DT_STRTAB"))?)?;
    let strsz = t.strsz.and_then(|n| usize::try_from(n).ok()).ok_or(Malformed("no DT_STRSZ"))?;
    let strings = strtab
        .checked_add(strsz)
        .and_then(|end| image.get(strtab..end))
        .ok_or(Malformed("string table out of bounds"))?;

    for name in NAMES {
        let found = symbols.iter().find(|s| {
            name_at(strings, s.st_name(LE)) == Some(name.as_bytes())
                && s.st_type() == elf::STT_FUNC
                && matches!(s.st_bind(), elf::STB_GLOBAL | elf::STB_WEAK)
                && s.st_shndx(LE) != elf::SHN_UNDEF
        });
        if let Some(s) = found {
            let offset = at(s.st_value(LE))?;
            let fits = offset.checked_add(s.st_size(LE) as usize).is_some_and(|end| end <= image.len());
            if !fits {
                return Err(Malformed("clock_gettime extends past the image"));
            }
            return Ok(Symbol { name, offset });
        }
    }
    Err(VdsoError::NoSymbol)
}

/// Check that `len` bytes from the page-aligned `base` are mapped
/// (`mincore` fails with ENOMEM on any hole). `len` is at most
/// [`MAX_IMAGE`].
fn mapped(base: usize, len: usize) -> Result<(), VdsoError> {
    let mut pages = [0u8; MAX_IMAGE / PAGE];
    // SAFETY: `pages` has room for one byte per page of `len` (at most
    // MAX_IMAGE); mincore only writes there and reads no memory at `base`.
    let r = unsafe { libc::mincore(base as *mut libc::c_void, len, pages.as_mut_ptr()) };
    if r == 0 { Ok(()) } else { Err(Malformed("its PT_LOAD is larger than the mapping")) }
}

/// Find the host's vDSO `clock_gettime` and, when found, make the clock
/// hypercalls use it. Called once before the sandbox, while the tender is
/// single-threaded; returns the symbol's name, or why the clocks make the
/// syscall instead (not an error for the tender).
pub fn init() -> Result<&'static str, VdsoError> {
    // SAFETY: getauxval only reads the aux vector.
    let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
    if base == 0 {
        return Err(VdsoError::Absent);
    }
    if !base.is_multiple_of(PAGE) {
        return Err(Malformed("not page-aligned"));
    }
    // SAFETY: a nonzero AT_SYSINFO_EHDR is the start of the vDSO mapping,
    // which the host makes page-aligned, readable and at least one page
    // long, for the life of the process (the tender never unmaps it; the
    // sandbox allows no munmap).
    let head = unsafe { std::slice::from_raw_parts(base as *const u8, PAGE) };
    let size = image_size(head)?;
    mapped(base, size)?;
    // SAFETY: as for `head`; `mapped` has just checked that all `size`
    // bytes (at most MAX_IMAGE) lie in mapped pages, the vDSO's.
    let image = unsafe { std::slice::from_raw_parts(base as *const u8, size) };
    let symbol = lookup(image)?;
    CLOCK_GETTIME.store(base + symbol.offset, Ordering::Release);
    Ok(symbol.name)
}

/// The vDSO's `clock_gettime` if [`init`] found it. Safe in hypercall
/// context: one atomic load.
#[inline(always)]
pub fn clock_gettime() -> Option<ClockGettime> {
    let addr = CLOCK_GETTIME.load(Ordering::Acquire);
    if addr == 0 {
        return None;
    }
    // SAFETY: only `init` stores a nonzero value: the address of a defined
    // STT_FUNC `clock_gettime` inside the host's vDSO, whose C signature is
    // `ClockGettime` and which stays mapped for the life of the process.
    Some(unsafe { core::mem::transmute::<usize, ClockGettime>(addr) })
}

/// The `--verbose` line about the clock hypercalls, for [`init`]'s result.
/// With the vDSO it also names the host's current clocksource (read from
/// sysfs, best effort): with `tsc` (or a paravirtual clock) the vDSO makes
/// no syscall, with others (`hpet`, `acpi_pm`) it makes the syscall itself.
pub fn describe(found: &Result<&'static str, VdsoError>) -> String {
    match found {
        Ok(name) => {
            let source = std::fs::read_to_string(CLOCKSOURCE);
            let source = source.as_deref().map(str::trim).unwrap_or("unknown");
            format!("clock: the vDSO's {name} (host clocksource: {source})")
        }
        Err(e) => format!("clock: the clock_gettime syscall ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of this process's vDSO image in 8-aligned memory (the
    /// `object` crate reads its tables in place, so alignment matters), or
    /// `None` on a host without a vDSO.
    fn own_image() -> Option<Vec<u64>> {
        // SAFETY: getauxval only reads the aux vector.
        let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
        if base == 0 {
            return None;
        }
        // SAFETY: as in `init`: at least one readable page.
        let head = unsafe { std::slice::from_raw_parts(base as *const u8, PAGE) };
        let size = image_size(head).expect("own vDSO size");
        mapped(base, size).expect("own vDSO mapped");
        // SAFETY: `size` bytes checked mapped; the vDSO is readable.
        let bytes = unsafe { std::slice::from_raw_parts(base as *const u8, size) };
        let mut words = vec![0u64; size.div_ceil(8)];
        bytes_mut(&mut words)[..size].copy_from_slice(bytes);
        Some(words)
    }

    fn bytes_mut(words: &mut [u64]) -> &mut [u8] {
        object::pod::bytes_of_slice_mut(words)
    }

    fn bytes(words: &[u64]) -> &[u8] {
        object::pod::bytes_of_slice(words)
    }

    fn raw_ns(clock: libc::clockid_t) -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec.
        let r = unsafe { crate::gate::syscall3(libc::SYS_clock_gettime, clock as u64, &raw mut ts as u64, 0) };
        assert_eq!(r, 0);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    #[test]
    fn finds_clock_gettime_in_own_vdso_and_it_tells_the_time() {
        let Some(image) = own_image() else { return };
        let sym = lookup(bytes(&image)).expect("clock_gettime in this host's vDSO");
        assert!(NAMES.contains(&sym.name));
        assert_eq!(init(), Ok(sym.name));
        let f = clock_gettime().expect("set by init");
        for clock in [libc::CLOCK_MONOTONIC, libc::CLOCK_REALTIME] {
            let before = raw_ns(clock);
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: `f` is the vDSO's clock_gettime; `ts` is writable.
            assert_eq!(unsafe { f(clock, &raw mut ts) }, 0);
            let via = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            let after = raw_ns(clock);
            if clock == libc::CLOCK_MONOTONIC {
                assert!(before <= via && via <= after, "{before} {via} {after}");
            }
            assert!(via.abs_diff(before) < 50_000_000 && after.abs_diff(via) < 50_000_000, "{before} {via} {after}");
            // And through the gate, which now takes the vDSO path.
            let gate = crate::gate::clock_ns(clock);
            assert!(gate >= via && gate.abs_diff(raw_ns(clock)) < 50_000_000);
        }
        // The vDSO is host code for the fault handler.
        let code = crate::host_code();
        let addr = f as usize as u64;
        assert!(code.iter().any(|&(s, e)| addr >= s && addr < e), "{addr:#x} not in {code:x?}");
        assert!(describe(&Ok(sym.name)).starts_with("clock: the vDSO's "));
    }

    #[test]
    fn gnu_hash_alone_and_the_plain_name_are_enough() {
        let Some(mut image) = own_image() else { return };
        let want = lookup(bytes(&image)).unwrap();
        // Retag DT_HASH as DT_DEBUG: only DT_GNU_HASH is left.
        retag(&mut image, elf::DT_HASH, elf::DT_DEBUG);
        if dyn_value(&image, elf::DT_GNU_HASH).is_some() {
            assert_eq!(lookup(bytes(&image)), Ok(want));
        }
        // Rename __vdso_clock_gettime (at its head: the linker may share
        // its tail with clock_gettime's name): its alias clock_gettime is
        // found, at the same address.
        rename(&mut image, b"__vdso_clock_gettime\0", b"X_vdso_clock_gettime\0");
        assert_eq!(lookup(bytes(&image)), Ok(Symbol { name: "clock_gettime", offset: want.offset }));
        rename(&mut image, b"clock_gettime\0", b"clock_gettimX\0");
        assert_eq!(lookup(bytes(&image)), Err(VdsoError::NoSymbol));
        // Neither hash table: refused.
        retag(&mut image, elf::DT_GNU_HASH, elf::DT_DEBUG);
        assert!(matches!(lookup(bytes(&image)), Err(Malformed(_))));
    }

    /// Offset of the dynamic entry with `tag` in `image`.
    fn dyn_entry(image: &[u64], tag: u32) -> Option<usize> {
        let phdrs = headers(bytes(image)).unwrap();
        let d = only(phdrs, elf::PT_DYNAMIC, "").unwrap();
        let (start, len) = (d.p_offset(LE) as usize, d.p_filesz(LE) as usize);
        (start..start + len).step_by(16).find(|&o| image[o / 8] == u64::from(tag))
    }

    fn dyn_value(image: &[u64], tag: u32) -> Option<u64> {
        dyn_entry(image, tag).map(|o| image[o / 8 + 1])
    }

    fn retag(image: &mut [u64], from: u32, to: u32) {
        if let Some(o) = dyn_entry(image, from) {
            image[o / 8] = u64::from(to);
        }
    }

    fn set_value(image: &mut [u64], tag: u32, value: u64) {
        let o = dyn_entry(image, tag).expect("tag present");
        image[o / 8 + 1] = value;
    }

    /// Replace every `from` in `image` by `to` (of the same length).
    fn rename(image: &mut [u64], from: &[u8], to: &[u8]) {
        let b = bytes_mut(image);
        while let Some(at) = b.windows(from.len()).position(|w| w == from) {
            b[at..at + to.len()].copy_from_slice(to);
        }
    }

    #[test]
    fn malformed_images_are_refused_without_panicking() {
        let Some(image) = own_image() else { return };
        let size = image_size(bytes(&image)).unwrap();
        // Truncated anywhere short of the PT_LOAD.
        for len in [0, 1, 4, 16, 63, 64, 100, 64 + 56 * 4 - 1, size / 2, size - 1] {
            assert!(lookup(&bytes(&image)[..len]).is_err(), "truncated to {len}");
        }
        // Bad magic.
        let mut bad = image.clone();
        bytes_mut(&mut bad)[1] = b'X';
        assert_eq!(lookup(bytes(&bad)), Err(Malformed("no ELF64 header")));
        // Tables pointing outside the image (or into its last bytes).
        for tag in [elf::DT_SYMTAB, elf::DT_STRTAB, elf::DT_HASH] {
            if tag == elf::DT_HASH && dyn_value(&image, tag).is_none() {
                continue;
            }
            for value in [size as u64, size as u64 - 8, u64::MAX, u64::MAX - 23, 1 << 40] {
                let mut bad = image.clone();
                set_value(&mut bad, tag, value);
                assert!(matches!(lookup(bytes(&bad)), Err(Malformed(_))), "tag {tag} = {value:#x}");
            }
        }
        // clock_gettime's symbols (every alias) pointing outside.
        let want = lookup(bytes(&image)).unwrap();
        let symtab = dyn_value(&image, elf::DT_SYMTAB).unwrap() as usize;
        let mut bad = image.clone();
        for entry in (symtab..size - 24).step_by(24) {
            if bad[entry / 8 + 1] == want.offset as u64 {
                bad[entry / 8 + 1] = 1 << 40;
            }
        }
        assert_eq!(lookup(bytes(&bad)), Err(Malformed("address outside the image")));
        // A string table larger than the image.
        let mut bad = image.clone();
        set_value(&mut bad, elf::DT_STRSZ, u64::MAX);
        assert_eq!(lookup(bytes(&bad)), Err(Malformed("string table out of bounds")));
        // An oversized or empty PT_LOAD.
        for filesz in [0, MAX_IMAGE as u64 + 1, u64::MAX] {
            let mut bad = image.clone();
            bad[filesz_word(&image)] = filesz;
            assert!(lookup(bytes(&bad)).is_err(), "p_filesz {filesz:#x}");
        }
        // No panic whatever byte is corrupted, whichever way.
        for value in [0x00, 0xff, 0x80] {
            for i in 0..size {
                let mut bad = image.clone();
                bytes_mut(&mut bad)[i] ^= value | 1;
                let _ = lookup(bytes(&bad));
            }
        }
    }

    /// Index (in words) of the PT_LOAD's `p_filesz`.
    fn filesz_word(image: &[u64]) -> usize {
        let phoff = Header::parse(bytes(image)).unwrap().e_phoff.get(LE) as usize;
        let index = headers(bytes(image)).unwrap().iter().position(|p| p.p_type(LE) == elf::PT_LOAD).unwrap();
        (phoff + size_of::<Phdr>() * index + 32) / 8
    }

    #[test]
    fn describe_names_the_fallback() {
        assert_eq!(describe(&Err(VdsoError::Absent)), "clock: the clock_gettime syscall (the host maps no vDSO)");
    }
}
