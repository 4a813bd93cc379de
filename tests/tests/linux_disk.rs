//! Linux from a disk, as a user runs it: the root image `make image`
//! builds, the console shell through standard input and through a
//! pseudo-terminal, the kernel's root parameters, read-only disks and
//! image locks, and what a bad disk gives.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::Run;
use nabla_tests::disk::{MEM, fsck, powered_off, program_lines, rootfs_copy, scratch, sha256, shell, shell_with};
use nabla_tests::linux::kernel;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_shell_reads_commands_from_standard_input() {
    let dir = scratch("stdin");
    let img = rootfs_copy(&dir);
    let script = r#"echo one two three | tr ' ' '\n' | sort -r | head -n 2
echo redirected > /tmp/r; cat < /tmp/r; echo appended >> /tmp/r; wc -l < /tmp/r
echo "sub: $(echo inner | tr a-z A-Z) $((6 * 7))"
(sleep 0.3; echo background-done) & pid=$!
echo foreground-first
wait $pid; echo "waited: $?"
false || echo or-ok
for i in 1 2 3; do printf '%s,' $i; done; echo
uname -sm
df / | tail -n 1 | awk '{print $6}'
grep -c . /proc/cpuinfo >/dev/null && echo proc-ok
echo no newline at the end"#;
    let r = shell(&img, script);
    powered_off(&r);
    let want = [
        "two",
        "three",
        "redirected",
        "2",
        "sub: INNER 42",
        "foreground-first",
        "background-done",
        "waited: 0",
        "or-ok",
        "1,2,3,",
        "Linux x86_64",
        "/",
        "proc-ok",
        "no newline at the end",
    ];
    assert_eq!(program_lines(&r), want, "{}", r.stdout);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    // Powered off cleanly: the file system needs no repair.
    let (code, report) = fsck(&img);
    assert_eq!(code, 0, "{report}");
}

/// With stdin at its end from the start (/dev/null), the guest boots,
/// finds no commands and powers off.
#[test]
fn no_input_powers_off_at_once() {
    let dir = scratch("no-input");
    let img = rootfs_copy(&dir);
    let r = shell(&img, "");
    powered_off(&r);
    assert!(program_lines(&r).is_empty(), "{}", r.stdout);
}

