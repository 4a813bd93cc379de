//! runnc's contract: the tender installed as `nabla-run` and run with the
//! command line runnc gives it (`--x-exec-heap --mem=MB [--net=TAP]
//! --disk=ROOTFS.iso KERNEL 'JSON'`), the root an ISO 9660 image made as
//! runnc makes it (`genisoimage -m dev -m sys -m proc -l -r`) from the
//! busybox root image, and rumprun's JSON with repeated `env` keys. The
//! container's program prints its args, env and cwd, writes to `/tmp`
//! and exits 3; a second run uses `net` to configure eth0 and fetches a
//! page from the host; bad JSON and unsupported settings are one line
//! and status 1, under the name `nabla-run` and under any name with
//! `--x-exec-heap` first.
//!
//! Design: each test makes its own directory under `target/disks` with
//! the symlink `nabla-run` to `target/release/nabla-tender` and the image;
//! `nabla-init` is named by `NABLA_INIT`. The JSON is written by hand (a
//! JSON library keeps one of repeated keys, which is the point here).
//!
//! Limits: needs genisoimage and debugfs (scripts/setup.sh installs
//! them); the network test needs root and iproute2.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::disk::{program_lines, replay_journal, rootfs, rootfs_copy, scratch};
use nabla_tests::linux::{kernel, rewrite_flags};
use nabla_tests::netns::Netns;
use nabla_tests::{Run, bin};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A JSON string literal for `s`.
fn json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// runnc's JSON: the `env` keys repeated first, then `cmdline` (the
/// kernel's path in the image first), `net` if given, `blk` and `cwd`.
fn runnc_json(env: &[&str], cmdline: &str, net: Option<&str>, cwd: &str) -> String {
    let mut j = String::from("{");
    for e in env {
        j.push_str(&format!("\"env\":{},", json(e)));
    }
    j.push_str(&format!("\"cmdline\":{},", json(cmdline)));
    if let Some(n) = net {
        j.push_str(&format!("\"net\":{n},"));
    }
    j.push_str(r#""blk":{"source":"etfs","path":"/dev/ld0a","fstype":"blk","mountpoint":"/"},"#);
    j.push_str(&format!("\"cwd\":{}}}", json(cwd)));
    j
}

/// A test's directory: `nabla-run` (a link to the tender) and
/// `rootfs.iso`, made as runnc makes it from the busybox root image.
fn setup(tag: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(&format!("runnc-{tag}"));
    let tree = dir.join("rootfs");
    std::fs::create_dir(&tree).unwrap();
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("rdump / {}", tree.display()))
        .arg(rootfs())
        .output()
        .expect("debugfs (e2fsprogs) must be installed");
    assert!(out.status.success() && tree.join("bin/busybox").exists(), "debugfs rdump failed: {out:?}");
    let iso = dir.join("rootfs.iso");
    let out = Command::new("genisoimage")
        .args(["-quiet", "-m", "dev", "-m", "sys", "-m", "proc", "-l", "-r", "-o"])
        .arg(&iso)
        .arg(&tree)
        .output()
        .expect("genisoimage must be installed (scripts/setup.sh)");
    assert!(out.status.success(), "genisoimage failed: {out:?}");
    let link = dir.join("nabla-run");
    std::os::unix::fs::symlink(bin("nabla-tender"), &link).unwrap();
    (link, iso)
}

