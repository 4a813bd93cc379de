//! Guest memory: one anonymous mapping at a fixed address, and the one
//! place where guest-supplied addresses are checked.
//!
//! Guest and tender share one address space, so a guest address *is* a
//! host address; the mapping sits at [`GUEST_BASE`], far below the tender's
//! own (PIE, high) image, so that "is this instruction pointer the guest's"
//! is a simple range test for the seccomp filter and the signal handlers.
//! The mapping is `MAP_NORESERVE`: untouched guest pages cost nothing.
//!
//! [`GuestRange`] is the frozen view used after launch: hypercalls turn a
//! guest `(addr, len)` into a host pointer only through
//! [`GuestRange::readable`] / [`GuestRange::writable`], which check bounds,
//! overflow and (for writes) that no read-only segment is touched, so a
//! hypercall never faults on a guest pointer.

use std::ops::Range;

/// Address of the first byte of guest memory (1 MiB, as Solo5 spt).
pub const GUEST_BASE: u64 = 0x10_0000;
/// Smallest `--mem`, in MiB.
pub const MIN_MEM_MIB: u64 = 2;
/// Largest `--mem`, in MiB (64 GiB).
pub const MAX_MEM_MIB: u64 = 65536;
/// Most read-only ranges (text, rodata, relro) a guest may have.
pub const MAX_RO: usize = 16;

/// Why guest memory could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MemError {
    /// `--mem` out of range.
    #[error("--mem={0} is out of range ({MIN_MEM_MIB}..={MAX_MEM_MIB} MiB)")]
    Size(u64),
    /// The host refused the mapping.
    #[error("cannot map {mib} MiB of guest memory at {GUEST_BASE:#x}: {err}")]
    Map {
        /// Requested size.
        mib: u64,
        /// Host error.
        err: nix::Error,
    },
    /// Mapping part of the guest file failed.
    #[error("cannot map the guest file at {0:#x}..{1:#x}: {2}")]
    MapFile(u64, u64, nix::Error),
    /// mprotect failed.
    #[error("cannot protect guest memory {0:#x}..{1:#x}: {2}")]
    Protect(u64, u64, nix::Error),
    /// A write outside guest memory was attempted by the loader.
    #[error("{0:#x}..{1:#x} is outside guest memory")]
    Outside(u64, u64),
    /// Too many read-only ranges.
    #[error("the guest has more than {MAX_RO} read-only segments")]
    TooManyRo,
}

/// The guest's memory mapping. Unmapped on drop (only tests drop it: a
/// launched guest never returns).
#[derive(Debug)]
pub struct GuestMemory {
    start: u64,
    end: u64,
    ro: Vec<Range<u64>>,
    exec: Vec<Range<u64>>,
}

impl GuestMemory {
    /// Map `mib` MiB of read-write guest memory at [`GUEST_BASE`].
    pub fn map(mib: u64) -> Result<Self, MemError> {
        if !(MIN_MEM_MIB..=MAX_MEM_MIB).contains(&mib) {
            return Err(MemError::Size(mib));
        }
        let len = mib << 20;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE;
        // SAFETY: a fresh anonymous mapping at an address we own; with
        // MAP_FIXED_NOREPLACE the kernel refuses rather than replacing any
        // existing mapping of the tender.
        let p = unsafe {
            libc::mmap(GUEST_BASE as *mut libc::c_void, len as usize, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0)
        };
        if p == libc::MAP_FAILED || p as u64 != GUEST_BASE {
            return Err(MemError::Map { mib, err: nix::Error::last() });
        }
        Ok(GuestMemory { start: GUEST_BASE, end: GUEST_BASE + len, ro: Vec::new(), exec: Vec::new() })
    }

    /// `[start, end)` of guest memory.
    pub fn range(&self) -> Range<u64> {
        self.start..self.end
    }

    fn check(&self, addr: u64, len: u64) -> Result<(), MemError> {
        match addr.checked_add(len) {
            Some(end) if addr >= self.start && end <= self.end => Ok(()),
            _ => Err(MemError::Outside(addr, addr.wrapping_add(len))),
        }
    }

