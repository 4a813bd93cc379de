//! Containers through containerd: Debian's `containerd` and `ctr` drive
//! the stock `io.containerd.runc.v2` shim with `--runc-binary
//! target/release/nabla-runtime` on the image of `make oci-image`
//! (busybox, /bin/nabla-test, /bin/nopie: see scripts/build-oci-image.sh
//! and tests/containers/), as a user or Kubernetes would (issue 12).
//!
//! Each test starts its own containerd ([`Containerd::start`]), which is
//! taken down with everything it started when the test ends, passing or
//! not. `NABLA_CONTAINERS_RUNTIME=/usr/sbin/runc` runs the same tests with
//! Debian's runc (a check of the harness and the image): where runc
//! accepts what nabla-runtime refuses (bind mounts, non-PIE programs) the
//! test checks runc's behaviour instead. Needs root.

use nabla_tests::containerd::{Containerd, OnPty, VethNetns, http_get, processes_named, run_cmd, runtime};
use std::process::Command;
use std::time::{Duration, Instant};

/// A container id unique on this machine (the runtime's state and the
/// tender's command line name it).
fn id(tag: &str) -> String {
    format!("ctr{}-{tag}", std::process::id())
}

/// Wait (up to 10 s: the shim finishes its clean-up after ctr returns)
/// until nothing of container `id` is left, else panic with what is.
fn assert_clean(ctd: &Containerd, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let bad = ctd.leftovers(id);
        if bad.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "container {id} left behind:\n{}", bad.join("\n"));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn args_env_cwd_and_exit_status() {
    let ctd = Containerd::start("args");
    let id = id("args");
    let r =
        ctd.run(&["--env", "FOO=bar baz", "--cwd", "/tmp"], &id, &["/bin/nabla-test", "show", "3", "two words"], 60);
    assert_eq!(r.code, Some(3), "ctr run's status is the container's: {r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    for want in [
        "arg 0=/bin/nabla-test",
        "arg 1=show",
        "arg 2=3",
        "arg 3=two words",
        "env FOO=bar baz",
        "env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "cwd /tmp",
        "uid 0 gid 0",
    ] {
        assert!(lines.contains(&want), "no line {want:?} in the container's stdout: {r:?}");
    }
    // Only the process's own output: no kernel log, no runtime chatter.
    for l in &lines {
        assert!(
            ["arg ", "env ", "cwd ", "uid "].iter().any(|p| l.starts_with(p)),
            "a line the program did not print on stdout: {l:?}\n{r:?}"
        );
    }
    assert!(r.stderr.is_empty(), "stderr should be empty: {r:?}");
    assert_clean(&ctd, &id);
}

#[test]
fn stdout_and_stderr_apart() {
    let ctd = Containerd::start("streams");
    let id = id("streams");
    let r = ctd.run(&[], &id, &["/bin/nabla-test", "streams"], 60);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "out-line 1\nout-line 2\nout-line 3\n", "stdout: {r:?}");
    assert_eq!(r.stderr, "err-line 1\nerr-line 2\nerr-line 3\n", "stderr: {r:?}");
    assert_clean(&ctd, &id);
}

#[test]
fn terminal() {
    let ctd = Containerd::start("tty");
    let id = id("tty");
    let mut pty = OnPty::spawn(ctd.run_cmd(&["--rm", "-t"], &id, &["/bin/sh"]));
    // The shell's prompt, then a line typed on the terminal; the shell's
    // echo shows the line as typed, only its output has "hi-3" and
    // "tty-6" (its stdin is a terminal).
    let deadline = Instant::now() + Duration::from_secs(30);
    while pty.output().trim().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    pty.send("echo hi-$((1+2)); [ -t 0 ] && echo tty-$((2*3)); exit\r");
    pty.wait_for("hi-3", 30);
    pty.wait_for("tty-6", 10);
    let (code, out) = pty.wait(30);
    assert_eq!(code, Some(0), "ctr run -t: {out:?}");
    assert_clean(&ctd, &id);
}

#[test]
fn sigterm_is_handled_inside() {
    let ctd = Containerd::start("sigterm");
    let id = id("sigterm");
    let mut c = ctd.spawn(&[], &id, &["/bin/nabla-test", "wait-signal"]);
    c.wait_for("ready\n", 60);
    ctd.kill(&id, None);
    let r = c.wait(30);
    assert_eq!(r.code, Some(0), "the program handled SIGTERM and exited 0: {r:?}");
    assert_eq!(r.stdout, "ready\ngot SIGTERM\n", "{r:?}");
    assert_clean(&ctd, &id);
}

