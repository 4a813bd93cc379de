//! Devices through the real binary: block (sector sizes from 512 bytes to
//! 256 KiB, requests up to 1 MiB, read-only, 63 devices, 67-character names), console input, the
//! Solo5 C guests, every attachment error, and networking through taps in
//! a network namespace of the test's own (CI runs as root).

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::netns::Netns;
use nabla_tests::{Run, bin, guest, root, run_guest, tender};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn assert_success(r: &Run) {
    assert_eq!(r.code, Some(0), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.lines().last(), Some("SUCCESS"), "stdout:\n{}", r.stdout);
}

fn refused(args: &[&str], want: &str) {
    let r = tender(args);
    assert_eq!(r.code, Some(1), "{args:?}: {r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    assert!(r.stderr.contains(want), "{args:?}: wanted {want:?} in {}", r.stderr);
    assert!(r.stdout.is_empty(), "{args:?}: the guest ran");
}

/// A disk image of `size` bytes filled with 0xee, in target/disks.
fn disk(name: &str, size: usize) -> PathBuf {
    let dir = root().join("target/disks");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, vec![0xee; size]).unwrap();
    p
}

/// The byte the `blk` guest writes at offset `o`.
fn pattern(o: u64) -> u8 {
    let w = (o / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x4E_4142_4C41;
    w.to_le_bytes()[(o % 8) as usize]
}

fn blk_with_sector(sector: &str) {
    let d = disk(&format!("blk-{sector}.img"), 4 << 20);
    let arg = format!("--block:storage={}", d.display());
    let ss = format!("--block-sector-size:storage={sector}");
    let r = run_guest(&["--quiet", &arg, &ss], "blk", &[]);
    assert_success(&r);
    assert!(r.stdout.contains(&format!("{sector}-byte sectors")), "{}", r.stdout);
    // The data really is in the file, byte for byte.
    let data = std::fs::read(&d).unwrap();
    assert_eq!(data.len(), 4 << 20, "the disk changed size");
    if let Some(i) = (0..data.len()).find(|&i| data[i] != pattern(i as u64)) {
        panic!("byte {i} of the disk file is wrong");
    }
}

/// `--block PATH`, with no name, attaches the guest's first block device.
#[test]
fn blk_attached_without_a_name() {
    let d = disk("blk-nameless.img", 4 << 20);
    let r = run_guest(&["--quiet", "--block", d.to_str().unwrap()], "blk", &[]);
    assert_success(&r);
}

#[test]
fn blk_512_byte_sectors() {
    blk_with_sector("512");
}

#[test]
fn blk_4096_byte_sectors() {
    blk_with_sector("4096");
}

#[test]
fn blk_odd_capacity_and_tiny_disk() {
    // Capacity not a multiple of the 1 MiB window, and one smaller than it.
    for (name, size) in [("odd.img", (3 << 20) + 4096 * 3), ("tiny.img", 4096)] {
        let d = disk(name, size);
        let r = run_guest(&["--quiet", &format!("--block:storage={}", d.display())], "blk", &[]);
        assert_success(&r);
        let data = std::fs::read(&d).unwrap();
        assert!(data.iter().enumerate().all(|(i, &b)| b == pattern(i as u64)), "{name}: file content wrong");
    }
}

/// With stdout and stdin closed, the disk must not take the console's fd:
/// the guest's console output may not land in the disk image.
#[test]
fn closed_standard_fds_never_reach_the_disk() {
    let d = disk("closed-fds.img", 1 << 20);
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec {} --quiet --block:storage={} {} <&- >&-",
            bin("nabla-tender").display(),
            d.display(),
            guest("blk").display()
        ))
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    let data = std::fs::read(&d).unwrap();
    assert!(data.iter().enumerate().all(|(i, &b)| b == pattern(i as u64)), "the disk image was corrupted");
}

#[test]
fn blk_read_only() {
    let d = disk("ro.img", 1 << 20);
    let r = run_guest(&["--quiet", &format!("--block:storage={}:ro", d.display())], "blk", &[]);
    assert_success(&r);
    assert!(std::fs::read(&d).unwrap().iter().all(|&b| b == 0xee), "a read-only disk was written");
}

