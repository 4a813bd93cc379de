//! Helpers for the integration tests in `tests/tests/`: locate the built
//! tender and guests, run them, and capture what a user would see.

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
    assert!(
        p.exists(),
        "{} is missing: run `make test`, which builds it",
        p.display()
    );
    p
}

/// Path of a test guest built by `make guests`.
pub fn guest(name: &str) -> PathBuf {
    let p = root().join("target/guests").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `make test`, which builds it",
        p.display()
    );
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

/// Run `nabla-tender ARGS...` with stdin from /dev/null.
pub fn tender(args: &[&str]) -> Run {
    let out = Command::new(bin("nabla-tender"))
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
