//! Hostile input: malformed guest files and bad command lines. Each must
//! end with exit code 1 (bad input) or 2 (usage) and exactly one line on
//! stderr naming the problem: never a panic, never a backtrace.
//!
//! Hostile guests: 32-bit code, faults in the fault entry, TLS before it
//! is set, a crash from outside. None may hang the tender or leave
//! anything of it behind.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::{Elf, Run, bin, guest, root, run_with_timeout, tender};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;

/// Run the tender on a mutated image and check for a clean refusal whose
/// message contains `want`.
fn refused(elf: &Elf, name: &str, want: &str) {
    let p = elf.write(name);
    let r = tender(&["--quiet", p.to_str().unwrap()]);
    assert_eq!(r.code, Some(1), "{name}: {r:?}");
    assert!(r.stdout.is_empty(), "{name}: the guest ran: {}", r.stdout);
    assert_eq!(r.stderr.lines().count(), 1, "{name}: {}", r.stderr);
    assert!(r.stderr.starts_with("nabla-tender: "), "{name}: {}", r.stderr);
    assert!(r.stderr.contains(want), "{name}: wanted {want:?} in {}", r.stderr);
}

#[test]
fn truncated_files() {
    let hello = Elf::guest("hello");
    for len in [0, 1, 4, 16, 63, 64, 100, 200] {
        let e = Elf { bytes: hello.bytes[..len].to_vec() };
        refused(&e, &format!("trunc{len}"), "not a valid ELF64 file");
    }
    // Program headers present but segment data cut off.
    let e = Elf { bytes: hello.bytes[..1024].to_vec() };
    refused(&e, "trunc-data", "lies outside the file");
}

#[test]
fn wrong_identity() {
    let hello = Elf::guest("hello");
    refused(hello.clone().set(0, 1, 0x7e), "magic", "not a valid ELF64 file");
    refused(hello.clone().set(4, 1, 1), "class32", "not a valid ELF64 file");
    refused(hello.clone().set(5, 1, 2), "bigendian", "");
    refused(hello.clone().set(18, 2, 3), "i386", "machine 3 is not x86_64");
    refused(hello.clone().set(16, 2, 1), "rel", "neither ET_EXEC nor ET_DYN");
    refused(hello.clone().set(54, 2, 32), "phentsize", "wrong program header size");
    refused(hello.clone().set(32, 8, 1 << 40), "phoff", "program headers out of file");
    refused(hello.clone().set(56, 2, 0xffff), "phnum", "");
    refused(hello.clone().set(56, 2, 0), "nophdrs", "no program headers");
}

#[test]
fn bad_segments() {
    let hello = Elf::guest("hello");
    let load = hello.phdr(hello.find(PT_LOAD));
    refused(hello.clone().set(load + 32, 8, hello.get(load + 40, 8) + 1), "filesz", "exceeds memory size");
    refused(hello.clone().set(load + 8, 8, 1 << 40), "offset", "lies outside the file");
    refused(hello.clone().set(load + 16, 8, u64::MAX - 8), "overflow", "overflows");
    refused(hello.clone().set(load + 4, 4, 7), "wx", "both writable and executable");
    // Second load segment moved onto the first.
    let mut e = hello.clone();
    let second = (0..e.phnum()).filter(|&i| e.get(e.phdr(i), 4) == u64::from(PT_LOAD)).nth(1).unwrap();
    let at = e.phdr(second);
    e.set(at + 16, 8, 0);
    refused(&e, "overlap", "overlap");
    // An absurd memory size.
    let mut e = hello.clone();
    let last = (0..e.phnum()).rfind(|&i| e.get(e.phdr(i), 4) == u64::from(PT_LOAD)).unwrap();
    let at = e.phdr(last);
    e.set(at + 40, 8, 1 << 40);
    refused(&e, "huge", "--mem is too small");
    refused(hello.clone().set(24, 8, 0xdead_beef), "entry", "entry point 0xdeadbeef");
    let interp = hello.clone().set(hello.phdr(hello.find(PT_NOTE)), 4, u64::from(PT_INTERP)).clone();
    refused(&interp, "interp", "dynamic linker");
}

