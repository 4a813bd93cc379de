//! `nabla-tapfd [--vnet-hdr] TAP FD -- CMD...`: open tap interface TAP on
//! file descriptor FD and exec CMD, the way a container runtime hands a tap
//! over to `nabla-tender --net:NAME=@FD`. Test helper.
//!
//! The tap is opened with IFF_TAP | IFF_NO_PI, plus IFF_VNET_HDR with
//! `--vnet-hdr` (each frame then carries a virtio-net header: the guest
//! may use checksum and segmentation offloads). The header size is left
//! at the kernel's default; the tender sets what it needs.

use std::ffi::CString;

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let vnet_hdr = args.get(1).is_some_and(|a| a == "--vnet-hdr");
    if vnet_hdr {
        args.remove(1);
    }
    if args.len() < 5 || args[3] != "--" {
        eprintln!("usage: nabla-tapfd [--vnet-hdr] TAP FD -- CMD [ARGS...]");
        std::process::exit(2);
    }
    let fd: i32 = args[2].parse().expect("FD");
    // SAFETY: plain open; the fd is moved to `fd` below.
    let t = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR) };
    assert!(t >= 0, "cannot open /dev/net/tun");
    let mut req = [0u8; 40];
    for (d, s) in req.iter_mut().zip(args[1].bytes().take(15)) {
        *d = s;
    }
    let mut flags = (libc::IFF_TAP | libc::IFF_NO_PI) as u16;
    if vnet_hdr {
        flags |= libc::IFF_VNET_HDR as u16;
    }
    req[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes the 40-byte ifreq.
    assert_eq!(unsafe { libc::ioctl(t, libc::TUNSETIFF, req.as_mut_ptr()) }, 0, "TUNSETIFF {}", args[1]);
    // SAFETY: moves our tun fd to the requested number (no CLOEXEC).
    assert!(unsafe { libc::dup2(t, fd) } == fd);
    let argv: Vec<CString> = args[4..].iter().map(|a| CString::new(a.as_str()).expect("arg")).collect();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: NUL-terminated argv of live CStrings.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    eprintln!("nabla-tapfd: cannot exec {}", args[4]);
    std::process::exit(127);
}
