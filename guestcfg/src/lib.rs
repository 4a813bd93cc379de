//! What `nabla-init` (the guest's first process in a container) is told
//! to do, and the initramfs that carries it into the guest.
//!
//! `nabla-runtime` (an OCI bundle) and `nabla-tender`'s `nabla-run` mode
//! (runnc's rumprun JSON) both describe the container's process as a
//! [`GuestConfig`] and pack it with the `nabla-init` binary into a newc
//! cpio archive ([`GuestConfig::initramfs`]), which the tender hands the
//! kernel with `--initrd`. The kernel runs `/init` from it; `/init` reads
//! `/nabla/config`, mounts the root disk, sets the container up and runs
//! its process.
//!
//! # The text format (`/nabla/config`)
//!
//! The first line is `nabla-config 1`. Every other line is a key and its
//! arguments separated by single spaces. Each argument is escaped: a byte
//! outside `0x21..=0x7e`, and `%` itself, is written `%XX` (two upper-case
//! hex digits), so an argument never holds a space or a newline; an empty
//! argument is written `%`. Keys, each at most once unless marked
//! "repeated":
//!
//! | line | meaning |
//! |---|---|
//! | `root DEV FSTYPE ro\|rw` | the disk to mount as the new root |
//! | `arg A` (repeated) | the process's argv, in order (at least one) |
//! | `env K=V` (repeated) | its environment, in order |
//! | `cwd PATH` | its working directory (absolute) |
//! | `user UID GID` | its uid and gid |
//! | `groups G...` | its supplementary groups (none: no line) |
//! | `umask OCTAL` | its umask |
//! | `rlimit RESOURCE SOFT HARD` (repeated) | `setrlimit` (resource number; `inf` for unlimited) |
//! | `hostname NAME` | the guest's host name |
//! | `file N DEST MODE` (repeated) | copy `/nabla/files/N` to `DEST` in the new root, octal `MODE` |
//! | `mount FSTYPE DEST FLAGS DATA` (repeated) | mount in the new root, in order; `FLAGS` a comma list of `ro,nosuid,nodev,noexec,relatime,noatime,strictatime,sync` or `-`; `DATA` the file system's options (`%` for none) |
//! | `addr IF ADDR/PREFIX` (repeated) | an IPv4 address on interface `IF` (which is brought up) |
//! | `mtu IF N` (repeated) | interface MTU |
//! | `route IF DEST/PREFIX GW` (repeated) | an IPv4 route; `GW` `-` for an on-link route; `0.0.0.0/0` is the default route |
//! | `sysctl KEY VALUE` (repeated) | written to `/proc/sys/KEY` (dots for slashes) |
//! | `terminal` | the process gets the console as its controlling terminal on fds 0, 1 and 2 |
//! | `readonly` | the root is remounted read-only once set up |
//!
//! Without `terminal` the process's stdin is the console's input, stdout
//! the console (`/dev/ttyN0`) and stderr the tender's stderr
//! (`/dev/ttyN1`). Unknown keys are an error for `nabla-init` (a newer
//! writer than reader), so the version line only changes when a key's
//! meaning does.
//!
//! # What `nabla-init` does with it
//!
//! `userland/init/nabla-init.c` (its header comment has the details).
//! In order: host name, sysctls (through the initramfs' `/proc`) and the
//! network (`lo` always up as 127.0.0.1/8; then MTUs, addresses, routes;
//! a route that exists already, such as an address's own subnet, is
//! fine); the root on `/newroot` (its device waited for up to 3 s), made
//! the root with `MS_MOVE` and `chroot`; in the new root, devtmpfs on
//! `/dev` and proc on `/proc` **unless a `mount` line names that
//! destination** (each only where the directory exists or can be made),
//! then the `mount` lines in order (mount points made as needed), then the
//! `file` copies (parent directories made; on an `ro` root a file that
//! exists there is bind-mounted over instead), then `readonly`. So
//! `mount` lines under `/dev` (devpts, mqueue, a tmpfs `/dev/shm`) find
//! devtmpfs there, and a `tmpfs` on `/dev` (as OCI's default config has)
//! would hide the devices: a runtime leaves such a line out. Paths are
//! resolved in the new root, its symbolic links included. The process
//! is started with `vfork` and `execve`, `arg` 0 looked up in the `env`
//! `PATH` (default `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`)
//! as `execvp` does; it gets `rlimit`s, then `groups` (none without the
//! line), gid, uid, `umask`, `cwd`. SIGTERM, SIGINT, SIGHUP, SIGQUIT,
//! SIGUSR1, SIGUSR2 and SIGWINCH that reach pid 1 are sent on to it. When
//! it ends, every other process is killed, the root is remounted
//! read-only (the disk is left clean) and the guest restarts (`LINUX_REBOOT_CMD_RESTART2`) with its exit
//! status, or 128 + its signal, as the argument: the tender's exit
//! status. Errors are one line `nabla-init: ...` on the tender's stderr
//! (`/dev/ttyN1`, else the console) and status 1: `config line N: ...`
//! for a bad line, `config: ...` for a missing one (`root` and `arg` are
//! required); `cannot run ARG0: REASON` is 127 for a program not found,
//! 126 for one that cannot be run. `nabla-init --check FILE`, outside a
//! guest, only parses a config (0, or the error line and 1).
//!
//! # Limits
//!
//! IPv4 only; no routes through a second gateway hop; files are copied
//! whole (they live in the initramfs, so in guest memory, until `/init`
//! frees it).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// The format's version (the first line of `/nabla/config`).
pub const VERSION: u32 = 1;

