//! From a bundle's `config.json` (parsed with the `oci-spec` crate) to
//! what the guest is told ([`GuestConfig`]) and how the tender is run.
//!
//! What is taken: `process.args`, `env`, `cwd`, `user` (uid, gid,
//! additionalGids, umask), `rlimits`, `terminal`; `hostname`;
//! `root.path` and `root.readonly` (the root is remounted read-only in the
//! guest once set up); `linux.sysctl`; `linux.resources.memory.limit`
//! (guest memory, rounded up to MiB, raised to [`MEM_FLOOR_MIB`] when
//! smaller, [`MEM_DEFAULT_MIB`] when unset); the network namespace's
//! `path`; `annotations`.
//!
//! Mounts: `proc`, `sysfs`, `devpts`, `mqueue`, `tmpfs` and `devtmpfs`
//! are mounted by the guest's init in the new root, in order, with their
//! flags (`ro`, `nosuid`, `nodev`, `noexec`, atime options, `sync`) and
//! options; a `tmpfs` on `/dev` becomes the guest's `devtmpfs` (its
//! options dropped). `cgroup` and `cgroup2` mounts are skipped (the guest
//! has no cgroup hierarchy to show). Bind mounts of `/etc/hosts`,
//! `/etc/resolv.conf` and `/etc/hostname` are copied into the guest's root
//! at create (their contents then, their mode; a later change on the host
//! is not seen, and `ro` is not kept). Every other bind mount, and any
//! other type, is refused.
//!
//! Not taken (ignored): `process.capabilities`, `noNewPrivileges`,
//! `apparmorProfile`, `selinuxLabel`, `oomScoreAdj`, `consoleSize`,
//! `ioPriority`, `scheduler`, `hooks`, every `linux` field but `sysctl`,
//! `resources.memory.limit` and the network namespace (cgroups, seccomp,
//! devices, masked and read-only paths, uid/gid mappings, other
//! namespaces: the guest kernel is the container's wall).

use nabla_guestcfg::{File, GuestConfig, Mount, Root};
use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType, Spec};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Guest memory when the config sets no memory limit (MiB).
pub const MEM_DEFAULT_MIB: u32 = 128;
/// The smallest guest memory: smaller limits are raised to it (MiB).
pub const MEM_FLOOR_MIB: u32 = 64;
/// The largest guest memory the tender takes (MiB).
const MEM_MAX_MIB: u32 = 65536;

/// The bind-mount destinations copied into the guest.
pub const COPIED_FILES: [&str; 3] = ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"];

/// A bad bundle or config.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// No bundle directory.
    #[error("bundle {0}: no such directory")]
    NoBundle(PathBuf),
    /// No or unreadable config.json.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// config.json is not a runtime-spec config.
    #[error("malformed config.json: {0}")]
    Malformed(serde_json::Error),
    /// A mount Nabla does not do.
    #[error(
        "unsupported mount: bind {0} on {1} (nabla-runtime copies only /etc/hosts, /etc/resolv.conf and /etc/hostname)"
    )]
    Bind(String, String),
    /// A mount type Nabla does not do.
    #[error("unsupported mount: {0} on {1}")]
    Type(String, String),
    /// A copied file that cannot be read.
    #[error("mount {1}: cannot read its source {0}: {2}")]
    BindSource(String, String, std::io::Error),
    /// Missing `process` or `root`.
    #[error("config.json: no {0}")]
    Missing(&'static str),
    /// No rootfs directory.
    #[error("root file system {0}: no such directory")]
    NoRootfs(PathBuf),
}

/// What `create` needs from the bundle.
#[derive(Debug)]
pub struct Plan {
    /// The container's guest config (without network, added by `net`).
    pub guest: GuestConfig,
    /// The root file system directory on the host.
    pub rootfs: PathBuf,
    /// Guest memory in MiB.
    pub mem_mib: u32,
    /// The network namespace to join.
    pub netns: Option<PathBuf>,
    /// `annotations`.
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Parse `bundle/config.json`.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    if !bundle.is_dir() {
        return Err(SpecError::NoBundle(bundle.to_path_buf()));
    }
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path).map_err(|e| SpecError::Read(path.clone(), e))?;
    serde_json::from_str(&text).map_err(SpecError::Malformed)
}