/// A pseudo-terminal on the test's side, read by a thread into a buffer.
struct Pty {
    master: i32,
    slave: i32,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Pty {
    fn open() -> Pty {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two fds.
        let rc =
            unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        assert_eq!(rc, 0);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                // SAFETY: reading into our buffer from our master fd.
                let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n as usize]);
            }
        });
        Pty { master, slave, seen }
    }

    fn send(&self, s: &str) {
        // SAFETY: writing our bytes to our master fd.
        let n = unsafe { libc::write(self.master, s.as_ptr().cast(), s.len()) };
        assert_eq!(n, s.len() as isize);
    }

    /// Wait until the output holds `n` copies of `what`.
    fn wait_for(&self, what: &str, n: usize, secs: u64) {
        let start = Instant::now();
        loop {
            let text = String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned();
            if text.matches(what).count() >= n {
                return;
            }
            assert!(start.elapsed().as_secs() < secs, "no {what:?} (x{n}) after {secs} s; output:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn termios(&self) -> libc::termios {
        // SAFETY: zeroed termios is a valid out-buffer for tcgetattr.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: the slave is an open terminal.
        assert_eq!(unsafe { libc::tcgetattr(self.slave, &mut t) }, 0);
        t
    }

    /// Start the tender with the slave as its controlling terminal and
    /// standard streams, in a session of its own (as a shell would).
    fn spawn(&self, args: &[&str]) -> Child {
        use std::os::unix::process::CommandExt;
        let stdio = || {
            // SAFETY: a dup of our open slave fd; the Stdio owns it.
            unsafe { <Stdio as std::os::fd::FromRawFd>::from_raw_fd(libc::dup(self.slave)) }
        };
        let mut cmd = nabla_tests::linux::tender();
        cmd.args(args).stdin(stdio()).stdout(stdio()).stderr(stdio());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn().unwrap()
    }
}

fn wait_exit(child: &mut Child, secs: u64) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        if start.elapsed().as_secs() >= secs {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the guest did not power off within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_interactive_session_on_a_terminal() {
    let dir = scratch("pty");
    let img = rootfs_copy(&dir);
    let pty = Pty::open();
    let before = pty.termios();
    let k = kernel();
    let mut child = pty.spawn(&[MEM, "--block", img.to_str().unwrap(), &k, "--", "quiet"]);
    let prompt = "root@nabla:~# ";
    pty.wait_for("Ctrl-D or `poweroff` powers the guest off.", 1, 30);
    pty.wait_for(prompt, 1, 30);
    pty.send("echo hello $((2 + 3))\r");
    pty.wait_for("hello 5", 1, 10);
    pty.wait_for(prompt, 2, 10);
    // Ctrl-C interrupts the foreground command, not the guest.
    // Wait until the command really runs (its first half printed) before
    // the Ctrl-C, however slow the machine.
    pty.send("echo sleep-started; sleep 100\r");
    pty.wait_for("sleep-started", 2, 10);
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    pty.send("\x03");
    pty.wait_for(prompt, 3, 10);
    assert!(t.elapsed() < Duration::from_secs(5), "Ctrl-C took {:?}", t.elapsed());
    pty.send("echo status=$?\r");
    pty.wait_for("status=130", 1, 10);
    pty.wait_for(prompt, 4, 10);
    // Ctrl-D at the prompt ends the shell and powers the guest off.
    pty.send("\x04");
    assert_eq!(wait_exit(&mut child, 20), Some(0));
    let after = pty.termios();
    assert!(
        before.c_iflag == after.c_iflag && before.c_oflag == after.c_oflag && before.c_lflag == after.c_lflag,
        "the terminal was not restored"
    );
    let (code, report) = fsck(&img);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn poweroff_typed_at_the_prompt() {
    let dir = scratch("pty-poweroff");
    let img = rootfs_copy(&dir);
    let pty = Pty::open();
    let k = kernel();
    let mut child = pty.spawn(&[MEM, "--block", img.to_str().unwrap(), &k, "--", "quiet"]);
    pty.wait_for("root@nabla:~# ", 1, 30);
    pty.send("poweroff\r");
    assert_eq!(wait_exit(&mut child, 30), Some(0));
    let (code, report) = fsck(&img);
    assert_eq!(code, 0, "{report}");
}

/// The kernel's own root parameters: root= another disk, rootfstype=,
/// ro, init=, and rdinit= naming no file in the initramfs (the kernel
/// then mounts the root disk, as any Linux).
#[test]
fn root_parameters_work_as_in_any_linux() {
    let dir = scratch("params");
    let img = rootfs_copy(&dir);
    let blank = dir.join("blank.img");
    std::fs::File::create(&blank).unwrap().set_len(16 << 20).unwrap();
    let (img, blank) = (img.to_str().unwrap(), blank.to_str().unwrap());

    // rootfs (vda) is blank; the root is disk1 (vdb).
    let disk1 = format!("--block:disk1={img}");
    let r = shell_with(
        &["--block", blank, &disk1],
        &["root=/dev/vdb", "rootfstype=ext4"],
        "grep ' / ' /proc/mounts | cut -d' ' -f1,3",
        60,
    );
    powered_off(&r);
    assert_eq!(program_lines(&r), ["/dev/root ext4"], "{}", r.stdout);
    let r = shell_with(&["--block", img], &["ro"], "grep ' / ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1", 60);
    powered_off(&r);
    assert_eq!(program_lines(&r), ["ro"], "{}", r.stdout);

    // init=/bin/sh: the shell is process 1 (no rcS, no console script).
    let r = shell_with(&["--block", img], &["init=/bin/sh"], "echo pid=$$\n/sbin/poweroff -f\n", 60);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("pid=1"), "{}", r.stdout);

    // An initramfs without the rdinit= program: the root disk is used.
    let initrd = nabla_tests::linux::initramfs();
    let r = shell_with(&["--initrd", &initrd, "--block", img], &["rdinit=/nonexistent"], "echo from-disk\n", 60);
    powered_off(&r);
    assert_eq!(program_lines(&r), ["from-disk"], "{}", r.stdout);
}

/// A disk with no file system, or a corrupt one: the kernel's own
/// message, then the one-line panic exit (255).
#[test]
fn an_unformatted_or_corrupt_disk_is_a_clear_panic() {
    let dir = scratch("bad-root");
    let blank = dir.join("blank.img");
    std::fs::File::create(&blank).unwrap().set_len(16 << 20).unwrap();
    let corrupt = rootfs_copy(&dir);
    // Zero the primary superblock (bytes 1024..2048) of the copy.
    let f = std::fs::OpenOptions::new().write(true).open(&corrupt).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0u8; 1024], 1024).unwrap();
    for img in [&blank, &corrupt] {
        let r = shell(img, "echo should-not-run\n");
        assert_eq!(r.code, Some(255), "{r:?}");
        assert!(r.stdout.contains("VFS: Unable to mount root fs"), "{}", r.stdout);
        assert!(!r.stdout.contains("should-not-run"));
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains("the Linux kernel panicked"), "{}", r.stderr);
    }
}