#[test]
fn fixed_address_outside_memory() {
    let mut fixed = Elf::guest("fixed");
    let load = fixed.phdr(fixed.find(PT_LOAD));
    fixed.set(load + 16, 8, 0x1000);
    refused(&fixed, "fixed-low", "outside guest memory 0x100000..");
}

/// A guest whose entry point returns ends with 255 and one clear line.
#[test]
fn entry_point_that_returns() {
    let mut e = Elf::guest("hello");
    let text =
        (0..e.phnum()).map(|i| e.phdr(i)).find(|&p| e.get(p, 4) == u64::from(PT_LOAD) && e.get(p + 4, 4) & 1 != 0);
    let text = text.unwrap();
    let (off, vaddr, size) = (e.get(text + 8, 8) as usize, e.get(text + 16, 8), e.get(text + 32, 8) as usize);
    // Any 0xc3 byte in the code is a `ret` when jumped to.
    let ret = e.bytes[off..off + size].iter().position(|&b| b == 0xc3).unwrap();
    e.set(24, 8, vaddr + ret as u64);
    let p = e.write("returns");
    let r = tender(&["--quiet", p.to_str().unwrap()]);
    assert_eq!(r.code, Some(255), "{r:?}");
    assert_eq!(r.stderr.trim(), "nabla-tender: guest returned from its entry point");
}

#[test]
fn bad_notes() {
    let hello = Elf::guest("hello");
    let note = hello.phdr(hello.find(PT_NOTE));
    let off = hello.get(note + 8, 8) as usize;
    refused(hello.clone().set(off + 8, 4, 77), "nonote", "no Nabla ABI note");
    refused(hello.clone().set(off + 4, 4, 0x1000), "descsz", "malformed ELF note");
    refused(hello.clone().set(off + 4, 4, 4), "descsz-small", "");
    let other = nabla_abi::ABI_VERSION + 1;
    refused(hello.clone().set(off + 20, 4, u64::from(other)), "version", &format!("ABI version {other}"));
    refused(hello.clone().set(off + 24, 4, 0x1234), "layout", "layout fingerprint");
}

#[test]
fn random_mutations_never_panic() {
    let hello = Elf::guest("hello");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..1000 {
        let mut e = hello.clone();
        for _ in 0..(1 + next() % 4) {
            let at = (next() % 1024) as usize;
            e.bytes[at] = next() as u8;
        }
        let p = e.write("mutant");
        let Some(r) = run_with_timeout(&["--quiet", "--mem=8", p.to_str().unwrap()], 10) else {
            panic!("mutant {i} hung");
        };
        assert!(!r.stderr.contains("panicked"), "mutant {i}: {}", r.stderr);
        assert!(r.code.is_some(), "mutant {i} died of a signal the tender did not report: {r:?}");
        assert_ne!(r.code, Some(70), "mutant {i} hit a tender bug: {}", r.stderr);
        if r.code != Some(0) {
            assert!(r.stderr.starts_with("nabla-tender: "), "mutant {i}: {r:?}");
        }
    }
}

#[test]
fn bad_command_lines() {
    let hello = guest("hello");
    let h = hello.to_str().unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--bogus", h], 2, "unexpected argument '--bogus'"),
        (&[], 2, "KERNEL"),
        (&["--mem=abc", h], 2, "invalid value"),
        (&["--mem=0", h], 1, "--mem=0 is out of range"),
        (&["--mem=1", h], 1, "out of range"),
        (&["--mem=99999999", h], 1, "out of range"),
        (&["/nonexistent/guest"], 1, "/nonexistent/guest: No such file or directory"),
        (&["/"], 1, "Is a directory"),
    ];
    for (args, code, want) in cases {
        let r = tender(args);
        assert_eq!(r.code, Some(*code), "{args:?}: {r:?}");
        assert!(r.stderr.contains(want), "{args:?}: wanted {want:?} in {}", r.stderr);
        assert!(!r.stderr.contains("panicked"));
    }
    let long = "x".repeat(5000);
    let r = tender(&[h, &long]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("command line is 5000 bytes"), "{}", r.stderr);
}

