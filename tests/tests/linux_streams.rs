//! The Linux guest's host streams, host signals and exit statuses (nabla
//! ABI 8, for containers): stdout (/dev/ttyN0), stderr (/dev/ttyN1) and
//! the kernel log (`--kernel-log FILE`) apart; SIGTERM sent to the tender
//! handed to an init that handles it, dropped when it ignores it, the end
//! of the run (143) when it does not; `reboot(RESTART2, "N")` exits N.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::linux::{boot_with, initramfs, kernel, rewrite_flags};
use nabla_tests::{Run, bin};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn stdout_stderr_and_the_kernel_log_are_apart() {
    let log = std::env::temp_dir().join(format!("nabla-klog-{}", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let out = Command::new(bin("nabla-tender"))
        .args(rewrite_flags())
        .args(["--mem=128", "--initrd", &initramfs(), "--kernel-log", log.to_str().unwrap(), &kernel()])
        .args(["--", "quiet", "NABLA_INIT=streams"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let r = Run::from(out);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "nabla-init: to stdout\n", "{r:?}");
    assert_eq!(r.stderr, "nabla-init: to stderr\n", "{r:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("nabla-init: to the kernel log"), "{text}");
    assert!(text.contains("Nabla platform"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o640);
    let _ = std::fs::remove_file(&log);
}

#[test]
fn without_kernel_log_the_kernel_log_is_on_stdout() {
    let r = boot_with(128, Some("streams"), 30);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("nabla-init: to stdout") && r.stdout.contains("nabla-init: to the kernel log"), "{r:?}");
    assert_eq!(r.stderr, "nabla-init: to stderr\n", "{r:?}");
}

#[test]
fn reboot_restart2_sets_the_exit_status() {
    for (arg, want) in [("3", 3), ("0", 0), ("255", 255), ("abc", 0)] {
        let r = boot_with(128, Some(&format!("restart={arg}")), 30);
        assert_eq!(r.code, Some(want), "restart={arg}: {r:?}");
    }
}

/// Boot in `mode`, wait for the init's "waiting" line, send `signals`
/// (with a pause after each), and return how it ended.
fn signalled(mode: &str, signals: &[libc::c_int]) -> Run {
    let mut child = Command::new(bin("nabla-tender"))
        .args(rewrite_flags())
        .args(["--mem=128", "--initrd", &initramfs(), &kernel(), "--", "quiet", &format!("NABLA_INIT={mode}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let start = Instant::now();
    while !String::from_utf8_lossy(&seen).contains("waiting for signals") {
        let mut buf = [0u8; 256];
        let n = stdout.read(&mut buf).unwrap();
        assert!(
            n > 0 && start.elapsed() < Duration::from_secs(30),
            "no waiting line: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let pid = child.id() as libc::pid_t;
    for &sig in signals {
        // SAFETY: plain kill of our own child.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        std::thread::sleep(Duration::from_millis(300));
    }
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{mode}: the guest did not end");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    stdout.read_to_end(&mut seen).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    Run { code: status.code(), stdout: String::from_utf8_lossy(&seen).into_owned(), stderr }
}

#[test]
fn an_init_that_handles_sigterm_gets_it_and_chooses_the_status() {
    let r = signalled("sigterm=42", &[libc::SIGTERM]);
    assert_eq!(r.code, Some(42), "{r:?}");
    assert!(r.stdout.contains("nabla-init: got SIGTERM"), "{r:?}");
    // Busy in user mode: the signal comes in on the preemption tick.
    let r = signalled("sigterm-busy=43", &[libc::SIGTERM]);
    assert_eq!(r.code, Some(43), "{r:?}");
}

#[test]
fn an_ignored_signal_is_dropped() {
    let r = signalled("sigign=7", &[libc::SIGTERM, libc::SIGHUP]);
    assert_eq!(r.code, Some(7), "{r:?}");
    assert!(r.stdout.contains("nabla-init: got SIGHUP"), "{r:?}");
}

#[test]
fn sigterm_at_the_default_action_still_ends_with_143() {
    let r = signalled("sigdfl", &[libc::SIGTERM]);
    assert_eq!(r.code, Some(143), "{r:?}");
    assert!(r.stderr.contains("nabla-tender: terminated by SIGTERM"), "{r:?}");
}