/// The guest memory for a memory limit in bytes.
pub fn mem_mib(limit: Option<i64>) -> u32 {
    match limit {
        Some(l) if l > 0 => {
            let mib = (l as u64).div_ceil(1 << 20);
            mib.clamp(u64::from(MEM_FLOOR_MIB), u64::from(MEM_MAX_MIB)) as u32
        }
        _ => MEM_DEFAULT_MIB,
    }
}

/// The `setrlimit` resource number of a runtime-spec rlimit.
pub fn rlimit_number(t: PosixRlimitType) -> u32 {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => 0,
        RlimitFsize => 1,
        RlimitData => 2,
        RlimitStack => 3,
        RlimitCore => 4,
        RlimitRss => 5,
        RlimitNproc => 6,
        RlimitNofile => 7,
        RlimitMemlock => 8,
        RlimitAs => 9,
        RlimitLocks => 10,
        RlimitSigpending => 11,
        RlimitMsgqueue => 12,
        RlimitNice => 13,
        RlimitRtprio => 14,
        RlimitRttime => 15,
    }
}

/// Split mount options into the generic flags the guest applies by name
/// and the file system's own options.
fn split_options(options: &[String]) -> (Vec<String>, String) {
    const FLAGS: [&str; 8] = ["ro", "nosuid", "nodev", "noexec", "relatime", "noatime", "strictatime", "sync"];
    const DROPPED: [&str; 16] = [
        "rw",
        "suid",
        "dev",
        "exec",
        "async",
        "atime",
        "norelatime",
        "nostrictatime",
        "bind",
        "rbind",
        "private",
        "rprivate",
        "slave",
        "rslave",
        "shared",
        "rshared",
    ];
    let mut flags = Vec::new();
    let mut data = Vec::new();
    for o in options {
        if FLAGS.contains(&o.as_str()) {
            flags.push(o.clone());
        } else if !DROPPED.contains(&o.as_str()) && !o.is_empty() {
            data.push(o.clone());
        }
    }
    (flags, data.join(","))
}

/// The guest's mounts and copied files from the config's `mounts`.
pub fn mounts(spec: &Spec) -> Result<(Vec<Mount>, Vec<File>), SpecError> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination().to_string_lossy().into_owned();
        let typ = m.typ().clone().unwrap_or_default();
        let options = m.options().clone().unwrap_or_default();
        let source = m.source().as_ref().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
        if bind {
            if !COPIED_FILES.contains(&dest.as_str()) {
                return Err(SpecError::Bind(source, dest));
            }
            let data = fs::read(&source).map_err(|e| SpecError::BindSource(source.clone(), dest.clone(), e))?;
            let mode = fs::metadata(&source).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644);
            files.push(File { dest, mode, data });
            continue;
        }
        let (flags, data) = split_options(&options);
        match typ.as_str() {
            "cgroup" | "cgroup2" => {}
            "tmpfs" if dest == "/dev" => {
                out.push(Mount { fstype: "devtmpfs".into(), dest, flags, data: String::new() })
            }
            "proc" | "sysfs" | "devpts" | "mqueue" | "tmpfs" | "devtmpfs" => {
                out.push(Mount { fstype: typ, dest, flags, data })
            }
            _ => return Err(SpecError::Type(if typ.is_empty() { "(no type)".into() } else { typ }, dest)),
        }
    }
    Ok((out, files))
}