/// Where the config goes in the initramfs.
pub const CONFIG_PATH: &str = "nabla/config";

/// One `mount` line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    /// File system type (`proc`, `sysfs`, `devtmpfs`, `devpts`, `tmpfs`, `mqueue`, ...).
    pub fstype: String,
    /// Absolute path in the new root.
    pub dest: String,
    /// Generic mount flags by name (`ro`, `nosuid`, ...).
    pub flags: Vec<String>,
    /// File system options (`mode=755,size=65536k`), or empty.
    pub data: String,
}

/// One `route` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Interface name in the guest (`eth0`).
    pub iface: String,
    /// Destination network.
    pub dest: Ipv4Addr,
    /// Destination prefix length (0 for the default route).
    pub prefix: u8,
    /// Gateway, or `None` for an on-link route.
    pub gateway: Option<Ipv4Addr>,
}

/// An IPv4 address on a guest interface (`addr` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// Interface name in the guest (`eth0`).
    pub iface: String,
    /// The address.
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

/// A file copied into the new root (`file` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Absolute path in the new root.
    pub dest: String,
    /// Permission bits.
    pub mode: u32,
    /// Contents.
    pub data: Vec<u8>,
}

/// The root disk (`root` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// Device in the guest (`/dev/vda`).
    pub device: String,
    /// File system type (`ext4`, `iso9660`).
    pub fstype: String,
    /// Mounted read-only.
    pub readonly: bool,
}

/// Everything `nabla-init` is told. See the module doc for each field's line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestConfig {
    pub root: Option<Root>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub umask: Option<u32>,
    /// `(resource, soft, hard)`; `u64::MAX` is unlimited.
    pub rlimits: Vec<(u32, u64, u64)>,
    pub hostname: Option<String>,
    pub files: Vec<File>,
    pub mounts: Vec<Mount>,
    pub addresses: Vec<Address>,
    /// `(interface, mtu)`.
    pub mtus: Vec<(String, u32)>,
    pub routes: Vec<Route>,
    /// `(key, value)`, key with dots (`net.ipv4.ip_forward`).
    pub sysctls: Vec<(String, String)>,
    pub terminal: bool,
    pub readonly: bool,
}

