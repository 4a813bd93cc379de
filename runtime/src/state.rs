//! The state directory of a container, `<root>/<id>/`, and its status.
//!
//! Files: `state.json` (a [`Record`]: the runtime-spec state plus what the
//! other commands need), `exec.fifo` (the fifo the container's process
//! waits on between `create` and `start`), `rootfs.ext4` (the container's
//! own root disk), `initramfs.cpio` (`nabla-init` and its config) and
//! `kernel.log` (the guest kernel's log, when the tender can write one).
//!
//! The status is never trusted from the file: the process is `created`
//! while it lives and the fifo is there, `running` while it lives after
//! `start`, `stopped` once gone. "Lives" means `/proc/PID/stat` exists,
//! is not a zombie, and shows the start time recorded at create (so a
//! reused pid is not taken for the container).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The runtime-spec version the state reports.
pub const OCI_VERSION: &str = "1.0.2";

/// Errors of the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No such container.
    #[error("container \"{0}\" does not exist")]
    NotExist(String),
    /// Already there.
    #[error("container \"{0}\" already exists")]
    Exists(String),
    /// A bad id.
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.' and '+' only")]
    BadId(String),
    /// I/O on the state directory.
    #[error("{0}: {1}")]
    Io(PathBuf, io::Error),
    /// state.json unreadable.
    #[error("{0}: corrupt state: {1}")]
    Corrupt(PathBuf, serde_json::Error),
}

/// The network set-up to undo at delete (see `net`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetRecord {
    /// The namespace path.
    pub netns: PathBuf,
    /// The veth that was taken over.
    pub veth: String,
    /// Its IPv4 addresses (`A/P`), flushed while the guest owns them.
    pub addrs: Vec<String>,
    /// Its non-kernel IPv4 routes (`ip route` argument lists).
    pub routes: Vec<Vec<String>>,
}

/// `state.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    pub annotations: BTreeMap<String, String>,
    /// `/proc/PID/stat` field 22 at create.
    pub start_time: u64,
    /// What was taken over in the network namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<NetRecord>,
}

/// A container's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Stopped,
}

impl Status {
    /// The runtime-spec name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// Check a container id (it names a directory).
pub fn check_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.+".contains(&b));
    if ok { Ok(()) } else { Err(StateError::BadId(id.into())) }
}

/// The root-disk cache's directory under `--root`: its name holds a `:`,
/// which no container id may, so no id can name it.
pub const CACHE_DIR: &str = "cache:disks";

/// `<root>/<id>`.
pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// Make `<root>/<id>` (mode 0700), failing if it exists.
pub fn make_dir(root: &Path, id: &str) -> Result<PathBuf, StateError> {
    check_id(id)?;
    let io = |e| StateError::Io(root.to_path_buf(), e);
    fs::DirBuilder::new().recursive(true).mode(0o700).create(root).map_err(io)?;
    let d = dir(root, id);
    match fs::DirBuilder::new().mode(0o700).create(&d) {
        Ok(()) => Ok(d),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(StateError::Exists(id.into())),
        Err(e) => Err(StateError::Io(d, e)),
    }
}

/// The exec fifo's path.
pub fn fifo(dir: &Path) -> PathBuf {
    dir.join("exec.fifo")
}

/// Write `data` to `path` atomically (a temporary file renamed over it).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

impl Record {
    /// Save as `<dir>/state.json`.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join("state.json");
        let text = serde_json::to_vec(self).map_err(|e| StateError::Corrupt(path.clone(), e))?;
        write_atomic(&path, &text).map_err(|e| StateError::Io(path, e))
    }

    /// Load container `id`'s record.
    pub fn load(root: &Path, id: &str) -> Result<(PathBuf, Record), StateError> {
        check_id(id)?;
        let d = dir(root, id);
        let path = d.join("state.json");
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StateError::NotExist(id.into())),
            Err(e) => return Err(StateError::Io(path, e)),
        };
        let rec = serde_json::from_slice(&text).map_err(|e| StateError::Corrupt(path, e))?;
        Ok((d, rec))
    }

    /// Whether the recorded process is still the one we made, alive.
    pub fn alive(&self) -> bool {
        self.pid > 0
            && matches!(proc_stat(self.pid), Some((st, start)) if start == self.start_time && st != 'Z' && st != 'X')
    }

    /// The container's status now.
    pub fn status(&self, dir: &Path) -> Status {
        if !self.alive() {
            Status::Stopped
        } else if fifo(dir).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The runtime-spec state JSON (pid 0 once stopped, as runc).
    pub fn oci_state(&self, status: Status) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status.name(),
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "annotations": self.annotations,
        })
    }
}

/// The state letter and start time (field 22) of `/proc/PID/stat`.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3; the start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Now as RFC 3339 (UTC, with nanoseconds).
pub fn rfc3339_now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rfc3339(d.as_secs(), d.subsec_nanos())
}

/// `secs` since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(check_id("abc-1_2.3").is_ok());
        assert!(check_id("../x").is_err());
        assert!(check_id("").is_err());
        assert!(check_id("..").is_err());
    }

    #[test]
    fn time_format() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_796_292_000, 5), "2026-12-03T10:00:00.000000005Z");
    }

    #[test]
    fn own_process_is_alive_and_status_follows_the_fifo() {
        let pid = std::process::id() as i32;
        let (st, start) = proc_stat(pid).unwrap();
        assert_ne!(st, 'Z');
        let d = std::env::temp_dir().join(format!("nabla-state-{pid}"));
        let _ = fs::remove_dir_all(&d);
        let root = d.join("root");
        let cdir = make_dir(&root, "c1").unwrap();
        assert!(matches!(make_dir(&root, "c1"), Err(StateError::Exists(_))));
        let rec = Record { id: "c1".into(), pid, start_time: start, ..Default::default() };
        rec.save(&cdir).unwrap();
        let (_, back) = Record::load(&root, "c1").unwrap();
        assert_eq!(back.status(&cdir), Status::Running);
        fs::write(fifo(&cdir), b"").unwrap();
        assert_eq!(back.status(&cdir), Status::Created);
        let old = Record { start_time: start + 1, ..back };
        assert_eq!(old.status(&cdir), Status::Stopped);
        assert!(matches!(Record::load(&root, "c2"), Err(StateError::NotExist(_))));
        fs::remove_dir_all(&d).unwrap();
    }
}
