//! Network namespaces for the network tests: a namespace of the test's own
//! with tap interfaces (host side addressed, up), removed on drop; commands
//! and sockets inside it; and a tender run inside it, either a serving test
//! guest (`target/guests/net*`) or the Linux guest booted from a copy of
//! the root image with its console shell driven line by line.
//!
//! Design: every test makes its own namespace (`nabla-TAG-PID`), so tests
//! running in parallel threads never see each other's taps or addresses,
//! and the same subnets can be used everywhere. Deleting the namespace
//! deletes its taps, and every process started here is killed on drop, so
//! a failing assertion leaves nothing behind. Host-side sockets are made by
//! a short-lived thread that enters the namespace with `setns(2)` (a
//! thread's network namespace is its own); the socket stays in the
//! namespace for whichever thread uses it afterwards, and since it exists
//! before the guest is told to use it, no readiness wait is needed.
//!
//! Limits: needs root (CI runs as root) and iproute2; a namespace left by
//! a test killed with SIGKILL stays until `ip netns del`.

use crate::disk::rootfs_copy;
use crate::linux::kernel;
use crate::{Run, bin, guest};
use std::io::{BufRead, Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A network namespace with taps, removed on drop.
pub struct Netns(String);

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip (iproute2) must be installed");
    assert!(st.success(), "ip {args:?} failed (the network tests need root)");
}

impl Netns {
    /// A new namespace `nabla-TAG-PID` with loopback up and, for each
    /// `(tap, address/prefix)`, a tap with that address, up.
    pub fn new(tag: &str, taps: &[(&str, &str)]) -> Netns {
        Netns::with_mtu(tag, taps, None)
    }

    /// [`Netns::new`] with every tap's MTU set to `mtu` (the guest's
    /// interface takes the tap's MTU when the tender starts).
    pub fn with_mtu(tag: &str, taps: &[(&str, &str)], mtu: Option<u32>) -> Netns {
        let name = format!("nabla-{tag}-{}", std::process::id());
        // A namespace left by an earlier, killed run of the same process id.
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        ip(&["netns", "add", &name]);
        let ns = Netns(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        for (tap, addr) in taps {
            ip(&["-n", &name, "tuntap", "add", tap, "mode", "tap"]);
            if let Some(m) = mtu {
                ip(&["-n", &name, "link", "set", tap, "mtu", &m.to_string()]);
            }
            ip(&["-n", &name, "addr", "add", addr, "dev", tap]);
            ip(&["-n", &name, "link", "set", tap, "up"]);
        }
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// `ip netns exec NS ARGS...`, to be completed and run by the caller.
    pub fn exec(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(args);
        c
    }

    /// Run `ARGS...` in the namespace: (success, stdout and stderr).
    pub fn run(&self, args: &[&str]) -> (bool, String) {
        let out = self.exec(args).stdin(Stdio::null()).output().expect("ip netns exec");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    /// `ip -n NS ARGS...`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.0.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Run `f` on a thread that has entered the namespace: sockets it
    /// makes live in the namespace.
    pub fn within<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("the namespace's file");
                // SAFETY: setns on an open namespace fd; it changes only
                // this thread's network namespace.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("thread in the namespace")
        })
    }

    /// A TCP listener on `addr` inside the namespace.
    pub fn tcp_listener(&self, addr: &str) -> std::net::TcpListener {
        self.within(|| std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}")))
    }

    /// A UDP socket on `addr` inside the namespace.
    pub fn udp_socket(&self, addr: &str) -> std::net::UdpSocket {
        self.within(|| std::net::UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}")))
    }