#[test]
fn sixty_three_block_devices() {
    let mut args = vec!["--quiet".to_string()];
    for i in 0..63 {
        let d = disk(&format!("max{i}.img"), 4096);
        args.push(format!("--block:b{i}={}", d.display()));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run_guest(&a, "maxdev", &[]);
    assert_success(&r);
    for i in 0..63u64 {
        let data = std::fs::read(root().join(format!("target/disks/max{i}.img"))).unwrap();
        assert_eq!(data[..8], (i * 1001).to_le_bytes());
    }
}

#[test]
fn attachment_errors() {
    let blk = guest("blk");
    let b = blk.to_str().unwrap();
    let ok = disk("err-ok.img", 1 << 20);
    let ok_arg = format!("--block:storage={}", ok.display());
    let small = disk("err-small.img", 100);
    let odd = disk("err-odd.img", 4096 + 512);
    refused(&[b], "the guest declares block device storage: attach it with --block:storage=");
    refused(&[&ok_arg, "--block:other=/tmp/x", b], "the guest declares no block device called other");
    refused(&[&ok_arg, &ok_arg, b], "device storage is attached more than once");
    refused(&[&ok_arg, "--net:storage=tap0", b], "device storage is attached more than once");
    refused(&["--net:storage=tap0", b], "the guest declares no net device called storage");
    refused(&["--block:storage=/nonexistent/disk.img", b], "cannot open /nonexistent/disk.img");
    refused(&[&format!("--block:storage={}", small.display()), b], "smaller than one 512-byte sector");
    let odd_arg = format!("--block:storage={}", odd.display());
    refused(&[&odd_arg, "--block-sector-size:storage=4096", b], "not a multiple of the 4096-byte sector size");
    for bad in ["1000", "256", "0", "524288", "4096x", "-512", ""] {
        let arg = format!("--block-sector-size:storage={bad}");
        refused(&[&ok_arg, &arg, b], "must be a power of two from 512 to 262144");
    }
    refused(&[&ok_arg, "--block-sector-size:storage=2097152", b], "must be a power of two from 512 to 262144");
    refused(&[&odd_arg, "--block-sector-size:storage=65536", b], "smaller than one 65536-byte sector");
    refused(&[&ok_arg, "--block-sector-size:other=512", b], "no --block:other=PATH given");
    refused(&["--block:bad/name=x", b], "not a valid device name");
    refused(&["--block:storage", b], "--block:storage= needs a file path");
    // A FIFO, even read-only (whose open would wait for a writer).
    let fifo = root().join("target/disks/attach.fifo");
    let _ = std::fs::remove_file(&fifo);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    refused(&[&format!("--block:storage={}:ro", fifo.display()), b], "not a regular file or block device");
    let net = guest("net");
    let n = net.to_str().unwrap();
    refused(&[n], "the guest declares net device service0: attach it with --net:service0=");
    refused(&["--net:service0=tap0", "--net-mac:service0=zz:00:00:00:00:00", n], "not a unicast MAC address");
    refused(&["--net:service0=tap0", "--net-mac:service0=01:00:00:00:00:00", n], "not a unicast MAC address");
    refused(&["--net:service0=@987", n], "cannot attach tap @987");
    refused(&["--net:service0=@x", n], "@FD needs a file descriptor number above 2");
    refused(&["--net:service0=@1", n], "@FD needs a file descriptor number above 2");
}

#[test]
fn console_echoes_stdin() {
    let input = "first line\nsecond line\n".repeat(200);
    let mut child = Command::new(bin("nabla-tender"))
        .args(["--quiet", guest("console").to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let text = input.clone();
    let writer = std::thread::spawn(move || {
        for chunk in text.as_bytes().chunks(1000) {
            stdin.write_all(chunk).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with(&input), "echo differs");
    assert!(stdout.contains(&format!("echoed {} bytes", input.len())));
    // A regular file on stdin works too.
    let f = root().join("target/disks/console-input.txt");
    std::fs::write(&f, "from a file\n").unwrap();
    let out = Command::new(bin("nabla-tender"))
        .args(["--quiet", guest("console").to_str().unwrap()])
        .stdin(std::fs::File::open(&f).unwrap())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from a file\nechoed 12 bytes\nSUCCESS\n");
}

fn termios(fd: i32) -> libc::termios {
    // SAFETY: zeroed termios is a valid out-buffer.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open terminal.
    assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
    t
}

fn same(a: &libc::termios, b: &libc::termios) -> bool {
    a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_lflag == b.c_lflag && a.c_cc == b.c_cc
}

#[test]
fn terminal_is_raw_while_running_and_always_restored() {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two fds.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0);
    let before = termios(slave);
    let stdin = || {
        // SAFETY: dup of our own open fd; the Stdio takes ownership of it.
        unsafe { <Stdio as std::os::fd::FromRawFd>::from_raw_fd(libc::dup(slave)) }
    };
    let child = Command::new(bin("nabla-tender"))
        .args(["--quiet", guest("console").to_str().unwrap()])
        .stdin(stdin())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let during = termios(slave);
    // SAFETY: writing to our pty master.
    unsafe { libc::write(master, b"typed\n".as_ptr().cast(), 6) };
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Always end the child before asserting: a child left reading the pty
    // would hold the test's output pipes open forever.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(during.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG), 0, "not in raw mode");
    assert_eq!(out.status.code(), Some(143));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "nabla-tender: terminated by SIGTERM\n");
    assert!(String::from_utf8_lossy(&out.stdout).contains("typed"));
    assert!(same(&before, &termios(slave)), "terminal not restored after SIGTERM");
    for (g, code) in [("hello", 0), ("abort", 255), ("exception", 139), ("hostcall", 159)] {
        let st = Command::new(bin("nabla-tender"))
            .args(["--quiet", guest(g).to_str().unwrap()])
            .stdin(stdin())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(code), "{g}");
        assert!(same(&before, &termios(slave)), "terminal not restored after {g}");
    }
}

#[test]
fn solo5_c_guests() {
    let r = run_guest(&[], "c-hello", &["a", "b"]);
    assert_success(&r);
    assert!(r.stdout.contains("Command line: \"a b\""), "{}", r.stdout);
    // Every power of two from 512 to the largest request (256 KiB), as
    // Solo5 allows (it has no upper bound; a block larger than one request
    // could never be read here).
    for sector in (9..=18).map(|s| 1u64 << s) {
        let d = disk(&format!("c-blk-{sector}.img"), 1 << 20);
        let args = [&format!("--block:storage={}", d.display()), &format!("--block-sector-size:storage={sector}")];
        let r = run_guest(&["--quiet", args[0], args[1]], "c-blk", &[]);
        assert_success(&r);
        assert!(r.stdout.contains(&format!("storage: 1048576 bytes, {sector}-byte blocks")), "{}", r.stdout);
        // The pattern of the last block really is in the file.
        let data = std::fs::read(&d).unwrap();
        let off = (1u64 << 20) - sector;
        let want = |i: u64| ((off / 512) * 7 + i * 13 + 1) as u8;
        assert!((0..sector).all(|i| data[(off + i) as usize] == want(i)), "{sector}: last block wrong");
    }
}

/// The longest device name is 67 characters, as in Solo5: such a device is
/// declared (gen-manifest), listed (query-manifest), attached and
/// acquired; one character more is refused on the command line and by
/// gen-manifest, each with one line.
#[test]
fn device_names_of_67_characters() {
    let longest = "a_device_name_of_sixty_seven_characters_the_longest_solo5_allows_xy";
    assert_eq!(longest.len(), 67);
    let (d1, d2) = (disk("names-1.img", 4096), disk("names-2.img", 8192));
    let a1 = format!("--block:storage={}", d1.display());
    let a2 = format!("--block:{longest}={}", d2.display());
    let r = run_guest(&["--quiet", &a1, &a2], "c-names", &[]);
    assert_success(&r);
    assert!(r.stdout.contains(&format!("{longest}: handle 1, 8192 bytes")), "{}", r.stdout);
    let out = Command::new(bin("nabla-elftool")).arg("query-manifest").arg(guest("c-names")).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!(r#"{{"name":"{longest}","type":"BLOCK_BASIC"}}"#)));
    let names = guest("c-names");
    let too_long = format!("--block:{longest}z={}", d2.display());
    refused(
        &[&a1, &too_long, names.to_str().unwrap()],
        &format!("--block:{longest}z: not a valid device name: the name is 68 characters long, at most 67"),
    );
    let dir = root().join("target/disks");
    let json =
        format!(r#"{{"type":"solo5.manifest","version":1,"devices":[{{"name":"{longest}z","type":"NET_BASIC"}}]}}"#);
    std::fs::write(dir.join("m68.json"), json).unwrap();
    let out = Command::new(bin("nabla-elftool"))
        .arg("gen-manifest")
        .arg(dir.join("m68.json"))
        .arg(dir.join("m68.c"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("the name is 68 characters long, at most 67"), "{stderr}");
}

#[test]
fn elftool_manifests() {
    let out = Command::new(bin("nabla-elftool")).arg("query-manifest").arg(guest("net2")).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"type":"solo5.manifest","version":1,"devices":[{"name":"service0","type":"NET_BASIC"},{"name":"service1","type":"NET_BASIC"}]}"#
    );
    let dir = root().join("target/disks");
    let many: Vec<String> = (0..64).map(|i| format!(r#"{{"name":"d{i}","type":"BLOCK_BASIC"}}"#)).collect();
    let json = format!(r#"{{"type":"solo5.manifest","version":1,"devices":[{}]}}"#, many.join(","));
    std::fs::write(dir.join("m64.json"), json).unwrap();
    let out = Command::new(bin("nabla-elftool"))
        .arg("gen-manifest")
        .arg(dir.join("m64.json"))
        .arg(dir.join("m64.c"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("64 devices, at most 63"));
}

/// 10,000 flood pings with a pattern payload to `addr`; every reply back
/// and intact.
fn ping(ns: &Netns, addr: &str) {
    let out =
        ns.exec(&["ping", "-f", "-c", "10000", "-p", "4e61626c61", "-s", "56", "-W", "2", addr]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ping {addr} failed: {text}");
    assert!(text.contains("10000 packets transmitted, 10000 received"), "{text}");
    assert!(!text.contains("wrong data") && !text.contains("DUP"), "{text}");
}

#[test]
fn net_answers_ten_thousand_pings() {
    let ns = Netns::new("net", &[("tap0", "10.0.0.1/24")]);
    let flags = ["--quiet", "--net:service0=tap0", "--net-mac:service0=02:00:00:00:00:02"];
    let served = ns.serve(&[], &flags, "net", 1);
    ping(&ns, "10.0.0.2");
    let (code, stdout, stderr) = served.wait();
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    assert!(stdout.contains("mac [02, 00, 00, 00, 00, 02] mtu 1500"), "{stdout}");
    assert!(stdout.contains("answered 10000 echo requests"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("SUCCESS"));
}

#[test]
fn net2_answers_on_two_interfaces() {
    let ns = Netns::new("net2", &[("tap0", "10.0.0.1/24"), ("tap1", "10.1.0.1/24")]);
    let flags = ["--quiet", "--net:service0=tap0", "--net:service1=tap1"];
    let served = ns.serve(&[], &flags, "net2", 2);
    std::thread::scope(|s| {
        s.spawn(|| ping(&ns, "10.0.0.2"));
        s.spawn(|| ping(&ns, "10.1.0.2"));
    });
    let (code, stdout, stderr) = served.wait();
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    assert!(stdout.contains("answered 10000 + 10000 echo requests"), "{stdout}");
}

#[test]
fn net_on_an_inherited_tap_fd() {
    let ns = Netns::new("netfd", &[("tap0", "10.0.0.1/24")]);
    // The test opens the tap itself, inside the namespace, and hands the
    // fd over as a container runtime would: --net:service0=@3.
    let tapfd = bin("nabla-tapfd");
    let wrapper = [tapfd.to_str().unwrap(), "tap0", "3", "--"];
    let served = ns.serve(&wrapper, &["--quiet", "--net:service0=@3"], "net", 1);
    ping(&ns, "10.0.0.2");
    let (code, stdout, stderr) = served.wait();
    assert_eq!(code, Some(0), "{stdout} {stderr}");
}
