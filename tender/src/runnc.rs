//! `nabla-run`: the command line that the Nabla containers project's
//! `runnc` gives its tender, translated into the tender's own.
//!
//! runnc (an OCI runtime for rumprun unikernels on Solo5) runs
//!
//! ```text
//! /opt/runnc/bin/nabla-run --x-exec-heap --mem=MB --net=TAP --disk=ROOTFS.iso KERNEL.nabla 'JSON'
//! ```
//!
//! where `ROOTFS.iso` is the image's root made with `genisoimage -l -r`
//! and `JSON` is rumprun's configuration. Installed as `nabla-run` (or a
//! link of that name), or run with `--x-exec-heap` as its first argument
//! under any name, `nabla-tender` takes that command line and boots its
//! Linux guest (`KERNEL.nabla`, which is our `linux.nabla` copied into the
//! image) as
//!
//! ```text
//! nabla-tender --quiet --mem=MB --block ROOTFS.iso:ro --net eth0=TAP --initrd /proc/self/fd/N KERNEL -- quiet
//! ```
//!
//! with, in the memfd `N`, the initramfs of `nabla-init` and its
//! [`GuestConfig`] made from the JSON: the disk mounted read-only as the
//! root (`/dev/vda`, ISO 9660; an ext2/3/4 image is also taken, told apart
//! by its superblock), a writable tmpfs on `/tmp`, `eth0` configured from
//! `net`, and the `cmdline` program run with `env` and `cwd`. The rest of
//! the tender then runs as for any other command line. `nabla-init` is
//! the file `nabla-init` next to the tender's executable, or the file
//! named by the environment variable `NABLA_INIT`.
//!
//! # The command line (Solo5 spt's of 2019, which runnc's nabla-run was)
//!
//! `--mem=MB` (default 512, as spt's), `--net=TAP` or `--net=@FD` (at most
//! one), `--net-mac=MAC`, `--disk=IMAGE` (exactly one: it is the root),
//! `--x-exec-heap` (accepted and ignored: the Linux guest maps its
//! programs' memory itself), the tender's own `--verbose` and
//! `--no-syscall-rewrite`, `--help`, then `[--] KERNEL` and the JSON (the
//! remaining arguments joined with spaces, as spt joined them into the
//! guest's command line).
//!
//! # What the JSON may hold
//!
//! One object, with these keys (rumprun's, whose parser rejects a key it
//! does not know: so do we, so that a setting is never silently dropped):
//!
//! | key | value | becomes |
//! |---|---|---|
//! | `cmdline` | string, required: the kernel's own path in the image, then the program and its arguments | the program's argv: the words after the first, split as rumprun splits them (spaces, tabs and newlines separate; `"…"` and `'…'` quote; `\` escapes the next character) |
//! | `env` | string `K=V`; the key repeats, once per variable | the program's environment, in order |
//! | `cwd` | string | its working directory (default `/`) |
//! | `hostname` | string | the guest's host name |
//! | `net` | object: `if`, `cloner`, `type` (`inet`), `method` (`static`), `addr`, `mask` (a prefix length or a dotted mask), `gw` (optional) | `eth0` gets `addr/prefix` and a default route via `gw`; `if` and `cloner` are ignored (the guest's interface is always `eth0`) |
//! | `blk` | object: `source`, `path`, `fstype`, `mountpoint` | must name the root (`mountpoint` `/`), which is the `--disk` image; the other values are ignored |
//! | `mem` | any | ignored (runnc's own key; `--mem` sets the memory) |
//!
//! `net` needs `--net`, and `--net` without `net` leaves `eth0` down.
//!
//! # Errors
//!
//! Each is one line on stderr, `nabla-run: ...`, and the tender exits
//! without starting the guest: 2 for a bad command line, 1 (the tender's
//! `LOAD_ERROR`) for bad input, including JSON that does not parse or has
//! the wrong shape (`nabla-run: bad JSON config: <serde_json's message,
//! with line and column>`) or a setting we cannot honour (`nabla-run:
//! JSON config: ...`), 70 if the host refuses a resource.
//!
//! # Limits
//!
//! IPv4 static addresses only (no `dhcp`, no `inet6`); one disk, one
//! network; the root is read-only and only `/tmp` (tmpfs, in guest
//! memory) is writable, as with runnc; the image must hold `/tmp` (a
//! read-only root cannot grow it: without it the guest's init stops
//! with one line), and `nabla-init` mounts devtmpfs on `/dev` and proc on
//! `/proc` only where the image has those directories (runnc's
//! `genisoimage -m dev -m sys -m proc` leaves them out);
//! an ext4 root must have no journal to recover (the disk is read-only);
//! rumprun's `rc_TESTING` and `_RUMPRUN_ROOTFSCFG=` (the config read from
//! the root disk) are not supported.

