//! The net module: `--net:NAME=TAP`, `--net:NAME=@FD`, `--net-mac:NAME=MAC`,
//! and the `net_read`/`net_write` hypercalls.
//!
//! A tap given by name is opened through `/dev/net/tun` before the
//! sandbox; a tap given as `@FD` is an fd the caller (a container runtime)
//! already opened and handed over. Either way the fd is non-blocking and
//! in the epoll set of `yield_until` (level-triggered), whose ready set
//! gets the device's bit. The MAC is the one given or a random locally
//! administered one; the MTU is read from the interface (1500 if it cannot
//! be).
//!
//! Offloads: for a guest with `GUEST_FLAG_NET_VNET_HDR` (the Linux
//! kernel), a tap opened by name gets `IFF_VNET_HDR`, a 12-byte
//! virtio-net header and the offloads the guest can take (partial
//! checksums, TCP segments over IPv4 and IPv6, ECN): one `read` or `write`
//! then moves a segment of up to 64 KiB instead of one MTU-sized frame.
//! An `@FD` tap keeps the flags it was opened with (they cannot change
//! once attached): with `IFF_VNET_HDR` it gets the same set-up; without
//! it, plain frames (`TUNGETIFF` tells, before the sandbox). A guest
//! without the flag (Solo5 unikernels) always gets plain frames, and an
//! `@FD` tap with `IFF_VNET_HDR` is refused for it.
//!
//! Seccomp: `read`, `readv` (at most `NET_IOV_MAX` pieces, for
//! `net_readv`) and `write` pinned to the tap fd, `write` also to at
//! most one frame: MTU + 14 bytes for plain frames, the header and the
//! largest segment (64 KiB + Ethernet and VLAN headers) with offloads.
//! `epoll_ctl(EPOLL_CTL_DEL)` of the tap from the epoll fd, for a tap
//! deleted on the host while the guest runs (see `yield_until`).
//!
//! Limits: plain frames carry no VLAN tag beyond the MTU; no UDP
//! segmentation offload.

use super::parse_named;
use crate::gate;
use crate::runtime::{self, Device};
use crate::sandbox::{Pin, Rules};
use nabla_abi::{DEVICE_NET, IoVec, NET_IOV_MAX, RESULT_AGAIN, RESULT_EINVAL, RESULT_EUNSPEC, RESULT_OK, VNET_HDR_LEN};
use std::io;

/// Ethernet header bytes on top of the MTU.
pub const ETH_HEADER: u64 = 14;

/// Largest frame with offloads, without the virtio-net header: a 64 KiB
/// segment (the tap's default GSO limit) with its Ethernet and VLAN
/// headers.
pub const GSO_FRAME_MAX: u64 = 65_536 + ETH_HEADER + 4;

/// The offloads the guest takes from the tap: partial checksums, TCP
/// segments over IPv4 and IPv6, with ECN.
const OFFLOADS: libc::c_uint = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;

/// Arguments owned by the net module.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NetArgs {
    /// Attach net device NAME to the tap interface TAP, or to an already
    /// open tap fd with @FD. Also written --net:NAME=TAP
    #[arg(long = "net", value_name = "NAME=TAP|@FD")]
    pub net: Vec<String>,
    /// MAC address of net device NAME (default: random, locally
    /// administered). Also written --net-mac:NAME=MAC
    #[arg(long = "net-mac", value_name = "NAME=MAC")]
    pub mac: Vec<String>,
}

/// Why a net device could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Malformed argument.
    #[error("{0}")]
    Arg(String),
    /// The tap could not be opened.
    #[error("net device {name}: cannot attach tap {tap}: {err}")]
    Tap {
        /// Device name.
        name: String,
        /// Tap name or @FD.
        tap: String,
        /// Host error.
        err: io::Error,
    },
    /// An `@FD` tap with a virtio-net header, for a guest without one.
    #[error("net device {name}: tap @{fd} was opened with IFF_VNET_HDR, which this guest does not speak")]
    VnetHdr {
        /// Device name.
        name: String,
        /// The fd.
        fd: i32,
    },
}

/// Where a net device's frames go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A tap interface opened by name.
    Tap(String),
    /// An inherited, already open tap fd.
    Fd(i32),
}

/// A net device attachment requested on the command line.
#[derive(Debug, Clone)]
pub struct NetSpec {
    /// The backend.
    pub backend: Backend,
    /// MAC address, if given.
    pub mac: Option<[u8; 6]>,
}

/// Parse `aa:bb:cc:dd:ee:ff` (a unicast address).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    (parts.next().is_none() && mac[0] & 1 == 0).then_some(mac)
}

