//! `start`, `state`, `kill`, `delete` and `features`: the commands on a
//! created container, all through its state directory (see `state`).

use crate::net;
use crate::state::{self, Record, StateError, Status};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long `delete --force` waits for a killed container to go.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Errors of these commands.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    State(#[from] StateError),
    /// The container is not in a state the command takes.
    #[error("{0}")]
    Status(String),
    /// A signal name that is not one.
    #[error("invalid signal {0:?}")]
    BadSignal(String),
    /// The container's process ended during `start`.
    #[error("cannot start container {0}: its process has exited")]
    Died(String),
    /// I/O.
    #[error("{0}: {1}")]
    Io(String, io::Error),
}

/// `start ID`: release the process waiting on the exec fifo.
pub fn start(root: &Path, id: &str) -> Result<(), OpError> {
    let (dir, rec) = Record::load(root, id)?;
    match rec.status(&dir) {
        Status::Created => {}
        Status::Running => return Err(OpError::Status("cannot start an already running container".into())),
        Status::Stopped => return Err(OpError::Status("cannot start a container that has stopped".into())),
    }
    let fifo = state::fifo(&dir);
    let io = |e| OpError::Io(fifo.display().to_string(), e);
    let mut f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).map_err(io)?;
    let mut byte = [0u8; 1];
    loop {
        let mut pfd = libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd on an fd we hold.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io(e));
        }
        if n > 0 {
            match f.read(&mut byte) {
                Ok(1) => break,
                Ok(_) => return Err(OpError::Died(id.into())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(io(e)),
            }
        } else if !rec.alive() {
            return Err(OpError::Died(id.into()));
        }
    }
    fs::remove_file(&fifo).map_err(io)?;
    Ok(())
}

/// `state ID`: the runtime-spec state, as indented JSON.
pub fn state(root: &Path, id: &str) -> Result<String, OpError> {
    let (dir, rec) = Record::load(root, id)?;
    let s = rec.oci_state(rec.status(&dir));
    Ok(serde_json::to_string_pretty(&s).unwrap_or_default())
}

/// Signal names (without `SIG`) and numbers.
const SIGNALS: [(&str, i32); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

/// A signal by number (`15`), name (`TERM`) or full name (`SIGTERM`),
/// any case.
pub fn parse_signal(s: &str) -> Result<i32, OpError> {
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(OpError::BadSignal(s.into())) };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    SIGNALS.iter().find(|(n, _)| *n == name).map(|&(_, v)| v).ok_or_else(|| OpError::BadSignal(s.into()))
}

/// `kill ID SIGNAL`: signal the container's process (the tender, which
/// passes SIGTERM, SIGINT, SIGHUP and SIGQUIT on to the guest's process).
/// `--all` is the same: the container is one host process.
pub fn kill(root: &Path, id: &str, signal: &str) -> Result<(), OpError> {
    let sig = parse_signal(signal)?;
    let (dir, rec) = Record::load(root, id)?;
    if rec.status(&dir) == Status::Stopped {
        return Err(OpError::Status("container not running".into()));
    }
    // SAFETY: kill on the container's live process.
    if unsafe { libc::kill(rec.pid, sig) } != 0 {
        return Err(OpError::Io(format!("kill {}", rec.pid), io::Error::last_os_error()));
    }
    Ok(())
}

/// Kill the container's process and wait until it is gone.
fn kill_and_wait(rec: &Record) -> Result<(), OpError> {
    // SAFETY: kill on the container's live process.
    unsafe { libc::kill(rec.pid, libc::SIGKILL) };
    let t0 = Instant::now();
    while rec.alive() {
        if t0.elapsed() > KILL_WAIT {
            return Err(OpError::Status(format!("container process {} did not die after SIGKILL", rec.pid)));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// `delete [--force] ID`: remove the container (killing it if created,
/// or running with `--force`), give the network namespace its addresses
/// back, remove the state directory. Returns the network restore's
/// failures (logged, not fatal).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<Vec<String>, OpError> {
    let (dir, rec) = match Record::load(root, id) {
        Err(StateError::NotExist(_)) if state::dir(root, id).is_dir() => {
            // A create that died half-way: nothing runs; remove what it left.
            let d = state::dir(root, id);
            fs::remove_dir_all(&d).map_err(|e| OpError::Io(d.display().to_string(), e))?;
            return Ok(Vec::new());
        }
        Err(StateError::NotExist(_)) if force => return Ok(Vec::new()),
        r => r?,
    };
    match rec.status(&dir) {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&rec)?,
        Status::Running if force => kill_and_wait(&rec)?,
        Status::Running => {
            return Err(OpError::Status(format!("cannot delete container {id} that is not stopped: running")));
        }
    }
    fs::remove_dir_all(&dir).map_err(|e| OpError::Io(dir.display().to_string(), e))?;
    // Last: this joins the container's network namespace.
    Ok(rec.net.as_ref().map(net::restore).unwrap_or_default())
}

/// `features`: what this runtime supports (runtime-spec features.md).
pub fn features() -> String {
    let v = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": state::OCI_VERSION,
        "hooks": [],
        "mountOptions": ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "relatime",
                         "noatime", "strictatime", "sync", "async", "bind", "rbind"],
        "linux": {
            "namespaces": ["network"],
            "capabilities": [],
            "cgroup": {"v1": false, "v2": false, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {"org.opencontainers.runtime-spec.features.nabla": "linux guest per container"}
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_number_and_name() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("TERM").unwrap(), 15);
        assert_eq!(parse_signal("sigkill").unwrap(), 9);
        assert_eq!(parse_signal("SIGWINCH").unwrap(), 28);
        assert!(parse_signal("FOO").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn missing_container_errors_and_force_delete_is_quiet() {
        let root = std::env::temp_dir().join(format!("nabla-ops-{}", std::process::id()));
        assert_eq!(state(&root, "x").unwrap_err().to_string(), "container \"x\" does not exist");
        assert!(delete(&root, "x", true).unwrap().is_empty());
        assert!(delete(&root, "x", false).is_err());
    }
}