use crate::exit;
use nabla_guestcfg::{Address, GuestConfig, Mount, Root, Route};
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::path::{Path, PathBuf};

/// The program name that selects this mode.
pub const NAME: &str = "nabla-run";
/// The first argument that selects this mode under any name.
pub const EXEC_HEAP: &str = "--x-exec-heap";
/// Environment variable naming the `nabla-init` binary.
pub const INIT_ENV: &str = "NABLA_INIT";
/// Guest memory without `--mem` (spt's default), in MiB.
pub const DEFAULT_MEM_MIB: u64 = 512;

/// Why a `nabla-run` command line cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum RunncError {
    /// Bad command line.
    #[error("{0} (usage: nabla-run [--x-exec-heap] [--mem=MB] [--net=TAP] --disk=ROOTFS.iso KERNEL 'JSON')")]
    Usage(String),
    /// The JSON does not parse or has the wrong shape.
    #[error("bad JSON config: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON asks for something we do not do.
    #[error("JSON config: {0}")]
    Config(String),
    /// The disk image.
    #[error("--disk={0}: {1}")]
    Disk(PathBuf, String),
    /// No nabla-init binary.
    #[error("cannot read nabla-init at {0} (put it next to the tender or name it in {INIT_ENV}): {1}")]
    Init(PathBuf, std::io::Error),
    /// The host refused the memfd.
    #[error("cannot make the initramfs memfd: {0}")]
    Memfd(std::io::Error),
}

impl RunncError {
    /// The tender's exit code for this error.
    pub fn code(&self) -> i32 {
        match self {
            RunncError::Usage(_) => exit::USAGE,
            RunncError::Memfd(_) => exit::INTERNAL,
            _ => exit::LOAD_ERROR,
        }
    }
}

/// Whether `args` (argv, program name first) is a `nabla-run` command line.
pub fn is_runnc(args: &[String]) -> bool {
    let name = args.first().map(|a| Path::new(a).file_name().is_some_and(|n| n == NAME));
    name.unwrap_or(false) || args.get(1).is_some_and(|a| a == EXEC_HEAP)
}

/// The tender's command line: `std::env::args()` as it is, or translated
/// when it is a `nabla-run` one. On an error in that translation, prints
/// its one line and exits.
pub fn command_line() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    if !is_runnc(&args) {
        return args;
    }
    run_args(&args).unwrap_or_else(|e| {
        eprintln!("{NAME}: {e}");
        std::process::exit(e.code())
    })
}

fn run_args(args: &[String]) -> Result<Vec<String>, RunncError> {
    let spt = SptArgs::parse(&args[1..])?;
    if spt.help {
        println!("{}", RunncError::Usage("runnc's tender command line; see the README".into()));
        std::process::exit(0);
    }
    let disk =
        spt.disk.as_ref().ok_or_else(|| RunncError::Usage("no --disk=ROOTFS.iso (the container's root)".into()))?;
    let fstype = disk_fstype(disk)?;
    let config: RumpConfig = serde_json::from_str(&spt.json)?;
    let guest = guest_config(&config, fstype, spt.net.is_some())?;
    let init_path = init_path();
    let init = std::fs::read(&init_path).map_err(|e| RunncError::Init(init_path.clone(), e))?;
    let initrd = memfd(&guest.initramfs(&init))?;
    Ok(spt.tender_args(&args[0], &initrd))
}

/// Where `nabla-init` is: `$NABLA_INIT`, else next to the tender.
fn init_path() -> PathBuf {
    if let Some(p) = std::env::var_os(INIT_ENV) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name("nabla-init")
}

