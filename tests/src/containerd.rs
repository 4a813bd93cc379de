//! A containerd of the test's own for the container tests
//! (`tests/tests/containers.rs`) and the OCI image they run: Debian's
//! `containerd` started with a generated configuration, the image of
//! `make oci-image` (`build/oci-image.tar`, docker.io/nabla/test:latest)
//! imported, and `ctr run` driving the stock `io.containerd.runc.v2` shim
//! with `--runc-binary` pointing at the runtime under test.
//!
//! Design: every test starts its own [`Containerd`] (about 0.1 s with the
//! import), with its own root, state directory and sockets under
//! `/tmp/nabla-ctd-TAG-PID/` and its own containerd namespace
//! `nabla-TAG-PID`, so tests running on parallel threads never see each
//! other's images, containers or runtime state (the shim gives the
//! runtime `--root /run/containerd/runc/NAMESPACE`). The CRI plugin and
//! the snapshotters other than overlayfs are disabled. Every `ctr` call
//! has a time limit. On drop, whatever the test left is taken down in
//! order: each task killed with SIGKILL and deleted, each container
//! deleted (through containerd, so the shims unmount and remove their
//! bundles), then containerd stopped, then any process still descending
//! from this containerd or its shims killed (a shim outlives containerd
//! by design), the mounts left under the directory unmounted, and the
//! directory and the runtime's state directory removed. A failing
//! assertion therefore leaves nothing running.
//!
//! The runtime under test is `target/release/nabla-runtime`, or the path
//! in the environment variable `NABLA_CONTAINERS_RUNTIME`
//! (`NABLA_CONTAINERS_RUNTIME=/usr/sbin/runc` runs the same tests against
//! Debian's runc: that checks the harness and the image independently of
//! our runtime; see [`Containerd::is_runc`]).
//!
//! Limits: needs root (CI runs as root), Debian's containerd 1.6 and its
//! `ctr`, and overlayfs; a test killed with SIGKILL leaves its directory,
//! containerd and shims behind (their command lines name the directory).

use crate::{Run, root};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The image `scripts/build-oci-image.sh` names in its index.
pub const IMAGE: &str = "docker.io/nabla/test:latest";

/// The OCI image archive `make oci-image` builds.
pub fn image_tar() -> PathBuf {
    let p = root().join("build/oci-image.tar");
    assert!(p.exists(), "{} is missing: run `make oci-image` (make test builds it)", p.display());
    p
}

/// The runtime under test: `NABLA_CONTAINERS_RUNTIME`, else
/// `target/release/nabla-runtime`, as an absolute path (the shim needs one).
pub fn runtime() -> PathBuf {
    let p = match std::env::var_os("NABLA_CONTAINERS_RUNTIME") {
        Some(p) => PathBuf::from(p),
        None => root().join("target/release/nabla-runtime"),
    };
    assert!(p.exists(), "{} is missing: run `make test`, which builds it", p.display());
    p.canonicalize().expect("the runtime's absolute path")
}

/// Whether the runtime under test is runc (by its file name).
pub fn runtime_is_runc() -> bool {
    runtime().file_name().is_some_and(|n| n == "runc")
}

