//! `create`: from a bundle to a container process waiting to start.
//!
//! In order: parse and check `config.json` (`spec`), check the entrypoint
//! (`entry`), find the tender, the kernel and `nabla-init`, make the state
//! directory, the root disk (`disk`) and the exec fifo; then fork. The
//! child, which is the container's process from then on (its pid is the
//! one in `--pid-file`): starts a new session, takes the pty
//! (`console`), joins the network namespace and plumbs a tap (`net`),
//! writes the initramfs (it holds the guest's addresses), tells the
//! parent it is ready (a line on a pipe: `ok` and what `delete` must
//! undo in the namespace, or the error), and blocks opening the fifo for
//! writing until `start` opens it for reading; then it execs
//! `nabla-tender --mem=M --quiet --block DISK --initrd INITRAMFS [--net
//! eth0=@FD --net-mac eth0=MAC] [--kernel-log FILE] KERNEL -- quiet`. The
//! parent writes `state.json` and the pid file once the child is ready,
//! and exits; on any error it removes what it made.
//!
//! The tender, `linux.nabla` and `nabla-init` are the files of those names
//! next to this executable, or `$NABLA_TENDER`, `$NABLA_KERNEL` and
//! `$NABLA_INIT`.

use crate::state::{self, NetRecord, Record, StateError};
use crate::{console, disk, entry, net, spec};
use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Errors of `create` (the modules' own, and these).
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error(transparent)]
    Entry(#[from] entry::EntryError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Disk(#[from] disk::DiskError),
    /// A file the runtime runs is missing.
    #[error("{0} not found at {1} (set {2})")]
    Missing(&'static str, PathBuf, &'static str),
    /// `terminal` without a socket.
    #[error("config.json asks for a terminal (process.terminal) but no --console-socket was given")]
    NoConsoleSocket,
    /// Local I/O.
    #[error("{0}: {1}")]
    Io(String, io::Error),
    /// The container's process failed before it was ready.
    #[error("{0}")]
    Child(String),
}

/// What the command line gives `create`.
pub struct Args<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
}

/// The programs the container runs.
struct Binaries {
    tender: PathBuf,
    kernel: PathBuf,
    init: PathBuf,
}

fn find(name: &'static str, var: &'static str) -> Result<PathBuf, CreateError> {
    let p = match std::env::var_os(var) {
        Some(v) => PathBuf::from(v),
        None => {
            let exe = std::env::current_exe().map_err(|e| CreateError::Io("current executable".into(), e))?;
            exe.parent().unwrap_or(Path::new("/")).join(name)
        }
    };
    if p.is_file() { Ok(p) } else { Err(CreateError::Missing(name, p, var)) }
}

/// Whether the tender takes `--kernel-log`.
fn tender_has_kernel_log(tender: &Path) -> bool {
    std::process::Command::new(tender)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--kernel-log"))
        .unwrap_or(false)
}

