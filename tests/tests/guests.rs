//! One test per test guest: run the real `nabla-tender` on it and check
//! its output and exit code, as a user would see them.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::{bin, guest, run_guest, tender};

fn assert_success(r: &nabla_tests::Run) {
    assert_eq!(r.code, Some(0), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.lines().last(), Some("SUCCESS"), "stdout:\n{}", r.stdout);
}

#[test]
fn hello_prints_its_command_line() {
    let r = run_guest(&[], "hello", &["Hello_Nabla"]);
    assert_success(&r);
    assert!(r.stdout.contains("Hello_Nabla"), "{}", r.stdout);
    assert!(r.stdout.contains("Nabla platform"), "banner missing: {}", r.stdout);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn args_after_double_dash_form_the_command_line() {
    let r = run_guest(&["--mem=16"], "hello", &["--", "init=/sbin/init", "-x", "quiet"]);
    assert_success(&r);
    assert!(r.stdout.contains("\"init=/sbin/init -x quiet\""), "{}", r.stdout);
}

#[test]
fn fixed_address_guest_runs() {
    let r = run_guest(&[], "fixed", &[]);
    assert_success(&r);
}

#[test]
fn exit_status_is_the_tenders_exit_code() {
    for status in [0, 1, 3, 42, 254] {
        let r = run_guest(&["--quiet"], "exit", &[&status.to_string()]);
        assert_eq!(r.code, Some(status), "{r:?}");
        assert!(r.stderr.is_empty(), "{}", r.stderr);
    }
}

#[test]
fn abort_exits_255_with_message() {
    let r = run_guest(&[], "abort", &[]);
    assert_eq!(r.code, Some(255));
    assert_eq!(r.stderr.trim(), "nabla-tender: guest aborted: deliberate abort from the abort test guest");
}

#[test]
fn quiet_suppresses_the_banner() {
    let r = run_guest(&["--quiet"], "quiet", &[]);
    assert_eq!(r.code, Some(0));
    assert_eq!(r.stdout, "SUCCESS\n");
    let loud = run_guest(&[], "quiet", &[]);
    assert!(loud.stdout.contains("Nabla platform") && loud.stdout.contains("not quiet"));
}

#[test]
fn time_yields_and_clocks() {
    let r = run_guest(&["--quiet"], "time", &[]);
    assert_success(&r);
    assert_eq!(r.stdout.matches("yield ").count(), 5, "{}", r.stdout);
}

/// `--verbose` names the clock the clock hypercalls use: the host's vDSO
/// wherever the host maps one; the clock hypercall then runs (clockbench)
/// and never goes backwards. It also says why there is no syscall sled.
#[test]
fn verbose_names_the_vdso_clock() {
    let r = run_guest(&["--quiet", "--verbose"], "clockbench", &["100000"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.trim().parse::<f64>().is_ok_and(|ns| ns > 0.0), "{}", r.stdout);
    // SAFETY: getauxval only reads the aux vector.
    let vdso = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } != 0;
    let want =
        if vdso { "nabla-tender: clock: the vDSO's " } else { "nabla-tender: clock: the clock_gettime syscall (" };
    // The second line is the sled's: a unikernel names no fast syscall entry.
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(lines.len() == 2 && lines[0].starts_with(want), "{}", r.stderr);
    assert!(
        lines[1].starts_with("nabla-tender: syscall rewriting off: the guest has no fast syscall entry"),
        "{}",
        r.stderr
    );
    let quiet = run_guest(&["--quiet"], "clockbench", &["1000"]);
    assert!(quiet.code == Some(0) && quiet.stderr.is_empty(), "{quiet:?}");
}

#[test]
fn globals_data_relocations_and_bss() {
    assert_success(&run_guest(&["--quiet"], "globals", &[]));
}

#[test]
fn tls_base_and_fs_relative_access() {
    assert_success(&run_guest(&["--quiet"], "tls", &[]));
}

#[test]
fn fpu_sse_and_avx() {
    assert_success(&run_guest(&["--quiet"], "fpu", &[]));
}

#[test]
fn null_dereference_is_a_reported_guest_fault() {
    let r = run_guest(&["--quiet"], "exception", &[]);
    assert_eq!(r.code, Some(139), "{r:?}");
    assert!(r.stderr.starts_with("nabla-tender: guest fault SIGSEGV at 0x"), "{}", r.stderr);
    assert!(r.stderr.trim_end().ends_with("accessing 0x0"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);
}

#[test]
fn raw_host_syscall_is_forbidden() {
    let r = run_guest(&["--quiet"], "hostcall", &[]);
    assert_eq!(r.code, Some(159), "{r:?}");
    assert!(
        r.stderr.starts_with("nabla-tender: guest made a forbidden host syscall getpid (39) at 0x"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("let it through"));
}

#[test]
fn wrong_abi_version_is_rejected_before_running() {
    let r = run_guest(&[], "badabi", &[]);
    assert_eq!(r.code, Some(1));
    assert!(r.stdout.is_empty(), "the guest ran: {}", r.stdout);
    assert!(r.stderr.contains("ABI version 999"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);
}

#[test]
fn trap_vector_receives_every_syscall_and_faults() {
    let r = run_guest(&["--quiet"], "trap", &[]);
    assert_success(&r);
    assert!(r.stdout.contains("syscalls 0..=450 all trapped"), "{}", r.stdout);
    assert!(r.stdout.contains("fault forwarded: SIGSEGV"), "{}", r.stdout);
}

/// Every syscall number 0..=450 issued from guest code without a trap
/// vector ends the run as forbidden, naming the number: none reaches the
/// host. The one exception is the host kernel's own: Linux >= 6.16 runs
/// `uprobe` (336) before seccomp, where it only returns -ENXIO.
#[test]
fn every_syscall_number_from_the_guest_is_trapped() {
    for nr in 0..=450u32 {
        let r = run_guest(&["--quiet", "--mem=4"], "hostcall", &[&nr.to_string()]);
        if nr == 336 && r.stdout.contains("returned 18446744073709551610") {
            continue;
        }
        assert_eq!(r.code, Some(159), "syscall {nr}: {r:?}");
        assert!(r.stderr.contains(&format!("({nr}) at 0x")), "syscall {nr}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "syscall {nr}: {}", r.stdout);
    }
}

#[test]
fn elftool_prints_the_abi_note() {
    let out = std::process::Command::new(bin("nabla-elftool")).arg("query-abi").arg(guest("hello")).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{s}");
    let want = format!("abi_version: {}", nabla_abi::ABI_VERSION);
    assert!(s.contains(&want) && s.contains("accepted: yes"), "{s}");
    let out = std::process::Command::new(bin("nabla-elftool")).arg("query-abi").arg(guest("badabi")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("abi_version: 999"));
}

#[test]
fn help_and_version() {
    let r = tender(&["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("--mem") && r.stdout.contains("--quiet") && r.stdout.contains("Exit codes"));
    let r = tender(&["--version"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains(&format!("ABI version {}", nabla_abi::ABI_VERSION)), "{}", r.stdout);
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// `--initrd FILE`: the bytes arrive intact, page-aligned below the boot
/// area, for cpio and gzip files; anything else is refused.
#[test]
fn initrd_is_loaded_intact() {
    let dir = nabla_tests::root().join("target/disks");
    std::fs::create_dir_all(&dir).unwrap();
    let mut x = 0x1234_5678u64;
    for (name, magic, size) in [("initrd.cpio", &b"070701"[..], 300_000), ("initrd.gz", &[0x1f, 0x8b][..], 70_001)] {
        let mut data = magic.to_vec();
        data.extend((0..size).map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 56) as u8
        }));
        let p = dir.join(name);
        std::fs::write(&p, &data).unwrap();
        let (len, hash) = (data.len().to_string(), fnv1a(&data).to_string());
        let r = run_guest(&["--quiet", "--initrd", p.to_str().unwrap()], "initrd", &[&len, &hash]);
        assert_success(&r);
    }
    // Too big for the memory: refused before the guest runs.
    let big = dir.join("initrd-big.cpio");
    let mut data = b"070701".to_vec();
    data.resize(3 << 20, 7);
    std::fs::write(&big, &data).unwrap();
    let r = run_guest(&["--quiet", "--mem=2", "--initrd", big.to_str().unwrap()], "initrd", &[]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("--mem is too small"), "{}", r.stderr);
    let r = run_guest(&["--quiet", "--initrd", "/nonexistent.cpio"], "initrd", &[]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("--initrd /nonexistent.cpio: No such file"), "{}", r.stderr);
    let bad = dir.join("initrd-bad");
    std::fs::write(&bad, b"hello").unwrap();
    let r = run_guest(&["--quiet", "--initrd", bad.to_str().unwrap()], "initrd", &[]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("not a newc cpio archive"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);
}

/// The global symbols of `target/release/libnabla_platform.a`, by `nm`:
/// (defined, undefined).
fn solo5_library_globals() -> (Vec<String>, Vec<String>) {
    let lib = nabla_tests::root().join("target/release/libnabla_platform.a");
    let out = std::process::Command::new("nm").arg("-g").arg(&lib).output().expect("nm (binutils) must be installed");
    assert!(out.status.success(), "nm {}", lib.display());
    let (mut defined, mut undefined) = (Vec::new(), Vec::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[..] {
            ["U", name] => undefined.push(name.to_string()),
            [_, _, name] => defined.push(name.to_string()),
            _ => {}
        }
    }
    defined.sort();
    undefined.sort();
    (defined, undefined)
}

/// The library a C guest links exports the Solo5 API of `solo5.h` and
/// `_start` and the stack protector's two symbols, nothing else (no
/// memcpy & co., no compiler helpers, no Rust symbols), and needs only the
/// application's `solo5_app_main` and the linker's `__ehdr_start`.
#[test]
fn solo5_library_exports_only_the_solo5_api() {
    let header = std::fs::read_to_string(nabla_tests::root().join("platform/include/solo5.h")).unwrap();
    // Every `solo5_NAME(` in the header: the functions it declares.
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut api: Vec<String> = Vec::new();
    for (at, _) in header.match_indices("solo5_") {
        if header[..at].ends_with(ident) {
            continue;
        }
        let name: String = header[at..].chars().take_while(|&c| ident(c)).collect();
        if header[at + name.len()..].starts_with('(') && name != "solo5_app_main" {
            api.push(name);
        }
    }
    api.extend(["_start", "__stack_chk_guard", "__stack_chk_fail"].map(String::from));
    api.sort();
    api.dedup();
    assert!(api.len() > 10, "too few functions found in solo5.h: {api:?}");
    let (defined, undefined) = solo5_library_globals();
    assert_eq!(defined, api, "the library's globals differ from solo5.h");
    assert_eq!(undefined, ["__ehdr_start", "solo5_app_main"]);
}

/// The C guests carry their own memcpy, memmove, memset, memcmp and
/// strlen (tests/guests-c/lib.c), as Solo5 programs do, and link with the
/// recipe; in the guest those names are the guest's own.
#[test]
fn solo5_guest_with_its_own_libc_links_and_runs() {
    let r = run_guest(&["--quiet"], "c-hello", &["a", "b"]);
    assert_success(&r);
    let out = std::process::Command::new("nm").arg(guest("c-hello")).output().unwrap();
    let syms = String::from_utf8_lossy(&out.stdout);
    for f in ["memcpy", "memmove", "memset", "memcmp", "strlen"] {
        let global: Vec<&str> = syms.lines().filter(|l| l.ends_with(&format!(" T {f}"))).collect();
        assert_eq!(global.len(), 1, "{f}: {global:?}");
    }
}

/// `--solo5:quiet` and `--solo5:debug` at the start of the command line
/// are Solo5's, not the application's; quiet hides the banner.
#[test]
fn solo5_options_are_consumed() {
    let r = run_guest(&[], "c-hello", &["--solo5:quiet", "a", "b"]);
    assert_success(&r);
    assert_eq!(r.stdout, "Hello from a Solo5 C unikernel! Command line: \"a b\"\nSUCCESS\n");
    let r = run_guest(&[], "c-hello", &["--solo5:debug", "a"]);
    assert_success(&r);
    assert!(r.stdout.contains("Nabla platform") && r.stdout.contains("Solo5: debug: heap 0x"), "{}", r.stdout);
    assert!(r.stdout.contains("Solo5: debug: stack protector guard from "), "{}", r.stdout);
    assert!(r.stdout.contains("Command line: \"a\"\n"), "{}", r.stdout);
    let r = run_guest(&[], "c-hello", &["--solo5:debug", "--solo5:quiet"]);
    assert!(r.stdout.starts_with("Hello from") && r.stdout.contains("Command line: \"\"\n"), "{}", r.stdout);
    // Only leading options are Solo5's.
    let r = run_guest(&["--quiet"], "c-hello", &["x", "--solo5:quiet"]);
    assert!(r.stdout.contains("Command line: \"x --solo5:quiet\""), "{}", r.stdout);
    let r = run_guest(&["--quiet"], "c-hello", &["--solo5:quietly"]);
    assert!(r.stdout.contains("Command line: \"--solo5:quietly\""), "{}", r.stdout);
}

/// Solo5's TLS API on a plain static-pie guest: two TLS blocks with
/// `__thread` data (.tdata, .tbss, a 64-byte aligned variable), switched
/// with `solo5_set_tls_base`, each keeping its own values.
#[test]
fn solo5_tls_blocks() {
    let r = run_guest(&["--quiet"], "c-tls", &[]);
    assert_success(&r);
    // Before any TLS base is set, thread variables are not reachable.
    let r = run_guest(&["--quiet"], "c-tls", &["notls"]);
    assert_eq!(r.code, Some(139), "{r:?}");
    assert!(r.stderr.starts_with("nabla-tender: guest fault SIGSEGV"), "{}", r.stderr);
}

/// The stack protector: a smashed canary ends the guest with 255 and one
/// line; the canary differs from run to run and ends in a zero byte.
#[test]
fn solo5_stack_protector() {
    assert_success(&run_guest(&["--quiet"], "c-ssp", &[]));
    let r = run_guest(&["--quiet"], "c-ssp", &["smash"]);
    assert_eq!(r.code, Some(255), "{r:?}");
    assert_eq!(r.stderr.trim_end(), "nabla-tender: guest aborted: stack smashing detected (__stack_chk_fail)");
    assert!(!r.stdout.contains("went unnoticed"), "{}", r.stdout);
    let guard = || {
        let r = run_guest(&["--quiet"], "c-ssp", &["guard"]);
        assert_success(&r);
        let hex = r.stdout.lines().next().and_then(|l| l.strip_prefix("guard ")).unwrap().to_string();
        u64::from_str_radix(&hex, 16).unwrap()
    };
    let (a, b) = (guard(), guard());
    assert_ne!(a, b, "the same canary twice");
    assert!(a != 0 && a & 0xff == 0 && b & 0xff == 0, "{a:#x} {b:#x}");
}
