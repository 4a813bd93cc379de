//! Lazy syscall rewriting and the vDSO in the Linux guest (issue 13): the
//! kernel rewrites a user `syscall` (0f 05) that trapped into `call *%rax`
//! (ff d0), which goes through the tender's sled at address 0 into a fast
//! kernel entry, when the bytes are the process's own (a private mapping);
//! `nabla-tender --no-syscall-rewrite` maps no sled and everything stays
//! on the trap path. The guest counts what happened in
//! `/proc/nabla_syscalls`; the programs read it around what they do.
//!
//! The C programs of `tests/rewrite/` are built here with the host's gcc
//! and musl's specs (`scripts/musl-specs.sh`, as the test init is) as
//! static-pies, and `vdso.c` also as a glibc dynamic PIE with the
//! libraries `ldd` names, into `target/disks/rewrite/tree`, imaged as a
//! small ext4 disk that every test attaches read-only as disk1 (/dev/vdb,
//! mounted on /mnt), next to `build/rootfs.ext4` read-only as the root.
//! Each program prints `ok NAME` or `FAIL NAME: ...` for what holds
//! whatever the mode, and `val NAME VALUE` for the figures (counter
//! deltas, a site's bytes) the test judges by the mode of the run.
//!
//! Most tests boot twice: with rewriting on (they need it: the sled needs
//! root or vm.mmap_min_addr=0, which CI has; without it they fail and say
//! so, from the tender's `--verbose` line) and with `--no-syscall-rewrite`.
//! The tests choose the mode of each run themselves: they ignore
//! `NABLA_TEST_NO_REWRITE` (see `nabla_tests::linux`), except
//! `the_trap_path_switch_of_the_linux_tests_works`, which checks it.
//! The counters are global: each guest runs one program at a time.
//! Needs `make kernel image tender`.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::disk::{program_lines, rootfs, shell_with};
use nabla_tests::linux::{NO_REWRITE_ENV, kernel};
use nabla_tests::{Run, root, run_as_given};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The programs, with their extra gcc flags.
const PROGRAMS: &[(&str, &[&str])] =
    &[("hot", &[]), ("jit", &[]), ("shared", &[]), ("signals", &["-pthread"]), ("null", &[]), ("vdso", &[])];

/// Run a host command; panics with its output if it fails.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shared libraries `ldd` lists for `bin` (absolute paths).
fn libraries(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().expect("ldd");
    assert!(out.status.success(), "ldd {}: {out:?}", bin.display());
    String::from_utf8_lossy(&out.stdout).split_whitespace().filter(|w| w.starts_with('/')).map(PathBuf::from).collect()
}

/// The programs' disk, built once per test binary: /bin/PROG for each of
/// [`PROGRAMS`] (musl static-pies), /bin/vdso-glibc with its libraries,
/// and /proc, /tmp for the glibc program's chroot.
fn image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = root().join("target/disks/rewrite");
        let _ = std::fs::remove_dir_all(&dir);
        let tree = dir.join("tree");
        for d in ["bin", "proc", "tmp"] {
            std::fs::create_dir_all(tree.join(d)).unwrap();
        }
        let specs = dir.join("musl-static-pie.specs");
        run(Command::new(root().join("scripts/musl-specs.sh")).arg(&specs));
        let src = root().join("tests/rewrite");
        let warn = ["-O2", "-Wall", "-Wextra", "-Werror"];
        for (name, flags) in PROGRAMS {
            let out = tree.join("bin").join(name);
            run(Command::new("gcc")
                .arg("-specs")
                .arg(&specs)
                .args(["-static-pie", "-fPIE"])
                .args(warn)
                .args(*flags)
                .arg("-o")
                .arg(&out)
                .arg(src.join(format!("{name}.c"))));
            let h = Command::new("readelf").arg("-lh").arg(&out).output().unwrap();
            let h = String::from_utf8_lossy(&h.stdout);
            assert!(h.contains("DYN (") && !h.contains("INTERP"), "{name} is not a static-pie:\n{h}");
        }
        let glibc = tree.join("bin/vdso-glibc");
        run(Command::new("gcc").args(warn).arg("-o").arg(&glibc).arg(src.join("vdso.c")));
        let libs = libraries(&glibc);
        assert!(libs.iter().any(|l| l.ends_with("libc.so.6")), "vdso-glibc is not linked with glibc: {libs:?}");
        for lib in libs {
            let to = tree.join(lib.strip_prefix("/").unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&lib, &to).unwrap();
        }
        let img = dir.join("rewrite.ext4");
        run(Command::new("mke2fs").args(["-q", "-F", "-t", "ext4", "-d"]).arg(&tree).arg(&img).arg("16M"));
        img
    })
}