/// Escape one argument (see the module doc).
pub fn escape(arg: &str) -> String {
    if arg.is_empty() {
        return "%".to_string();
    }
    let mut out = String::with_capacity(arg.len());
    for &b in arg.as_bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn limit(v: u64) -> String {
    if v == u64::MAX { "inf".to_string() } else { v.to_string() }
}

impl GuestConfig {
    /// The text of `/nabla/config`.
    pub fn to_text(&self) -> String {
        let mut s = format!("nabla-config {VERSION}\n");
        let mut line = |key: &str, args: &[&str]| {
            s.push_str(key);
            for a in args {
                s.push(' ');
                s.push_str(&escape(a));
            }
            s.push('\n');
        };
        if let Some(r) = &self.root {
            line("root", &[&r.device, &r.fstype, if r.readonly { "ro" } else { "rw" }]);
        }
        for a in &self.args {
            line("arg", &[a]);
        }
        for e in &self.env {
            line("env", &[e]);
        }
        if let Some(c) = &self.cwd {
            line("cwd", &[c]);
        }
        line("user", &[&self.uid.to_string(), &self.gid.to_string()]);
        if !self.groups.is_empty() {
            let g: Vec<String> = self.groups.iter().map(u32::to_string).collect();
            let g: Vec<&str> = g.iter().map(String::as_str).collect();
            line("groups", &g);
        }
        if let Some(m) = self.umask {
            line("umask", &[&format!("{m:o}")]);
        }
        for (r, soft, hard) in &self.rlimits {
            line("rlimit", &[&r.to_string(), &limit(*soft), &limit(*hard)]);
        }
        if let Some(h) = &self.hostname {
            line("hostname", &[h]);
        }
        for (n, f) in self.files.iter().enumerate() {
            line("file", &[&n.to_string(), &f.dest, &format!("{:o}", f.mode)]);
        }
        for m in &self.mounts {
            let flags = if m.flags.is_empty() { "-".to_string() } else { m.flags.join(",") };
            line("mount", &[&m.fstype, &m.dest, &flags, &m.data]);
        }
        for (i, mtu) in &self.mtus {
            line("mtu", &[i, &mtu.to_string()]);
        }
        for a in &self.addresses {
            line("addr", &[&a.iface, &format!("{}/{}", a.addr, a.prefix)]);
        }
        for r in &self.routes {
            let gw = r.gateway.map_or("-".to_string(), |g| g.to_string());
            line("route", &[&r.iface, &format!("{}/{}", r.dest, r.prefix), &gw]);
        }
        for (k, v) in &self.sysctls {
            line("sysctl", &[k, v]);
        }
        if self.terminal {
            line("terminal", &[]);
        }
        if self.readonly {
            line("readonly", &[]);
        }
        s
    }

    /// The initramfs: `/init` (the `nabla-init` binary `init`), the
    /// config, the files to copy, `/dev/console` and the directories
    /// `nabla-init` mounts on (`/dev`, `/proc`, `/newroot`).
    pub fn initramfs(&self, init: &[u8]) -> Vec<u8> {
        let files: Vec<&[u8]> = self.files.iter().map(|f| f.data.as_slice()).collect();
        initramfs_from_text(init, &self.to_text(), &files)
    }
}

/// [`GuestConfig::initramfs`] with the config given as its text and the
/// files' contents in order (`/nabla/files/N` is `files[N]`): for tools
/// and tests that write the text themselves (a malformed config, say).
pub fn initramfs_from_text(init: &[u8], text: &str, files: &[&[u8]]) -> Vec<u8> {
    let mut c = Cpio::default();
    c.dir("dev", 0o755);
    c.char_dev("dev/console", 0o600, 5, 1);
    c.dir("proc", 0o555);
    c.dir("newroot", 0o755);
    c.dir("nabla", 0o700);
    c.dir("nabla/files", 0o700);
    c.file("init", 0o755, init);
    c.file(CONFIG_PATH, 0o600, text.as_bytes());
    for (n, data) in files.iter().enumerate() {
        c.file(&format!("nabla/files/{n}"), 0o600, data);
    }
    c.finish()
}

const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFCHR: u32 = 0o020_000;

/// A newc (`070701`) cpio writer: uid/gid 0, mtime 0, inodes from 1.
/// Names are taken as given (relative, no `..`: the caller's own).
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let namesize = name.len() + 1;
        let fields = [self.ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, namesize as u32, 0];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            let _ = write!(HexSink(&mut self.out), "{f:08X}");
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        pad4(&mut self.out);
        self.out.extend_from_slice(data);
        pad4(&mut self.out);
    }

    /// A directory.
    pub fn dir(&mut self, name: &str, perm: u32) {
        self.entry(name, S_IFDIR | perm, 2, (0, 0), &[]);
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, S_IFREG | perm, 1, (0, 0), data);
    }

    /// A character device node.
    pub fn char_dev(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | perm, 1, (major, minor), &[]);
    }

    /// The archive, with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, 1, (0, 0), &[]);
        self.out
    }
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