/// A memfd holding `data`, left open for the tender's `--initrd` to read:
/// its `/proc/self/fd/N` path.
fn memfd(data: &[u8]) -> Result<String, RunncError> {
    // SAFETY: memfd_create takes a NUL-terminated name and flags; it
    // returns a new fd or -1. No CLOEXEC: nothing is executed, and the
    // tender reads the file by its /proc path.
    let fd = unsafe { libc::memfd_create(c"nabla-run-initrd".as_ptr(), 0) };
    if fd < 0 {
        return Err(RunncError::Memfd(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is ours, just made, and owned by nothing else.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(data).map_err(RunncError::Memfd)?;
    // Left open (the fd number is the path) until the tender exits.
    let fd = file.into_raw_fd();
    Ok(format!("/proc/self/fd/{fd}"))
}

/// The file system on the disk, by its magic: ISO 9660 (`CD001` in the
/// first volume descriptor, at 32 KiB) or ext2/3/4 (0xEF53 in the
/// superblock at 1 KiB).
pub fn disk_fstype(path: &Path) -> Result<&'static str, RunncError> {
    let err = |m: String| RunncError::Disk(path.to_path_buf(), m);
    let mut head = Vec::with_capacity(0x8006);
    std::fs::File::open(path).and_then(|f| f.take(0x8006).read_to_end(&mut head)).map_err(|e| err(e.to_string()))?;
    fstype_of(&head).ok_or_else(|| err("neither an ISO 9660 nor an ext2/3/4 image".into()))
}

fn fstype_of(head: &[u8]) -> Option<&'static str> {
    if head.get(0x8001..0x8006) == Some(b"CD001") {
        Some("iso9660")
    } else if head.get(1080..1082) == Some(&[0x53, 0xef]) {
        Some("ext4")
    } else {
        None
    }
}

/// The parsed `nabla-run` command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SptArgs {
    /// `--mem=MB`.
    pub mem: Option<String>,
    /// `--net=TAP|@FD`.
    pub net: Option<String>,
    /// `--net-mac=MAC`.
    pub mac: Option<String>,
    /// `--disk=IMAGE`.
    pub disk: Option<PathBuf>,
    /// Tender flags passed through (`--verbose`, `--no-syscall-rewrite`).
    pub passed: Vec<String>,
    /// `--help`.
    pub help: bool,
    /// The guest.
    pub kernel: String,
    /// The arguments after the kernel, joined with spaces.
    pub json: String,
}

impl SptArgs {
    /// Parse the arguments after the program name.
    pub fn parse(args: &[String]) -> Result<SptArgs, RunncError> {
        let mut s = SptArgs::default();
        let mut rest = args.iter();
        let once = |slot: &mut Option<String>, flag: &str, v: &str| {
            if slot.replace(v.to_string()).is_some() {
                return Err(RunncError::Usage(format!("{flag} given twice (one is supported)")));
            }
            Ok(())
        };
        let kernel = loop {
            let Some(a) = rest.next() else {
                return if s.help { Ok(s) } else { Err(RunncError::Usage("no KERNEL".into())) };
            };
            let (flag, value) = a.split_once('=').map_or((a.as_str(), None), |(f, v)| (f, Some(v)));
            match (flag, value) {
                ("--mem", Some(v)) => once(&mut s.mem, flag, v)?,
                ("--net", Some(v)) => once(&mut s.net, flag, v)?,
                ("--net-mac", Some(v)) => once(&mut s.mac, flag, v)?,
                ("--disk", Some(v)) => {
                    if s.disk.replace(PathBuf::from(v)).is_some() {
                        return Err(RunncError::Usage("--disk given twice (one is supported: the root)".into()));
                    }
                }
                (EXEC_HEAP, None) => {}
                ("--verbose" | "--no-syscall-rewrite", None) => s.passed.push(a.clone()),
                ("--help", None) => s.help = true,
                ("--", None) => match rest.next() {
                    Some(k) => break k.clone(),
                    None => return Err(RunncError::Usage("no KERNEL".into())),
                },
                _ if a.starts_with('-') => return Err(RunncError::Usage(format!("unknown option {a}"))),
                _ => break a.clone(),
            }
        };
        s.kernel = kernel;
        s.json = rest.map(String::as_str).collect::<Vec<_>>().join(" ");
        if s.json.trim().is_empty() && !s.help {
            return Err(RunncError::Usage("no JSON config after KERNEL".into()));
        }
        Ok(s)
    }