/// A child process with its output collected by threads, killed on drop.
pub struct Spawned {
    child: Option<Child>,
    out: Option<std::thread::JoinHandle<String>>,
    err: Option<std::thread::JoinHandle<String>>,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Spawned {
    /// Spawn `cmd` with stdin from /dev/null and stdout and stderr piped.
    pub fn new(mut cmd: Command) -> Spawned {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stdout = child.stdout.take().expect("stdout");
        let sink = seen.clone();
        let out = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("output").push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            sink.lock().expect("output").clone()
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let err = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stderr.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        });
        Spawned { child: Some(child), out: Some(out), err: Some(err), seen }
    }

    /// Standard output so far.
    pub fn stdout_so_far(&self) -> String {
        self.seen.lock().expect("output").clone()
    }

    /// Wait until standard output contains `what`; panics after `secs`
    /// seconds or if the process ends first.
    pub fn wait_for(&mut self, what: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.stdout_so_far().contains(what) {
            let ended = self.child.as_mut().expect("child").try_wait().expect("wait").is_some();
            if ended {
                // The last output may still be in the pipe.
                std::thread::sleep(Duration::from_millis(50));
                if self.stdout_so_far().contains(what) {
                    return;
                }
                let run = self.wait(1);
                panic!("the process ended before printing {what:?}: {run:?}");
            }
            assert!(Instant::now() < deadline, "no {what:?} after {secs} s; stdout: {:?}", self.stdout_so_far());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait for the process to end, killing it (and panicking) after `secs` seconds.
    pub fn wait(&mut self, secs: u64) -> Run {
        let mut child = self.child.take().expect("child");
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait") {
                break Some(st);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = self.out.take().expect("stdout reader").join().expect("stdout reader");
        let stderr = self.err.take().expect("stderr reader").join().expect("stderr reader");
        match status {
            Some(st) => Run { code: st.code(), stdout, stderr },
            None => panic!("still running after {secs} s (killed); stdout: {stdout:?}; stderr: {stderr:?}"),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run `cmd` to its end with a time limit (panics after `secs` seconds).
pub fn run_cmd(cmd: Command, secs: u64) -> Run {
    Spawned::new(cmd).wait(secs)
}

/// A containerd of the test's own, with the test image imported; taken
/// down, with everything it started, on drop.
pub struct Containerd {
    dir: PathBuf,
    ns: String,
    runtime: PathBuf,
    child: Option<Child>,
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"# Generated by tests/src/containerd.rs for one test.
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.native",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{d}/ctd.sock"

[ttrpc]
  address = "{d}/ctd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.runtime.v1.linux"]
  shim_debug = false
"#
    )
}

impl Containerd {
    /// Start containerd for the test `tag` (letters, digits and dashes)
    /// and import the test image; the runtime is [`runtime()`].
    pub fn start(tag: &str) -> Containerd {
        Containerd::with_runtime(tag, &runtime())
    }

    /// [`Containerd::start`] with another runtime binary (absolute path).
    pub fn with_runtime(tag: &str, runtime: &Path) -> Containerd {
        let pid = std::process::id();
        let dir = PathBuf::from(format!("/tmp/nabla-ctd-{tag}-{pid}"));
        let ns = format!("nabla-{tag}-{pid}");
        // What an earlier, killed run with the same process id left.
        drop(Containerd { dir: dir.clone(), ns: ns.clone(), runtime: runtime.to_owned(), child: None });
        std::fs::create_dir_all(&dir).expect("containerd's directory");
        std::fs::write(dir.join("config.toml"), config(&dir)).expect("containerd's config");
        let log = std::fs::File::create(dir.join("containerd.log")).expect("containerd's log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("containerd (Debian's containerd package) must be installed");
        let mut c = Containerd { dir, ns, runtime: runtime.to_owned(), child: Some(child) };
        c.wait_ready();
        let r = c.ctr_run(&["image", "import", image_tar().to_str().expect("utf-8 path")], 60);
        assert_eq!(r.code, Some(0), "ctr image import: {r:?}");
        c
    }

    fn wait_ready(&mut self) {
        let sock = self.socket();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if sock.exists() && std::os::unix::net::UnixStream::connect(&sock).is_ok() {
                // The socket serves once every plugin is loaded.
                let r = self.ctr_run(&["version"], 10);
                if r.code == Some(0) {
                    return;
                }
            }
            if let Some(st) = self.child.as_mut().expect("containerd").try_wait().expect("wait") {
                panic!("containerd exited ({st}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "containerd did not start in 20 s: {}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// containerd's GRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("ctd.sock")
    }

    /// The directory holding containerd's root and state (root/ and state/).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The containerd namespace of this test.
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// The runtime binary under test.
    pub fn runtime(&self) -> &Path {
        &self.runtime
    }

    /// Whether the runtime under test is runc.
    pub fn is_runc(&self) -> bool {
        self.runtime.file_name().is_some_and(|n| n == "runc")
    }

    /// The runtime's `--root` as the shim gives it: the runtime's state
    /// for this namespace (one entry per container).
    pub fn runtime_root(&self) -> PathBuf {
        PathBuf::from("/run/containerd/runc").join(&self.ns)
    }

    /// `ctr -a SOCKET -n NAMESPACE`, to be completed by the caller.
    pub fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a").arg(self.socket()).arg("-n").arg(&self.ns);
        c
    }

    /// Run `ctr ... ARGS` to its end (time limit `secs`).
    pub fn ctr_run(&self, args: &[&str], secs: u64) -> Run {
        let mut c = self.ctr();
        c.args(args);
        run_cmd(c, secs)
    }

    /// `ctr ... run --runtime io.containerd.runc.v2 --runc-binary RUNTIME
    /// OPTS IMAGE ID ARGS`, to be completed and run by the caller.
    pub fn run_cmd(&self, opts: &[&str], id: &str, args: &[&str]) -> Command {
        let mut c = self.ctr();
        c.args(["run", "--runtime", "io.containerd.runc.v2", "--runc-binary"]).arg(&self.runtime);
        c.args(opts).arg(IMAGE).arg(id).args(args);
        c
    }

    /// `ctr run --rm OPTS IMAGE ID ARGS` to its end (time limit `secs`).
    pub fn run(&self, opts: &[&str], id: &str, args: &[&str], secs: u64) -> Run {
        let mut all = vec!["--rm"];
        all.extend_from_slice(opts);
        run_cmd(self.run_cmd(&all, id, args), secs)
    }

    /// `ctr run --rm OPTS IMAGE ID ARGS` started, its output collected.
    pub fn spawn(&self, opts: &[&str], id: &str, args: &[&str]) -> Spawned {
        let mut all = vec!["--rm"];
        all.extend_from_slice(opts);
        Spawned::new(self.run_cmd(&all, id, args))
    }

    /// `ctr task kill [-s SIGNAL] ID`, which must succeed.
    pub fn kill(&self, id: &str, signal: Option<&str>) {
        let mut args = vec!["task", "kill"];
        if let Some(s) = signal {
            args.extend_from_slice(&["-s", s]);
        }
        args.push(id);
        let r = self.ctr_run(&args, 20);
        assert_eq!(r.code, Some(0), "ctr {args:?}: {r:?}");
    }

    /// The ids `ctr task ls -q` lists (the tasks still alive or not yet deleted).
    pub fn tasks(&self) -> Vec<String> {
        let r = self.ctr_run(&["task", "ls", "-q"], 20);
        assert_eq!(r.code, Some(0), "ctr task ls: {r:?}");
        r.stdout.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
    }

    /// The ids `ctr container ls -q` lists.
    pub fn containers(&self) -> Vec<String> {
        let r = self.ctr_run(&["container", "ls", "-q"], 20);
        assert_eq!(r.code, Some(0), "ctr container ls: {r:?}");
        r.stdout.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
    }

    /// Everything that must be gone once container `id` is deleted, as a
    /// list of complaints (empty: nothing left): a task or container of
    /// that id, a process naming it or this containerd's directory on its
    /// command line (the tender's, the runtime's, the shim's), a mount
    /// under this containerd's directory naming it, the runtime's state
    /// directory for it, the shim's bundle.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut bad = Vec::new();
        if self.tasks().iter().any(|t| t == id) {
            bad.push(format!("task {id} still listed"));
        }
        if self.containers().iter().any(|t| t == id) {
            bad.push(format!("container {id} still listed"));
        }
        for (pid, cmd) in processes() {
            if cmd.contains(id) {
                bad.push(format!("process {pid} still running: {cmd}"));
            }
        }
        for m in mounts_under(&self.dir) {
            if m.contains(id) {
                bad.push(format!("mount {m} left"));
            }
        }
        let state = self.runtime_root().join(id);
        if state.exists() {
            bad.push(format!("runtime state {} left", state.display()));
        }
        let bundle = self.dir.join("state/io.containerd.runtime.v2.task").join(&self.ns).join(id);
        if bundle.exists() {
            bad.push(format!("bundle {} left", bundle.display()));
        }
        bad
    }

    /// Kill and delete every task and container of this namespace.
    fn clean_namespace(&self) {
        let Some(list) = self.try_ctr(&["task", "ls", "-q"]) else { return };
        for id in list.lines().filter(|l| !l.is_empty()) {
            let _ = self.try_ctr(&["task", "kill", "-s", "SIGKILL", id]);
        }
        for id in list.lines().filter(|l| !l.is_empty()) {
            let _ = self.try_ctr(&["task", "delete", "-f", id]);
        }
        if let Some(list) = self.try_ctr(&["container", "ls", "-q"]) {
            for id in list.lines().filter(|l| !l.is_empty()) {
                let _ = self.try_ctr(&["container", "delete", id]);
            }
        }
    }

    /// `ctr ARGS`' stdout if it succeeded within 10 s, for the clean-up
    /// (which must not panic).
    fn try_ctr(&self, args: &[&str]) -> Option<String> {
        let mut c = self.ctr();
        c.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = c.spawn().ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    let mut s = String::new();
                    child.stdout.take()?.read_to_string(&mut s).ok()?;
                    return st.success().then_some(s);
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }

    /// Kill whatever names this containerd's directory (containerd, its
    /// shims) and their descendants, unmount what is left under the
    /// directory and remove it and the runtime's state.
    fn reap_leftovers(&self) {
        let dir = format!("{}/", self.dir.display());
        for _ in 0..3 {
            let procs = processes();
            let roots: Vec<i32> = procs.iter().filter(|(_, c)| c.contains(&dir)).map(|(p, _)| *p).collect();
            if roots.is_empty() {
                break;
            }
            for pid in descendants(&roots) {
                // SAFETY: kill(2) on a process id; no memory is involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut mounts = mounts_under(&self.dir);
        // Deepest first.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            if let Ok(c) = std::ffi::CString::new(m) {
                // SAFETY: umount2 with a valid NUL-terminated path.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(self.runtime_root());
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.clean_namespace();
            // SAFETY: kill(2) on our own child's process id.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.reap_leftovers();
    }
}

/// Every process: (pid, command line with spaces between arguments).
pub fn processes() -> Vec<(i32, String)> {
    let mut v = Vec::new();
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else { return v };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        if let Ok(raw) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ").trim_end().to_owned();
            if !cmd.is_empty() {
                v.push((pid, cmd));
            }
        }
    }
    v
}

/// The processes whose command line's first word ends with `name`.
pub fn processes_named(name: &str) -> Vec<(i32, String)> {
    processes().into_iter().filter(|(_, c)| c.split(' ').next().is_some_and(|w| w.ends_with(name))).collect()
}

/// `roots` and all their descendants (by the parent ids in /proc/PID/stat).
fn descendants(roots: &[i32]) -> Vec<i32> {
    let mut parent = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
            // The fields after the command name, which may hold spaces.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.to_owned()) else { continue };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse::<i32>().ok()) {
                parent.push((pid, ppid));
            }
        }
    }
    let mut all: Vec<i32> = roots.to_vec();
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        for (c, pp) in &parent {
            if *pp == p && !all.contains(c) {
                all.push(*c);
            }
        }
        i += 1;
    }
    all
}

