//! The container's root disk: the bundle's root file system copied into
//! an ext4 image with `mke2fs -d` (no mounting, no loop device), which
//! the tender attaches as the guest's `/dev/vda`.
//!
//! Size: the tree's allocated bytes × 1.2 + 64 MiB (the room the container
//! has to write), sparse; inodes: the tree's count × 1.2 + 4096 at
//! least. Owners come from the tree, `/` is root's; extended attributes
//! are not copied (the guest kernel has no security xattrs).
//!
//! Cache: containerd mounts the image's layers as an overlay on
//! `bundle/rootfs` (found in `/proc/self/mountinfo`). While the overlay's
//! upper directory is empty the tree is exactly its lower layers, so the
//! image is made once, as `<root>/cache:disks/<key>.ext4`, keyed by the list of
//! lower directories and their device, inode and change time (a layer
//! unpacked again gets a new key), and each container gets a copy (`cp
//! --reflink=auto --sparse=always`: a reflink where the file system has
//! them, else a sparse copy). Concurrent creates of one image take a lock
//! (`flock` on `<key>.lock`), so it is made once. With anything in the
//! upper directory, or no overlay at all, the image is made for the
//! container alone. The cache is never pruned by the runtime (delete
//! `<root>/cache:disks` to reclaim it; its name holds a `:`, which no
//! container id may, so no container can be named like it).
//!
//! Limits: the container writes to its own copy, not to the overlay's
//! upper directory (so `ctr snapshot diff` and `docker diff` see nothing),
//! and what it wrote is gone at `delete`.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bumped when the image's layout options change (part of the cache key).
const FORMAT: &str = "nabla-rootfs 1";

/// Errors making the root disk.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// Walking the tree or writing the image.
    #[error("root disk: {0}: {1}")]
    Io(PathBuf, io::Error),
    /// A tool failed.
    #[error("root disk: {0} failed: {1}")]
    Tool(&'static str, String),
}

/// How the disk was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Copied from the cache, which had it.
    CacheHit,
    /// Made into the cache, then copied.
    CacheMiss,
    /// Made for this container only.
    Uncached,
}

/// The disk made for a container.
#[derive(Debug)]
pub struct Disk {
    pub source: Source,
    pub elapsed: Duration,
}

/// An overlay mount (`/proc/self/mountinfo` super options).
#[derive(Debug, PartialEq, Eq)]
pub struct Overlay {
    pub lower: Vec<PathBuf>,
    pub upper: Option<PathBuf>,
}

/// Undo mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The overlay mounted at `mountpoint`, from the text of a mountinfo file
/// (the last mount there wins: it is the one on top).
pub fn find_overlay(mountinfo: &str, mountpoint: &Path) -> Option<Overlay> {
    let mut found = None;
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else { continue };
        if f.len() < sep + 4 || f.len() < 5 || Path::new(&unescape(f[4])) != mountpoint {
            continue;
        }
        found = None;
        if f[sep + 1] != "overlay" {
            continue;
        }
        let mut ov = Overlay { lower: Vec::new(), upper: None };
        for opt in f[sep + 3].split(',') {
            if let Some(l) = opt.strip_prefix("lowerdir=") {
                ov.lower = unescape(l).split(':').map(PathBuf::from).collect();
            } else if let Some(u) = opt.strip_prefix("upperdir=") {
                ov.upper = Some(PathBuf::from(unescape(u)));
            }
        }
        found = Some(ov);
    }
    found
}

/// 64-bit FNV-1a.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The cache key text of an overlay whose upper directory is empty, or
/// `None` when it must not be cached.
fn cache_key(ov: &Overlay) -> Option<String> {
    if let Some(u) = &ov.upper
        && fs::read_dir(u).ok()?.next().is_some()
    {
        return None;
    }
    let mut key = format!("{FORMAT}\n");
    for l in &ov.lower {
        let m = fs::metadata(l).ok()?;
        key.push_str(&format!("{} {} {} {}.{}\n", l.display(), m.dev(), m.ino(), m.ctime(), m.ctime_nsec()));
    }
    Some(key)
}

/// Allocated bytes and inode count of the tree at `dir` (not crossing
/// into other file systems).
fn usage(dir: &Path) -> Result<(u64, u64), DiskError> {
    let io = |p: &Path, e| DiskError::Io(p.to_path_buf(), e);
    let top = fs::symlink_metadata(dir).map_err(|e| io(dir, e))?;
    let (mut bytes, mut count) = (0u64, 0u64);
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).map_err(|e| io(&d, e))? {
            let e = e.map_err(|e| io(&d, e))?;
            let m = e.metadata().map_err(|err| io(&e.path(), err))?;
            bytes += m.blocks() * 512;
            count += 1;
            if m.is_dir() && m.dev() == top.dev() {
                todo.push(e.path());
            }
        }
    }
    Ok((bytes, count))
}

