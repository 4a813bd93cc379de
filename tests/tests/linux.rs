//! The Linux guest: boot `build/linux.nabla` (from `make kernel`) in the
//! real tender with the test initramfs (`make initramfs`) and check what
//! the kernel and the test init (`tests/init/init.c`) report.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::linux::{boot_with, boot_words, initramfs, kernel};
use nabla_tests::{Run, root, run_with_timeout};

/// AVX512F, with the opmask and ZMM state enabled by the host.
fn host_has_avx512() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    if __cpuid(1).ecx & (1 << 27) == 0 || __cpuid_count(7, 0).ebx & (1 << 16) == 0 {
        return false;
    }
    // SAFETY: OSXSAVE is set (checked above), so xgetbv is allowed.
    unsafe { _xgetbv(0) & 0xe6 == 0xe6 }
}

/// Protection keys enabled by the host (CPUID.(7,0):ECX.OSPKE).
fn host_has_ospke() -> bool {
    core::arch::x86_64::__cpuid_count(7, 0).ecx & (1 << 4) != 0
}

/// Linux 6.12 and later write a signal frame with every key enabled, so
/// the tender still gets its signals while a program has key 0 locked.
fn host_delivers_with_key0_locked() -> bool {
    // SAFETY: zeroed utsname is a valid out-buffer for uname.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is writable.
    assert_eq!(unsafe { libc::uname(&mut u) }, 0);
    let release: String = u.release.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect();
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 12)
}

/// Boot the test init in its test mode, telling it whether the PKRU check
/// can run on this host.
fn boot_test_mode() -> Run {
    let mut words = vec!["NABLA_INIT=test"];
    if host_delivers_with_key0_locked() {
        words.push("NABLA_HOST_PKRU=1");
    }
    boot_words(&initramfs(), 64, &words, 60)
}

/// Boot with 64 MiB; see [`boot_with`].
fn boot(init_mode: Option<&str>) -> Run {
    boot_with(64, init_mode, 60)
}

#[test]
fn linux_boots_to_the_init_greeting_and_powers_off() {
    let r = boot(None);
    assert_eq!(r.code, Some(0), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Linux version 6.12"), "no kernel banner:\n{}", r.stdout);
    assert!(r.stdout.contains("Run /init as init process"), "{}", r.stdout);
    assert!(r.stdout.contains("nabla-init: hello from Linux 6.12"), "no greeting:\n{}", r.stdout);
    assert!(r.stdout.contains("(x86_64)"), "{}", r.stdout);
    assert!(r.stdout.contains("reboot: Power down"), "{}", r.stdout);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn the_test_init_passes_every_check() {
    let r = boot_test_mode();
    assert_eq!(r.code, Some(0), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("nabla-init: test mode, pid 1"), "{}", r.stdout);
    let mut checks = vec![
        "uname",
        "pid",
        "console",
        "proc-version",
        "proc-status",
        "tmpfs",
        "monotonic",
        "nanosleep",
        "spawn-exit",
        "spawn-segv",
        "spawn-fpe-ill",
        "user-flags",
        "fpu",
        "avx",
        "preempt",
        "fork",
        "pipe",
        "signal",
        "pthread",
        "empty-buffers",
        "stdio-pipe",
        "stdio-file",
        "clone-novm",
        "far32",
        "int80",
    ];
    // The AVX-512 check runs where the host has AVX-512 (the guest sees
    // the host's CPU); elsewhere the init says it has nothing to check.
    // The PKRU check runs without PKU (wrpkru is SIGILL), and with it on
    // hosts that can deliver a signal while key 0 is write-disabled.
    if !host_has_ospke() || host_delivers_with_key0_locked() {
        checks.push("pkru");
    } else {
        assert!(r.stdout.lines().any(|l| l.starts_with("n/a pkru ")), "{}", r.stdout);
    }
    if host_has_avx512() {
        checks.push("avx512");
    } else {
        assert!(r.stdout.lines().any(|l| l.starts_with("n/a avx512 ")), "{}", r.stdout);
    }
    for c in &checks {
        let ok = r.stdout.lines().any(|l| l == format!("ok {c}") || l.starts_with(&format!("ok {c} ")));
        assert!(ok, "check {c} did not pass:\n{}", r.stdout);
    }
    assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("nabla-init: {} passed, 0 failed", checks.len())), "{}", r.stdout);
    assert!(r.stdout.contains("reboot: Power down"), "{}", r.stdout);
}