/// Run `create`; `debug` gets progress lines.
pub fn create(a: &Args, debug: &mut dyn FnMut(&str)) -> Result<(), CreateError> {
    let bundle = fs::canonicalize(a.bundle).map_err(|_| spec::SpecError::NoBundle(a.bundle.to_path_buf()))?;
    let oci = spec::load(&bundle)?;
    let mut plan = spec::plan(&bundle, &oci)?;
    let cwd = plan.guest.cwd.clone().unwrap_or_else(|| "/".into());
    entry::check(&plan.rootfs, &plan.guest.args, &plan.guest.env, &cwd)?;
    if plan.guest.terminal && a.console_socket.is_none() {
        return Err(CreateError::NoConsoleSocket);
    }
    let bins = Binaries {
        tender: find("nabla-tender", "NABLA_TENDER")?,
        kernel: find("linux.nabla", "NABLA_KERNEL")?,
        init: find("nabla-init", "NABLA_INIT")?,
    };
    let init = fs::read(&bins.init).map_err(|e| CreateError::Io(bins.init.display().to_string(), e))?;
    let kernel_log = tender_has_kernel_log(&bins.tender);
    state::check_id(a.id)?;
    let dir = state::make_dir(a.root, a.id)?;
    let result = (|| {
        let image = dir.join("rootfs.ext4");
        let d = disk::make(&plan.rootfs, &image, &a.root.join(state::CACHE_DIR))?;
        debug(&format!("root disk {:?} in {} ms", d.source, d.elapsed.as_millis()));
        let fifo = state::fifo(&dir);
        let cfifo = cstring(&fifo);
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::mkfifo(cfifo.as_ptr(), 0o622) } != 0 {
            return Err(CreateError::Io(fifo.display().to_string(), io::Error::last_os_error()));
        }
        let child = Child { dir: &dir, bins: &bins, init: &init, image: &image, kernel_log, a };
        let (pid, net) = child.spawn(&mut plan)?;
        let start_time = state::proc_stat(pid).map(|s| s.1).unwrap_or(0);
        let rec = Record {
            oci_version: state::OCI_VERSION.into(),
            id: a.id.into(),
            pid,
            bundle: bundle.clone(),
            rootfs: plan.rootfs.clone(),
            created: state::rfc3339_now(),
            annotations: plan.annotations.clone(),
            start_time,
            net,
        };
        rec.save(&dir)?;
        if let Some(p) = a.pid_file {
            state::write_atomic(p, pid.to_string().as_bytes())
                .map_err(|e| CreateError::Io(p.display().to_string(), e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        if let Ok((_, rec)) = Record::load(a.root, a.id) {
            // SAFETY: kill on the pid we made.
            unsafe { libc::kill(rec.pid, libc::SIGKILL) };
        }
        let _ = fs::remove_dir_all(&dir);
    }
    result
}

fn cstring(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

/// The container's process, before and after the fork.
struct Child<'a> {
    dir: &'a Path,
    bins: &'a Binaries,
    init: &'a [u8],
    image: &'a Path,
    kernel_log: bool,
    a: &'a Args<'a>,
}

impl Child<'_> {
    /// Fork the container's process; its pid and network record once it
    /// waits on the fifo.
    fn spawn(&self, plan: &mut spec::Plan) -> Result<(i32, Option<NetRecord>), CreateError> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two fds.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(CreateError::Io("pipe".into(), io::Error::last_os_error()));
        }
        // SAFETY: fresh fds, owned here.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: this process is single-threaded, so the child may do
        // anything the parent could (allocate, run commands).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(CreateError::Io("fork".into(), io::Error::last_os_error()));
        }
        if pid == 0 {
            drop(rd);
            let mut wr = fs::File::from(wr);
            match self.prepare(plan) {
                Err(e) => {
                    let _ = writeln!(wr, "err {}", e.to_string().replace('\n', " "));
                }
                Ok((argv, plumbed)) => {
                    let record = plumbed.as_ref().map(|p| &p.record);
                    let record = serde_json::to_string(&record).unwrap_or_else(|_| "null".into());
                    if writeln!(wr, "ok {record}").is_ok() {
                        // Closing the pipe tells the parent we are ready.
                        drop(wr);
                        let e = self.exec_on_start(&argv);
                        eprintln!("nabla-runtime: {e}");
                    }
                }
            }
            // SAFETY: leave the child at once, without the parent's atexit work.
            unsafe { libc::_exit(1) };
        }
        drop(wr);
        let mut msg = String::new();
        let _ = fs::File::from(rd).read_to_string(&mut msg);
        let msg = msg.trim_end();
        if let Some(json) = msg.strip_prefix("ok ") {
            let net = serde_json::from_str(json).unwrap_or(None);
            return Ok((pid, net));
        }
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        Err(CreateError::Child(match msg.strip_prefix("err ") {
            Some(e) => e.to_string(),
            None => "the container's process died while being created".into(),
        }))
    }

    /// In the child: set up the terminal and network, write the
    /// initramfs; the tender's argv (and the tap, kept open).
    fn prepare(&self, plan: &mut spec::Plan) -> Result<(Vec<String>, Option<net::Plumbed>), CreateError> {
        // SAFETY: plain syscalls on our own process.
        unsafe {
            libc::setsid();
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        if let (true, Some(sock)) = (plan.guest.terminal, self.a.console_socket) {
            console::setup(sock).map_err(|e| CreateError::Child(e.to_string()))?;
        }
        let mut plumbed = None;
        if let Some(ns) = &plan.netns {
            plumbed = net::join(ns)
                .and_then(|()| net::plumb(ns, &mut plan.guest))
                .map_err(|e| CreateError::Child(e.to_string()))?;
        }
        let initrd = self.dir.join("initramfs.cpio");
        fs::write(&initrd, plan.guest.initramfs(self.init))
            .map_err(|e| CreateError::Io(initrd.display().to_string(), e))?;
        let mut argv: Vec<String> = vec![
            self.bins.tender.display().to_string(),
            format!("--mem={}", plan.mem_mib),
            "--quiet".into(),
            "--block".into(),
            self.image.display().to_string(),
            "--initrd".into(),
            initrd.display().to_string(),
        ];
        if let Some(p) = &plumbed {
            let fd = p.tap.as_raw_fd();
            // SAFETY: clear close-on-exec on the tap fd we hold, for the tender.
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
            argv.push(format!("--net={}=@{fd}", net::GUEST_IF));
            argv.push(format!("--net-mac={}={}", net::GUEST_IF, p.mac));
        }
        if self.kernel_log {
            argv.push(format!("--kernel-log={}", self.dir.join("kernel.log").display()));
        }
        argv.extend([self.bins.kernel.display().to_string(), "--".into(), "quiet".into()]);
        Ok((argv, plumbed))
    }

    /// In the child, ready: wait for `start`, then exec the tender.
    /// Returns only on error.
    fn exec_on_start(&self, argv: &[String]) -> CreateError {
        let _ = std::env::set_current_dir(self.dir);
        if let Err(e) = wait_for_start(&state::fifo(self.dir)) {
            return CreateError::Io("exec fifo".into(), e);
        }
        let cargs: Vec<CString> = argv.iter().map(|s| CString::new(s.as_bytes()).unwrap_or_default()).collect();
        let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: a NULL-terminated argv of live C strings; returns only on error.
        unsafe { libc::execv(ptrs[0], ptrs.as_ptr()) };
        CreateError::Io(self.bins.tender.display().to_string(), io::Error::last_os_error())
    }
}

/// Block until `start` opens the fifo, then write the byte it reads.
fn wait_for_start(fifo: &Path) -> io::Result<()> {
    let mut f = loop {
        match fs::OpenOptions::new().write(true).open(fifo) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r?,
        }
    };
    f.write_all(b"0")
}
