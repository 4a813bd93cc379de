//! The entrypoint check: `process.args[0]` resolved inside the bundle's
//! root file system, the way the guest will find it, and refused unless
//! Nabla can run it.
//!
//! A name without a slash is looked up in the process's `PATH` (from
//! `process.env`, else the usual default); a relative path is taken from
//! `process.cwd`. Every symbolic link met on the way is resolved inside
//! the root (an absolute target starts again from the root, `..` stops
//! at the root), as the guest's kernel will see it once the root is its
//! `/`, never on the host. The file must be an ELF of type `ET_DYN` (a
//! position-independent executable, static or dynamic: Nabla's kernel has
//! no MMU and loads programs anywhere) or a `#!` script.
//!
//! Limits: the interpreter of a `#!` script is not checked; nor are
//! execute permissions.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// `PATH` when the process's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Symbolic links followed in one resolution before giving up (`ELOOP`).
const MAX_LINKS: u32 = 40;

/// Why an entrypoint is refused.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// No `process.args`.
    #[error("config.json: process.args is empty")]
    NoArgs,
    /// Not found along `PATH` or at its path.
    #[error("entrypoint {0} not found in the container's root file system (PATH={1})")]
    NotFound(String, String),
    /// Found, but not runnable by Nabla.
    #[error("entrypoint {0} is not a position-independent executable (Nabla runs PIE programs only)")]
    NotPie(String),
    /// Too many links.
    #[error("entrypoint {0}: too many levels of symbolic links")]
    Loop(String),
}

/// Resolve `path` (absolute, as the guest sees it) inside `root`: the host
/// path it names, with every link resolved inside `root`.
pub fn resolve_in_root(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let mut links = 0;
    let mut parts: Vec<PathBuf> = Vec::new(); // resolved components, each a plain name
    let mut todo: Vec<PathBuf> = path.components().rev().map(|c| PathBuf::from(c.as_os_str())).collect();
    while let Some(part) = todo.pop() {
        match part.components().next() {
            None | Some(Component::RootDir) | Some(Component::CurDir) => {}
            Some(Component::ParentDir) => {
                parts.pop();
            }
            Some(Component::Prefix(_)) => {}
            Some(Component::Normal(name)) => {
                let mut host = root.to_path_buf();
                host.extend(&parts);
                host.push(name);
                match fs::symlink_metadata(&host) {
                    Ok(m) if m.file_type().is_symlink() => {
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(io::Error::from_raw_os_error(libc::ELOOP));
                        }
                        let target = fs::read_link(&host)?;
                        if target.is_absolute() {
                            parts.clear();
                        }
                        todo.extend(target.components().rev().map(|c| PathBuf::from(c.as_os_str())));
                    }
                    Ok(_) => parts.push(PathBuf::from(name)),
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let mut host = root.to_path_buf();
    host.extend(&parts);
    Ok(host)
}

/// What kind of file `head` (its first bytes) starts.
fn runnable(head: &[u8]) -> bool {
    if head.starts_with(b"#!") {
        return true;
    }
    // e_type is the u16 at offset 16; ELFDATA2LSB (byte 5 == 1) on x86_64.
    head.len() >= 18 && head.starts_with(b"\x7fELF") && head[5] == 1 && u16::from_le_bytes([head[16], head[17]]) == 3
}

/// Check the container's entrypoint: `args[0]`, looked up with `env`'s
/// `PATH` from `cwd`, inside `root`.
pub fn check(root: &Path, args: &[String], env: &[String], cwd: &str) -> Result<PathBuf, EntryError> {
    let arg0 = args.first().ok_or(EntryError::NoArgs)?;
    let path_var = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH).to_string();
    let candidates: Vec<PathBuf> = if arg0.contains('/') {
        vec![Path::new(cwd).join(arg0)]
    } else {
        path_var.split(':').map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0)).collect()
    };
    for cand in &candidates {
        let cand = if cand.is_absolute() { cand.clone() } else { Path::new(cwd).join(cand) };
        let Ok(host) = resolve_in_root(root, &cand) else { continue };
        // Files of the image are untrusted: a fifo would block `create`
        // for ever and a device node would be opened on the host. Only a
        // regular file is opened, without following a link or blocking,
        // and checked again once open.
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_file() => {}
            _ => continue,
        }
        let Ok(mut f) = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(&host)
        else {
            continue;
        };
        match f.metadata() {
            Ok(m) if m.is_file() => {}
            _ => continue,
        }
        let mut head = [0u8; 64];
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        if runnable(&head[..n]) {
            return Ok(cand);
        }
        return Err(EntryError::NotPie(display(&cand)));
    }
    if let Some(c) = candidates.first()
        && resolve_in_root(root, c).err().and_then(|e| e.raw_os_error()) == Some(libc::ELOOP)
    {
        return Err(EntryError::Loop(arg0.clone()));
    }
    Err(EntryError::NotFound(arg0.clone(), path_var))
}

fn display(p: &Path) -> String {
    String::from_utf8_lossy(OsStr::as_bytes(p.as_os_str())).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nabla-entry-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("bin")).unwrap();
        fs::create_dir_all(d.join("usr/bin")).unwrap();
        d
    }

    fn elf(e_type: u16) -> Vec<u8> {
        let mut v = b"\x7fELF\x02\x01\x01".to_vec();
        v.resize(16, 0);
        v.extend_from_slice(&e_type.to_le_bytes());
        v.resize(64, 0);
        v
    }

    #[test]
    fn links_resolve_inside_the_root() {
        let r = tmp("links");
        fs::write(r.join("bin/busybox"), elf(3)).unwrap();
        symlink("/bin/busybox", r.join("usr/bin/sh")).unwrap();
        symlink("../../../../bin/busybox", r.join("usr/bin/up")).unwrap();
        assert_eq!(resolve_in_root(&r, Path::new("/usr/bin/sh")).unwrap(), r.join("bin/busybox"));
        assert_eq!(resolve_in_root(&r, Path::new("/usr/bin/up")).unwrap(), r.join("bin/busybox"));
        let env = vec!["PATH=/usr/bin:/bin".to_string()];
        assert_eq!(check(&r, &["sh".into()], &env, "/").unwrap(), PathBuf::from("/usr/bin/sh"));
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn a_fifo_or_device_entrypoint_is_not_opened() {
        let r = tmp("fifo");
        let fifo = std::ffi::CString::new(r.join("bin/fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path; mkfifo only creates that node.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o755) }, 0);
        symlink("/dev/null", r.join("bin/null")).unwrap();
        assert!(matches!(check(&r, &["/bin/fifo".into()], &[], "/"), Err(EntryError::NotFound(..))));
        assert!(check(&r, &["/bin/null".into()], &[], "/").is_err());
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn non_pie_and_missing_are_refused() {
        let r = tmp("nonpie");
        fs::write(r.join("bin/static"), elf(2)).unwrap();
        fs::write(r.join("bin/script"), b"#!/bin/sh\necho hi\n").unwrap();
        let e = check(&r, &["/bin/static".into()], &[], "/").unwrap_err();
        assert_eq!(
            e.to_string(),
            "entrypoint /bin/static is not a position-independent executable (Nabla runs PIE programs only)"
        );
        assert!(check(&r, &["script".into()], &[], "/").is_ok());
        assert!(matches!(check(&r, &["nope".into()], &[], "/"), Err(EntryError::NotFound(..))));
        symlink("/bin/loop", r.join("bin/loop")).unwrap();
        assert!(matches!(check(&r, &["/bin/loop".into()], &[], "/"), Err(EntryError::Loop(..))));
        fs::remove_dir_all(&r).unwrap();
    }
}
