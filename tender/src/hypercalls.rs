//! The hypercalls: tender functions the guest calls through the
//! [`Hypercalls`] table.
//!
//! They run on the guest's stack with the guest's `%fs`, after the sandbox
//! is on, so they follow the gate's rules: no allocation, no locks, no
//! libc, no TLS, no panics. Every guest pointer goes through
//! [`GuestRange`](crate::memory::GuestRange) before use; a bad one gets
//! `RESULT_EINVAL`, never a fault. Host failures get `RESULT_EUNSPEC`.

use crate::exit;
use crate::gate;
use crate::runtime::{self, CONSOLE_EOF, CONSOLE_PENDING, Ordering};
use nabla_abi::{
    FaultFrame, HYPERCALL_COUNT, Hypercalls, RESULT_AGAIN, RESULT_EINVAL, RESULT_EUNSPEC, RESULT_OK, STREAM_KERNEL_LOG,
    STREAM_STDERR, STREAM_STDOUT, TrapVector,
};

/// Ready-set bit of console input in `yield_until`.
pub const CONSOLE_READY_BIT: u64 = nabla_abi::CONSOLE_READY;

/// The table handed to the guest (its address goes into `BootInfo`).
pub static TABLE: Hypercalls = Hypercalls {
    version: nabla_abi::ABI_VERSION,
    count: HYPERCALL_COUNT,
    console_write,
    console_read,
    clock_monotonic,
    clock_wall,
    yield_until: crate::idle::yield_until,
    exit: hc_exit,
    abort: hc_abort,
    set_tls_base,
    set_trap_vector,
    block_read: crate::modules::block::block_read,
    block_write: crate::modules::block::block_write,
    block_flush: crate::modules::block::block_flush,
    net_read: crate::modules::net::net_read,
    net_write: crate::modules::net::net_write,
    net_readv: crate::modules::net::net_readv,
    stream_write,
    host_signals_take: crate::signals::host_signals_take,
};

extern "C" fn console_write(buf: u64, len: u64) -> u32 {
    let Some(rt) = runtime::get() else {
        return RESULT_EUNSPEC;
    };
    let Some(p) = rt.guest.readable(buf, len) else {
        return RESULT_EINVAL;
    };
    // SAFETY: `readable` checked that the whole range is guest memory,
    // which stays mapped and readable for the life of the process.
    let bytes = unsafe { core::slice::from_raw_parts(p, len as usize) };
    if gate::write_all(1, bytes) { RESULT_OK } else { RESULT_EUNSPEC }
}

extern "C" fn stream_write(stream: u32, buf: u64, len: u64) -> u32 {
    let Some(rt) = runtime::get() else {
        return RESULT_EUNSPEC;
    };
    let fd = match stream {
        STREAM_STDOUT => 1,
        STREAM_STDERR => 2,
        STREAM_KERNEL_LOG => rt.kernel_log,
        _ => return RESULT_EINVAL,
    };
    let Some(p) = rt.guest.readable(buf, len) else {
        return RESULT_EINVAL;
    };
    // SAFETY: `readable` checked that the whole range is guest memory,
    // which stays mapped and readable for the life of the process.
    let bytes = unsafe { core::slice::from_raw_parts(p, len as usize) };
    if gate::write_all(fd, bytes) { RESULT_OK } else { RESULT_EUNSPEC }
}

