//! The core module: guest memory, clocks, yield, exit/abort, TLS, traps.
//!
//! Set-up maps guest memory (`--mem`), creates the epoll fd that
//! `yield_until` waits on, detects FSGSBASE (with it, `set_tls_base`
//! needs no syscall at all) and finds the host's vDSO `clock_gettime`
//! (with it, the clocks need no syscall when the host's clocksource is the
//! TSC; see `vdso.rs`).

use crate::memory::{GuestMemory, MemError};
use crate::sandbox::{Pin, Rules};
use crate::vdso::VdsoError;
use std::io;

/// Default guest memory in MiB.
pub const DEFAULT_MEM_MIB: u64 = 128;
/// Most epoll events one `yield_until` collects.
pub const MAX_EVENTS: u64 = 8;

/// Arguments owned by the core module.
#[derive(Debug, Clone, clap::Args)]
pub struct CoreArgs {
    /// Guest memory in MiB (2..=65536)
    #[arg(long, value_name = "MiB", default_value_t = DEFAULT_MEM_MIB)]
    pub mem: u64,
    /// Ask the guest to print no banner or informational messages
    #[arg(long)]
    pub quiet: bool,
    /// Load FILE (a newc cpio archive, optionally gzip-compressed) into
    /// guest memory as the initial RAM disk
    #[arg(long, value_name = "FILE")]
    pub initrd: Option<std::path::PathBuf>,
}

/// Read and check an initial RAM disk: non-empty, and a newc cpio archive
/// (`070701`/`070702`) or gzip data (the kernel unpacks it).
pub fn read_initrd(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let name = path.display();
    let data = std::fs::read(path).map_err(|e| format!("--initrd {name}: {e}"))?;
    let cpio = data.starts_with(b"070701") || data.starts_with(b"070702");
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    if !cpio && !gzip {
        return Err(format!("--initrd {name}: not a newc cpio archive (optionally gzip-compressed)"));
    }
    Ok(data)
}

/// Why the core module could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Guest memory.
    #[error(transparent)]
    Mem(#[from] MemError),
    /// epoll_create1 failed.
    #[error("cannot create the epoll fd: {0}")]
    Epoll(io::Error),
}

/// The set-up core module.
#[derive(Debug)]
pub struct Core {
    /// Guest memory.
    pub mem: GuestMemory,
    /// The epoll fd of `yield_until`.
    pub epfd: i32,
    /// `wrfsbase` is available to user mode.
    pub fsgsbase: bool,
    /// The vDSO `clock_gettime` the clocks use, or why they make the
    /// syscall instead.
    pub clock: Result<&'static str, VdsoError>,
}

impl Core {
    /// Map memory and create the epoll fd.
    pub fn setup(args: &CoreArgs) -> Result<Core, CoreError> {
        let mem = GuestMemory::map(args.mem)?;
        // SAFETY: plain syscall wrapper, no pointers.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(CoreError::Epoll(io::Error::last_os_error()));
        }
        // SAFETY: getauxval only reads the aux vector.
        let hwcap2 = unsafe { libc::getauxval(libc::AT_HWCAP2) };
        Ok(Core { mem, epfd, fsgsbase: hwcap2 & 2 != 0, clock: crate::vdso::init() })
    }
}

impl super::Module for Core {
    fn name(&self) -> &'static str {
        "core"
    }

    fn rules(&self, r: &mut Rules) {
        // clock_monotonic, yield_until: the monotonic clock only;
        // clock_wall: the real-time clock only. Made by the vDSO's
        // clock_gettime, with the clock id it was given, when the host's
        // clocksource cannot be read from user mode, and by the gate
        // itself on a host without a usable vDSO (see `vdso.rs`).
        r.allow(libc::SYS_clock_gettime, &[Pin::Eq(0, libc::CLOCK_MONOTONIC as u64)]);
        r.allow(libc::SYS_clock_gettime, &[Pin::Eq(0, libc::CLOCK_REALTIME as u64)]);
        // yield_until: wait on our epoll fd, bounded event count, no sigmask.
        r.allow(libc::SYS_epoll_pwait2, &[Pin::Eq(0, self.epfd as u64), Pin::Le(2, MAX_EVENTS), Pin::Eq(4, 0)]);
        // exit, abort, fault and forbidden-syscall reports: end the process.
        r.allow(libc::SYS_exit_group, &[]);
        // abort and the tender's own one-line reports: stderr only.
        r.allow(libc::SYS_write, &[Pin::Eq(0, 2)]);
        // set_trap_vector: returning from the SIGSYS/fault handlers that
        // forward to the guest's vector.
        r.allow(libc::SYS_rt_sigreturn, &[]);
        if !self.fsgsbase {
            // set_tls_base without FSGSBASE: set %fs only.
            r.allow(libc::SYS_arch_prctl, &[Pin::Eq(0, crate::gate::ARCH_SET_FS)]);
        }
    }
}