/// Run `cmd` (stdin /dev/null) with `NABLA_INIT` set unless it is
/// already, killed after `secs`.
fn run(mut cmd: Command, secs: u64) -> Run {
    if !cmd.get_envs().any(|(k, _)| k == "NABLA_INIT") {
        cmd.env("NABLA_INIT", bin("nabla-init"));
    }
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn nabla-run");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nabla-run ran over {secs} s: {}", out.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run { code: status.code(), stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// runnc's command line for `link`: `--x-exec-heap --mem=128 [--net=TAP]
/// --disk=DISK KERNEL JSON` (the kernel as runnc names it, a `.nabla`
/// file), with the tests' rewrite flag after `--x-exec-heap`.
fn runnc_args(cmd: &mut Command, tap: Option<&str>, disk: &Path, json: &str) {
    cmd.arg("--x-exec-heap").args(rewrite_flags()).arg("--mem=128");
    if let Some(t) = tap {
        cmd.arg(format!("--net={t}"));
    }
    cmd.arg(format!("--disk={}", disk.display())).arg(kernel()).arg(json);
}

/// The container's program: its args, two of its env variables and its
/// cwd; a file written to and read from /tmp; the root read-only; a line
/// on stderr; exit 3.
const SCRIPT: &str = "echo \"args=$0|$1|$2\"; echo \"greeting=$GREETING path=$PATH\"; echo \"cwd=$(pwd)\"; \
                      echo written >/tmp/f && cat /tmp/f; if touch /ro; then echo root writable; \
                      else echo root read-only; fi; echo to-stderr >&2; exit 3";

#[test]
fn runnc_command_line_runs_the_program_from_the_iso() {
    let (link, iso) = setup("iso");
    let cmdline = format!("/linux.nabla /bin/sh -c '{SCRIPT}' zero 'one two' three");
    let json = runnc_json(&["PATH=/bin:/sbin", "GREETING=hello world", "EMPTY="], &cmdline, None, "/etc");
    let mut cmd = Command::new(&link);
    runnc_args(&mut cmd, None, &iso, &json);
    let r = run(cmd, 60);
    assert_eq!(
        program_lines(&r),
        ["args=zero|one two|three", "greeting=hello world path=/bin:/sbin", "cwd=/etc", "written", "root read-only"],
        "{r:?}"
    );
    assert!(r.stderr.contains("to-stderr") && !r.stdout.contains("to-stderr"), "{r:?}");
    assert_eq!(r.code, Some(3), "{r:?}");
}

#[test]
fn an_ext4_root_is_taken_too() {
    let (link, iso) = setup("ext4");
    // A copy with its journal replayed: a read-only disk cannot be
    // mounted while its journal needs recovery.
    let disk = rootfs_copy(iso.parent().unwrap());
    replay_journal(&disk);
    let json = runnc_json(&["PATH=/bin"], &format!("/linux.nabla /bin/sh -c '{SCRIPT}' a b c"), None, "/");
    let mut cmd = Command::new(&link);
    runnc_args(&mut cmd, None, &disk, &json);
    let r = run(cmd, 60);
    let lines = program_lines(&r);
    assert_eq!(lines.first(), Some(&"args=a|b|c"), "{r:?}");
    assert_eq!(lines[2..], ["cwd=/", "written", "root read-only"], "{r:?}");
    assert_eq!(r.code, Some(3), "{r:?}");
}

#[test]
fn network_from_the_json_config() {
    let (link, iso) = setup("net");
    let ns = Netns::new("runnc", &[("tap0", "10.0.0.1/24")]);
    let listener = ns.tcp_listener("10.0.0.1:8080");
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut req = [0u8; 1024];
        let _ = s.read(&mut req).unwrap();
        s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nfrom-host\n").unwrap();
    });
    let net = r#"{"if":"ukvmif0","cloner":"True","type":"inet","method":"static","addr":"10.0.0.2","mask":"255.255.255.0","gw":"10.0.0.1"}"#;
    let script = "ip -4 addr show dev eth0; ip route; wget -q -O - http://10.0.0.1:8080/page";
    let cmdline = format!("/linux.nabla /bin/sh -c '{script}'");
    let json = runnc_json(&["PATH=/bin:/sbin:/usr/bin:/usr/sbin"], &cmdline, Some(net), "/");
    let mut cmd = ns.exec(&[link.to_str().unwrap()]);
    runnc_args(&mut cmd, Some("tap0"), &iso, &json);
    let r = run(cmd, 60);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("inet 10.0.0.2/24"), "{r:?}");
    assert!(r.stdout.contains("default via 10.0.0.1 dev eth0"), "{r:?}");
    assert!(r.stdout.contains("from-host\n"), "{r:?}");
    server.join().unwrap();
}

/// Run `link` (or the tender under its own name with `--x-exec-heap`)
/// with `json`; it must not start the guest: status 1 and one line.
fn refused(under_own_name: bool, json: &str) -> String {
    let (link, iso) = setup(if under_own_name { "bad-own" } else { "bad" });
    let mut cmd = Command::new(if under_own_name { bin("nabla-tender") } else { link });
    runnc_args(&mut cmd, None, &iso, json);
    let r = run(cmd, 30);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    r.stderr
}

#[test]
fn bad_json_is_one_line_and_status_1() {
    let err = refused(false, "{\"cmdline\":\"/linux.nabla /bin/true\",\n\"env\":}");
    assert!(err.starts_with("nabla-run: bad JSON config: ") && err.contains("line 2 column"), "{err}");
    let err = refused(true, r#"{"cmdline":"/linux.nabla /bin/true","rc_TESTING":[]}"#);
    assert!(err.starts_with("nabla-run: bad JSON config: unknown field `rc_TESTING`"), "{err}");
}

#[test]
fn unsupported_settings_are_one_line_and_status_1() {
    let data = r#"{"cmdline":"/linux.nabla /bin/true","blk":{"source":"etfs","path":"/dev/ld1a","fstype":"blk","mountpoint":"/data"}}"#;
    let err = refused(false, data);
    assert!(err.starts_with("nabla-run: JSON config: blk with mountpoint /data"), "{err}");
    let err = refused(false, r#"{"cmdline":"/linux.nabla"}"#);
    assert!(err.contains("names no program"), "{err}");
}

#[test]
fn missing_init_is_one_line_and_status_1() {
    let (link, iso) = setup("noinit");
    let mut cmd = Command::new(&link);
    cmd.env("NABLA_INIT", "/nonexistent/nabla-init");
    runnc_args(&mut cmd, None, &iso, r#"{"cmdline":"/linux.nabla /bin/true"}"#);
    let r = run(cmd, 30);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(r.stderr.starts_with("nabla-run: cannot read nabla-init at /nonexistent/nabla-init"), "{r:?}");
}
