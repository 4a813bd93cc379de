//! Busybox's own testsuite (`testsuite/runtest` of the busybox source),
//! run by `scripts/busybox-testsuite.sh` natively on the host and then in
//! the Linux guest against the same binary, both under hush with busybox
//! applets only: the guest must pass as many tests as the host, less the
//! failures explained in [`EXPLAINED`]. Needs `make kernel image tender`
//! (the busybox build, the root image, the kernel and the tender) and root
//! (as `make test` runs). Takes about 5 minutes: 1.5 natively, 3.5 in the
//! guest. (The guest also passes two pidof tests that the host skips: they
//! run only where pid 1 is called init.)

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::root;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// Tests that pass natively and fail in the guest, each with the reason.
const EXPLAINED: &[(&str, &str)] = &[
    ("mount RO loop", "no loop driver in the kernel (CONFIG_BLK_DEV is off): the loop setup fails with ENXIO"),
    (
        "start-stop-daemon with both -x and -a",
        "the guest's /bin/false is a busybox link (the test says it then fails); the host's is coreutils",
    ),
];

/// P passed, F failed, S skipped of T, from the script's summary line.
#[derive(Debug, Clone, Copy)]
struct Summary {
    passed: usize,
    failed: usize,
    skipped: usize,
    total: usize,
}

/// Run the script in `mode`; returns its summary line and the parsed
/// counts. Panics (with the output) unless the run completed.
fn run(mode: &str, out: &Path) -> (String, Summary) {
    let o = Command::new(root().join("scripts/busybox-testsuite.sh"))
        .arg(mode)
        .arg(out)
        .output()
        .expect("cannot run scripts/busybox-testsuite.sh");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "the {mode} run did not complete ({}):\n{stdout}\n{stderr}", o.status);
    let prefix = format!("busybox testsuite ({mode}): ");
    let line = stdout.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    let n: Vec<usize> = line[prefix.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(n.len(), 4, "{line}");
    let s = Summary { passed: n[0], failed: n[1], skipped: n[2], total: n[3] };
    assert_eq!(s.passed + s.failed + s.skipped, s.total, "{line}");
    (line.to_owned(), s)
}

/// Test name -> outcome (PASS, FAIL, SKIPPED, UNTESTED), from results.txt;
/// a name that is not unique keeps its worst outcome.
fn results(out: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(out.join("results.txt")).unwrap();
    let mut m: HashMap<String, String> = HashMap::new();
    for l in text.lines() {
        let (outcome, name) = l.split_once(' ').unwrap();
        let e = m.entry(name.to_owned()).or_insert_with(|| outcome.to_owned());
        if outcome != "PASS" {
            *e = outcome.to_owned();
        }
    }
    m
}

#[test]
fn the_guest_passes_busybox_testsuite_as_the_host_does() {
    let base = root().join("target/busybox-testsuite");
    let (native_out, guest_out) = (base.join("native"), base.join("guest"));
    let t = std::time::Instant::now();
    let (native_line, native) = run("native", &native_out);
    let native_secs = t.elapsed().as_secs();
    let t = std::time::Instant::now();
    let (guest_line, guest) = run("guest", &guest_out);
    let guest_secs = t.elapsed().as_secs();
    println!("{native_line} ({native_secs} s)");
    println!("{guest_line} ({guest_secs} s)");

    // What fails only in the guest, for the message.
    let (n, g) = (results(&native_out), results(&guest_out));
    let mut guest_only: Vec<&str> = n
        .iter()
        .filter(|(name, o)| *o == "PASS" && g.get(*name).is_some_and(|go| go == "FAIL"))
        .map(|(name, _)| name.as_str())
        .collect();
    guest_only.sort_unstable();
    let unexplained: Vec<&&str> = guest_only.iter().filter(|f| !EXPLAINED.iter().any(|(e, _)| e == *f)).collect();
    println!("guest-only failures: {guest_only:?}");

    assert!(native.passed > 800, "the native run passed too little to compare with: {native_line}");
    assert!(
        guest.passed + EXPLAINED.len() >= native.passed,
        "{guest_line}\n{native_line}\nguest-only failures not explained: {unexplained:?}\n(see {})",
        guest_out.join("runtest.log").display()
    );
}