    /// The tender's own command line (program name `argv0`), the
    /// initramfs at `initrd`.
    pub fn tender_args(&self, argv0: &str, initrd: &str) -> Vec<String> {
        // --quiet: no platform banner on the container's stdout.
        let mut out = vec![argv0.to_string(), "--quiet".to_string()];
        out.push(format!("--mem={}", self.mem.clone().unwrap_or_else(|| DEFAULT_MEM_MIB.to_string())));
        if let Some(d) = &self.disk {
            out.extend(["--block".to_string(), format!("{}:ro", d.display())]);
        }
        if let Some(n) = &self.net {
            out.extend(["--net".to_string(), format!("eth0={n}")]);
        }
        if let Some(m) = &self.mac {
            out.extend(["--net-mac".to_string(), format!("eth0={m}")]);
        }
        out.extend(self.passed.iter().cloned());
        out.extend(["--initrd".to_string(), initrd.to_string(), self.kernel.clone()]);
        out.extend(["--".to_string(), "quiet".to_string()]);
        out
    }
}

/// rumprun's `net` object.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Net {
    /// rumprun's interface name (ignored: ours is `eth0`).
    #[serde(rename = "if")]
    pub iface: Option<String>,
    /// rumprun's "create the interface" flag (ignored).
    pub cloner: Option<String>,
    /// `inet`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `static`.
    pub method: Option<String>,
    /// The address.
    pub addr: Option<String>,
    /// A prefix length or a dotted mask.
    pub mask: Option<String>,
    /// The default gateway.
    pub gw: Option<String>,
}

/// rumprun's `blk` object.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blk {
    /// `etfs`, `dev` or `vnd` (ignored).
    pub source: Option<String>,
    /// The rumprun device (ignored).
    pub path: Option<String>,
    /// `blk` (ignored).
    pub fstype: Option<String>,
    /// Must be `/`.
    pub mountpoint: Option<String>,
}

/// rumprun's configuration, as runnc writes it (see the module doc).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RumpConfig {
    /// `cmdline`.
    pub cmdline: Option<String>,
    /// Every `env`, in order.
    pub env: Vec<String>,
    /// `cwd`.
    pub cwd: Option<String>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `net`.
    pub net: Option<Net>,
    /// Every `blk`.
    pub blk: Vec<Blk>,
}

impl<'de> Deserialize<'de> for RumpConfig {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ConfigVisitor)
    }
}

struct ConfigVisitor;

const KEYS: &[&str] = &["cmdline", "env", "cwd", "hostname", "net", "blk", "mem"];

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = RumpConfig;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a rumprun config object")
    }

    // serde_json's own map handling keeps the last of repeated keys; here
    // every `env` counts, as in rumprun's parser.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RumpConfig, A::Error> {
        fn once<T, E: de::Error>(slot: &mut Option<T>, v: T, key: &'static str) -> Result<(), E> {
            if slot.replace(v).is_some() {
                return Err(E::duplicate_field(key));
            }
            Ok(())
        }
        let mut c = RumpConfig::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "cmdline" => once(&mut c.cmdline, map.next_value()?, "cmdline")?,
                "env" => c.env.push(map.next_value()?),
                "cwd" => once(&mut c.cwd, map.next_value()?, "cwd")?,
                "hostname" => once(&mut c.hostname, map.next_value()?, "hostname")?,
                "net" => once(&mut c.net, map.next_value()?, "net")?,
                "blk" => c.blk.push(map.next_value()?),
                "mem" => {
                    map.next_value::<IgnoredAny>()?;
                }
                other => return Err(de::Error::unknown_field(other, KEYS)),
            }
        }
        Ok(c)
    }
}

