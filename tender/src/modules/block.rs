//! The block module: `--block:NAME=PATH[:ro]` (or `--block PATH[:ro]`,
//! the first declared block device), `--block-sector-size:NAME=N`,
//! and the `block_read`/`block_write`/`block_flush` hypercalls.
//!
//! A request moves any number of whole sectors up to [`MAX_IO`] bytes in
//! one host `pread64`/`pwrite64`, so throughput is close to native.
//!
//! The seccomp rule of each device pins the fd, `len <= W` and
//! `offset <= capacity - W`, where `W = min(MAX_IO, capacity)`: BPF cannot
//! compare `offset + len`, but with these two pins no host request can
//! reach past the end of the file, so even a compromised guest can neither
//! grow nor escape it. A request that starts inside the last `W` bytes is
//! therefore done on the whole last window, `[capacity - W, capacity)`,
//! through a bounce buffer (read-modify-write for writes): correct, and
//! slower only for the last MiB of a disk.
//!
//! The image is locked with `flock` before the sandbox: exclusively when
//! attached read-write, shared when `:ro`, so that two guests never write
//! one image and many may read one.
//!
//! Limits: one request at a time (the guest is single-threaded); the lock
//! binds only processes that take it.

use super::parse_named;
use crate::gate;
use crate::runtime::{self, Device};
use crate::sandbox::{Pin, Rules};
use nabla_abi::{DEVICE_BLOCK, RESULT_EINVAL, RESULT_EUNSPEC, RESULT_OK};
use std::cell::UnsafeCell;
use std::os::fd::IntoRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

/// Largest request, in bytes.
/// Largest request, in bytes: 1 MiB, so that the Linux guest's readahead
/// and writeback move a megabyte per host call.
pub const MAX_IO: u64 = 1024 * 1024;
/// Largest sector size (Solo5 guests' block size), in bytes.
pub const MAX_SECTOR: u64 = 256 * 1024;
/// Default sector size.
pub const DEFAULT_SECTOR: u64 = 512;
/// Smallest sector size (Solo5's limit too).
pub const MIN_SECTOR: u64 = 512;

/// A sector size from the command line: a power of two from
/// [`MIN_SECTOR`] to [`MAX_SECTOR`] (a request is whole sectors and at
/// most `MAX_IO` bytes, so a sector must fit in one). Solo5 takes
/// any power of two from 512.
fn parse_sector(value: &str) -> Option<u64> {
    // Decimal digits only: no sign, no `0x`, no surrounding blanks.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = value.parse().ok()?;
    (n.is_power_of_two() && (MIN_SECTOR..=MAX_SECTOR).contains(&n)).then_some(n)
}

/// Arguments owned by the block module.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BlockArgs {
    /// Attach block device NAME to the file PATH (append `:ro` for
    /// read-only). Also written --block:NAME=PATH. Without NAME=, the
    /// guest's first block device (Linux: rootfs, /dev/vda)
    #[arg(long = "block", value_name = "[NAME=]PATH[:ro]")]
    pub block: Vec<String>,
    /// Sector size of block device NAME: a power of two from 512 (the
    /// default) to 262144. Also written --block-sector-size:NAME=N
    #[arg(long = "block-sector-size", value_name = "NAME=N")]
    pub sector_size: Vec<String>,
}

/// Why a block device could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// Malformed argument.
    #[error("{0}")]
    Arg(String),
    /// The file could not be opened or inspected.
    #[error("block device {name}: cannot open {path}: {err}")]
    Open {
        /// Device name.
        name: String,
        /// File path.
        path: String,
        /// Host error.
        err: std::io::Error,
    },
    /// Another process holds a conflicting lock on the file.
    #[error("block device {name}: {path} is in use by another nabla-tender; it cannot be locked {how}")]
    Locked {
        /// Device name.
        name: String,
        /// File path.
        path: String,
        /// What we tried.
        how: &'static str,
    },
    /// The file's size does not fit the sector size.
    #[error("block device {name}: {path} is {size} bytes, {why}")]
    Size {
        /// Device name.
        name: String,
        /// File path.
        path: String,
        /// Its size.
        size: u64,
        /// What is wrong.
        why: String,
    },
}

/// Lock the image: exclusively to write, shared to read only, and never
/// waiting. Other tenders take the same locks, so a second writer, or a
/// writer beside readers, is refused; readers share. The lock lives as
/// long as the fd, that is as long as the guest runs. (`flock` binds only
/// programs that take it; a program writing the file without it is not
/// stopped.)
fn lock(name: &str, spec: &BlockSpec, file: &std::fs::File) -> Result<(), BlockError> {
    use std::os::fd::AsRawFd;
    let op = if spec.read_only { libc::LOCK_SH } else { libc::LOCK_EX };
    loop {
        // SAFETY: flock takes no pointers; the fd is open.
        if unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) } == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => {
                return Err(BlockError::Locked {
                    name: name.into(),
                    path: spec.path.clone(),
                    how: if spec.read_only {
                        "to read it (it is attached read-write elsewhere)"
                    } else {
                        "to write it"
                    },
                });
            }
            _ => return Err(BlockError::Open { name: name.into(), path: spec.path.clone(), err }),
        }
    }
}

