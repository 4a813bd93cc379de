//! `nabla-init` (`userland/init/nabla-init.c`), the container guest's
//! first process, booted for real: configs built with
//! [`nabla_guestcfg::GuestConfig`] (or written as text, for the malformed
//! ones), packed with `target/release/nabla-init` into an initramfs, and
//! the Linux guest booted on a copy of `build/rootfs.ext4` (busybox) with
//! it. Needs `make tender kernel image nabla-init`; the exit status, the
//! separate stderr and the host signal need kernel patches 0023-0025
//! (stderr on /dev/ttyN1, host signals to init, the restart's status).

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_guestcfg::{File, GuestConfig, Mount, Root, initramfs_from_text};
use nabla_tests::disk::{rootfs_copy, scratch};
use nabla_tests::linux::kernel;
use nabla_tests::{Run, bin, run_with_input};
use std::path::Path;

/// `RLIMIT_NOFILE`'s resource number.
const RLIMIT_NOFILE: u32 = 7;

/// A config that runs `script` with busybox's `sh -c` on a writable root.
fn shell_config(script: &str) -> GuestConfig {
    GuestConfig {
        root: Some(Root { device: "/dev/vda".into(), fstype: "ext4".into(), readonly: false }),
        args: vec!["/bin/sh".into(), "-c".into(), script.into()],
        ..Default::default()
    }
}

/// Boot an initramfs (the archive's bytes) on a fresh copy of the root
/// image in target/disks/NAME.
fn boot_archive(name: &str, archive: &[u8]) -> Run {
    let dir = scratch(name);
    let img = rootfs_copy(&dir);
    let cpio = dir.join("init.cpio");
    std::fs::write(&cpio, archive).unwrap();
    boot(&img, &cpio)
}

fn boot(img: &Path, cpio: &Path) -> Run {
    let k = kernel();
    let args = ["--mem=64", "--block", img.to_str().unwrap(), "--initrd", cpio.to_str().unwrap(), &k, "--", "quiet"];
    run_with_input(&args, Some(b""), 60).expect("the guest ran over 60 s")
}

fn init() -> Vec<u8> {
    std::fs::read(bin("nabla-init")).unwrap()
}

fn boot_config(name: &str, c: &GuestConfig) -> Run {
    boot_archive(name, &c.initramfs(&init()))
}

/// The lines the container printed, on either stream (stderr goes to
/// /dev/ttyN1 when the kernel has it, else to the console): without the
/// platform's banner and the kernel's restart line.
fn lines(r: &Run) -> Vec<String> {
    r.stdout
        .lines()
        .chain(r.stderr.lines())
        .filter(|l| !l.starts_with("Nabla platform ") && !l.starts_with("reboot: "))
        .map(str::to_owned)
        .collect()
}

/// The status nabla-init restarted the guest with, from the kernel's line.
fn restart_status(r: &Run) -> i32 {
    let l = r.stdout.lines().find_map(|l| l.strip_prefix("reboot: Restarting system with command '"));
    let l = l.unwrap_or_else(|| panic!("no restart line:\n{}\n{}", r.stdout, r.stderr));
    l.trim_end_matches('\'').parse().unwrap()
}