#[test]
fn sigkill_ends_it() {
    let ctd = Containerd::start("sigkill");
    let id = id("sigkill");
    let mut c = ctd.spawn(&[], &id, &["/bin/nabla-test", "wait-signal"]);
    c.wait_for("ready\n", 60);
    ctd.kill(&id, Some("SIGKILL"));
    let r = c.wait(30);
    assert_eq!(r.code, Some(137), "128 + SIGKILL: {r:?}");
    assert_eq!(r.stdout, "ready\n", "{r:?}");
    assert_clean(&ctd, &id);
}

#[test]
fn network_namespace_reachable_from_the_host() {
    let ctd = Containerd::start("net");
    let ns = VethNetns::new("net", 1);
    let id = id("net");
    let with = format!("network:{}", ns.path());
    let mut c = ctd.spawn(&["--with-ns", &with], &id, &["/usr/sbin/httpd", "-f", "-p", "8080", "-h", "/www"]);
    let got = http_get(&ns.guest_ip(), 8080, "/index.html", 20);
    // (When ctr has already failed, the kill fails too: its output says why.)
    let _ = ctd.ctr_run(&["task", "kill", "-s", "SIGKILL", &id], 20);
    let r = c.wait(30);
    let body = got.unwrap_or_else(|e| panic!("no HTTP answer from {}:8080 ({e}); ctr: {r:?}", ns.guest_ip()));
    assert!(body.starts_with("HTTP/1.") && body.contains(" 200 "), "HTTP status: {body:?}");
    assert!(body.contains("nabla-container-httpd-ok"), "the image's /www/index.html: {body:?}");
    assert_eq!(r.code, Some(137), "{r:?}");
    assert_clean(&ctd, &id);
    no_tap(&ns);
}

/// Only the namespace's own interfaces are left: loopback and the veth end.
fn no_tap(ns: &VethNetns) {
    for l in ns.links() {
        let name = l.split(':').nth(1).unwrap_or("").trim().split('@').next().unwrap_or("");
        assert!(name == "lo" || name == "eth0", "an interface left in {}: {l}", ns.name());
    }
}

#[test]
fn twenty_at_once() {
    let ctd = Containerd::start("twenty");
    let ids: Vec<String> = (0..20).map(|i| id(&format!("twenty{i}"))).collect();
    let mut running: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| ctd.spawn(&[], id, &["/bin/nabla-test", "show", "0", &format!("n{i}")]))
        .collect();
    for (i, c) in running.iter_mut().enumerate() {
        let r = c.wait(180);
        assert_eq!(r.code, Some(0), "container {i}: {r:?}");
        assert!(r.stdout.lines().any(|l| l == format!("arg 3=n{i}")), "container {i}'s own output: {r:?}");
    }
    for id in &ids {
        assert_clean(&ctd, id);
    }
    assert!(ctd.tasks().is_empty(), "tasks left: {:?}", ctd.tasks());
}

#[test]
fn delete_leaves_nothing_behind() {
    let ctd = Containerd::start("clean");
    let ns = VethNetns::new("clean", 2);
    let with = format!("network:{}", ns.path());
    // ctr run --rm: the container goes with the task.
    let id1 = id("clean-rm");
    let r = ctd.run(&["--with-ns", &with], &id1, &["/bin/nabla-test", "show", "0"], 60);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_clean(&ctd, &id1);
    no_tap(&ns);
    // ctr run, then ctr container delete.
    let id2 = id("clean-del");
    let mut c = ctd.run_cmd(&["--with-ns", &with], &id2, &["/bin/nabla-test", "show", "0"]);
    c.stdin(std::process::Stdio::null());
    let r = run_cmd(c, 60);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(ctd.containers().contains(&id2), "the container stays until deleted");
    let r = ctd.ctr_run(&["container", "delete", &id2], 30);
    assert_eq!(r.code, Some(0), "ctr container delete: {r:?}");
    assert_clean(&ctd, &id2);
    no_tap(&ns);
    // A running, detached container: its task deleted by force, then
    // the container.
    let id3 = id("clean-force");
    let r = run_cmd(ctd.run_cmd(&["-d", "--null-io", "--with-ns", &with], &id3, &["/bin/nabla-test", "sleep"]), 60);
    assert_eq!(r.code, Some(0), "ctr run -d: {r:?}");
    assert_eq!(ctd.tasks(), vec![id3.clone()], "the detached task runs");
    let r = ctd.ctr_run(&["task", "delete", "-f", &id3], 30);
    assert_eq!(r.code, Some(0), "ctr task delete -f: {r:?}");
    let r = ctd.ctr_run(&["container", "delete", &id3], 30);
    assert_eq!(r.code, Some(0), "ctr container delete: {r:?}");
    assert_clean(&ctd, &id3);
    no_tap(&ns);
    // The tenders' command lines name their state under the runtime's root.
    let state = ctd.runtime_root().display().to_string();
    let tenders: Vec<_> = processes_named("nabla-tender").into_iter().filter(|(_, c)| c.contains(&state)).collect();
    assert!(tenders.is_empty(), "tenders left: {tenders:?}");
}