impl NetArgs {
    /// The attachments, by device name, checked for syntax.
    pub fn specs(&self) -> Result<Vec<(String, NetSpec)>, NetError> {
        let mut out: Vec<(String, NetSpec)> = Vec::new();
        for arg in &self.net {
            let (name, value) = parse_named("--net", arg).map_err(NetError::Arg)?;
            let backend = match value.strip_prefix('@') {
                Some(fd) => match fd.parse::<i32>() {
                    Ok(fd) if fd > 2 => Backend::Fd(fd),
                    _ => {
                        return Err(NetError::Arg(format!(
                            "--net:{name}={value}: @FD needs a file descriptor number above 2"
                        )));
                    }
                },
                None if !value.is_empty() && value.len() < libc::IFNAMSIZ => Backend::Tap(value.to_string()),
                None => return Err(NetError::Arg(format!("--net:{name}={value}: not a valid interface name"))),
            };
            out.push((name.to_string(), NetSpec { backend, mac: None }));
        }
        for arg in &self.mac {
            let (name, value) = parse_named("--net-mac", arg).map_err(NetError::Arg)?;
            let mac = parse_mac(value).ok_or_else(|| {
                NetError::Arg(format!("--net-mac:{name}={value}: not a unicast MAC address like 02:00:00:00:00:01"))
            })?;
            match out.iter_mut().find(|(n, _)| n == name) {
                Some((_, spec)) => spec.mac = Some(mac),
                None => return Err(NetError::Arg(format!("--net-mac:{name}: no --net:{name}=TAP given"))),
            }
        }
        Ok(out)
    }
}

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

fn ifreq(name: &str) -> IfReq {
    let mut r = IfReq { name: [0; libc::IFNAMSIZ], data: [0; 24] };
    for (d, s) in r.name.iter_mut().zip(name.bytes().take(libc::IFNAMSIZ - 1)) {
        *d = s;
    }
    r
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

/// Interface name and `IFF_*` flags of an open tap fd.
fn tap_info(fd: i32) -> io::Result<(String, i32)> {
    let mut r = ifreq("");
    // SAFETY: TUNGETIFF writes an ifreq into `r`, which is large enough.
    if unsafe { libc::ioctl(fd, libc::TUNGETIFF, &mut r) } != 0 {
        return Err(last_err());
    }
    let len = r.name.iter().position(|&b| b == 0).unwrap_or(r.name.len());
    let flags = i32::from(u16::from_ne_bytes([r.data[0], r.data[1]]));
    Ok((String::from_utf8_lossy(&r.name[..len]).into_owned(), flags))
}

/// Give tap `fd` (opened with `IFF_VNET_HDR`) our header size and the
/// guest's offloads.
fn offloads_on(fd: i32) -> io::Result<()> {
    let size = VNET_HDR_LEN as libc::c_int;
    // SAFETY: TUNSETVNETHDRSZ reads one int from `size`.
    if unsafe { libc::ioctl(fd, libc::TUNSETVNETHDRSZ, &size) } != 0 {
        return Err(last_err());
    }
    // SAFETY: TUNSETOFFLOAD takes its flags by value.
    if unsafe { libc::ioctl(fd, libc::TUNSETOFFLOAD, OFFLOADS as libc::c_ulong) } != 0 {
        return Err(last_err());
    }
    Ok(())
}

/// MTU of interface `name`, or 1500 when it cannot be read.
fn mtu(name: &str) -> u32 {
    // SAFETY: a plain socket, closed below.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return 1500;
    }
    let mut r = ifreq(name);
    // SAFETY: SIOCGIFMTU reads the name and writes an int into `r.data`.
    let ok = unsafe { libc::ioctl(s, libc::SIOCGIFMTU, &mut r) } == 0;
    // SAFETY: `s` is our socket.
    unsafe { libc::close(s) };
    let m = i32::from_ne_bytes([r.data[0], r.data[1], r.data[2], r.data[3]]);
    if ok && m >= 68 { m as u32 } else { 1500 }
}

fn random_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    // SAFETY: getrandom fills at most `mac.len()` bytes of `mac`.
    unsafe { libc::getrandom(mac.as_mut_ptr().cast(), mac.len(), 0) };
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// A net device, attached: the runtime view and what the guest's device
/// table says of it.
#[derive(Debug)]
pub struct Attached {
    /// The runtime device (`frame_max` includes the header).
    pub device: Device,
    /// MAC address.
    pub mac: [u8; 6],
    /// MTU of the host interface.
    pub mtu: u32,
    /// Frames carry the virtio-net header, offloads on.
    pub vnet_hdr: bool,
}