/// Everything `create` takes from the bundle at `bundle` (absolute).
pub fn plan(bundle: &Path, spec: &Spec) -> Result<Plan, SpecError> {
    let process = spec.process().as_ref().ok_or(SpecError::Missing("process"))?;
    let root = spec.root().as_ref().ok_or(SpecError::Missing("root"))?;
    let rootfs = bundle.join(root.path());
    if !rootfs.is_dir() {
        return Err(SpecError::NoRootfs(rootfs));
    }
    let (mounts, files) = mounts(spec)?;
    let user = process.user();
    let linux = spec.linux().as_ref();
    let mut sysctls: Vec<(String, String)> =
        linux.and_then(|l| l.sysctl().clone()).unwrap_or_default().into_iter().collect();
    sysctls.sort();
    let guest = GuestConfig {
        root: Some(Root { device: "/dev/vda".into(), fstype: "ext4".into(), readonly: false }),
        args: process.args().clone().unwrap_or_default(),
        env: process.env().clone().unwrap_or_default(),
        cwd: Some(process.cwd().to_string_lossy().into_owned()),
        uid: user.uid(),
        gid: user.gid(),
        groups: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        rlimits: process.rlimits().iter().flatten().map(|r| (rlimit_number(r.typ()), r.soft(), r.hard())).collect(),
        hostname: spec.hostname().clone(),
        files,
        mounts,
        sysctls,
        terminal: process.terminal().unwrap_or(false),
        readonly: root.readonly().unwrap_or(false),
        ..Default::default()
    };
    let limit = linux.and_then(|l| l.resources().as_ref()).and_then(|r| r.memory().as_ref()).and_then(|m| m.limit());
    let netns = linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .and_then(|n| n.path().clone());
    Ok(Plan {
        guest,
        rootfs,
        mem_mib: mem_mib(limit),
        netns,
        annotations: spec.annotations().clone().unwrap_or_default().into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mounts: &str) -> Spec {
        let text = format!(
            r#"{{"ociVersion":"1.0.2","process":{{"args":["sh"],"cwd":"/","user":{{"uid":1,"gid":2}},
            "rlimits":[{{"type":"RLIMIT_NOFILE","hard":1024,"soft":512}}]}},
            "root":{{"path":"rootfs"}},"hostname":"h","mounts":[{mounts}],
            "linux":{{"resources":{{"memory":{{"limit":10485760}}}},
            "namespaces":[{{"type":"network","path":"/run/netns/x"}}]}}}}"#
        );
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn memory_floor_default_and_rounding() {
        assert_eq!(mem_mib(None), MEM_DEFAULT_MIB);
        assert_eq!(mem_mib(Some(-1)), MEM_DEFAULT_MIB);
        assert_eq!(mem_mib(Some(1 << 20)), MEM_FLOOR_MIB);
        assert_eq!(mem_mib(Some((256 << 20) + 1)), 257);
    }

    #[test]
    fn mounts_map_to_guest_mounts() {
        let s = spec(
            r#"{"destination":"/proc","type":"proc","source":"proc"},
               {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
               {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666"]},
               {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["ro"]}"#,
        );
        let (m, f) = mounts(&s).unwrap();
        assert!(f.is_empty());
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[1],
            Mount {
                fstype: "devtmpfs".into(),
                dest: "/dev".into(),
                flags: vec!["nosuid".into(), "strictatime".into()],
                data: String::new()
            }
        );
        assert_eq!(m[2].data, "newinstance,ptmxmode=0666");
    }

    #[test]
    fn other_bind_mounts_are_refused() {
        let s = spec(r#"{"destination":"/data","type":"bind","source":"/srv","options":["rbind"]}"#);
        assert_eq!(
            mounts(&s).unwrap_err().to_string(),
            "unsupported mount: bind /srv on /data (nabla-runtime copies only /etc/hosts, /etc/resolv.conf and /etc/hostname)"
        );
        let s = spec(r#"{"destination":"/x","type":"nfs","source":"a:b"}"#);
        assert_eq!(mounts(&s).unwrap_err().to_string(), "unsupported mount: nfs on /x");
    }

    #[test]
    fn plan_takes_process_memory_and_netns() {
        let d = std::env::temp_dir().join(format!("nabla-spec-{}", std::process::id()));
        fs::create_dir_all(d.join("rootfs")).unwrap();
        let p = plan(&d, &spec("")).unwrap();
        assert_eq!(p.mem_mib, MEM_FLOOR_MIB);
        assert_eq!(p.netns, Some(PathBuf::from("/run/netns/x")));
        assert_eq!((p.guest.uid, p.guest.gid), (1, 2));
        assert_eq!(p.guest.rlimits, vec![(7, 512, 1024)]);
        assert_eq!(p.guest.hostname.as_deref(), Some("h"));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn malformed_config_names_the_serde_error() {
        let d = std::env::temp_dir().join(format!("nabla-spec-bad-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("config.json"), "{\"process\": 3}").unwrap();
        let e = load(&d).unwrap_err().to_string();
        assert!(e.starts_with("malformed config.json: "), "{e}");
        assert!(load(&d.join("nope")).unwrap_err().to_string().ends_with("no such directory"));
        fs::remove_dir_all(&d).unwrap();
    }
}
