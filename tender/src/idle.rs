//! `yield_until`: the guest idles until a deadline or until a device (or
//! console input) is ready, and learns which.
//!
//! Design: one `epoll_pwait2` on the tender's epoll fd, bounded by the
//! deadline. Net devices are in the set level-triggered, console input
//! edge-triggered with a "maybe pending" flag (see the console module),
//! and, for a guest that takes host signals, the signal handler's eventfd
//! edge-triggered: `HOST_SIGNAL_READY` is in the ready set whenever the
//! pending set is not empty, and the eventfd only makes sure a signal
//! that lands just before the wait ends it (see `signals.rs`). A
//! tap deleted on the host reports an error at every wait: it is taken
//! out of the set once, and the guest's next read of it fails.
//!
//! Halt polling, for guests with a net device: a host process that
//! sleeps pays for its wake-up (the scheduler, the CPU leaving an idle
//! state: tens of microseconds here), and a network round trip pays it
//! at each end. As KVM does for a halted vCPU, the tender first polls the
//! set without sleeping for a short window, and sleeps only if nothing
//! came. The window adapts: it grows (from 10 µs, doubling, up to
//! `POLL_MAX_NS`) each time a wait ends with an event within
//! `POLL_MAX_NS` (polling caught it, or would have), and halves, down to
//! none, each time the guest slept longer than that (its traffic is not
//! a quick back and forth). An idle guest therefore polls at most one
//! window after its last burst; a guest without net devices never polls.
//!
//! Runs on the guest's stack, after the sandbox: no allocation, no locks,
//! no libc (see `hypercalls`).

use crate::gate;
use crate::hypercalls::CONSOLE_READY_BIT;
use crate::runtime::{self, CONSOLE_EOF, CONSOLE_PENDING, Ordering, Runtime};
use crate::signals::host_signals_pending;
use nabla_abi::{DEVICE_NET, HOST_SIGNAL_READY, MAX_DEVICES, RESULT_EINVAL, RESULT_EUNSPEC, RESULT_OK};
use std::sync::atomic::AtomicU64;

/// Longest halt-polling window, and the longest sleep that still counts
/// as a quick wake-up.
pub const POLL_MAX_NS: u64 = 100_000;
/// First window once polling starts.
const POLL_MIN_NS: u64 = 10_000;

/// The current halt-polling window (0: sleep at once).
static POLL_NS: AtomicU64 = AtomicU64::new(0);

fn grow() {
    let w = POLL_NS.load(Ordering::Relaxed);
    POLL_NS.store((w * 2).clamp(POLL_MIN_NS, POLL_MAX_NS), Ordering::Relaxed);
}

fn shrink() {
    let w = POLL_NS.load(Ordering::Relaxed) / 2;
    POLL_NS.store(if w < POLL_MIN_NS { 0 } else { w }, Ordering::Relaxed);
}

fn console_pending(rt: &Runtime) -> bool {
    rt.console_pollable && CONSOLE_PENDING.load(Ordering::Relaxed) && !CONSOLE_EOF.load(Ordering::Relaxed)
}

/// One wait of at most `timeout` ns: the ready set, or `Err` on a host
/// error.
fn wait(rt: &Runtime, timeout: u64) -> Result<u64, ()> {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
    let n = gate::epoll_wait(rt.epfd, &mut events, Some(timeout));
    if n < 0 && n != -(libc::EINTR as i64) {
        return Err(());
    }
    let mut ready = 0;
    for ev in events.iter().take(n.max(0) as usize) {
        if ev.u64 == CONSOLE_READY_BIT {
            CONSOLE_PENDING.store(true, Ordering::Relaxed);
        } else if ev.u64 < MAX_DEVICES as u64 {
            ready |= 1u64 << ev.u64;
            // A tap deleted on the host reports an error at every wait
            // (level-triggered): take it out of the set, once. The
            // guest's next read of it fails and tells it so.
            if ev.events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0
                && let Some(d) = rt.devices.get(ev.u64 as usize)
            {
                gate::epoll_del(rt.epfd, d.fd);
            }
        }
    }
    if console_pending(rt) {
        ready |= CONSOLE_READY_BIT;
    }
    // The eventfd's own event (HOST_SIGNAL_READY, not a device) says
    // nothing more than the pending set.
    if host_signals_pending() {
        ready |= HOST_SIGNAL_READY;
    }
    Ok(ready)
}

/// Does the guest have a net device (and so poll before sleeping)?
fn polls(rt: &Runtime) -> bool {
    rt.devices.iter().take(rt.ndevices).any(|d| d.kind == DEVICE_NET)
}

/// The ready set once something is ready or the deadline has passed.
fn ready_set(rt: &Runtime, deadline: u64) -> Result<u64, ()> {
    let now = gate::clock_ns(libc::CLOCK_MONOTONIC);
    if console_pending(rt) || host_signals_pending() || now >= deadline {
        return wait(rt, 0);
    }
    let poll = polls(rt);
    let window = if poll { POLL_NS.load(Ordering::Relaxed) } else { 0 };
    if window > 0 {
        let until = deadline.min(now.saturating_add(window));
        loop {
            let ready = wait(rt, 0)?;
            if ready != 0 {
                grow();
                return Ok(ready);
            }
            if gate::clock_ns(libc::CLOCK_MONOTONIC) >= until {
                break;
            }
        }
    }
    // A quick wake-up counts from the start of the poll, as in KVM: a
    // poll that ran its whole window and then slept a little is no catch.
    let slept_from = now;
    loop {
        let now = gate::clock_ns(libc::CLOCK_MONOTONIC);
        let ready = wait(rt, deadline.saturating_sub(now))?;
        let end = gate::clock_ns(libc::CLOCK_MONOTONIC);
        if ready != 0 || end >= deadline {
            if poll {
                if ready != 0 && end - slept_from <= POLL_MAX_NS { grow() } else { shrink() }
            }
            return Ok(ready);
        }
    }
}

/// `yield_until` hypercall.
pub extern "C" fn yield_until(deadline: u64, ready_set_addr: u64) -> u32 {
    let Some(rt) = runtime::get() else {
        return RESULT_EUNSPEC;
    };
    let out = match ready_set_addr {
        0 => None,
        a => match rt.guest.writable(a, 8) {
            Some(p) => Some(p.cast::<u64>()),
            None => return RESULT_EINVAL,
        },
    };
    let Ok(ready) = ready_set(rt, deadline) else {
        return RESULT_EUNSPEC;
    };
    if let Some(p) = out {
        // SAFETY: 8 writable bytes of guest memory (checked above).
        unsafe { core::ptr::write_unaligned(p, ready) };
    }
    RESULT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_and_shrinks() {
        POLL_NS.store(0, Ordering::Relaxed);
        grow();
        assert_eq!(POLL_NS.load(Ordering::Relaxed), POLL_MIN_NS);
        for _ in 0..10 {
            grow();
        }
        assert_eq!(POLL_NS.load(Ordering::Relaxed), POLL_MAX_NS);
        shrink();
        assert_eq!(POLL_NS.load(Ordering::Relaxed), POLL_MAX_NS / 2);
        for _ in 0..4 {
            shrink();
        }
        assert_eq!(POLL_NS.load(Ordering::Relaxed), 0);
    }
}