extern "C" fn console_read(buf: u64, len: u64, nread: u64) -> u32 {
    let Some(rt) = runtime::get() else {
        return RESULT_EUNSPEC;
    };
    let (Some(p), Some(out)) = (rt.guest.writable(buf, len), rt.guest.writable(nread, 8)) else {
        return RESULT_EINVAL;
    };
    let store = |n: u64| {
        // SAFETY: `out` is 8 writable bytes of guest memory (checked).
        unsafe { core::ptr::write_unaligned(out.cast::<u64>(), n) }
    };
    if len == 0 {
        // A zero-length read would look like end of input.
        return RESULT_EINVAL;
    }
    if rt.console_in < 0 || CONSOLE_EOF.load(Ordering::Relaxed) {
        store(0);
        return RESULT_OK;
    }
    // SAFETY: `p..p+len` is writable guest memory (checked above).
    let n = unsafe { gate::read(rt.console_in, p, len as usize) };
    match n {
        n if n > 0 => {
            store(n as u64);
            RESULT_OK
        }
        0 => {
            CONSOLE_EOF.store(true, Ordering::Relaxed);
            store(0);
            RESULT_OK
        }
        n if n == -(libc::EAGAIN as i64) || n == -(libc::EINTR as i64) => {
            CONSOLE_PENDING.store(false, Ordering::Relaxed);
            store(0);
            RESULT_AGAIN
        }
        _ => RESULT_EUNSPEC,
    }
}

extern "C" fn clock_monotonic() -> u64 {
    gate::clock_ns(libc::CLOCK_MONOTONIC)
}

extern "C" fn clock_wall() -> u64 {
    gate::clock_ns(libc::CLOCK_REALTIME)
}

extern "C" fn hc_exit(status: u32) -> ! {
    exit::now((status & 0xff) as i32)
}

extern "C" fn hc_abort(msg: u64, len: u64) -> ! {
    let len = len.min(400);
    let bytes = runtime::get()
        .and_then(|rt| rt.guest.readable(msg, len))
        // SAFETY: the range was checked to be guest memory.
        .map(|p| unsafe { core::slice::from_raw_parts(p, len as usize) })
        .unwrap_or(&[]);
    // Keep the valid UTF-8 prefix (the cut at 400 bytes may split a char).
    let text = match core::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    };
    let text = text.trim_end_matches('\n');
    if text.is_empty() {
        exit::with_message(exit::ABORT, format_args!("guest aborted"))
    }
    exit::with_message(exit::ABORT, format_args!("guest aborted: {text}"))
}

extern "C" fn set_tls_base(base: u64) -> u32 {
    let Some(rt) = runtime::get() else {
        return RESULT_EUNSPEC;
    };
    // Non-canonical bases would make wrfsbase fault.
    if base >= 0x0000_8000_0000_0000 {
        return RESULT_EINVAL;
    }
    if rt.fsgsbase {
        // SAFETY: FSGSBASE was detected at start-up (AT_HWCAP2).
        unsafe { gate::wrfsbase(base) };
        RESULT_OK
    } else if gate::arch_set_fs(base) == 0 {
        RESULT_OK
    } else {
        RESULT_EUNSPEC
    }
}

extern "C" fn set_trap_vector(vector: u64) -> u32 {
    let Some(rt) = runtime::get() else {
        return RESULT_EUNSPEC;
    };
    let Some(p) = rt.guest.readable(vector, size_of::<TrapVector>() as u64) else {
        return RESULT_EINVAL;
    };
    // SAFETY: readable guest memory of the right size (checked above).
    let v = unsafe { core::ptr::read_unaligned(p.cast::<TrapVector>()) };
    let entry_ok = |a: u64| a == 0 || rt.guest.executable(a);
    if !entry_ok(v.syscall_entry) || !entry_ok(v.fault_entry) {
        return RESULT_EINVAL;
    }
    if v.fault_entry != 0 {
        let frame_ok = rt.guest.writable(v.fault_frame, size_of::<FaultFrame>() as u64).is_some();
        let stack_ok =
            v.fault_stack_top % 16 == 0 && rt.guest.writable(v.fault_stack_top.wrapping_sub(256), 256).is_some();
        if !frame_ok || !stack_ok {
            return RESULT_EINVAL;
        }
    }
    runtime::TRAP_FRAME.store(v.fault_frame, Ordering::Relaxed);
    runtime::TRAP_STACK.store(v.fault_stack_top, Ordering::Relaxed);
    runtime::TRAP_FAULT.store(v.fault_entry, Ordering::Relaxed);
    runtime::TRAP_SYSCALL.store(v.syscall_entry, Ordering::Release);
    RESULT_OK
}