/// Open the backend of net device `name`, with offloads when the guest
/// speaks the virtio-net header (`vnet_guest`).
pub fn attach(name: &str, spec: &NetSpec, vnet_guest: bool) -> Result<Attached, NetError> {
    let tap_err = |err| {
        let tap = match &spec.backend {
            Backend::Tap(t) => t.clone(),
            Backend::Fd(fd) => format!("@{fd}"),
        };
        NetError::Tap { name: name.into(), tap, err }
    };
    let (fd, ifname, vnet) = match &spec.backend {
        Backend::Tap(tap) => {
            // SAFETY: a NUL-terminated path; the fd is ours.
            let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(tap_err(last_err()));
            }
            let mut r = ifreq(tap);
            let vnet = if vnet_guest { libc::IFF_VNET_HDR } else { 0 };
            let flags = (libc::IFF_TAP | libc::IFF_NO_PI | vnet) as u16;
            r.data[..2].copy_from_slice(&flags.to_ne_bytes());
            // SAFETY: TUNSETIFF reads and writes the ifreq `r`.
            let mut ok = unsafe { libc::ioctl(fd, libc::TUNSETIFF, &mut r) } == 0;
            if ok && vnet_guest {
                ok = offloads_on(fd).is_ok();
            }
            if !ok {
                let e = last_err();
                // SAFETY: our own fd.
                unsafe { libc::close(fd) };
                return Err(tap_err(e));
            }
            (fd, tap.clone(), vnet_guest)
        }
        Backend::Fd(fd) => {
            let fd = *fd;
            // SAFETY: F_GETFL/F_SETFL only read and set status flags.
            let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            if fl < 0 {
                return Err(tap_err(last_err()));
            }
            // SAFETY: as above.
            if unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) } != 0 {
                return Err(tap_err(last_err()));
            }
            let (ifname, flags) = tap_info(fd).map_err(tap_err)?;
            if flags & (libc::IFF_TAP | libc::IFF_NO_PI) != libc::IFF_TAP | libc::IFF_NO_PI {
                let e = io::Error::other("not a tap opened with IFF_TAP and IFF_NO_PI");
                return Err(tap_err(e));
            }
            let vnet = flags & libc::IFF_VNET_HDR != 0;
            if vnet && !vnet_guest {
                return Err(NetError::VnetHdr { name: name.into(), fd });
            }
            if vnet {
                offloads_on(fd).map_err(tap_err)?;
            }
            (fd, ifname, vnet)
        }
    };
    let mtu = mtu(&ifname);
    let frame_max = frame_max(mtu, vnet);
    let device = Device { kind: DEVICE_NET, fd, frame_max, ..Device::default() };
    Ok(Attached { device, mac: spec.mac.unwrap_or_else(random_mac), mtu, vnet_hdr: vnet })
}

/// Largest frame of a device with `mtu`: the header and a whole segment
/// with offloads (or a jumbo frame, if larger), else MTU + 14.
pub fn frame_max(mtu: u32, vnet_hdr: bool) -> u64 {
    let plain = u64::from(mtu) + ETH_HEADER;
    if vnet_hdr { u64::from(VNET_HDR_LEN) + GSO_FRAME_MAX.max(plain + 4) } else { plain }
}

/// The net module, set up: the attached net devices (a view of the device
/// table, which also holds the block devices) and the epoll fd they are
/// registered with.
pub struct Net<'a>(pub &'a [Device], pub i32);

impl super::Module for Net<'_> {
    fn name(&self) -> &'static str {
        "net"
    }

    fn rules(&self, r: &mut Rules) {
        for d in self.0.iter().filter(|d| d.kind == DEVICE_NET) {
            rules(d, self.1, r);
        }
    }
}

/// The seccomp rules of one attached net device registered with `epfd`.
pub fn rules(d: &Device, epfd: i32, r: &mut Rules) {
    // net_read: this tap only.
    r.allow(libc::SYS_read, &[Pin::Eq(0, d.fd as u64)]);
    // net_readv: this tap only, at most NET_IOV_MAX pieces.
    r.allow(libc::SYS_readv, &[Pin::Eq(0, d.fd as u64), Pin::Le(2, NET_IOV_MAX)]);
    // net_write: this tap only, at most one frame.
    r.allow(libc::SYS_write, &[Pin::Eq(0, d.fd as u64), Pin::Le(2, d.frame_max)]);
    // yield_until: drop this tap, once deleted on the host, from our
    // epoll set (it would report an error at every wait).
    r.allow(
        libc::SYS_epoll_ctl,
        &[Pin::Eq(0, epfd as u64), Pin::Eq(1, libc::EPOLL_CTL_DEL as u64), Pin::Eq(2, d.fd as u64)],
    );
}