/// Split a command line into words as rumprun does: spaces, tabs and
/// newlines separate words; inside a word, `"` or `'` opens a quote that
/// the same character closes (separators inside are kept); `\` takes the
/// next character literally, quote or separator.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        let (ch, escaped) = if c == '\\' {
            match chars.next() {
                Some(n) => (n, true),
                None => break,
            }
        } else {
            (c, false)
        };
        if !escaped && quote.is_none() && matches!(ch, ' ' | '\t' | '\n') {
            if let Some(w) = word.take() {
                words.push(w);
            }
            continue;
        }
        let w = word.get_or_insert_with(String::new);
        if !escaped && quote == Some(ch) {
            quote = None;
        } else if !escaped && quote.is_none() && matches!(ch, '"' | '\'') {
            quote = Some(ch);
        } else {
            w.push(ch);
        }
    }
    words.extend(word);
    words
}

/// A prefix length (`24`) or a dotted mask (`255.255.255.0`).
pub fn parse_mask(mask: &str) -> Option<u8> {
    if mask.contains('.') {
        let m = u32::from(mask.parse::<Ipv4Addr>().ok()?);
        let prefix = m.leading_ones();
        (m.checked_shl(prefix).unwrap_or(0) == 0).then_some(prefix as u8)
    } else {
        mask.parse::<u8>().ok().filter(|p| *p <= 32)
    }
}