#[test]
fn a_read_only_root_leaves_the_image_unchanged() {
    let dir = scratch("read-only");
    let img = rootfs_copy(&dir);
    let before = sha256(&img);
    let ro = format!("{}:ro", img.display());
    let script =
        "touch /newfile; echo touch=$?\ngrep ' / ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1\nhostname\nls /tmp\n";
    let r = shell_with(&["--block", &ro], &[], script, 60);
    powered_off(&r);
    // The guest's stderr is the console too.
    let want = ["touch: /newfile: Read-only file system", "touch=1", "ro", "nabla"];
    assert_eq!(program_lines(&r), want, "{}", r.stdout);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert_eq!(sha256(&img), before, "a read-only root changed its image");
}

/// Start a guest on `disks` whose script prints "ready" and then sleeps;
/// returns once "ready" is out.
fn start_waiting_guest(disks: &[&str]) -> Child {
    let k = kernel();
    let mut child = nabla_tests::linux::tender()
        .arg(MEM)
        .args(disks)
        .args([k.as_str(), "--", "quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"echo ready; sleep 30\n").unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut line, mut all) = (String::new(), String::new());
    while out.read_line(&mut line).unwrap() > 0 && !line.contains("ready") {
        all += &line;
        line.clear();
    }
    if !line.contains("ready") {
        eprintln!("{all}");
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("the first guest did not start: {}", String::from_utf8_lossy(&out.stderr));
    }
    child
}

#[test]
fn one_writer_per_image_and_many_readers() {
    let dir = scratch("locks");
    let img = rootfs_copy(&dir);
    let rw = img.to_str().unwrap().to_owned();
    let ro = format!("{rw}:ro");
    let k = kernel();
    let second = |attach: &str| {
        let out = nabla_tests::linux::tender().args([MEM, "--block", attach, &k]).stdin(Stdio::null()).output();
        Run::from(out.unwrap())
    };
    let mut writer = start_waiting_guest(&["--block", &rw]);
    for attach in [&rw, &ro] {
        let r = second(attach);
        assert_eq!(r.code, Some(1), "{r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains("is in use by another nabla-tender"), "{}", r.stderr);
        assert!(r.stdout.is_empty(), "the second guest ran: {}", r.stdout);
    }
    writer.kill().unwrap();
    writer.wait().unwrap();
    // Killed, the writer left its journal to replay, which a read-only
    // disk cannot do (the kernel refuses such a root, as any Linux).
    nabla_tests::disk::replay_journal(&img);
    // Readers share: two at once, while a writer is refused.
    let mut reader = start_waiting_guest(&["--block", &ro]);
    let r = shell_with(&["--block", &ro], &[], "hostname\n", 60);
    powered_off(&r);
    assert_eq!(program_lines(&r), ["nabla"], "{}", r.stdout);
    let r = second(&rw);
    assert_eq!(r.code, Some(1), "{r:?}");
    reader.kill().unwrap();
    reader.wait().unwrap();
}

/// `make image` is reproducible: the same inputs, built twice into two
/// new files, give the same bytes (and the image `make` built, unless
/// someone has booted it since).
#[test]
fn the_root_image_is_reproducible() {
    let dir = scratch("reproducible");
    let busybox = nabla_tests::root().join("build/busybox/busybox");
    let loader = nabla_tests::root().join("build/musl/ld-musl-x86_64.so.1");
    let build = |name: &str| {
        let out = dir.join(name);
        let st = Command::new(nabla_tests::root().join("scripts/build-image.sh"))
            .arg(&busybox)
            .arg(&loader)
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "build-image.sh failed");
        out
    };
    let (a, b) = (build("a.ext4"), build("b.ext4"));
    assert_eq!(sha256(&a), sha256(&b), "two builds of the image differ");
    let (code, report) = fsck(&a);
    assert_eq!(code, 0, "{report}");
}

/// Each command piped in runs as soon as its line arrives, not when more
/// input comes: the test waits for each line's output before it sends the
/// next, then ends the input.
#[test]
fn piped_commands_run_as_their_lines_arrive() {
    let dir = scratch("streaming");
    let img = rootfs_copy(&dir);
    let k = kernel();
    let mut child = nabla_tests::linux::tender()
        .args([MEM, "--block", img.to_str().unwrap(), &k, "--", "quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    for word in ["first", "second", "third"] {
        stdin.write_all(format!("echo {word}\n").as_bytes()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line == word => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!("no output for `echo {word}` within 10 s of its line");
                }
            }
        }
    }
    drop(stdin);
    assert_eq!(wait_exit(&mut child, 30), Some(0));
}

/// What the guest's disks look like to Linux: the tender's sector size
/// as the logical block size (512, or 4096), its largest request (1 MiB)
/// as the largest the queue sends, a volatile write cache with FUA (so
/// flushes reach the host), and a root that boots either way.
#[test]
fn the_disks_queue_limits_come_from_the_tender() {
    let dir = scratch("queue-limits");
    let img = rootfs_copy(&dir);
    let q = "/sys/block/vda/queue";
    let script = format!(
        "cat {q}/logical_block_size {q}/max_hw_sectors_kb {q}/write_cache {q}/fua {q}/rotational /sys/block/vda/ro\n"
    );
    for (sector, args) in [("512", vec![]), ("4096", vec!["--block-sector-size:rootfs=4096"])] {
        let mut disks = vec!["--block", img.to_str().unwrap()];
        disks.extend(args);
        let r = shell_with(&disks, &[], &script, 60);
        powered_off(&r);
        assert_eq!(program_lines(&r), [sector, "1024", "write back", "1", "0", "0"], "{}", r.stdout);
    }
    let ro = format!("{}:ro", img.display());
    let r = shell_with(&["--block", &ro], &[], "cat /sys/block/vda/ro\n", 60);
    powered_off(&r);
    assert_eq!(program_lines(&r), ["1"], "{}", r.stdout);
}

/// busybox `timeout` stops its command (on no-MMU it re-executes itself
/// as the watcher: userland/busybox-patches/0001): with SIGTERM by
/// default, with SIGKILL on request, and a command that ends first keeps
/// its status.
#[test]
fn timeout_stops_its_command() {
    let dir = scratch("timeout");
    let img = rootfs_copy(&dir);
    let start = Instant::now();
    let r = shell(
        &img,
        "timeout 1 sleep 20; echo \"term $?\"\ntimeout -s KILL 1 sleep 20; echo \"kill $?\"\ntimeout 5 false; echo \"own $?\"",
    );
    powered_off(&r);
    // hush reports the signal that ended a command, as it does natively.
    assert_eq!(program_lines(&r), ["Terminated", "term 143", "Killed", "kill 137", "own 1"], "{}", r.stdout);
    // Two 1 s timeouts, not two 20 s sleeps.
    assert!(start.elapsed() < Duration::from_secs(15), "took {:?}", start.elapsed());
}