    /// Copy `bytes` to guest address `addr` (loader use, before launch).
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        self.check(addr, bytes.len() as u64)?;
        // SAFETY: the range is inside our read-write mapping (checked
        // above) and nothing else references guest memory before launch.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) };
        Ok(())
    }

    /// Map `len` bytes of `fd` at file offset `offset` over the page-aligned
    /// guest range `r`, private (copy on write) and read-write; the loader
    /// sets final protections afterwards. File pages the guest never
    /// writes are shared with the page cache: no copy, no zeroing.
    pub fn map_file(&mut self, r: Range<u64>, fd: i32, offset: u64) -> Result<(), MemError> {
        self.check(r.start, r.end.saturating_sub(r.start))?;
        // SAFETY: the range lies inside our own guest mapping (checked), so
        // MAP_FIXED replaces only fresh guest pages, never tender memory.
        let p = unsafe {
            libc::mmap(
                r.start as *mut libc::c_void,
                (r.end - r.start) as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                fd,
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED || p as u64 != r.start {
            return Err(MemError::MapFile(r.start, r.end, nix::Error::last()));
        }
        Ok(())
    }

    /// Read 8 bytes at guest address `addr` (loader use, before launch).
    pub fn read_u64(&self, addr: u64) -> Result<u64, MemError> {
        self.check(addr, 8)?;
        // SAFETY: inside the mapping (checked); unaligned read allowed.
        Ok(unsafe { std::ptr::read_unaligned(addr as *const u64) })
    }

    /// Change the protection of the page-aligned range `r`; records
    /// non-writable ranges for [`GuestRange::writable`].
    pub fn protect(&mut self, r: Range<u64>, prot: libc::c_int) -> Result<(), MemError> {
        self.check(r.start, r.end.saturating_sub(r.start))?;
        if prot & libc::PROT_WRITE == 0 {
            if self.ro.len() == MAX_RO {
                return Err(MemError::TooManyRo);
            }
            self.ro.push(r.clone());
        }
        if prot & libc::PROT_EXEC != 0 {
            if self.exec.len() == MAX_RO {
                return Err(MemError::TooManyRo);
            }
            self.exec.push(r.clone());
        }
        // SAFETY: the range lies inside our own guest mapping (checked), so
        // no tender memory changes protection.
        let rc = unsafe { libc::mprotect(r.start as *mut libc::c_void, (r.end - r.start) as usize, prot) };
        if rc != 0 {
            return Err(MemError::Protect(r.start, r.end, nix::Error::last()));
        }
        Ok(())
    }

    /// The frozen view used by hypercalls and signal handlers.
    pub fn guest_range(&self) -> GuestRange {
        let table = |v: &[Range<u64>]| {
            let mut t = [(0, 0); MAX_RO];
            for (slot, r) in t.iter_mut().zip(v) {
                *slot = (r.start, r.end);
            }
            t
        };
        GuestRange {
            start: self.start,
            end: self.end,
            ro: table(&self.ro),
            nro: self.ro.len(),
            exec: table(&self.exec),
            nexec: self.exec.len(),
        }
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `map`.
        unsafe { libc::munmap(self.start as *mut libc::c_void, (self.end - self.start) as usize) };
    }
}

/// Guest memory as seen after launch: bounds and read-only ranges. `Copy`,
/// no allocation: safe to use from hypercalls and signal handlers.
#[derive(Debug, Clone, Copy)]
pub struct GuestRange {
    /// First byte of guest memory.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    ro: [(u64, u64); MAX_RO],
    nro: usize,
    exec: [(u64, u64); MAX_RO],
    nexec: usize,
}

impl GuestRange {
    /// Is `addr` inside guest memory?
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr < self.end
    }

    /// Is `addr` inside an executable segment of the guest image?
    pub fn executable(&self, addr: u64) -> bool {
        self.exec.get(..self.nexec).unwrap_or(&[]).iter().any(|&(s, e)| addr >= s && addr < e)
    }

    /// `addr..addr+len` as a host pointer if it lies wholly in guest memory.
    pub fn readable(&self, addr: u64, len: u64) -> Option<*const u8> {
        let end = addr.checked_add(len)?;
        (addr >= self.start && end <= self.end).then_some(addr as *const u8)
    }

    /// Like [`readable`](Self::readable), and no byte is in a read-only
    /// segment.
    pub fn writable(&self, addr: u64, len: u64) -> Option<*mut u8> {
        self.readable(addr, len)?;
        let end = addr + len;
        let ro = self.ro.get(..self.nro).unwrap_or(&[]);
        ro.iter().all(|&(s, e)| end <= s || addr >= e).then_some(addr as *mut u8)
    }
}