/// What `nabla-init` is told for `config`, the root disk's file system
/// being `fstype`; `has_net`: a `--net` was given.
pub fn guest_config(config: &RumpConfig, fstype: &str, has_net: bool) -> Result<GuestConfig, RunncError> {
    let bad = |m: String| Err(RunncError::Config(m));
    let cmdline = config.cmdline.as_deref().unwrap_or("");
    let args: Vec<String> = split_words(cmdline).into_iter().skip(1).collect();
    if args.is_empty() {
        return bad(format!("cmdline {cmdline:?} names no program after the kernel's path"));
    }
    for b in &config.blk {
        if b.mountpoint.as_deref() != Some("/") {
            let mp = b.mountpoint.as_deref().unwrap_or("(none)");
            return bad(format!("blk with mountpoint {mp}: only the root (\"/\", the --disk image) is supported"));
        }
    }
    let cwd = config.cwd.clone().unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        return bad(format!("cwd {cwd:?} is not an absolute path"));
    }
    let mut g = GuestConfig {
        root: Some(Root { device: "/dev/vda".into(), fstype: fstype.into(), readonly: true }),
        args,
        env: config.env.clone(),
        cwd: Some(cwd),
        hostname: config.hostname.clone(),
        // nabla-init mounts devtmpfs on /dev and proc on /proc itself.
        mounts: vec![Mount {
            fstype: "tmpfs".into(),
            dest: "/tmp".into(),
            flags: vec!["nosuid".into(), "nodev".into()],
            data: "mode=1777".into(),
        }],
        ..Default::default()
    };
    if let Some(n) = &config.net {
        if !has_net {
            return bad("net is given but the command line has no --net=TAP".into());
        }
        let kind = n.kind.as_deref().unwrap_or("(none)");
        if kind != "inet" {
            return bad(format!("net type {kind:?} is not supported (only \"inet\")"));
        }
        let method = n.method.as_deref().unwrap_or("(none)");
        if method != "static" {
            return bad(format!("net method {method:?} is not supported (only \"static\")"));
        }
        let addr = n.addr.as_deref().unwrap_or("(none)");
        let Ok(addr) = addr.parse::<Ipv4Addr>() else {
            return bad(format!("net addr {addr:?} is not an IPv4 address"));
        };
        let mask = n.mask.as_deref().unwrap_or("(none)");
        let Some(prefix) = parse_mask(mask) else {
            return bad(format!("net mask {mask:?} is neither a prefix length nor a dotted mask"));
        };
        g.addresses.push(Address { iface: "eth0".into(), addr, prefix });
        if let Some(gw) = &n.gw {
            let Ok(gw) = gw.parse::<Ipv4Addr>() else {
                return bad(format!("net gw {gw:?} is not an IPv4 address"));
            };
            g.routes.push(Route { iface: "eth0".into(), dest: Ipv4Addr::UNSPECIFIED, prefix: 0, gateway: Some(gw) });
        }
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNC: &str = r#"{"env":"PATH=/bin:/usr/bin","env":"HOME=/root","env":"A=b c",
        "cmdline":"/linux.nabla /bin/prog -x 'two words' a\\ b",
        "net":{"if":"ukvmif0","cloner":"True","type":"inet","method":"static","addr":"10.0.0.2","mask":"24","gw":"10.0.0.1"},
        "blk":{"source":"etfs","path":"/dev/ld0a","fstype":"blk","mountpoint":"/"},
        "cwd":"/srv"}"#;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_repeated_env_is_kept_in_order() {
        let c: RumpConfig = serde_json::from_str(RUNNC).unwrap();
        assert_eq!(c.env, ["PATH=/bin:/usr/bin", "HOME=/root", "A=b c"]);
        assert_eq!(c.cwd.as_deref(), Some("/srv"));
        assert_eq!(c.blk.len(), 1);
        assert_eq!(c.net.as_ref().unwrap().gw.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn runnc_json_becomes_the_guest_config() {
        let c: RumpConfig = serde_json::from_str(RUNNC).unwrap();
        let g = guest_config(&c, "iso9660", true).unwrap();
        let text = g.to_text();
        assert!(text.contains("root /dev/vda iso9660 ro\n"), "{text}");
        assert!(text.contains("arg /bin/prog\narg -x\narg two%20words\narg a%20b\n"), "{text}");
        assert!(text.contains("env PATH=/bin:/usr/bin\nenv HOME=/root\nenv A=b%20c\ncwd /srv\n"), "{text}");
        assert!(text.contains("mount tmpfs /tmp nosuid,nodev mode=1777\n"), "{text}");
        assert!(text.contains("addr eth0 10.0.0.2/24\nroute eth0 0.0.0.0/0 10.0.0.1\n"), "{text}");
    }

    #[test]
    fn defaults_without_net_or_cwd() {
        let c: RumpConfig = serde_json::from_str(r#"{"cmdline":"k /bin/true"}"#).unwrap();
        let g = guest_config(&c, "ext4", false).unwrap();
        assert_eq!(g.cwd.as_deref(), Some("/"));
        assert!(g.addresses.is_empty() && g.routes.is_empty());
        assert_eq!(g.root.unwrap().fstype, "ext4");
    }

    #[test]
    fn bad_json_names_line_and_column() {
        let e = serde_json::from_str::<RumpConfig>("{\"cmdline\":\"k p\",\n\"env\":}").unwrap_err();
        let msg = RunncError::from(e).to_string();
        assert!(msg.starts_with("bad JSON config: ") && msg.contains("line 2 column"), "{msg}");
        let e = serde_json::from_str::<RumpConfig>(r#"{"cmdline":"k p","rc":[]}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `rc`"), "{e}");
        let e = serde_json::from_str::<RumpConfig>(r#"{"cmdline":"k p","net":{"ifname":"x"}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `ifname`"), "{e}");
        let e = serde_json::from_str::<RumpConfig>(r#"{"cmdline":"a b","cmdline":"c d"}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate field `cmdline`"), "{e}");
        assert!(serde_json::from_str::<RumpConfig>(r#"{"env":3}"#).is_err());
        assert!(serde_json::from_str::<RumpConfig>(r#"["cmdline"]"#).is_err());
        // runnc's own omitempty key is taken.
        assert!(serde_json::from_str::<RumpConfig>(r#"{"cmdline":"k p","mem":"512"}"#).is_ok());
    }

    #[test]
    fn unsupported_settings_are_one_line_errors() {
        let cfg = |s: &str| guest_config(&serde_json::from_str(s).unwrap(), "iso9660", true).unwrap_err().to_string();
        assert!(cfg(r#"{"cmdline":"/k.nabla"}"#).contains("names no program"));
        assert!(
            cfg(r#"{"cmdline":"k p","blk":{"source":"etfs","path":"x","fstype":"blk","mountpoint":"/data"}}"#)
                .contains("mountpoint /data")
        );
        assert!(cfg(r#"{"cmdline":"k p","net":{"type":"inet","method":"dhcp"}}"#).contains("\"dhcp\""));
        assert!(cfg(r#"{"cmdline":"k p","net":{"type":"inet6","method":"static"}}"#).contains("\"inet6\""));
        let bad_mask =
            r#"{"cmdline":"k p","net":{"type":"inet","method":"static","addr":"10.0.0.2","mask":"255.0.255.0"}}"#;
        assert!(cfg(bad_mask).contains("mask"));
        assert!(cfg(r#"{"cmdline":"k p","cwd":"rel"}"#).contains("absolute"));
        let no_tap = guest_config(&serde_json::from_str(RUNNC).unwrap(), "iso9660", false).unwrap_err();
        assert!(no_tap.to_string().contains("--net"));
    }

    #[test]
    fn words_split_as_rumprun_splits_them() {
        assert_eq!(split_words("  a\tb\n c  "), strings(&["a", "b", "c"]));
        assert_eq!(split_words(r#"a "b c" d'e f'g"#), strings(&["a", "b c", "de fg"]));
        assert_eq!(split_words(r#"a\ b \"c\" 'x"y'"#), strings(&["a b", "\"c\"", "x\"y"]));
        assert_eq!(split_words(r#"'' x"#), strings(&["", "x"]));
        assert!(split_words("   ").is_empty());
    }

    #[test]
    fn masks_as_prefix_or_dotted() {
        assert_eq!(parse_mask("24"), Some(24));
        assert_eq!(parse_mask("255.255.255.0"), Some(24));
        assert_eq!(parse_mask("255.255.255.255"), Some(32));
        assert_eq!(parse_mask("0.0.0.0"), Some(0));
        assert_eq!(parse_mask("33"), None);
        assert_eq!(parse_mask("255.0.255.0"), None);
        assert_eq!(parse_mask("x"), None);
    }

    #[test]
    fn runnc_command_line_is_recognised_and_translated() {
        let argv = strings(&["/opt/runnc/bin/nabla-run", "--mem=512", "k.nabla", "{}"]);
        assert!(is_runnc(&argv));
        assert!(is_runnc(&strings(&["nabla-tender", "--x-exec-heap", "k", "{}"])));
        assert!(!is_runnc(&strings(&["nabla-tender", "--mem=4", "k"])));
        assert!(!is_runnc(&strings(&["nabla-runner", "k"])));

        let spt = SptArgs::parse(&strings(&[
            "--x-exec-heap",
            "--mem=512",
            "--net=tapabc",
            "--disk=/c/rootfs.iso",
            "/c/linux.nabla",
            r#"{"cmdline":"a"#,
            r#"b"}"#,
        ]))
        .unwrap();
        assert_eq!(spt.json, r#"{"cmdline":"a b"}"#);
        assert_eq!(
            spt.tender_args("nabla-run", "/proc/self/fd/7"),
            strings(&[
                "nabla-run",
                "--quiet",
                "--mem=512",
                "--block",
                "/c/rootfs.iso:ro",
                "--net",
                "eth0=tapabc",
                "--initrd",
                "/proc/self/fd/7",
                "/c/linux.nabla",
                "--",
                "quiet"
            ])
        );
        let spt = SptArgs::parse(&strings(&["--disk=d", "--no-syscall-rewrite", "--", "k", "{}"])).unwrap();
        let out = spt.tender_args("t", "i");
        assert_eq!(out[2], "--mem=512");
        assert!(out.contains(&"--no-syscall-rewrite".to_string()) && !out.contains(&"--net".to_string()));
    }

    #[test]
    fn bad_command_lines() {
        let err = |v: &[&str]| SptArgs::parse(&strings(v)).unwrap_err();
        assert!(err(&["--disk=a", "--disk=b", "k", "{}"]).to_string().contains("--disk given twice"));
        assert!(err(&["--net=a", "--net=b", "k", "{}"]).to_string().contains("--net given twice"));
        assert!(err(&["--block=a", "k", "{}"]).to_string().contains("unknown option --block=a"));
        assert!(err(&["--mem=4"]).to_string().contains("no KERNEL"));
        let e = err(&["--disk=a", "k"]);
        assert!(e.to_string().contains("no JSON") && e.code() == exit::USAGE);
    }

    #[test]
    fn disks_are_told_apart_by_their_magic() {
        let mut iso = vec![0u8; 0x8006];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(fstype_of(&iso), Some("iso9660"));
        let mut ext = vec![0u8; 2048];
        ext[1080..1082].copy_from_slice(&[0x53, 0xef]);
        assert_eq!(fstype_of(&ext), Some("ext4"));
        assert_eq!(fstype_of(&[0u8; 100]), None);
    }
}