/// Read one frame with `read` (a host `read` or `readv` into `room`
/// bytes of checked guest memory) and store its length at `out`.
///
/// A tap returns a frame's whole length even when it did not fit and was
/// cut (a VLAN tag on a plain frame, an MTU raised on the host while the
/// guest runs): such a frame is dropped, and the next one read, a few
/// times at most.
fn receive(mut read: impl FnMut() -> i64, room: u64, out: *mut u8) -> u32 {
    let mut n = -(libc::EAGAIN as i64);
    for _ in 0..8 {
        n = read();
        if n <= room as i64 {
            break;
        }
        n = -(libc::EAGAIN as i64);
    }
    if n == -(libc::EAGAIN as i64) || n == -(libc::EINTR as i64) {
        return RESULT_AGAIN;
    }
    if n < 0 {
        return RESULT_EUNSPEC;
    }
    // SAFETY: the callers checked `out` to be 8 writable bytes of guest
    // memory.
    unsafe { core::ptr::write_unaligned(out.cast::<u64>(), n as u64) };
    RESULT_OK
}

/// `net_read` hypercall.
pub extern "C" fn net_read(handle: u32, buf: u64, len: u64, nread: u64) -> u32 {
    let Some(rt) = runtime::get() else { return RESULT_EUNSPEC };
    let Some(d) = rt.device(handle, DEVICE_NET) else { return RESULT_EINVAL };
    let (Some(p), Some(out)) = (rt.guest.writable(buf, len), rt.guest.writable(nread, 8)) else {
        return RESULT_EINVAL;
    };
    if len < d.frame_max {
        return RESULT_EINVAL;
    }
    // SAFETY: `p` is `len` >= frame_max writable bytes of guest memory
    // (checked above).
    receive(|| unsafe { gate::read(d.fd, p, d.frame_max as usize) }, d.frame_max, out)
}

/// `net_readv` hypercall: one frame scattered over the guest's pieces.
pub extern "C" fn net_readv(handle: u32, iov: u64, iovcnt: u64, nread: u64) -> u32 {
    let Some(rt) = runtime::get() else { return RESULT_EUNSPEC };
    let Some(d) = rt.device(handle, DEVICE_NET) else { return RESULT_EINVAL };
    if iovcnt == 0 || iovcnt > NET_IOV_MAX {
        return RESULT_EINVAL;
    }
    let size = iovcnt * size_of::<IoVec>() as u64;
    let (Some(list), Some(out)) = (rt.guest.readable(iov, size), rt.guest.writable(nread, 8)) else {
        return RESULT_EINVAL;
    };
    // The pieces are copied out of guest memory, then each is checked:
    // the host reads exactly what was checked.
    let mut host = [libc::iovec { iov_base: core::ptr::null_mut(), iov_len: 0 }; NET_IOV_MAX as usize];
    let mut total = 0u64;
    for (i, slot) in host.iter_mut().take(iovcnt as usize).enumerate() {
        // SAFETY: `list` is `iovcnt` IoVecs of readable guest memory.
        let v = unsafe { core::ptr::read_unaligned(list.cast::<IoVec>().add(i)) };
        let Some(p) = rt.guest.writable(v.base, v.len) else { return RESULT_EINVAL };
        *slot = libc::iovec { iov_base: p.cast(), iov_len: v.len as usize };
        total += v.len;
    }
    if total < d.frame_max {
        return RESULT_EINVAL;
    }
    let pieces = &host[..iovcnt as usize];
    // SAFETY: every piece is writable guest memory (checked above).
    receive(|| unsafe { gate::readv(d.fd, pieces) }, total, out)
}

/// `net_write` hypercall.
pub extern "C" fn net_write(handle: u32, buf: u64, len: u64) -> u32 {
    let Some(rt) = runtime::get() else { return RESULT_EUNSPEC };
    let Some(d) = rt.device(handle, DEVICE_NET) else { return RESULT_EINVAL };
    let Some(p) = rt.guest.readable(buf, len) else { return RESULT_EINVAL };
    if len == 0 || len > d.frame_max {
        return RESULT_EINVAL;
    }
    // SAFETY: `p` is `len` readable bytes of guest memory (checked).
    let n = unsafe { gate::write(d.fd, p, len as usize) };
    match n {
        n if n == len as i64 => RESULT_OK,
        n if n == -(libc::EAGAIN as i64) => RESULT_AGAIN,
        _ => RESULT_EUNSPEC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:00:0a:0B:ff:01"), Some([2, 0, 10, 11, 255, 1]));
        for bad in
            ["", "02:00:00:00:00", "02:00:00:00:00:00:00", "0g:00:00:00:00:00", "01:00:00:00:00:00", "2:0:0:0:0:0"]
        {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        let m = random_mac();
        assert_eq!(m[0] & 3, 2);
    }

    #[test]
    fn frame_limits() {
        assert_eq!(frame_max(1500, false), 1514);
        assert_eq!(frame_max(9000, false), 9014);
        assert_eq!(frame_max(1500, true), 12 + 65_536 + 18);
        assert_eq!(frame_max(9000, true), 12 + 65_536 + 18);
        assert_eq!(frame_max(65_535, true), 12 + 65_536 + 18);
    }
}