#[test]
fn fork_fails_cleanly_and_a_segfaulting_child_dies_alone() {
    // (and, in "preempt", a child spinning without syscalls is preempted:
    // without the tender's tick the guest hangs there and the run times out)
    let r = boot_test_mode();
    assert!(r.stdout.contains("ok fork (fails as on nommu: Invalid argument)"), "{}", r.stdout);
    assert!(r.stdout.contains("ok spawn-segv"), "{}", r.stdout);
    // The parent went on after its child's SIGSEGV.
    assert!(r.stdout.contains("ok pthread"), "{}", r.stdout);
}

#[test]
fn an_init_that_exits_panics_the_kernel_and_fails_the_tender() {
    for status in [3, 42] {
        let r = boot(Some(&format!("exit={status}")));
        assert_eq!(r.code, Some(255), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        let panic = format!("Kernel panic - not syncing: Attempted to kill init! exitcode={:#010x}", status << 8);
        assert!(r.stdout.contains(&panic), "no panic message:\n{}", r.stdout);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains("the Linux kernel panicked"), "{}", r.stderr);
    }
}

#[test]
fn without_an_initramfs_or_a_disk_the_kernel_has_no_root() {
    let k = kernel();
    let r = run_with_timeout(&["--mem=32", &k], 60).expect("timed out");
    assert_eq!(r.code, Some(255), "{r:?}");
    assert!(r.stdout.contains("VFS: Unable to mount root fs"), "{}", r.stdout);
    assert!(r.stderr.contains("the Linux kernel panicked"), "{}", r.stderr);
}

#[test]
fn a_kernel_without_enough_memory_is_refused_in_one_line() {
    let k = kernel();
    // Too small for the image: the tender refuses it.
    let r = run_with_timeout(&["--mem=2", &k], 30).expect("timed out");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    // Room for the image but not for Linux: the kernel says so and exits.
    let r = run_with_timeout(&["--mem=8", &k], 30).expect("timed out");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stdout.contains("8 MiB of guest memory is too little for this kernel; use --mem="), "{}", r.stdout);
}

#[test]
fn console_input_reaches_a_reading_process() {
    use std::io::Write;
    use std::process::Stdio;
    let (k, i) = (kernel(), initramfs());
    let mut child = nabla_tests::linux::tender()
        .args(["--mem=64", "--initrd", &i, &k, "--", "quiet", "NABLA_INIT=read-line"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().unwrap().write_all(b"typed-on-the-host\n").unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() >= 60 {
            let _ = child.kill();
            panic!("the guest did not read its console input within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let r: Run = child.wait_with_output().unwrap().into();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("nabla-init: read \"typed-on-the-host\" from the console"), "{}", r.stdout);
}

#[test]
fn a_fault_in_the_kernel_itself_ends_the_guest_with_a_report() {
    // The init makes the kernel write into its own read-only text.
    let r = boot(Some("kernel-fault"));
    assert_eq!(r.code, Some(255), "{r:?}");
    assert!(r.stdout.contains("nabla: kernel fault, signal 11 at ip"), "{}", r.stdout);
    assert!(r.stdout.contains("address 0x101000"), "{}", r.stdout);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn unknown_guest_flags_are_refused_in_one_line() {
    // The kernel's flags note, with a bit this ABI does not define.
    let mut data = std::fs::read(kernel()).unwrap();
    let mut head = Vec::new();
    for w in [6u32, 4, nabla_abi::note::NOTE_TYPE_FLAGS] {
        head.extend_from_slice(&w.to_le_bytes());
    }
    head.extend_from_slice(&nabla_abi::note::NOTE_NAME_PADDED);
    let at = data.windows(head.len()).position(|w| w == head).expect("the kernel has a flags note") + head.len();
    data[at + 3] |= 0x80;
    let path = root().join("target/linux-badflags.nabla");
    std::fs::write(&path, &data).unwrap();
    let r = run_with_timeout(&["--mem=64", path.to_str().unwrap()], 30).expect("timed out");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("bad guest flags note: unknown flags 0x80000000"), "{}", r.stderr);
}