/// A block device attachment requested on the command line.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    /// File path.
    pub path: String,
    /// Read-only attach.
    pub read_only: bool,
    /// Sector size.
    pub sector: u64,
}

impl BlockArgs {
    /// The attachments, by device name, checked for syntax. `--block PATH`
    /// (no `NAME=`) attaches `first`, the guest's first declared block
    /// device; a path that contains `=` needs the named form.
    pub fn specs(&self, first: Option<&str>) -> Result<Vec<(String, BlockSpec)>, BlockError> {
        let mut out: Vec<(String, BlockSpec)> = Vec::new();
        for arg in &self.block {
            let (name, value) = if arg.contains('=') {
                parse_named("--block", arg).map_err(BlockError::Arg)?
            } else {
                let name = first.ok_or_else(|| {
                    BlockError::Arg(format!("--block {arg}: the guest declares no block device to attach it to"))
                })?;
                (name, arg.as_str())
            };
            let (path, read_only) = match value.strip_suffix(":ro") {
                Some(p) => (p, true),
                None => (value, false),
            };
            if path.is_empty() {
                return Err(BlockError::Arg(format!("--block:{name}= needs a file path")));
            }
            let spec = BlockSpec { path: path.to_string(), read_only, sector: DEFAULT_SECTOR };
            out.push((name.to_string(), spec));
        }
        for arg in &self.sector_size {
            let (name, value) = parse_named("--block-sector-size", arg).map_err(BlockError::Arg)?;
            let sector = parse_sector(value).ok_or_else(|| {
                BlockError::Arg(format!(
                    "--block-sector-size:{name}={value}: must be a power of two from {MIN_SECTOR} to {MAX_SECTOR}"
                ))
            })?;
            match out.iter_mut().find(|(n, _)| n == name) {
                Some((_, spec)) => spec.sector = sector,
                None => {
                    return Err(BlockError::Arg(format!("--block-sector-size:{name}: no --block:{name}=PATH given")));
                }
            }
        }
        Ok(out)
    }
}

/// Open and check the file of block device `name`; returns the runtime
/// device.
pub fn attach(name: &str, spec: &BlockSpec) -> Result<Device, BlockError> {
    let open_err = |err| BlockError::Open { name: name.into(), path: spec.path.clone(), err };
    // O_NONBLOCK: opening a FIFO read-only would otherwise wait for a
    // writer for ever. Only regular files and block devices pass the
    // checks below, and for them the flag changes nothing; it is cleared.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(!spec.read_only)
        .custom_flags(libc::O_NONBLOCK)
        .open(&spec.path)
        .map_err(open_err)?;
    lock(name, spec, &file)?;
    let meta = file.metadata().map_err(open_err)?;
    let size = if meta.file_type().is_block_device() {
        use std::io::Seek;
        (&file).seek(std::io::SeekFrom::End(0)).map_err(open_err)?
    } else if meta.is_file() {
        meta.len()
    } else {
        return Err(open_err(std::io::Error::other("not a regular file or block device")));
    };
    {
        use std::os::fd::AsRawFd;
        // SAFETY: F_GETFL/F_SETFL on our own open fd.
        unsafe {
            let fl = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
    }
    let size_err = |why: String| BlockError::Size { name: name.into(), path: spec.path.clone(), size, why };
    if size < spec.sector {
        return Err(size_err(format!("smaller than one {}-byte sector", spec.sector)));
    }
    if size % spec.sector != 0 {
        return Err(size_err(format!("not a multiple of the {}-byte sector size", spec.sector)));
    }
    Ok(Device {
        kind: DEVICE_BLOCK,
        fd: file.into_raw_fd(),
        capacity: size,
        sector: spec.sector,
        window: MAX_IO.min(size),
        read_only: spec.read_only,
        frame_max: 0,
    })
}

/// The block module, set up: the attached block devices (a view of the
/// device table, which also holds the net devices).
pub struct Block<'a>(pub &'a [Device]);

impl super::Module for Block<'_> {
    fn name(&self) -> &'static str {
        "block"
    }

    fn rules(&self, r: &mut Rules) {
        for d in self.0.iter().filter(|d| d.kind == DEVICE_BLOCK) {
            rules(d, r);
        }
    }
}