/// The host path of a built program.
fn program(name: &str) -> PathBuf {
    image().parent().unwrap().join("tree/bin").join(name)
}

/// How a guest is started.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// The sled mapped: syscall sites are rewritten.
    Rewrite,
    /// `--no-syscall-rewrite`: every syscall traps.
    TrapPath,
}

use Mode::{Rewrite, TrapPath};

/// What a guest printed: its program lines, and the `val` figures.
struct Out {
    lines: Vec<String>,
    vals: HashMap<String, String>,
}

impl Out {
    fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The figure `name` (the last one printed), as text.
    fn s(&self, name: &str) -> &str {
        self.vals.get(name).unwrap_or_else(|| panic!("no \"val {name}\" in the output:\n{}", self.text()))
    }

    /// The figure `name`, as a number.
    fn n(&self, name: &str) -> i64 {
        self.s(name).parse().unwrap_or_else(|e| panic!("val {name} {}: {e}", self.s(name)))
    }

    /// No FAIL line, and `PROG: N passed, 0 failed` for each of `progs`
    /// (N > 0).
    fn passed(&self, mode: Mode, progs: &[&str]) {
        let fails: Vec<&String> = self.lines.iter().filter(|l| l.starts_with("FAIL")).collect();
        assert!(fails.is_empty(), "{mode:?}: failed checks:\n{}\n\nall output:\n{}", fails.len(), self.text());
        for p in progs {
            let done = self.lines.iter().any(|l| {
                l.strip_prefix(&format!("{p}: "))
                    .and_then(|r| r.strip_suffix(" passed, 0 failed"))
                    .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0))
            });
            assert!(done, "{mode:?}: no \"{p}: N passed, 0 failed\":\n{}", self.text());
        }
    }

    /// The `ok NAME` line is there.
    fn ok(&self, name: &str) {
        assert!(self.lines.iter().any(|l| l == &format!("ok {name}")), "no ok {name}:\n{}", self.text());
    }
}