    /// Start `[wrapper...] nabla-tender FLAGS target/guests/GUEST 10000` in
    /// the namespace and wait until the guest has printed its line for each
    /// of its `ifaces` interfaces, which it does just before it starts
    /// serving (frames sent after that wait in the tap's queue).
    pub fn serve(&self, wrapper: &[&str], flags: &[&str], guest_name: &str, ifaces: usize) -> Served {
        let tender = bin("nabla-tender");
        let mut child = self
            .exec(wrapper)
            .arg(tender)
            .args(flags)
            .arg(guest(guest_name))
            .arg("10000")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the tender");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(" mtu ") {
                    let _ = tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let child = Reap(Some(child));
        for _ in 0..ifaces {
            assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok(), "the guest did not start serving");
        }
        Served { child, reader }
    }

    /// Boot the Linux guest in the namespace: `[wrapper...] nabla-tender
    /// --mem=MEM --block COPY FLAGS build/linux.nabla -- quiet WORDS`, with
    /// a fresh copy of the root image in `dir`, the console shell reading
    /// what [`Guest::send`] writes.
    pub fn boot(&self, dir: &Path, wrapper: &[&str], mem: u32, flags: &[&str], words: &[&str]) -> Guest {
        let img = rootfs_copy(dir);
        let mut child = self
            .exec(wrapper)
            .arg(bin("nabla-tender"))
            .args(crate::linux::rewrite_flags())
            .arg(format!("--mem={mem}"))
            .arg("--block")
            .arg(img)
            .args(flags)
            .arg(kernel())
            .arg("--")
            .arg("quiet")
            .args(words)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the tender");
        let stdin = child.stdin.take();
        let out = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let collect = |mut r: Box<dyn Read + Send>, sink: Arc<(Mutex<String>, Condvar)>| {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let (text, cv) = &*sink;
                    text.lock().expect("output").push_str(&String::from_utf8_lossy(&buf[..n]));
                    cv.notify_all();
                }
            })
        };
        let err = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let readers = [
            collect(Box::new(child.stdout.take().expect("stdout")), out.clone()),
            collect(Box::new(child.stderr.take().expect("stderr")), err.clone()),
        ];
        Guest { child: Reap(Some(child)), stdin, out, err, readers: Some(readers), seen: 0, marks: 0 }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A child process killed on drop, so that a failing assertion never
/// leaves a tender running (it would hold the test's pipes open forever).
pub struct Reap(pub Option<Child>);

impl Reap {
    /// Wait for the child normally.
    pub fn wait(mut self) -> std::process::Output {
        self.0.take().expect("child").wait_with_output().expect("wait")
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A serving net guest: the process and the thread collecting its stdout.
pub struct Served {
    child: Reap,
    reader: std::thread::JoinHandle<String>,
}

impl Served {
    /// Wait for the guest to exit: (exit code, stdout, stderr).
    pub fn wait(self) -> (Option<i32>, String, String) {
        let out = self.child.wait();
        (out.status.code(), self.reader.join().expect("reader"), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A Linux guest booted by [`Netns::boot`]: its console shell reads the
/// lines sent, and everything it prints is collected. Killed on drop.
pub struct Guest {
    child: Reap,
    stdin: Option<ChildStdin>,
    out: Arc<(Mutex<String>, Condvar)>,
    err: Arc<(Mutex<String>, Condvar)>,
    readers: Option<[std::thread::JoinHandle<()>; 2]>,
    /// How much of the output [`Guest::cmd`] has already returned.
    seen: usize,
    marks: usize,
}

impl Guest {
    /// The tender's process id (`ip netns exec` and nabla-tapfd exec it).
    pub fn pid(&self) -> u32 {
        self.child.0.as_ref().expect("child").id()
    }

    /// Write `lines` (a newline is added) to the console shell.
    pub fn send(&mut self, lines: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(format!("{lines}\n").as_bytes()).expect("write to the guest's console");
        stdin.flush().expect("flush");
    }

    /// Everything the guest printed so far.
    pub fn output(&self) -> String {
        self.out.0.lock().expect("output").clone()
    }

    /// Wait until the output (from the start) contains `what`; panics
    /// with the output after `secs` seconds.
    pub fn wait_for(&self, what: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let (text, cv) = &*self.out;
        let mut t = text.lock().expect("output");
        while !t.contains(what) {
            let now = Instant::now();
            assert!(
                now < deadline,
                "no {what:?} after {secs} s; output:\n{}\nstderr:\n{}",
                *t,
                self.err.0.lock().expect("stderr")
            );
            t = cv.wait_timeout(t, deadline - now).expect("output").0;
        }
        t.clone()
    }

    /// Run `script` in the console shell and return what it printed: the
    /// script is followed by an `echo` of a fresh marker, and the output
    /// since the last call up to that marker is returned. Panics after
    /// `secs` seconds.
    pub fn cmd(&mut self, script: &str, secs: u64) -> String {
        self.marks += 1;
        let mark = format!("@@done-{}@@", self.marks);
        // The marker is split in the command so that only its output matches.
        self.send(&format!("{script}\necho '@@done-'{}'@@'", self.marks));
        let all = self.wait_for(&format!("{mark}\n"), secs);
        let end = all.find(&mark).expect("marker");
        let text = all[self.seen.min(end)..end].to_owned();
        self.seen = end + mark.len() + 1;
        text
    }

    /// Close the console's input (the guest powers off) and wait up to
    /// `secs` seconds for the tender to exit.
    pub fn finish(mut self, secs: u64) -> Run {
        drop(self.stdin.take());
        let mut child = self.child.0.take().expect("child");
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait") {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the guest did not power off within {secs} s; output:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        for r in self.readers.take().expect("readers") {
            r.join().expect("reader");
        }
        Run { code: status.code(), stdout: self.output(), stderr: self.err.0.lock().expect("stderr").clone() }
    }
}
