//! Helpers for the integration tests in `tests/tests/`: locate the built
//! tender and guests, run them, and capture what a user would see.

pub mod containerd;
pub mod disk;
pub mod linux;
pub mod netns;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Path of a binary built by `cargo build --release` (the Makefile builds
/// them before running the tests; a missing binary fails the test).
pub fn bin(name: &str) -> PathBuf {
    let p = root().join("target/release").join(name);
    assert!(p.exists(), "{} is missing: run `make test`, which builds it", p.display());
    p
}

/// Path of a test guest built by `make guests`.
pub fn guest(name: &str) -> PathBuf {
    let p = root().join("target/guests").join(name);
    assert!(p.exists(), "{} is missing: run `make test`, which builds it", p.display());
    p
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    /// Exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Run `nabla-tender ARGS...` with stdin from /dev/null (a Linux kernel
/// with [`linux::rewrite_flags`] first).
pub fn tender(args: &[&str]) -> Run {
    let out = Command::new(bin("nabla-tender"))
        .args(linux::rewrite_flags_for(args))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run nabla-tender");
    out.into()
}

/// Run `nabla-tender [FLAGS] target/guests/GUEST [ARGS]`.
pub fn run_guest(flags: &[&str], guest_name: &str, args: &[&str]) -> Run {
    let g = guest(guest_name);
    let mut all: Vec<&str> = flags.to_vec();
    let gs = g.to_str().expect("utf-8 path");
    all.push(gs);
    all.extend_from_slice(args);
    tender(&all)
}

/// A guest image loaded for mutation by the hostile-input tests, with
/// accessors for ELF64 header and program-header fields by offset.
#[derive(Clone)]
pub struct Elf {
    /// The file bytes.
    pub bytes: Vec<u8>,
}

impl Elf {
    /// Read a test guest.
    pub fn guest(name: &str) -> Elf {
        Elf { bytes: std::fs::read(guest(name)).expect("read guest") }
    }

    /// Little-endian field of `N` bytes at `off`.
    pub fn get(&self, off: usize, n: usize) -> u64 {
        let mut v = 0u64;
        for i in (0..n).rev() {
            v = (v << 8) | u64::from(self.bytes[off + i]);
        }
        v
    }

    /// Set a little-endian field of `n` bytes at `off`.
    pub fn set(&mut self, off: usize, n: usize, value: u64) -> &mut Self {
        for i in 0..n {
            self.bytes[off + i] = (value >> (8 * i)) as u8;
        }
        self
    }

    /// Offset of program header `i`.
    pub fn phdr(&self, i: usize) -> usize {
        self.get(32, 8) as usize + i * 56
    }

    /// Number of program headers.
    pub fn phnum(&self) -> usize {
        self.get(56, 2) as usize
    }

    /// Index of the first program header of type `t`.
    pub fn find(&self, t: u32) -> usize {
        (0..self.phnum()).find(|&i| self.get(self.phdr(i), 4) == u64::from(t)).expect("program header type")
    }

    /// Write to a temporary file and return its path.
    pub fn write(&self, name: &str) -> PathBuf {
        let dir = root().join("target/hostile");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let p = dir.join(name);
        std::fs::write(&p, &self.bytes).expect("write");
        p
    }
}

/// Run the tender on `path` with a time limit; `None` if it had to be
/// killed. Its output is read while it runs, so a guest that prints a lot
/// never blocks on a full pipe.
pub fn run_with_timeout(args: &[&str], secs: u64) -> Option<Run> {
    run_with_input(args, None, secs)
}

/// [`run_with_timeout`] with `input` on the tender's stdin (written, then
/// closed), or /dev/null for `None`. A Linux kernel gets
/// [`linux::rewrite_flags`] first.
pub fn run_with_input(args: &[&str], input: Option<&[u8]>, secs: u64) -> Option<Run> {
    let all: Vec<&str> = linux::rewrite_flags_for(args).iter().chain(args).copied().collect();
    run_as_given(&all, input, secs)
}

/// [`run_with_input`] with exactly `args`, whatever the environment says.
pub fn run_as_given(args: &[&str], input: Option<&[u8]>, secs: u64) -> Option<Run> {
    use std::io::{Read, Write};
    let mut child = Command::new(bin("nabla-tender"))
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        // A guest that stops reading must not block the test: write from
        // a thread, which ends with the child.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if start.elapsed().as_secs() >= secs {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let (stdout, stderr) = (out.join().expect("stdout reader"), err.join().expect("stderr reader"));
    status.map(|st| Run { code: st.code(), stdout, stderr })
}
