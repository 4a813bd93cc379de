//! State shared by the hypercalls and the signal handlers once the guest
//! runs.
//!
//! It is written once, before the sandbox goes on and before the first
//! guest instruction, and only read afterwards (mutable parts are atomics).
//! Access is through a plain `static`: no TLS, no lock, no allocation, so it
//! works on the guest's stack with the guest's `%fs`.

use crate::memory::GuestRange;
use nabla_abi::MAX_DEVICES;
use std::cell::UnsafeCell;
pub use std::sync::atomic::Ordering;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// Frozen facts about the running guest.
#[derive(Debug, Clone, Copy)]
pub struct Runtime {
    /// Guest memory.
    pub guest: GuestRange,
    /// The guest image (start, end): a preemption tick there is dropped.
    pub image: (u64, u64),
    /// Executable host code (see `host_code`): a fault there is a tender bug.
    pub host_code: [(u64, u64); crate::MAX_HOST_CODE],
    /// epoll fd used by `yield_until`.
    pub epfd: i32,
    /// Console input fd (non-blocking), or -1 when there is none.
    pub console_in: i32,
    /// Whether `console_in` is in the epoll set (edge-triggered).
    pub console_pollable: bool,
    /// fd of stream 3, the kernel log (`--kernel-log`, or 1: stdout).
    pub kernel_log: i32,
    /// `wrfsbase` is usable (else `arch_prctl`).
    pub fsgsbase: bool,
    /// Attached devices, by handle.
    pub devices: [Device; MAX_DEVICES],
    /// Number of entries of `devices` in use.
    pub ndevices: usize,
}

/// One attached device as the hypercalls see it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Device {
    /// `DEVICE_BLOCK` or `DEVICE_NET` (0: none).
    pub kind: u32,
    /// Host fd.
    pub fd: i32,
    /// Block: capacity in bytes.
    pub capacity: u64,
    /// Block: sector size.
    pub sector: u64,
    /// Block: the seccomp window: every host request has length <= window
    /// and offset <= capacity - window.
    pub window: u64,
    /// Block: writes refused.
    pub read_only: bool,
    /// Net: largest frame (MTU + 14).
    pub frame_max: u64,
}

impl Runtime {
    /// Is `ip` in host (tender or library) code?
    pub fn in_host_code(&self, ip: u64) -> bool {
        self.host_code.iter().any(|&(s, e)| ip >= s && ip < e)
    }

    /// The device behind guest handle `handle` if it is of `kind`.
    pub fn device(&self, handle: u32, kind: u32) -> Option<&Device> {
        self.devices.get(..self.ndevices)?.get(handle as usize).filter(|d| d.kind == kind)
    }
}

struct Slot(UnsafeCell<Option<Runtime>>);

// SAFETY: the slot is written only by `install`, once, while the tender is
// still single-threaded and before any reader (hypercall or handler) can
// run; afterwards it is only read.
unsafe impl Sync for Slot {}

static RUNTIME: Slot = Slot(UnsafeCell::new(None));
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Trap vector registered by the guest (see `nabla_abi::TrapVector`).
pub static TRAP_SYSCALL: AtomicU64 = AtomicU64::new(0);
/// Fault entry registered by the guest.
pub static TRAP_FAULT: AtomicU64 = AtomicU64::new(0);
/// Guest address of the fault frame.
pub static TRAP_FRAME: AtomicU64 = AtomicU64::new(0);
/// Guest fault stack top.
pub static TRAP_STACK: AtomicU64 = AtomicU64::new(0);

/// Console input may have data not yet read (edge-triggered bookkeeping).
pub static CONSOLE_PENDING: AtomicBool = AtomicBool::new(false);
/// Console input reached end of file.
pub static CONSOLE_EOF: AtomicBool = AtomicBool::new(false);

/// Record the runtime. Called once, before the guest is entered.
pub fn install(rt: Runtime) {
    if INSTALLED.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: see `Slot`: single-threaded, before any reader exists.
    unsafe { *RUNTIME.0.get() = Some(rt) };
    INSTALLED.store(true, Ordering::Release);
}

/// The runtime, once installed.
pub fn get() -> Option<&'static Runtime> {
    if !INSTALLED.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: installed and never written again (see `Slot`).
    unsafe { (*RUNTIME.0.get()).as_ref() }
}