/// The seccomp rules of one attached block device.
pub fn rules(d: &Device, r: &mut Rules) {
    let pins = [Pin::Eq(0, d.fd as u64), Pin::Le(2, d.window), Pin::Le(3, d.capacity - d.window)];
    // block_read: this file only, never past its end (see module doc).
    r.allow(libc::SYS_pread64, &pins);
    if !d.read_only {
        // block_write: this file only, never past its end: it cannot grow.
        r.allow(libc::SYS_pwrite64, &pins);
    }
    // block_flush: this file only.
    r.allow(libc::SYS_fdatasync, &[Pin::Eq(0, d.fd as u64)]);
}

/// Bounce buffer for requests in the last window of a device.
struct Bounce(UnsafeCell<[u8; MAX_IO as usize]>);

// SAFETY: used only by the block hypercalls, which the single guest thread
// never runs concurrently (no hypercall is re-entered from a signal).
unsafe impl Sync for Bounce {}

static BOUNCE: Bounce = Bounce(UnsafeCell::new([0; MAX_IO as usize]));

/// One whole host transfer on device `d`, retried on EINTR and on partial
/// transfers while the retry still fits the seccomp pins (`offset <=
/// capacity - window`); a partial transfer that would leave them is an
/// error (EUNSPEC for the guest), never a filter violation. Returns false on
/// any host error or unexpected end of file.
fn transfer(write: bool, d: &Device, mut buf: *mut u8, mut len: u64, mut off: u64) -> bool {
    let nr = if write { libc::SYS_pwrite64 } else { libc::SYS_pread64 };
    let max_off = d.capacity - d.window;
    let fd = d.fd;
    while len > 0 {
        if off > max_off || len > d.window {
            return false;
        }
        // SAFETY: the caller passes a buffer valid for `len` bytes.
        let n = unsafe { gate::syscall6(nr, fd as u64, buf as u64, len, off, 0, 0) };
        if n == -(libc::EINTR as i64) {
            continue;
        }
        if n <= 0 {
            return false;
        }
        let n = n as u64;
        // SAFETY: n <= len, so the pointer stays inside the buffer.
        buf = unsafe { buf.add(n as usize) };
        len -= n;
        off += n;
    }
    true
}

/// Validate a guest request and return the device and host buffer.
fn check(handle: u32, offset: u64, buf: u64, len: u64, write: bool) -> Result<(&'static Device, *mut u8), u32> {
    let rt = runtime::get().ok_or(RESULT_EUNSPEC)?;
    let d = rt.device(handle, DEVICE_BLOCK).ok_or(RESULT_EINVAL)?;
    let in_range = offset.checked_add(len).is_some_and(|end| end <= d.capacity);
    if len == 0 || len > MAX_IO || !len.is_multiple_of(d.sector) || !offset.is_multiple_of(d.sector) || !in_range {
        return Err(RESULT_EINVAL);
    }
    if write && d.read_only {
        return Err(RESULT_EINVAL);
    }
    // A read fills guest memory, so it needs a writable buffer; a write
    // only reads guest memory.
    let p = if write { rt.guest.readable(buf, len).map(|p| p.cast_mut()) } else { rt.guest.writable(buf, len) };
    Ok((d, p.ok_or(RESULT_EINVAL)?))
}

fn io(handle: u32, offset: u64, buf: u64, len: u64, write: bool) -> u32 {
    let (d, p) = match check(handle, offset, buf, len, write) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let last = d.capacity - d.window;
    if offset <= last {
        return if transfer(write, d, p, len, offset) { RESULT_OK } else { RESULT_EUNSPEC };
    }
    // In the last window: whole-window transfer through the bounce buffer.
    let bounce = BOUNCE.0.get().cast::<u8>();
    let at = (offset - last) as usize;
    if !transfer(false, d, bounce, d.window, last) {
        return RESULT_EUNSPEC;
    }
    // SAFETY: `at + len <= window <= MAX_IO` because the request lies in
    // `[last, capacity)`; `p` is valid for `len` bytes (checked).
    unsafe {
        if write {
            core::ptr::copy_nonoverlapping(p, bounce.add(at), len as usize);
        } else {
            core::ptr::copy_nonoverlapping(bounce.add(at), p, len as usize);
            return RESULT_OK;
        }
    }
    if transfer(true, d, bounce, d.window, last) { RESULT_OK } else { RESULT_EUNSPEC }
}

/// `block_read` hypercall.
pub extern "C" fn block_read(handle: u32, offset: u64, buf: u64, len: u64) -> u32 {
    io(handle, offset, buf, len, false)
}

/// `block_write` hypercall.
pub extern "C" fn block_write(handle: u32, offset: u64, buf: u64, len: u64) -> u32 {
    io(handle, offset, buf, len, true)
}