/// Run a test guest with `--quiet`, killed after 20 s (a guest mistake
/// that makes the tender loop fails the test instead of hanging it).
fn guest_run(name: &str, args: &[&str]) -> Run {
    let g = guest(name);
    let mut all = vec!["--quiet", g.to_str().unwrap()];
    all.extend_from_slice(args);
    run_with_timeout(&all, 20).unwrap_or_else(|| panic!("{name} {args:?} hung"))
}

/// A program that switches to 32-bit mode and faults there, or makes a
/// 32-bit syscall, gets SIGSEGV at its guest's fault entry (in 64-bit
/// mode), and the guest goes on: each stage here used to loop forever,
/// end the guest with a bogus fault, or be killed by the filter.
#[test]
fn code_outside_64bit_mode_is_the_programs_fault() {
    for stages in [&["ud2"][..], &["load"], &["syscall"], &["int80"], &["ud2", "load", "syscall", "int80"]] {
        let r = guest_run("compat", stages);
        assert_eq!(r.code, Some(42), "{stages:?}: {r:?}");
        assert!(r.stdout.contains("SUCCESS"), "{stages:?}: {}", r.stdout);
        assert!(r.stderr.is_empty(), "{stages:?}: {}", r.stderr);
    }
}

/// With no fault entry, a 32-bit syscall still ends the guest as a
/// forbidden host syscall. (A host without IA32 emulation refuses `int
/// $0x80` itself with a general protection fault: then it is a guest
/// SIGSEGV, also one line.)
#[test]
fn int80_without_a_fault_entry_is_a_forbidden_syscall() {
    let r = guest_run("compat", &["bare-int80"]);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    match r.code {
        Some(159) => assert!(
            r.stderr.starts_with("nabla-tender: guest made a forbidden host syscall non-x86_64"),
            "{}",
            r.stderr
        ),
        Some(139) => assert!(r.stderr.starts_with("nabla-tender: guest fault SIGSEGV"), "{}", r.stderr),
        _ => panic!("{r:?}"),
    }
}

/// A fault inside the fault entry, before it releases the frame, is a
/// double fault: one line, exit 139 (it used to loop forever). So is one
/// at the entry's first byte.
#[test]
fn fault_in_the_fault_entry_is_a_double_fault() {
    let cases = [
        ("inside", "SIGSEGV", "accessing 0x20 while delivering SIGSEGV"),
        ("first", "SIGILL", "while delivering SIGSEGV"),
    ];
    for (mode, sig, tail) in cases {
        let r = guest_run("refault", &[mode]);
        assert_eq!(r.code, Some(139), "{mode}: {r:?}");
        assert!(
            r.stderr.starts_with(&format!("nabla-tender: guest double fault: {sig} at 0x")),
            "{mode}: {}",
            r.stderr
        );
        assert!(r.stderr.trim_end().ends_with(tail), "{mode}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{mode}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{mode}: {}", r.stdout);
    }
}

/// A preemption tick while the fault frame is in use is dropped, not a
/// double fault, and ticks come again once the entry releases the frame.
#[test]
fn tick_while_the_frame_is_in_use_is_dropped() {
    let r = guest_run("busytick", &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("SUCCESS"), "{}", r.stdout);
}