/// The mount points (from /proc/self/mountinfo) under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| m.replace("\\040", " "))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

/// A network namespace `NAME` with one end of a veth pair in it
/// (`eth0`, 10.231.N.2/24, default route via 10.231.N.1) and the other on
/// the host (`nbc-PID-N`, 10.231.N.1/24), for a container joined to it
/// with `ctr run --with-ns network:/var/run/netns/NAME`. Removed on drop.
pub struct VethNetns {
    name: String,
    host_if: String,
    n: u8,
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip (iproute2) must be installed");
    assert!(st.success(), "ip {args:?} failed (the container tests need root)");
}

impl VethNetns {
    /// A namespace `nabla-ctd-TAG-PID` on subnet 10.231.`n`.0/24 (each
    /// test its own `n`).
    pub fn new(tag: &str, n: u8) -> VethNetns {
        let pid = std::process::id();
        let name = format!("nabla-ctd-{tag}-{pid}");
        // Interface names have at most 15 bytes.
        let host_if = format!("nbc{}-{n}", pid % 100_000);
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        let _ = Command::new("ip").args(["link", "del", &host_if]).stderr(Stdio::null()).status();
        ip(&["netns", "add", &name]);
        let ns = VethNetns { name: name.clone(), host_if: host_if.clone(), n };
        ip(&["link", "add", &host_if, "type", "veth", "peer", "name", "eth0", "netns", &name]);
        ip(&["addr", "add", &format!("10.231.{n}.1/24"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        ip(&["-n", &name, "addr", "add", &format!("10.231.{n}.2/24"), "dev", "eth0"]);
        ip(&["-n", &name, "link", "set", "eth0", "up"]);
        ip(&["-n", &name, "route", "add", "default", "via", &format!("10.231.{n}.1")]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its file, for `--with-ns network:PATH`.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// The container's address in it.
    pub fn guest_ip(&self) -> String {
        format!("10.231.{}.2", self.n)
    }

    /// `ip -n NAME -o link show` (one line per interface).
    pub fn links(&self) -> Vec<String> {
        let out = Command::new("ip").args(["-n", &self.name, "-o", "link", "show"]).output().expect("ip link show");
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }
}

impl Drop for VethNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).stderr(Stdio::null()).status();
    }
}

/// An HTTP GET of `path` from `ip:port`, retried until it answers or
/// `secs` seconds pass: the whole response, or the last error.
pub fn http_get(ip: &str, port: u16, path: &str, secs: u64) -> Result<String, String> {
    use std::io::Write;
    let addr: std::net::SocketAddr = format!("{ip}:{port}").parse().map_err(|e| format!("{e}"))?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        let attempt = || -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            write!(s, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n")?;
            let mut v = Vec::new();
            s.read_to_end(&mut v)?;
            Ok(String::from_utf8_lossy(&v).into_owned())
        };
        match attempt() {
            Ok(r) if !r.is_empty() => return Ok(r),
            Ok(_) => last = "empty response".into(),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}

/// A command run on a pseudo-terminal of its own (its controlling
/// terminal, as stdin, stdout and stderr), as a user's terminal would
/// run it: what it printed, collected until it exits.
pub struct OnPty {
    child: Option<Child>,
    master: std::fs::File,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl OnPty {
    /// Start `cmd` on a new pty (80x24).
    pub fn spawn(mut cmd: Command) -> OnPty {
        use std::os::fd::{FromRawFd, OwnedFd};
        let (mut m, mut s) = (-1, -1);
        let ws = libc::winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two fds into the pointed-to ints; the name
        // and termios pointers may be NULL, the winsize is a valid struct.
        let rc = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds were just returned by openpty and are owned here.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?} on a pty: {e}"));
        // The parent's copies of the slave were dropped with the Command's
        // Stdio: a read on the master ends (EIO) once the child closes it.
        drop(cmd);
        let master = std::fs::File::from(master);
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut r = master.try_clone().expect("dup");
        let sink = out.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("output").push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        OnPty { child: Some(child), master, out, reader: Some(reader) }
    }

    /// Type `text` on the terminal.
    pub fn send(&mut self, text: &str) {
        use std::io::Write;
        self.master.write_all(text.as_bytes()).expect("write to the pty");
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.out.lock().expect("output").clone()
    }

    /// Wait until the output contains `what`; panics after `secs` seconds.
    pub fn wait_for(&self, what: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.output().contains(what) {
            assert!(Instant::now() < deadline, "no {what:?} on the terminal after {secs} s: {:?}", self.output());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait for the command to exit (killed, and a panic, after `secs`
    /// seconds): its exit code and everything it printed.
    pub fn wait(&mut self, secs: u64) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("child");
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait") {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("still running on the pty after {secs} s: {:?}", self.output());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // The reader ends when every slave copy is closed (the container's
        // too); do not wait for that forever.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.reader.as_ref().is_some_and(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        (status.code(), self.output())
    }
}

impl Drop for OnPty {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