struct HexSink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for HexSink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_spaces_percent_newlines_and_empty() {
        assert_eq!(escape("a b%c\n"), "a%20b%25c%0A");
        assert_eq!(escape(""), "%");
        assert_eq!(escape("é"), "%C3%A9");
    }

    #[test]
    fn text_has_version_and_lines_in_order() {
        let c = GuestConfig {
            root: Some(Root { device: "/dev/vda".into(), fstype: "ext4".into(), readonly: false }),
            args: vec!["/bin/echo".into(), "hello world".into()],
            env: vec!["PATH=/bin".into()],
            cwd: Some("/".into()),
            uid: 1000,
            gid: 100,
            rlimits: vec![(7, 1024, u64::MAX)],
            routes: vec![Route {
                iface: "eth0".into(),
                dest: Ipv4Addr::UNSPECIFIED,
                prefix: 0,
                gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
            }],
            mounts: vec![Mount { fstype: "proc".into(), dest: "/proc".into(), flags: vec![], data: String::new() }],
            terminal: true,
            ..Default::default()
        };
        assert_eq!(
            c.to_text(),
            "nabla-config 1\nroot /dev/vda ext4 rw\narg /bin/echo\narg hello%20world\nenv PATH=/bin\ncwd /\n\
             user 1000 100\nrlimit 7 1024 inf\nmount proc /proc - %\nroute eth0 0.0.0.0/0 10.0.0.1\nterminal\n"
        );
    }

    #[test]
    fn cpio_entries_are_aligned_and_end_with_the_trailer() {
        let a = GuestConfig::default().initramfs(b"\x7fELF");
        assert!(a.starts_with(b"070701"));
        assert_eq!(a.len() % 4, 0);
        let t = a.windows(10).position(|w| w == b"TRAILER!!!").expect("trailer");
        assert_eq!(&a[t - 110..t - 104], b"070701");
        // The init binary is there, with mode 0100755.
        let i = a.windows(5).position(|w| w == b"init\0").expect("init");
        let hdr = &a[i - 110..i];
        assert_eq!(&hdr[14..22], b"000081ED");
    }

    #[test]
    fn the_archive_from_text_is_the_configs_own() {
        let f = File { dest: "/etc/hostname".into(), mode: 0o644, data: b"box\n".to_vec() };
        let c = GuestConfig { args: vec!["sh".into()], files: vec![f], ..Default::default() };
        let by_text = initramfs_from_text(b"init", &c.to_text(), &[b"box\n"]);
        assert_eq!(c.initramfs(b"init"), by_text);
        let i = by_text.windows(14).position(|w| w == b"nabla/files/0\0").expect("file 0");
        // 110 header bytes and 14 of name: the data follows unpadded.
        assert!(by_text[i..].starts_with(b"nabla/files/0\0box\n"));
    }
}