/// The runtime's error output, one line: `--root ROOT create ...` run
/// directly.
fn create_fails_with_one_line(bundle: &std::path::Path, tag: &str) {
    let root = std::env::temp_dir().join(format!("nabla-rt-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let cid = id(tag);
    let mut c = Command::new(runtime());
    c.arg("--root").arg(&root).arg("create").arg("--bundle").arg(bundle).arg(&cid);
    let r = run_cmd(c, 30);
    assert!(r.code.is_some_and(|c| c != 0), "create must fail: {r:?}");
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "one line of error: {r:?}");
    assert!(!root.join(&cid).exists(), "no state left for a container that was not created");
    // The same through the log the shim reads (--log FILE --log-format json).
    let log = root.join("log.json");
    std::fs::create_dir_all(&root).expect("root");
    let mut c = Command::new(runtime());
    c.arg("--root").arg(&root).arg("--log").arg(&log).args(["--log-format", "json", "create", "--bundle"]);
    c.arg(bundle).arg(&cid);
    let r = run_cmd(c, 30);
    assert!(r.code.is_some_and(|c| c != 0), "create must fail: {r:?}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.lines().any(|l| l.starts_with('{') && l.contains("\"level\":\"error\"") && l.contains("\"msg\":")),
        "an error record in the JSON log: {text:?} ({r:?})"
    );
    let _ = std::fs::remove_dir_all(&root);
    let left = processes_named("nabla-tender").into_iter().filter(|(_, c)| c.contains(&cid)).count();
    assert_eq!(left, 0, "nothing left running");
}

#[test]
fn bad_input_missing_bundle() {
    create_fails_with_one_line(std::path::Path::new("/nonexistent"), "nobundle");
}

#[test]
fn bad_input_malformed_config() {
    let dir = std::env::temp_dir().join(format!("nabla-badcfg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("rootfs")).expect("bundle");
    std::fs::write(dir.join("config.json"), "{").expect("config.json");
    create_fails_with_one_line(&dir, "badcfg");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_unsupported_bind_mount() {
    let ctd = Containerd::start("bind");
    let id = id("bind");
    let r = ctd.run(
        &["--mount", "type=bind,src=/tmp,dst=/data,options=rbind:rw"],
        &id,
        &["/bin/nabla-test", "show", "0"],
        60,
    );
    if ctd.is_runc() {
        assert_eq!(r.code, Some(0), "runc supports bind mounts: {r:?}");
    } else {
        assert!(r.code.is_some_and(|c| c != 0), "ctr run must fail: {r:?}");
        assert!(r.stderr.contains("/data"), "the error names the mount: {r:?}");
        assert_eq!(r.stderr.trim_end().lines().count(), 1, "one line of error: {r:?}");
    }
    assert_clean(&ctd, &id);
    assert!(ctd.tasks().is_empty(), "tasks left: {:?}", ctd.tasks());
}

#[test]
fn bad_input_entrypoint_not_pie() {
    let ctd = Containerd::start("nopie");
    let id = id("nopie");
    let r = ctd.run(&[], &id, &["/bin/nopie"], 60);
    if ctd.is_runc() {
        assert_eq!(r.code, Some(0), "runc runs any program: {r:?}");
        assert_eq!(r.stdout, "nopie: ran (a non-PIE program)\n");
    } else {
        assert!(r.code.is_some_and(|c| c != 0), "ctr run must fail: {r:?}");
        assert!(r.stderr.contains("/bin/nopie"), "the error names the program: {r:?}");
        assert_eq!(r.stderr.trim_end().lines().count(), 1, "one line of error: {r:?}");
        assert!(r.stdout.is_empty(), "{r:?}");
    }
    assert_clean(&ctd, &id);
    assert!(ctd.tasks().is_empty(), "tasks left: {:?}", ctd.tasks());
}
