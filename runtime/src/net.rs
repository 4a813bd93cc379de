//! The container's network: the guest takes over the namespace's
//! interface.
//!
//! When `config.json` names a network namespace by path (made by
//! containerd's CNI plugins or by hand), the container's process joins
//! it (`setns`) before the tender starts, and there:
//!
//! 1. finds its one Ethernet interface other than `lo` (a veth, normally;
//!    with several, the first that has an IPv4 address), and reads its
//!    MAC, MTU, IPv4 addresses and routes (`ip -j`);
//! 2. creates a tap, `nabla<N>` (`TUNSETIFF` on `/dev/net/tun` with
//!    `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`: the tender gives the Linux
//!    guest checksum and segmentation offloads on it), with the veth's MTU;
//! 3. joins the two with tc, as Kata Containers does: an ingress qdisc on
//!    each and a `u32` filter matching every frame whose action is
//!    `mirred egress redirect` to the other, so each frame that arrives on
//!    the veth leaves on the tap (to the guest), and each the guest writes
//!    leaves on the veth;
//! 4. flushes the veth's IPv4 addresses (the namespace's own stack must
//!    not answer for the guest; it sees no frame anyway);
//! 5. hands the tap's fd to the tender (`--net eth0=@FD`) with the veth's
//!    MAC (`--net-mac`), and tells the guest `addr eth0 A/P`, `mtu eth0 M`
//!    and each route that is not the kernel's own subnet route.
//!
//! So the guest answers at the address, and with the MAC, the
//! orchestrator gave the container. The tap is not persistent: it goes
//! with the tender's last fd, and its qdisc and filter with it. `delete`
//! removes the veth's ingress qdisc and gives the veth its addresses and
//! routes back (while the namespace is still there), so a namespace
//! outlives a container unchanged.
//!
//! Limits: IPv4 only (IPv6 addresses are left on the veth, unused); one
//! interface; a namespace is taken over by one container at a time (two
//! containers of one Kubernetes pod cannot share it).

use crate::state::NetRecord;
use crate::tools;
use nabla_guestcfg::{Address, GuestConfig, Route};
use serde_json::Value;
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// The guest's interface.
pub const GUEST_IF: &str = "eth0";

/// Errors of the network set-up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// setns.
    #[error("network namespace {0}: {1}")]
    Join(String, io::Error),
    /// A tool failed.
    #[error("network: {0}")]
    Tool(String),
    /// The tap.
    #[error("network: cannot create a tap: {0}")]
    Tap(io::Error),
    /// Unexpected tool output.
    #[error("network: cannot read {0}")]
    Parse(&'static str),
}

/// The network handed to the tender.
#[derive(Debug)]
pub struct Plumbed {
    /// The tap fd (close-on-exec cleared by the caller before exec).
    pub tap: OwnedFd,
    /// The guest's MAC (the veth's).
    pub mac: String,
    /// What delete restores.
    pub record: NetRecord,
}

/// Join the network namespace at `path`.
pub fn join(path: &Path) -> Result<(), NetError> {
    let err = |e| NetError::Join(path.display().to_string(), e);
    let f = fs::File::open(path).map_err(err)?;
    // SAFETY: setns on an fd we hold open.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(())
}

fn ip_json(args: &[&str]) -> Result<Vec<Value>, NetError> {
    let mut a = vec!["-j"];
    a.extend_from_slice(args);
    let out = tools::run("ip", &a).map_err(NetError::Tool)?;
    match serde_json::from_str(&out) {
        Ok(Value::Array(v)) => Ok(v),
        _ => Err(NetError::Parse("ip -j output")),
    }
}

/// One IPv4 route of `ip -j route`: the guest's route and the `ip route
/// add` arguments that restore it, or `None` for a kernel subnet route.
pub fn route_of(r: &Value, veth: &str) -> Option<(Route, Vec<String>)> {
    if r.get("protocol").and_then(Value::as_str) == Some("kernel") {
        return None;
    }
    let dst = r.get("dst")?.as_str()?;
    let (dest, prefix) = if dst == "default" {
        (Ipv4Addr::UNSPECIFIED, 0)
    } else if let Some((a, p)) = dst.split_once('/') {
        (a.parse().ok()?, p.parse().ok()?)
    } else {
        (dst.parse().ok()?, 32)
    };
    let gateway: Option<Ipv4Addr> = r.get("gateway").and_then(Value::as_str).and_then(|g| g.parse().ok());
    let mut args = vec![format!("{dest}/{prefix}")];
    if let Some(g) = gateway {
        args.extend(["via".into(), g.to_string()]);
    }
    args.extend(["dev".into(), veth.into()]);
    if gateway.is_some() {
        args.push("onlink".into());
    }
    Some((Route { iface: GUEST_IF.into(), dest, prefix, gateway }, args))
}

/// Open a new tap named after `pattern` (`nabla%d`): its fd and name.
fn open_tap(pattern: &str) -> Result<(OwnedFd, String), NetError> {
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(NetError::Tap(io::Error::last_os_error()));
    }
    // SAFETY: a fresh fd that we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // struct ifreq: a 16-byte name, then a union whose first member is the flags.
    let mut ifr = [0u8; 40];
    ifr[..pattern.len()].copy_from_slice(pattern.as_bytes());
    let flags = (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as u16;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes one struct ifreq (40 bytes).
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, ifr.as_mut_ptr()) } != 0 {
        return Err(NetError::Tap(io::Error::last_os_error()));
    }
    let end = ifr[..16].iter().position(|&b| b == 0).unwrap_or(16);
    Ok((fd, String::from_utf8_lossy(&ifr[..end]).into_owned()))
}