#[test]
fn the_process_gets_its_args_env_cwd_user_limits_mounts_files_and_host_name() {
    let script = "echo \"args: $0 $1\"; echo \"env: $FOO|$BAR\"; pwd; \
                  grep -E '^(Uid|Gid|Groups):' /proc/self/status; umask; ulimit -n; ulimit -Hn; \
                  hostname; cat /etc/hostname; grep ' /scratch ' /proc/mounts; \
                  echo data >/scratch/x && cat /scratch/x; ls -ld /scratch; exit 0";
    let mut c = shell_config(script);
    c.args.extend(["one two".into(), "%x".into()]);
    c.env = vec!["FOO=a b".into(), "BAR=".into(), "PATH=/bin:/sbin".into()];
    c.cwd = Some("/etc".into());
    c.uid = 1000;
    c.gid = 100;
    c.groups = vec![5, 6];
    c.umask = Some(0o027);
    c.rlimits = vec![(RLIMIT_NOFILE, 123, 456)];
    c.hostname = Some("box1".into());
    c.files = vec![File { dest: "/etc/hostname".into(), mode: 0o644, data: b"box1-file\n".to_vec() }];
    c.mounts = vec![Mount {
        fstype: "tmpfs".into(),
        dest: "/scratch".into(),
        flags: vec!["nosuid".into(), "nodev".into()],
        data: "mode=1777".into(),
    }];
    let r = boot_config("init-process", &c);
    let l = lines(&r);
    let want = [
        "args: one two %x",
        "env: a b|",
        "/etc",
        "Uid:\t1000\t1000\t1000\t1000",
        "Gid:\t100\t100\t100\t100",
        "Groups:\t5 6 ",
        "0027",
        "123",
        "456",
        "box1",
        "box1-file",
        "tmpfs /scratch tmpfs rw,nosuid,nodev,relatime,mode=1777 0 0",
        "data",
    ];
    assert_eq!(&l[..want.len()], &want, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(l[want.len()].starts_with("drwxrwxrwt "), "{l:?}");
    assert_eq!(restart_status(&r), 0);
}

#[test]
fn dev_and_proc_are_there_and_the_console_is_stdio() {
    let script = "readlink /proc/self/fd/0; readlink /proc/self/fd/1; test -c /dev/null; echo $?";
    let r = boot_config("init-stdio", &shell_config(script));
    assert_eq!(lines(&r), ["/dev/ttyN0", "/dev/ttyN0", "0"], "{r:?}");
}

#[test]
fn a_missing_program_is_127_and_one_line() {
    let mut c = shell_config("");
    c.args = vec!["no-such-program".into()];
    let r = boot_config("init-missing", &c);
    assert_eq!(lines(&r), ["nabla-init: cannot run no-such-program: No such file or directory"], "{r:?}");
    assert_eq!(restart_status(&r), 127);
    let mut c = shell_config("");
    c.args = vec!["/etc/passwd".into()];
    let r = boot_config("init-noexec", &c);
    assert_eq!(lines(&r), ["nabla-init: cannot run /etc/passwd: Permission denied"], "{r:?}");
    assert_eq!(restart_status(&r), 126);
}

#[test]
fn a_malformed_config_is_one_line_and_status_1() {
    let text = "nabla-config 1\nroot /dev/vda ext4 rw\narg /bin/true\nfrobnicate 3\n";
    let r = boot_archive("init-malformed", &initramfs_from_text(&init(), text, &[]));
    assert_eq!(lines(&r), ["nabla-init: config line 4: unknown key 'frobnicate'"], "{r:?}");
    assert_eq!(restart_status(&r), 1);
    let r = boot_archive("init-version", &initramfs_from_text(&init(), "nabla-config 2\n", &[]));
    assert_eq!(lines(&r), ["nabla-init: config line 1: not 'nabla-config 1' (an unknown format or version)"], "{r:?}");
    assert_eq!(restart_status(&r), 1);
}

#[test]
fn a_read_only_root_and_readonly() {
    let mut c = shell_config("(echo x >/f) 2>&1; cat /etc/hostname; grep ' / ' /proc/mounts");
    c.readonly = true;
    c.files = vec![File { dest: "/etc/hostname".into(), mode: 0o644, data: b"copied\n".to_vec() }];
    let r = boot_config("init-readonly", &c);
    assert_eq!(lines(&r), ["sh: can't open '/f': Read-only file system", "copied", "/dev/vda / ext4 ro,relatime 0 0"]);
    // An ro root: the file is bind-mounted over the image's own.
    c.readonly = false;
    c.root.as_mut().unwrap().readonly = true;
    let r = boot_config("init-ro-root", &c);
    assert_eq!(lines(&r)[..2], ["sh: can't open '/f': Read-only file system", "copied"]);
}

/// The tender exits with the container's status (the kernel hands the
/// restart's argument to the tender: kernel patch 0025).
#[test]
fn the_tenders_exit_status_is_the_containers() {
    for (script, want) in [("exit 3", 3), ("exit 0", 0), ("kill -TERM $$", 128 + 15)] {
        let r = boot_config("init-status", &shell_config(script));
        assert_eq!(r.code, Some(want), "{script}: {r:?}");
    }
    let mut c = shell_config("");
    c.args = vec!["no-such-program".into()];
    assert_eq!(boot_config("init-status", &c).code, Some(127));
    let r = boot_archive("init-status", &initramfs_from_text(&init(), "nabla-config 1\nbad\n", &[]));
    assert_eq!(r.code, Some(1), "{r:?}");
}

/// Without `terminal`, stdout is the tender's stdout and stderr its
/// stderr (/dev/ttyN1: kernel patch 0023), each with only the process's
/// output.
#[test]
fn stdout_and_stderr_are_kept_apart() {
    let r = boot_config("init-streams", &shell_config("echo out; echo err >&2; readlink /proc/self/fd/2"));
    let out: Vec<&str> =
        r.stdout.lines().filter(|l| !l.starts_with("Nabla platform ") && !l.starts_with("reboot: ")).collect();
    assert_eq!(out, ["out", "/dev/ttyN1"], "{r:?}");
    assert_eq!(r.stderr, "err\n");
}

/// SIGTERM to the tender reaches the container's process through pid 1
/// (kernel patch 0024 hands host signals to init; nabla-init forwards
/// them), which handles it and exits with its own status.
#[test]
fn a_host_sigterm_reaches_the_process() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let script = "trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 1; done";
    let dir = scratch("init-sigterm");
    let img = rootfs_copy(&dir);
    let cpio = dir.join("init.cpio");
    std::fs::write(&cpio, shell_config(script).initramfs(&init())).unwrap();
    let mut child = nabla_tests::linux::tender()
        .args(["--mem=64", "--block", img.to_str().unwrap(), "--initrd", cpio.to_str().unwrap(), &kernel()])
        .args(["--", "quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim_end() != "ready" {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the guest ended before it was ready");
    }
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed().as_secs() >= 30 {
            let _ = child.kill();
            panic!("the guest did not end within 30 s of SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.contains("got TERM\n"), "{rest}");
    assert_eq!(status.code(), Some(7), "{rest}");
}

/// `addr`, `mtu` and `route` lines configure eth0 (a tap in a network
/// namespace of the test's own), and lo is up: the guest reaches the host
/// side of the tap.
#[test]
fn the_network_lines_configure_eth0() {
    use nabla_guestcfg::{Address, Route};
    use nabla_tests::netns::Netns;
    use std::net::Ipv4Addr;
    let ns = Netns::new("cinet", &[("tap0", "10.9.0.1/24")]);
    let script = "ip -4 -o addr show; ip route; cat /sys/class/net/eth0/mtu; \
                  ping -c1 -W5 10.9.0.1 | grep -c '1 packets received'; ping -c1 -W5 127.0.0.1 | grep -c '1 packets received'";
    let mut c = shell_config(script);
    c.env = vec!["PATH=/bin:/sbin:/usr/bin:/usr/sbin".into()];
    c.mounts = vec![Mount { fstype: "sysfs".into(), dest: "/sys".into(), flags: vec![], data: String::new() }];
    c.addresses = vec![Address { iface: "eth0".into(), addr: Ipv4Addr::new(10, 9, 0, 2), prefix: 24 }];
    c.mtus = vec![("eth0".into(), 1400)];
    c.routes = vec![
        Route { iface: "eth0".into(), dest: Ipv4Addr::new(10, 9, 0, 0), prefix: 24, gateway: None },
        Route {
            iface: "eth0".into(),
            dest: Ipv4Addr::UNSPECIFIED,
            prefix: 0,
            gateway: Some(Ipv4Addr::new(10, 9, 0, 1)),
        },
        Route {
            iface: "eth0".into(),
            dest: Ipv4Addr::new(10, 77, 0, 0),
            prefix: 16,
            gateway: Some(Ipv4Addr::new(10, 9, 0, 1)),
        },
    ];
    let dir = scratch("init-net");
    let img = rootfs_copy(&dir);
    let cpio = dir.join("init.cpio");
    std::fs::write(&cpio, c.initramfs(&init())).unwrap();
    let tender = bin("nabla-tender");
    let (img, cpio, k) = (img.to_str().unwrap(), cpio.to_str().unwrap(), kernel());
    let mut args = vec!["timeout", "60", tender.to_str().unwrap()];
    args.extend(nabla_tests::linux::rewrite_flags());
    args.extend(["--mem=64", "--net:eth0=tap0", "--block", img, "--initrd", cpio, &k, "--", "quiet"]);
    let out = ns.exec(&args).stdin(std::process::Stdio::null()).output().unwrap();
    let r = Run::from(out);
    let l = lines(&r);
    let has = |s: &str| l.iter().any(|x| x.contains(s));
    assert!(has("lo    inet 127.0.0.1/8"), "{l:?}");
    assert!(has("eth0    inet 10.9.0.2/24"), "{l:?}");
    assert!(has("default via 10.9.0.1 dev eth0"), "{l:?}");
    assert!(has("10.77.0.0/16 via 10.9.0.1 dev eth0"), "{l:?}");
    assert!(has("10.9.0.0/24 dev eth0"), "{l:?}");
    assert_eq!(l[l.len() - 3..], ["1400", "1", "1"], "{r:?}");
    assert_eq!(r.code, Some(0), "{r:?}");
}

/// With `terminal`, the process leads its own session with the console
/// (/dev/ttyN0) as its controlling terminal on fds 0, 1 and 2.
#[test]
fn terminal_gives_a_controlling_terminal() {
    let script = "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; \
                  set -- $(cut -d' ' -f6,7 /proc/$$/stat); [ \"$1\" = $$ ] && echo leader; [ \"$2\" != 0 ] && echo has-ctty; \
                  echo err >&2";
    let mut c = shell_config(script);
    c.terminal = true;
    let r = boot_config("init-terminal", &c);
    assert_eq!(lines(&r), ["/dev/ttyN0", "all-ttys", "leader", "has-ctty", "err"], "{r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
}

/// The parser, natively (`nabla-init --check FILE` on the host): every
/// malformed config is one line naming its line, and status 1.
#[test]
fn the_parser_names_the_bad_line() {
    const HEAD: &str = "nabla-config 1\nroot /dev/vda ext4 rw\narg x\n";
    let cases: &[(&str, &str)] = &[
        ("", "config: empty"),
        ("nabla-config 2\n", "config line 1: not 'nabla-config 1' (an unknown format or version)"),
        ("nabla-config 1\narg x\n", "config: no 'root' line"),
        ("nabla-config 1\nroot /dev/vda ext4 rw\n", "config: no 'arg' line (the process to run)"),
        ("\n", "config line 4: an empty line"),
        ("env  A=b\n", "config line 4: an empty field (two spaces or a trailing space)"),
        ("env A=b \n", "config line 4: an empty field (two spaces or a trailing space)"),
        (" arg y\n", "config line 4: an empty key"),
        ("arg a%2\n", "config line 4: bad %XX escape"),
        ("arg a%00\n", "config line 4: a NUL byte (%00) in an argument"),
        ("arg a\u{e9}\n", "config line 4: byte 0xc3 must be escaped"),
        ("env FOO\n", "config line 4: env 'FOO' is not KEY=VALUE"),
        ("cwd rel\n", "config line 4: cwd 'rel' is not an absolute path"),
        ("user 1\n", "config line 4: 'user' takes 2 arguments, not 1"),
        ("user 1 4294967295\n", "config line 4: bad id '4294967295'"),
        ("umask 8\n", "config line 4: bad umask '8'"),
        ("rlimit 7 10 5\n", "config line 4: rlimit 7: soft limit above the hard limit"),
        ("rlimit 99 1 1\n", "config line 4: bad rlimit resource '99'"),
        ("mount tmpfs /t rw %\n", "config line 4: unknown mount flag 'rw'"),
        ("addr eth0 10.0.0.2\n", "config line 4: '10.0.0.2' is not ADDR/PREFIX"),
        ("route eth0 0.0.0.0/0 gw\n", "config line 4: bad gateway 'gw'"),
        ("sysctl ../x 1\n", "config line 4: bad sysctl key '../x'"),
        ("terminal x\n", "config line 4: 'terminal' takes 0 arguments, not 1"),
        ("readonly\nreadonly\n", "config line 5: a second 'readonly' line"),
        ("root /dev/vdb ext4 rw\n", "config line 4: a second 'root' line"),
        ("frob\n", "config line 4: unknown key 'frob'"),
    ];
    let dir = scratch("init-check");
    let file = dir.join("config");
    for (text, want) in cases {
        let full = if text.starts_with("nabla-config") || text.is_empty() {
            text.to_string()
        } else {
            format!("{HEAD}{text}")
        };
        std::fs::write(&file, &full).unwrap();
        let o = std::process::Command::new(bin("nabla-init")).arg("--check").arg(&file).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stderr), format!("nabla-init: {want}\n"), "{full:?}");
        assert_eq!(o.status.code(), Some(1), "{full:?}");
    }
    let good = format!(
        "{HEAD}arg %\narg a%20b%25\nenv A=\ncwd /\nuser 0 0\ngroups 1 2\numask 22\nrlimit 7 inf inf\n\
         hostname h\nfile 0 /etc/hosts 644\nmount tmpfs /tmp nosuid,nodev mode=1777\naddr eth0 10.0.0.2/24\n\
         mtu eth0 1400\nroute eth0 0.0.0.0/0 10.0.0.1\nsysctl net.ipv4.ip_forward 1\nterminal\nreadonly\n"
    );
    std::fs::write(&file, &good).unwrap();
    let o = std::process::Command::new(bin("nabla-init")).arg("--check").arg(&file).output().unwrap();
    assert!(o.status.success() && o.stderr.is_empty(), "{o:?}");
}

/// At the end every other process is killed and the root remounted
/// read-only: the disk is left clean, so the next guest can mount it from
/// a read-only device (ext4 refuses one whose journal needs replaying).
#[test]
fn a_writable_root_is_left_clean() {
    let dir = scratch("init-clean");
    let img = rootfs_copy(&dir);
    let cpio = dir.join("init.cpio");
    let c = shell_config("echo kept >/f; (while true; do echo busy >>/g; sleep 1; done) & sleep 1; exit 4");
    std::fs::write(&cpio, c.initramfs(&init())).unwrap();
    let r = boot(&img, &cpio);
    assert_eq!(restart_status(&r), 4, "{r:?}");
    let (code, report) = nabla_tests::disk::fsck(&img);
    assert_eq!(code, 0, "{report}");
    let mut c = shell_config("cat /f");
    c.root.as_mut().unwrap().readonly = true;
    std::fs::write(&cpio, c.initramfs(&init())).unwrap();
    let k = kernel();
    let ro = format!("{}:ro", img.to_str().unwrap());
    let args = ["--mem=64", "--block", &ro, "--initrd", cpio.to_str().unwrap(), &k, "--", "quiet"];
    let r = run_with_input(&args, Some(b""), 60).unwrap();
    assert_eq!(lines(&r), ["kept"], "{r:?}");
}