/// Boot in `mode` with the programs' disk on /mnt and run `script` in the
/// console shell; the guest must power off cleanly within `secs`, and the
/// tender's `--verbose` line must say the mode is the one asked for.
fn guest(mode: Mode, script: &str, secs: u64) -> Out {
    let root_img = format!("{}:ro", rootfs().display());
    let disk = format!("--block:disk1={}:ro", image().display());
    let k = kernel();
    let mut args = vec!["--mem=128", "--verbose"];
    if mode == TrapPath {
        args.push("--no-syscall-rewrite");
    }
    args.extend(["--block", &root_img, &disk, &k, "--", "quiet"]);
    let script = format!(
        "mount -t ext4 -o ro /dev/vdb /mnt || echo 'FAIL mount /dev/vdb'\n\
         echo \"val kernel-rewriting $(grep -c '^rewriting: on$' /proc/nabla_syscalls)\"\n{script}"
    );
    let r = run_as_given(&args, Some(script.as_bytes()), secs)
        .unwrap_or_else(|| panic!("{mode:?}: the guest ran over {secs} s"));
    assert_eq!(r.code, Some(0), "{mode:?}: stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.ends_with("reboot: Power down\n"), "{mode:?}: no clean power-off:\n{}", r.stdout);
    let line = r.stderr.lines().find(|l| l.starts_with("nabla-tender: syscall rewriting ")).unwrap_or_else(|| {
        panic!("{mode:?}: the tender's --verbose output has no syscall rewriting line:\n{}", r.stderr)
    });
    match mode {
        Rewrite => assert!(
            line.starts_with("nabla-tender: syscall rewriting on: "),
            "this test needs syscall rewriting, and the tender says: {line}\n(the sled at address 0 needs root or \
             vm.mmap_min_addr=0; CI runs as root)"
        ),
        TrapPath => assert_eq!(line, "nabla-tender: syscall rewriting off: --no-syscall-rewrite"),
    }
    let lines: Vec<String> = program_lines(&r).into_iter().map(str::to_owned).collect();
    let mut vals = HashMap::new();
    for l in &lines {
        if let Some(rest) = l.strip_prefix("val ") {
            let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
            vals.insert(k.to_owned(), v.to_owned());
        }
    }
    let out = Out { lines, vals };
    // The guest kernel agrees: the shell's look, and each program's.
    assert!(out.vals.contains_key("kernel-rewriting"), "{mode:?}:\n{}", out.text());
    let want = if mode == Rewrite { "1" } else { "0" };
    for l in out.lines.iter().filter_map(|l| l.strip_prefix("val ")) {
        if let Some((k, v)) = l.split_once(' ').filter(|(k, _)| k.ends_with("-rewriting")) {
            assert_eq!(v, want, "{mode:?}: {k} (from /proc/nabla_syscalls):\n{}", out.text());
        }
    }
    out
}

#[test]
fn a_hot_syscall_site_is_rewritten_and_stops_trapping() {
    const N: i64 = 1_000_000;
    // The program's file must not change: the rewritten bytes are the
    // process's own copy of its text (sha256sum in the guest, before and
    // after, against the host's).
    let want = nabla_tests::disk::sha256(&program("hot"));
    let script = format!(
        "sha256sum /mnt/bin/hot\n/mnt/bin/hot {N}\nsha256sum /mnt/bin/hot\n/mnt/bin/hot 1000 | grep bytes-before\n"
    );
    for mode in [Rewrite, TrapPath] {
        let o = guest(mode, &script, 120);
        o.passed(mode, &["hot"]);
        let sums: Vec<&String> = o.lines.iter().filter(|l| l.ends_with("  /mnt/bin/hot")).collect();
        assert_eq!(sums.len(), 2, "{mode:?}:\n{}", o.text());
        for s in sums {
            assert_eq!(s.split_whitespace().next(), Some(want.as_str()), "{mode:?}: the program's file changed");
        }
        assert_eq!(o.n("hot-calls"), N);
        // The second run starts with the file's bytes again.
        assert_eq!(o.s("hot-bytes-before"), "0f05", "{mode:?}:\n{}", o.text());
        let (trapped, fast) = (o.n("hot-trapped"), o.n("hot-fast"));
        match mode {
            Rewrite => {
                assert!(trapped < 1000, "{trapped} traps over {N} calls of a rewritten site:\n{}", o.text());
                assert!(fast >= N, "only {fast} fast syscalls over {N} calls:\n{}", o.text());
                assert!(o.n("hot-rewritten") >= 1, "{}", o.text());
                assert_eq!(o.lines.iter().filter(|l| *l == "val hot-bytes-after ffd0").count(), 1, "{}", o.text());
            }
            TrapPath => {
                assert!(trapped >= N, "{trapped} traps over {N} calls on the trap path:\n{}", o.text());
                assert_eq!((fast, o.n("hot-rewritten")), (0, 0), "{}", o.text());
                assert_eq!(o.s("hot-bytes-after"), "0f05", "{}", o.text());
            }
        }
        eprintln!("{mode:?}: {N} calls: {trapped} trapped, {fast} fast");
    }
}

#[test]
fn code_written_at_run_time_is_rewritten_and_traps_again_when_written_afresh() {
    const N: i64 = 100_000;
    for mode in [Rewrite, TrapPath] {
        let o = guest(mode, &format!("/mnt/bin/jit {N}\n"), 120);
        o.passed(mode, &["jit"]);
        for p in ["a", "b", "c", "d", "e"] {
            o.ok(&format!("jit-{p}-results"));
            let v = |k: &str| o.n(&format!("jit-{p}-{k}"));
            let before = o.s(&format!("jit-{p}-bytes-before"));
            let after = o.s(&format!("jit-{p}-bytes-after"));
            match mode {
                Rewrite => {
                    assert!(v("trapped") < 100, "phase {p}: {} traps:\n{}", v("trapped"), o.text());
                    assert!(v("fast") >= N, "phase {p}: {} fast:\n{}", v("fast"), o.text());
                    assert_eq!(after, "ffd0", "phase {p}:\n{}", o.text());
                    // Written afresh (b, d, e): the 0f 05 is back and
                    // traps once; c changed only the immediate.
                    let fresh = p != "c";
                    assert_eq!(before, if fresh { "0f05" } else { "ffd0" }, "phase {p}:\n{}", o.text());
                    if fresh {
                        assert!(v("rewritten") >= 1, "phase {p}: not rewritten:\n{}", o.text());
                    }
                }
                TrapPath => {
                    assert!(v("trapped") >= N, "phase {p}: {} traps:\n{}", v("trapped"), o.text());
                    assert_eq!((v("fast"), v("rewritten")), (0, 0), "phase {p}:\n{}", o.text());
                    assert_eq!((before, after), ("0f05", "0f05"), "phase {p}:\n{}", o.text());
                }
            }
        }
    }
}

/// The file `shared make` writes: `mov $39,%eax; syscall; ret`, then int3
/// to 4096 bytes.
fn shared_code() -> Vec<u8> {
    let mut v = vec![0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3];
    v.resize(4096, 0xcc);
    v
}

#[test]
fn code_in_a_shared_file_mapping_is_left_alone_and_keeps_trapping() {
    const N: i64 = 10_000;
    let dir = root().join("target/disks/rewrite-shared");
    std::fs::create_dir_all(&dir).unwrap();
    let code = dir.join("code");
    std::fs::write(&code, shared_code()).unwrap();
    let want = nabla_tests::disk::sha256(&code);
    let script = format!(
        "/mnt/bin/shared make /tmp/code\nsha256sum /tmp/code\n/mnt/bin/shared run /tmp/code {N}\n\
         sha256sum /tmp/code\n/mnt/bin/shared private /tmp/code {N}\nsha256sum /tmp/code\nrm /tmp/code\n"
    );
    for mode in [Rewrite, TrapPath] {
        let o = guest(mode, &script, 120);
        o.passed(mode, &["shared", "private"]);
        o.ok("shared-make");
        let sums: Vec<&String> = o.lines.iter().filter(|l| l.ends_with("  /tmp/code")).collect();
        assert_eq!(sums.len(), 3, "{mode:?}:\n{}", o.text());
        for s in sums {
            assert_eq!(s.split_whitespace().next(), Some(want.as_str()), "{mode:?}: the file changed:\n{}", o.text());
        }
        for k in ["shared-bytes-before", "shared-bytes-after", "private-bytes-before"] {
            assert_eq!(o.s(k), "0f05", "{mode:?}: {k}:\n{}", o.text());
        }
        let v = |k: &str| o.n(k);
        assert!(
            v("shared-trapped") >= N,
            "{mode:?}: the shared mapping's site trapped {}:\n{}",
            v("shared-trapped"),
            o.text()
        );
        // (The counters' own open, read and close are all the fast ones.)
        assert!(v("shared-fast") < 100 && v("shared-rewritten") == 0, "{mode:?}:\n{}", o.text());
        match mode {
            Rewrite => {
                assert!(v("shared-kept-shared") >= N, "kept-shared rose by {}:\n{}", v("shared-kept-shared"), o.text());
                // The private mapping of the same file is the process's copy.
                assert_eq!(o.s("private-bytes-after"), "ffd0", "{}", o.text());
                assert!(v("private-rewritten") >= 1 && v("private-fast") >= N, "{}", o.text());
                assert!(v("private-trapped") < 100, "{}", o.text());
            }
            TrapPath => {
                assert_eq!((v("shared-kept-shared"), v("shared-fast")), (0, 0), "{}", o.text());
                assert_eq!(o.s("private-bytes-after"), "0f05", "{}", o.text());
                assert!(v("private-trapped") >= N && v("private-fast") == 0, "{}", o.text());
            }
        }
    }
}

#[test]
fn signals_interrupt_and_restart_syscalls_made_through_rewritten_sites() {
    let script = "for m in eintr restart stopcont vfork threads; do /mnt/bin/signals $m; echo \"$m rc $?\"; done\n";
    for mode in [Rewrite, TrapPath] {
        let o = guest(mode, script, 120);
        o.passed(mode, &["eintr", "restart", "stopcont", "vfork", "threads"]);
        for m in ["eintr", "restart", "stopcont", "vfork", "threads"] {
            assert!(o.lines.iter().any(|l| l == &format!("{m} rc 0")), "{mode:?}: {m} did not exit 0:\n{}", o.text());
        }
        for k in ["eintr-read", "eintr-handler", "restart-read", "restart-handler", "restart-time", "stopcont-sleep"] {
            o.ok(k);
        }
        for r in 0..3 {
            o.ok(&format!("vfork-{r}-status"));
            o.ok(&format!("vfork-{r}-child-pid"));
        }
        assert_eq!(o.n("sleeper-ret"), 0, "{}", o.text());
        assert!(o.n("sleeper-ms") >= 490, "{}", o.text());
        let child_bytes = o.lines.iter().filter(|l| l.starts_with("val vfork-child-bytes ")).count();
        assert_eq!(child_bytes, 3, "{mode:?}:\n{}", o.text());
        match mode {
            Rewrite => {
                // The read and write sites were rewritten before the
                // read that blocks: 200 syscalls, all fast.
                for w in ["eintr-warm", "restart-warm"] {
                    let (t, f) = (o.n(&format!("{w}-trapped")), o.n(&format!("{w}-fast")));
                    assert!(t < 10 && f >= 200, "{w}: {t} trapped, {f} fast:\n{}", o.text());
                }
                assert_eq!(o.s("vfork-parent-bytes"), "ffd0", "{}", o.text());
                assert!(o.lines.iter().filter(|l| *l == "val vfork-child-bytes ffd0").count() == 3, "{}", o.text());
                assert!(o.n("threads-fast") >= 400_000 && o.n("threads-trapped") < 100, "{}", o.text());
            }
            TrapPath => {
                assert_eq!(o.s("vfork-parent-bytes"), "0f05", "{}", o.text());
                assert!(o.n("threads-trapped") >= 400_000 && o.n("threads-fast") == 0, "{}", o.text());
                assert!(o.n("eintr-warm-trapped") >= 200, "{}", o.text());
            }
        }
    }
}

/// The stray-calls counter, read by the shell: `stray N`.
const STRAY: &str = "echo \"stray $(grep stray-calls /proc/nabla_syscalls | cut -d' ' -f2)\"\n";

#[test]
fn calls_into_the_sled_that_are_not_syscalls_fault_and_unknown_numbers_get_enosys() {
    let modes = ["call-rax", "call-rax-16", "call-rdx", "jmp-rax"];
    let mut script = String::new();
    for m in modes {
        script += &format!("{STRAY}echo '-- {m}'\n/mnt/bin/null {m}\necho \"rc $?\"\n");
    }
    script += &format!("{STRAY}echo '-- die'\n/mnt/bin/null die\necho \"rc $?\"\n{STRAY}");
    script += "echo '-- enosys'\n/mnt/bin/null enosys 0xfffff\necho \"rc $?\"\n";
    for mode in [Rewrite, TrapPath] {
        let o = guest(mode, &script, 180);
        // Each case: its "-- NAME" header, its figures, its status.
        let text = o.text();
        let strays: Vec<i64> =
            o.lines.iter().filter_map(|l| l.strip_prefix("stray ")).map(|n| n.parse().unwrap()).collect();
        assert_eq!(strays.len(), 6, "{mode:?}:\n{text}");
        let cases: Vec<&str> = text.split("\n-- ").skip(1).collect();
        assert_eq!(cases.len(), 6, "{mode:?}:\n{text}");
        for (i, case) in cases.iter().enumerate() {
            let name = case.lines().next().unwrap();
            let get = |k: &str| {
                case.lines()
                    .find_map(|l| l.strip_prefix(&format!("val {k} ")))
                    .unwrap_or_else(|| panic!("{mode:?} {name}: no val {k}:\n{case}"))
            };
            if name == "enosys" {
                assert!(case.contains("\nrc 0"), "{mode:?}: {case}");
                continue;
            }
            assert_eq!(get("null-bytes"), if mode == Rewrite { "ffd0" } else { "0f05" }, "{mode:?} {name}");
            if name == "die" {
                assert!(case.contains("\nrc 139"), "{mode:?}: die was not killed by SIGSEGV:\n{case}");
            } else {
                assert!(case.contains("\nrc 7"), "{mode:?}: {name}: the SIGSEGV handler did not run:\n{case}");
                let addr = if name == "call-rax-16" { "16" } else { "0" };
                assert_eq!((get("segv-addr"), get("segv-rip"), get("segv-code")), (addr, addr, "1"), "{mode:?} {name}");
                for k in ["segv-rsp-ok", "segv-ret-ok", "segv-rcx-ok", "segv-r11-ok", "segv-rip-ok"] {
                    assert_eq!(get(k), "1", "{mode:?} {name}: {k}:\n{case}");
                }
            }
            // One stray call into the sled per case when it is mapped.
            let want = i64::from(mode == Rewrite);
            assert_eq!(strays[i + 1] - strays[i], want, "{mode:?} {name}: stray-calls {strays:?}");
        }
        o.passed(mode, &["enosys"]);
        for k in ["enosys-named", "enosys-getpid", "enosys-sweep", "enosys-getpid-after", "enosys-libc"] {
            o.ok(k);
        }
        assert_eq!(o.s("enosys-bytes"), if mode == Rewrite { "ffd0" } else { "0f05" }, "{text}");
        o.ok("enosys-high-registers");
        // Numbers above 32 bits: Linux (and the trap path) runs the low 32
        // bits' syscall; a rewritten site calls the whole number, which
        // faults, and gets -ENOSYS.
        for h in ["0x8000000000000000", "0x800000000000", "0x10000000000", "0xffff800000000000", "0x100000027"] {
            let (r, low) = (o.n(&format!("enosys-high-{h}")), o.n(&format!("enosys-high-{h}-low32")));
            match mode {
                Rewrite => {
                    assert!(r == low || r == -38, "{h}: {r}, the low 32 bits {low}:\n{text}");
                    if r != low {
                        eprintln!("Rewrite: syscall number {h} returned -ENOSYS; Linux runs its low 32 bits ({low})");
                    }
                }
                TrapPath => assert_eq!(r, low, "{h}: the trap path should run the low 32 bits:\n{text}"),
            }
        }
        match mode {
            // Numbers past the sled fault below guest memory or at their
            // own address, and are answered there; the ones in the sled
            // slide into the fast entry.
            Rewrite => assert!(o.n("enosys-named-enosys") > 0 && o.n("enosys-named-fast") > 0, "{text}"),
            TrapPath => assert_eq!((o.n("enosys-named-enosys"), o.n("enosys-named-fast")), (0, 0), "{text}"),
        }
    }
}

#[test]
fn the_vdso_tells_the_time_without_syscalls() {
    // 2030-01-01 and 2001-01-01, 00:00:00 UTC.
    const Y2030: i64 = 1_893_456_000;
    const Y2001: i64 = 978_307_200;
    let script = "/mnt/bin/vdso check\nmount -t proc proc /mnt/proc && chroot /mnt /bin/vdso-glibc check | sed 's/^/glibc /'\n\
                  date -s '2030-01-01 00:00:00' >/dev/null && /mnt/bin/vdso realtime | sed 's/^/late /'\n\
                  chroot /mnt /bin/vdso-glibc realtime | sed 's/^/glibc-late /'\n\
                  date -s '2001-01-01 00:00:00' >/dev/null && /mnt/bin/vdso realtime | sed 's/^/early /'\n";
    let host_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for mode in [Rewrite, TrapPath] {
        let o = guest(mode, script, 120);
        let text = o.text();
        assert!(!text.contains("FAIL"), "{mode:?}:\n{text}");
        for (prefix, prog) in [
            ("", "vdso"),
            ("glibc ", "vdso"),
            ("late ", "realtime"),
            ("glibc-late ", "realtime"),
            ("early ", "realtime"),
        ] {
            let sum = format!("{prefix}{prog}: ");
            let line =
                o.lines.iter().find(|l| l.starts_with(&sum)).unwrap_or_else(|| panic!("{mode:?}: no {sum}:\n{text}"));
            assert!(line.ends_with(" passed, 0 failed"), "{mode:?}: {line}\n{text}");
        }
        for prefix in ["", "glibc "] {
            let get = |k: &str| -> i64 {
                o.lines
                    .iter()
                    .find_map(|l| l.strip_prefix(&format!("{prefix}val {k} ")))
                    .unwrap_or_else(|| panic!("{mode:?}: no {prefix}val {k}:\n{text}"))
                    .parse()
                    .unwrap()
            };
            for k in ["vdso-auxv", "vdso-symbols", "vdso-order-monotonic-raw", "vdso-monotonic-coarse", "vdso-getcpu"] {
                assert!(
                    o.lines.iter().any(|l| l == &format!("{prefix}ok {k}")),
                    "{mode:?}: no {prefix}ok {k}:\n{text}"
                );
            }
            for k in ["vdso-libc-syscalls", "vdso-direct-syscalls", "vdso-gettimeofday-syscalls"] {
                assert!(get(k) < 100, "{mode:?} {prefix}: {k} {} for 100,000 calls:\n{text}", get(k));
            }
            // The counters do count: 1000 clock_gettime syscalls.
            assert!(get("vdso-syscall-syscalls") >= 1000, "{mode:?}:\n{text}");
            // The coarse clocks are the time of the timekeeper's last whole
            // tick interval (HZ=100) as of the last tick: between two coarse
            // syscalls (checked in the program), and behind the fine clock by
            // up to two intervals, as the tick and the intervals need not
            // be in phase (seen: just under 20 ms; 5 ms more allowed for a
            // tick a loaded host delivers late).
            for c in ["realtime", "monotonic"] {
                let lag = get(&format!("vdso-{c}-coarse-lag-max-us"));
                let over = get(&format!("vdso-{c}-coarse-lag-over-10ms"));
                assert!(lag < 25_000, "{mode:?} {prefix}: {c} coarse lags {lag} us behind:\n{text}");
                eprintln!("{mode:?} {prefix}{c} coarse: at most {lag} us behind, {over} of 10000 rounds over 10 ms");
            }
        }
        let sec = |prefix: &str| -> i64 {
            o.lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("{prefix} val realtime-sec ")))
                .unwrap_or_else(|| panic!("no {prefix} realtime-sec:\n{text}"))
                .parse()
                .unwrap()
        };
        for (prefix, want) in [("late", Y2030), ("glibc-late", Y2030), ("early", Y2001)] {
            let s = sec(prefix);
            assert!(
                (want..want + 60).contains(&s),
                "{mode:?}: after date -s, the vDSO says {s}, want {want} + a few s"
            );
        }
        // The guest's clock was set, not the host's.
        let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(after >= host_now && after - host_now < 300, "the host's clock moved");
    }
}