/// The whole of a file, mapped read-only (private), or read
/// into memory when it cannot be mapped (a pipe, an empty file). The tender
/// maps the guest file rather than reading it: for a multi-MiB kernel,
/// page-cache pages mapped in one call cost a fraction of a heap copy.
///
/// Limits: a file truncated by someone else while it is being parsed makes
/// the mapping raise SIGBUS; segments mapped from the file (see the
/// loader) follow later writes to it in pages the guest has not written,
/// so replace a guest file by renaming a new one over it, as `make kernel`
/// does, rather than rewriting it in place.
pub struct FileBytes {
    map: Option<(*mut libc::c_void, usize)>,
    owned: Vec<u8>,
    file: Option<std::fs::File>,
}

impl FileBytes {
    /// Map or read `path`.
    pub fn open(path: &std::path::Path) -> std::io::Result<FileBytes> {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if file.metadata()?.is_file() && len > 0 {
            let len = usize::try_from(len).map_err(|_| std::io::Error::from(std::io::ErrorKind::FileTooLarge))?;
            // SAFETY: a fresh private read-only mapping of an open file; the
            // kernel picks the address, so nothing of ours is replaced.
            let p = unsafe {
                libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0)
            };
            if p != libc::MAP_FAILED {
                return Ok(FileBytes { map: Some((p, len)), owned: Vec::new(), file: Some(file) });
            }
        }
        Ok(FileBytes { map: None, owned: std::fs::read(path)?, file: None })
    }

    /// The open file, when it is a mapped regular file (the loader maps
    /// segments from it).
    pub fn fd(&self) -> Option<i32> {
        use std::os::fd::AsRawFd;
        self.file.as_ref().map(|f| f.as_raw_fd())
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self.map {
            // SAFETY: the mapping is `len` readable bytes, alive as long as
            // `self` (unmapped in Drop).
            Some((p, len)) => unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) },
            None => &self.owned,
        }
    }
}

impl Drop for FileBytes {
    fn drop(&mut self) {
        if let Some((p, len)) = self.map {
            // SAFETY: our own mapping, no longer borrowed (we are dropped).
            unsafe { libc::munmap(p, len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range() -> GuestRange {
        let mut ro = [(0, 0); MAX_RO];
        ro[0] = (0x2000, 0x3000);
        let mut exec = [(0, 0); MAX_RO];
        exec[0] = (0x2000, 0x3000);
        GuestRange { start: 0x1000, end: 0x10000, ro, nro: 1, exec, nexec: 1 }
    }

    #[test]
    fn bounds() {
        let r = range();
        assert!(r.readable(0x1000, 0xf000).is_some());
        assert!(r.readable(0x1000, 0xf001).is_none());
        assert!(r.readable(0xfff, 1).is_none());
        assert!(r.readable(u64::MAX, 2).is_none());
        assert!(r.readable(0x10000, 0).is_some());
        assert!(r.contains(0x1000) && !r.contains(0x10000));
    }

    #[test]
    fn read_only_ranges_are_not_writable() {
        let r = range();
        assert!(r.writable(0x1000, 0x1000).is_some());
        assert!(r.writable(0x1000, 0x1001).is_none());
        assert!(r.writable(0x2fff, 1).is_none());
        assert!(r.writable(0x3000, 8).is_some());
        assert!(r.readable(0x2000, 8).is_some());
        assert!(r.executable(0x2000) && r.executable(0x2fff) && !r.executable(0x3000) && !r.executable(0x1000));
    }

    #[test]
    fn file_bytes_maps_regular_files_and_reads_the_rest() {
        let path = std::env::temp_dir().join(format!("nabla-filebytes-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let f = FileBytes::open(&path).unwrap();
        assert_eq!(f.bytes(), b"0123456789");
        assert!(f.fd().is_some(), "a regular file is mapped");
        std::fs::write(&path, b"").unwrap();
        let f = FileBytes::open(&path).unwrap();
        assert_eq!(f.bytes(), b"");
        assert!(f.fd().is_none(), "an empty file cannot be mapped");
        std::fs::remove_file(&path).unwrap();
        assert!(FileBytes::open(&path).is_err());
    }
}