/// A fault raised with the alignment-check flag set (which the host keeps
/// set in the tender's handler) is still reported in one line; the report
/// used to fault itself, and the host killed the tender with SIGBUS.
#[test]
fn a_fault_with_alignment_checks_on_is_reported() {
    let r = guest_run("exception", &["ac"]);
    assert_eq!(r.code, Some(135), "{r:?}");
    assert!(r.stderr.starts_with("nabla-tender: guest fault SIGBUS at 0x"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

/// A hypercall made with the alignment-check flag set may fault inside
/// tender code: that is the guest's fault (one line, 128 + signal), not a
/// tender bug (it was reported as an internal fault, exit 70).
#[test]
fn a_hypercall_with_alignment_checks_on_is_the_guests_fault() {
    let r = guest_run("exception", &["ac-hypercall"]);
    assert_eq!(r.code, Some(135), "{r:?}");
    assert!(r.stderr.starts_with("nabla-tender: guest fault SIGBUS in tender code at 0x"), "{}", r.stderr);
    assert!(r.stderr.contains("the guest set the alignment-check flag"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

/// A guest starts with an %fs base of 0: reading %fs:0x28 (the stack
/// canary's slot) faults instead of finding the tender's TLS block.
#[test]
fn tls_before_set_tls_base_faults() {
    let r = guest_run("fsread", &[]);
    assert_eq!(r.code, Some(139), "{r:?}");
    assert!(r.stderr.starts_with("nabla-tender: guest fault SIGSEGV at 0x"), "{}", r.stderr);
    assert!(r.stderr.trim_end().ends_with("accessing 0x28"), "{}", r.stderr);
    assert!(!r.stdout.contains("tender's TLS"), "{}", r.stdout);
}

/// A crash leaves no core file, even when the user allows them: started
/// with the largest core size limit it may have, the running tender's
/// limit is 0, and SIGABRT (whose default action dumps core) ends it
/// without a dump. (With `core_pattern` a file name, as here, the fault
/// used to write the whole guest memory into the working directory.)
#[test]
fn a_crash_leaves_no_core_dump() {
    let dir = root().join("target/hostile/core");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(bin("nabla-tender"));
    cmd.args(["--quiet", "--mem=8", guest("console").to_str().unwrap()])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls getrlimit/setrlimit, which are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(libc::RLIMIT_CORE, &mut lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_CORE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (mut child, echoed) = spawn_echoing(&mut cmd);
    let pid = child.id() as libc::pid_t;
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    // SAFETY: `pid` is our child, not yet reaped.
    unsafe { libc::kill(pid, libc::SIGABRT) };
    let status = child.wait().unwrap();
    assert_eq!(echoed.as_deref().map(str::trim_end), Ok("ping"), "the guest did not start");
    let core = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap_or("");
    let values: Vec<&str> = core.split_whitespace().skip(4).take(2).collect();
    assert_eq!(values, ["0", "0"], "core size limit of the running tender: {core:?}");
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
    assert!(!status.core_dumped(), "the tender dumped core: {status:?}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

/// Start the console guest with `cmd`, type a line and wait (10 s at the
/// most) for its echo: once it comes, the sandbox is on and the guest
/// runs. Returns the child, its stdin still open (so the guest sees no
/// end of input until it is waited for), and the line echoed, if any.
fn spawn_echoing(cmd: &mut Command) -> (std::process::Child, Result<String, std::sync::mpsc::RecvTimeoutError>) {
    let mut child = cmd.spawn().unwrap();
    child.stdin.as_mut().unwrap().write_all(b"ping\n").unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let echoed = rx.recv_timeout(Duration::from_secs(10));
    (child, echoed)
}

/// The tender is not dumpable: its /proc entries belong to root, whoever
/// runs it (so no other process of its user can ptrace it or read its
/// memory). Seen from root, a dumpable tender started as another user
/// has /proc entries of that user. Needs root to start it as `nobody`.
#[test]
fn the_tender_is_not_dumpable() {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test needs root, to start the tender as uid 65534");
    // Copies in a directory uid 65534 can reach wherever the checkout
    // lives (a clone under /root is closed to it).
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("nabla-dumpable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (tender, console) = (dir.join("nabla-tender"), dir.join("console"));
    std::fs::copy(bin("nabla-tender"), &tender).unwrap();
    std::fs::copy(guest("console"), &console).unwrap();
    let mut cmd = Command::new(&tender);
    cmd.args(["--quiet", "--mem=8", console.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs between fork and exec and only calls
    // setgroups/setgid/setuid, which are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (mut child, echoed) = spawn_echoing(&mut cmd);
    let pid = child.id();
    let owner = std::fs::metadata(format!("/proc/{pid}/status")).map(|m| m.uid());
    let _ = child.kill();
    let _ = std::fs::remove_dir_all(&dir);
    let out = child.wait_with_output().unwrap();
    assert_eq!(echoed.as_deref().map(str::trim_end), Ok("ping"), "the guest did not start: {out:?}");
    assert_eq!(owner.unwrap(), 0, "/proc/{pid} of a tender run as uid 65534 belongs to that user: dumpable");
}