/// `NABLA_TEST_NO_REWRITE=1` puts the Linux tests' tenders on the trap
/// path: a boot through the shared helper says which path it is on, as
/// the environment asks.
#[test]
fn the_trap_path_switch_of_the_linux_tests_works() {
    let trap = std::env::var_os(NO_REWRITE_ENV).is_some_and(|v| v == "1");
    let root_img = format!("{}:ro", rootfs().display());
    let r: Run = shell_with(&["--verbose", "--block", &root_img], &[], "cat /proc/nabla_syscalls\n", 60);
    assert_eq!(r.code, Some(0), "{r:?}");
    let want = if trap { "rewriting: off" } else { "rewriting: on" };
    assert!(program_lines(&r).contains(&want), "{NO_REWRITE_ENV}={trap}: want {want}:\n{}\n{}", r.stdout, r.stderr);
    let line = if trap {
        "nabla-tender: syscall rewriting off: --no-syscall-rewrite"
    } else {
        "nabla-tender: syscall rewriting on: "
    };
    assert!(r.stderr.contains(line), "{NO_REWRITE_ENV}={trap}: want {line}:\n{}", r.stderr);
}

/// A null call a program writes where one of its rewritten sites was (a
/// JIT reusing its code page, or a page mapped afresh at the address of
/// one that held a site) must fault like any null call. It does not yet:
/// the kernel's table of rewritten sites keeps the address, so the call
/// is taken for a syscall (rax = 0: read), on the page written over and
/// on the new page alike (the munmap does not drop the page's sites).
#[test]
#[ignore = "kernel: rewritten sites outlive the code that held them (munmap and overwrites keep them)"]
fn a_null_call_where_a_rewritten_site_was_still_faults() {
    let script = "for m in stale stale-remap; do echo \"-- $m\"; /mnt/bin/null $m; echo \"rc $?\"; done\n";
    let o = guest(Rewrite, script, 60);
    let text = format!("\n{}", o.text());
    assert_eq!(text.matches("\n-- ").count(), 2, "{text}");
    for case in text.split("\n-- ").skip(1) {
        let name = case.lines().next().unwrap();
        assert!(case.contains("val stale-site-bytes ffd0"), "{name}: the site was not rewritten first:\n{case}");
        assert!(!case.contains("val stale-returned"), "{name}: the null call ran as a syscall:\n{case}");
        assert!(case.contains("\nrc 7") && case.contains("val segv-addr 0\n"), "{name}: no SIGSEGV at 0:\n{case}");
        assert!(case.contains("val segv-ret-ok 1") && case.contains("val segv-rip-ok 1"), "{name}:\n{case}");
    }
}