fn redirect(from: &str, to: &str) -> Result<(), NetError> {
    tools::run("tc", &["qdisc", "add", "dev", from, "ingress"]).map_err(NetError::Tool)?;
    tools::run(
        "tc",
        &[
            "filter", "add", "dev", from, "parent", "ffff:", "protocol", "all", "u32", "match", "u8", "0", "0",
            "action", "mirred", "egress", "redirect", "dev", to,
        ],
    )
    .map_err(NetError::Tool)?;
    Ok(())
}

/// In the joined namespace: plumb a tap to its interface and tell the
/// guest its addresses (see the module doc). `None` when the namespace
/// has no interface but `lo`.
pub fn plumb(netns: &Path, guest: &mut GuestConfig) -> Result<Option<Plumbed>, NetError> {
    let links = ip_json(&["link", "show"])?;
    let mut chosen = None;
    for l in &links {
        let name = l.get("ifname").and_then(Value::as_str).unwrap_or_default();
        if name == "lo" || l.get("link_type").and_then(Value::as_str) != Some("ether") {
            continue;
        }
        // `veth0@if12` names the peer after an '@'.
        let name = name.split('@').next().unwrap_or(name).to_string();
        let addrs = ip_json(&["-4", "addr", "show", "dev", &name])?;
        let infos: Vec<(Ipv4Addr, u8)> = addrs
            .iter()
            .flat_map(|a| a.get("addr_info").and_then(Value::as_array).cloned().unwrap_or_default())
            .filter_map(|i| {
                Some((i.get("local")?.as_str()?.parse().ok()?, u8::try_from(i.get("prefixlen")?.as_u64()?).ok()?))
            })
            .collect();
        let has = !infos.is_empty();
        if chosen.is_none() || has {
            chosen = Some((name, l.clone(), infos));
        }
        if has {
            break;
        }
    }
    let Some((veth, link, infos)) = chosen else { return Ok(None) };
    let mac = link.get("address").and_then(Value::as_str).ok_or(NetError::Parse("the interface's MAC"))?.to_string();
    let mtu = link.get("mtu").and_then(Value::as_u64).unwrap_or(1500) as u32;
    let routes = ip_json(&["-4", "route", "show", "dev", &veth])?;
    let routes: Vec<(Route, Vec<String>)> = routes.iter().filter_map(|r| route_of(r, &veth)).collect();

    let (tap, tap_name) = open_tap("nabla%d")?;
    tools::run("ip", &["link", "set", "dev", &tap_name, "mtu", &mtu.to_string(), "up"]).map_err(NetError::Tool)?;
    redirect(&veth, &tap_name)?;
    redirect(&tap_name, &veth)?;
    tools::run("ip", &["-4", "addr", "flush", "dev", &veth]).map_err(NetError::Tool)?;

    guest.mtus.push((GUEST_IF.into(), mtu));
    guest.addresses.extend(infos.iter().map(|&(addr, prefix)| Address { iface: GUEST_IF.into(), addr, prefix }));
    guest.routes.extend(routes.iter().map(|(r, _)| r.clone()));
    let record = NetRecord {
        netns: netns.to_path_buf(),
        veth,
        addrs: infos.iter().map(|(a, p)| format!("{a}/{p}")).collect(),
        routes: routes.into_iter().map(|(_, args)| args).collect(),
    };
    Ok(Some(Plumbed { tap, mac, record }))
}

/// Undo [`plumb`] on the veth, from outside: join the namespace (this
/// process stays there) and give the veth back its addresses and routes.
/// Best effort: each step's failure is returned, the others still run.
pub fn restore(rec: &NetRecord) -> Vec<String> {
    if !rec.netns.exists() {
        return Vec::new();
    }
    if let Err(e) = join(&rec.netns) {
        return vec![e.to_string()];
    }
    let mut errs = Vec::new();
    let mut step = |args: Vec<&str>, tool: &str| {
        if let Err(e) = tools::run(tool, &args) {
            errs.push(e);
        }
    };
    step(vec!["qdisc", "del", "dev", &rec.veth, "ingress"], "tc");
    for a in &rec.addrs {
        step(vec!["addr", "add", a, "dev", &rec.veth], "ip");
    }
    for r in &rec.routes {
        let mut args = vec!["route", "add"];
        args.extend(r.iter().map(String::as_str));
        step(args, "ip");
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_from_ip_json() {
        let v: Value = serde_json::from_str(
            r#"[{"dst":"default","gateway":"10.88.0.1","dev":"eth0","flags":[]},
                {"dst":"10.88.0.0/16","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"10.88.0.5","flags":[]},
                {"dst":"192.168.9.9","dev":"eth0","scope":"link","flags":[]}]"#,
        )
        .unwrap();
        let r: Vec<_> = v.as_array().unwrap().iter().filter_map(|r| route_of(r, "veth0")).collect();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0.gateway, Some(Ipv4Addr::new(10, 88, 0, 1)));
        assert_eq!(r[0].0.prefix, 0);
        assert_eq!(r[0].1, ["0.0.0.0/0", "via", "10.88.0.1", "dev", "veth0", "onlink"]);
        assert_eq!((r[1].0.dest, r[1].0.prefix, r[1].0.gateway), (Ipv4Addr::new(192, 168, 9, 9), 32, None));
    }
}
