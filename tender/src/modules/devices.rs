//! Devices: match the guest's manifest with the `--block` and `--net`
//! attachments, attach each device, and describe them to the guest.
//!
//! Every declared device must be attached, unless the guest declares it
//! optional (a Linux kernel declares a fixed set of disks and interfaces);
//! every attachment must name a declared device of the same type, exactly
//! once. The guest's handle of a device is its index in the manifest; its
//! ready bit in `yield_until` is `1 << handle`. An optional device left
//! unattached is in the device table with `DEVICE_ABSENT`, so handles do
//! not depend on what is attached.

use super::block::{self, BlockArgs, BlockError};
use super::net::{self, NetArgs, NetError};
use crate::elf::entry_name;
use crate::runtime::Device;
use nabla_abi::note::{MANIFEST_OPTIONAL, ManifestEntry};
use nabla_abi::{
    DEVICE_ABSENT, DEVICE_BLOCK, DEVICE_NET, DEVICE_NET_VNET_HDR, DEVICE_READ_ONLY, DeviceInfo, MAX_DEVICES,
};
use std::io;

/// Why the devices could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// A declared device has no attachment.
    #[error("the guest declares {kind} device {name}: attach it with {flag}:{name}=...")]
    NotAttached {
        /// Device name.
        name: String,
        /// "block" or "net".
        kind: &'static str,
        /// The flag to use.
        flag: &'static str,
    },
    /// An attachment names no declared device.
    #[error("{flag}:{name}: the guest declares no {kind} device called {name}")]
    Undeclared {
        /// Device name.
        name: String,
        /// "block" or "net".
        kind: &'static str,
        /// The flag used.
        flag: &'static str,
    },
    /// The same device attached twice.
    #[error("device {0} is attached more than once")]
    Duplicate(String),
    /// Block attachment failure.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// Net attachment failure.
    #[error(transparent)]
    Net(#[from] NetError),
    /// epoll registration failed.
    #[error("cannot watch net device {0}: {1}")]
    Epoll(String, io::Error),
}

/// The attached devices.
#[derive(Debug, Default)]
pub struct Devices {
    /// Runtime view, by handle.
    pub runtime: Vec<Device>,
    /// Guest view, by handle.
    pub info: Vec<DeviceInfo>,
    /// The epoll fd the net devices are registered with.
    pub epfd: i32,
}

impl Devices {
    /// Attach every device of `manifest` and register net devices with
    /// `epfd`; net devices get offloads when the guest speaks the
    /// virtio-net header (`vnet_guest`).
    pub fn setup(
        manifest: &[ManifestEntry],
        b: &BlockArgs,
        n: &NetArgs,
        vnet_guest: bool,
        epfd: i32,
    ) -> Result<Devices, DeviceError> {
        let first_block = manifest.iter().find(|e| e.kind == DEVICE_BLOCK).and_then(entry_name);
        let blocks = b.specs(first_block)?;
        let nets = n.specs()?;
        let mut seen: Vec<&str> = Vec::new();
        for name in blocks.iter().map(|(n, _)| n).chain(nets.iter().map(|(n, _)| n)) {
            if seen.contains(&name.as_str()) {
                return Err(DeviceError::Duplicate(name.clone()));
            }
            seen.push(name);
        }
        let declared = |name: &str, kind: u32| manifest.iter().any(|e| entry_name(e) == Some(name) && e.kind == kind);
        for (name, _) in &blocks {
            if !declared(name, DEVICE_BLOCK) {
                return Err(DeviceError::Undeclared { name: name.clone(), kind: "block", flag: "--block" });
            }
        }
        for (name, _) in &nets {
            if !declared(name, DEVICE_NET) {
                return Err(DeviceError::Undeclared { name: name.clone(), kind: "net", flag: "--net" });
            }
        }
        let mut out = Devices { epfd, ..Devices::default() };
        for (handle, entry) in manifest.iter().enumerate().take(MAX_DEVICES) {
            let name = entry_name(entry).unwrap_or("");
            let mut info = DeviceInfo { name: entry.name, kind: entry.kind, ..DeviceInfo::default() };
            let optional = entry.flags & MANIFEST_OPTIONAL != 0;
            let attached = match entry.kind {
                DEVICE_BLOCK => blocks.iter().any(|(n, _)| n == name),
                _ => nets.iter().any(|(n, _)| n == name),
            };
            if optional && !attached {
                info.flags = DEVICE_ABSENT;
                // Kind 0: no hypercall finds a device behind this handle.
                out.runtime.push(Device { fd: -1, ..Device::default() });
                out.info.push(info);
                continue;
            }
            let dev = if entry.kind == DEVICE_BLOCK {
                let Some((_, spec)) = blocks.iter().find(|(n, _)| n == name) else {
                    return Err(DeviceError::NotAttached { name: name.into(), kind: "block", flag: "--block" });
                };
                let d = block::attach(name, spec)?;
                info.capacity = d.capacity;
                info.sector_size = d.sector as u32;
                info.max_io = block::MAX_IO as u32;
                info.flags = if d.read_only { DEVICE_READ_ONLY } else { 0 };
                d
            } else {
                let Some((_, spec)) = nets.iter().find(|(n, _)| n == name) else {
                    return Err(DeviceError::NotAttached { name: name.into(), kind: "net", flag: "--net" });
                };
                let net::Attached { device: d, mac, mtu, vnet_hdr } = net::attach(name, spec, vnet_guest)?;
                info.mac[..6].copy_from_slice(&mac);
                info.mtu = mtu;
                info.max_io = d.frame_max as u32;
                if vnet_hdr {
                    info.flags = DEVICE_NET_VNET_HDR;
                }
                let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: handle as u64 };
                // SAFETY: `ev` is valid; both fds are open.
                if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, d.fd, &mut ev) } != 0 {
                    return Err(DeviceError::Epoll(name.into(), io::Error::last_os_error()));
                }
                d
            };
            out.runtime.push(dev);
            out.info.push(info);
        }
        Ok(out)
    }
}

impl Devices {
    /// The attached block devices, as the block module.
    pub fn block(&self) -> block::Block<'_> {
        block::Block(&self.runtime)
    }

    /// The attached net devices, as the net module.
    pub fn net(&self) -> net::Net<'_> {
        net::Net(&self.runtime, self.epfd)
    }
}