/// `block_flush` hypercall.
pub extern "C" fn block_flush(handle: u32) -> u32 {
    let Some(d) = runtime::get().and_then(|rt| rt.device(handle, DEVICE_BLOCK)) else { return RESULT_EINVAL };
    // SAFETY: fdatasync takes no pointers.
    let r = unsafe { gate::syscall3(libc::SYS_fdatasync, d.fd as u64, 0, 0) };
    if r == 0 { RESULT_OK } else { RESULT_EUNSPEC }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sector_sizes_are_powers_of_two_from_512_to_max_io() {
        for n in (9..=18).map(|s| 1u64 << s) {
            assert_eq!(parse_sector(&n.to_string()), Some(n));
        }
        for bad in ["", "0", "1", "256", "511", "1000", "4097", "524288", "+512", "-512", "0x200", " 512", "1e3"] {
            assert_eq!(parse_sector(bad), None, "{bad:?}");
        }
        assert_eq!(parse_sector("99999999999999999999999"), None);
    }

    /// For every sector size and capacity: the window and the seccomp pins
    /// are whole sectors, every valid request either fits the pins
    /// directly or lies in the last window (bounce buffer), and the
    /// device's largest request is never smaller than one sector.
    #[test]
    fn big_sectors_keep_requests_inside_the_pins() {
        let dir = std::env::temp_dir().join(format!("nabla-block-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for sector in (9..=18).map(|s| 1u64 << s) {
            for sectors in [1u64, 2, 3, 7, 64, 1000] {
                let path = dir.join(format!("{sector}-{sectors}.img"));
                let f = std::fs::File::create(&path).unwrap();
                f.set_len(sector * sectors).unwrap();
                let spec = BlockSpec { path: path.display().to_string(), read_only: true, sector };
                let d = attach("t", &spec).unwrap();
                // SAFETY: closing the fd `attach` opened for this test.
                unsafe { libc::close(d.fd) };
                assert_eq!(d.capacity, sector * sectors);
                assert!(d.window.is_multiple_of(sector) && d.window <= MAX_IO && d.window >= sector);
                let last = d.capacity - d.window;
                assert!(last.is_multiple_of(sector));
                for offset in (0..d.capacity).step_by(sector as usize) {
                    for len in [sector, MAX_IO / sector * sector, d.capacity - offset] {
                        if len == 0 || len > MAX_IO || offset + len > d.capacity {
                            continue;
                        }
                        if offset <= last {
                            assert!(len <= d.window, "{sector} {sectors}: {offset}+{len}");
                        } else {
                            assert!(offset - last + len <= d.window, "{sector} {sectors}: {offset}+{len}");
                        }
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_path_without_a_name_attaches_the_first_block_device() {
        let args = |v: &[&str]| BlockArgs { block: v.iter().map(|s| s.to_string()).collect(), sector_size: vec![] };
        let s = args(&["disk.img:ro", "disk1=b.img"]).specs(Some("rootfs")).unwrap();
        assert_eq!(s[0].0, "rootfs");
        assert!(s[0].1.read_only && s[0].1.path == "disk.img");
        assert_eq!((s[1].0.as_str(), s[1].1.path.as_str(), s[1].1.read_only), ("disk1", "b.img", false));
        let e = args(&["disk.img"]).specs(None).unwrap_err().to_string();
        assert!(e.contains("declares no block device"), "{e}");
        let mut a = args(&["disk.img"]);
        a.sector_size = vec!["rootfs=4096".into()];
        assert_eq!(a.specs(Some("rootfs")).unwrap()[0].1.sector, 4096);
    }

    #[test]
    fn images_are_locked_one_writer_or_many_readers() {
        let dir = std::env::temp_dir().join(format!("nabla-block-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.img");
        std::fs::File::create(&path).unwrap().set_len(1 << 20).unwrap();
        let spec = |read_only| BlockSpec { path: path.display().to_string(), read_only, sector: 512 };
        let close = |d: Device| {
            // SAFETY: closing the fd `attach` opened for this test.
            unsafe { libc::close(d.fd) };
        };
        let w = attach("rootfs", &spec(false)).unwrap();
        for ro in [false, true] {
            let e = attach("rootfs", &spec(ro)).unwrap_err();
            assert!(matches!(e, BlockError::Locked { .. }), "{e}");
            assert!(e.to_string().contains("in use by another nabla-tender"), "{e}");
        }
        close(w);
        let (r1, r2) = (attach("a", &spec(true)).unwrap(), attach("b", &spec(true)).unwrap());
        assert!(matches!(attach("c", &spec(false)), Err(BlockError::Locked { .. })));
        close(r1);
        close(r2);
        close(attach("d", &spec(false)).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