/// Make an ext4 image of `tree` at `image`.
fn mke2fs(tree: &Path, image: &Path) -> Result<(), DiskError> {
    let (bytes, count) = usage(tree)?;
    let size = (bytes + bytes / 5 + (64 << 20)).div_ceil(4096) * 4096;
    let inodes = (count + count / 5 + 4096).max(size / 16384);
    let f = fs::File::create(image).map_err(|e| DiskError::Io(image.to_path_buf(), e))?;
    f.set_len(size).map_err(|e| DiskError::Io(image.to_path_buf(), e))?;
    drop(f);
    let out = crate::tools::command("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-T", "default", "-b", "4096", "-I", "256", "-N"])
        .arg(inodes.to_string())
        .args(["-E", "root_owner=0:0,no_copy_xattrs,nodiscard,lazy_itable_init=0,lazy_journal_init=1", "-d"])
        .arg(tree)
        .arg(image)
        .output()
        .map_err(|e| DiskError::Tool("mke2fs", e.to_string()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(DiskError::Tool("mke2fs", err.trim().replace('\n', "; ")));
    }
    Ok(())
}

/// Copy `src` to `dst` as a reflink or a sparse copy.
fn copy(src: &Path, dst: &Path) -> Result<(), DiskError> {
    let out = crate::tools::command("cp")
        .args(["--reflink=auto", "--sparse=always"])
        .arg(src)
        .arg(dst)
        .output()
        .map_err(|e| DiskError::Tool("cp", e.to_string()))?;
    if !out.status.success() {
        return Err(DiskError::Tool("cp", String::from_utf8_lossy(&out.stderr).trim().replace('\n', "; ")));
    }
    Ok(())
}

/// Make the root disk `image` of `rootfs`, through the cache in `cache`.
pub fn make(rootfs: &Path, image: &Path, cache: &Path) -> Result<Disk, DiskError> {
    let t0 = Instant::now();
    let real = fs::canonicalize(rootfs).map_err(|e| DiskError::Io(rootfs.to_path_buf(), e))?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let key = find_overlay(&mountinfo, &real).as_ref().and_then(cache_key);
    let Some(key) = key else {
        mke2fs(&real, image)?;
        return Ok(Disk { source: Source::Uncached, elapsed: t0.elapsed() });
    };
    let io = |p: &Path, e| DiskError::Io(p.to_path_buf(), e);
    fs::DirBuilder::new().recursive(true).mode(0o700).create(cache).map_err(|e| io(cache, e))?;
    let name = format!("{:016x}", fnv1a(key.as_bytes()));
    let cached = cache.join(format!("{name}.ext4"));
    let key_file = cache.join(format!("{name}.key"));
    let lock_path = cache.join(format!("{name}.lock"));
    let lock = fs::File::create(&lock_path).map_err(|e| io(&lock_path, e))?;
    // SAFETY: flock on our own open fd; released when `lock` is closed.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io(&lock_path, io::Error::last_os_error()));
    }
    let hit = cached.exists() && fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str());
    if !hit {
        let tmp = cache.join(format!("{name}.ext4.tmp"));
        mke2fs(&real, &tmp)?;
        fs::rename(&tmp, &cached).map_err(|e| io(&cached, e))?;
        fs::write(&key_file, &key).map_err(|e| io(&key_file, e))?;
    }
    drop(lock);
    copy(&cached, image)?;
    Ok(Disk { source: if hit { Source::CacheHit } else { Source::CacheMiss }, elapsed: t0.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
        300 22 0:50 / /run/c/b\\040x/rootfs rw,relatime - overlay overlay rw,lowerdir=/s/2/fs:/s/1/fs,upperdir=/s/3/fs,workdir=/s/3/work\n";

    #[test]
    fn overlay_is_found_with_its_layers() {
        let ov = find_overlay(MOUNTINFO, Path::new("/run/c/b x/rootfs")).unwrap();
        assert_eq!(ov.lower, vec![PathBuf::from("/s/2/fs"), PathBuf::from("/s/1/fs")]);
        assert_eq!(ov.upper, Some(PathBuf::from("/s/3/fs")));
        assert!(find_overlay(MOUNTINFO, Path::new("/")).is_none());
        // A mount on top hides the overlay.
        let stacked = format!("{MOUNTINFO}301 300 0:51 / /run/c/b\\040x/rootfs rw - tmpfs tmpfs rw\n");
        assert!(find_overlay(&stacked, Path::new("/run/c/b x/rootfs")).is_none());
    }

    #[test]
    fn upper_with_files_is_not_cached() {
        let d = std::env::temp_dir().join(format!("nabla-disk-{}", std::process::id()));
        fs::create_dir_all(d.join("upper")).unwrap();
        fs::create_dir_all(d.join("lower")).unwrap();
        let ov = Overlay { lower: vec![d.join("lower")], upper: Some(d.join("upper")) };
        let k = cache_key(&ov).unwrap();
        assert!(k.starts_with(FORMAT));
        fs::write(d.join("upper/f"), b"x").unwrap();
        assert!(cache_key(&ov).is_none());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
