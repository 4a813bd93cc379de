//! The clocks under the core module's real filter: in a forked child with
//! the filter installed, the vDSO's `clock_gettime` and the gate's raw
//! syscall both read the two pinned clocks, and a clock the vDSO can only
//! read by making the syscall itself (a CPU-time clock) gets that syscall
//! killed: the vDSO's own syscalls meet the same pins as the gate's.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tender::gate;
use nabla_tender::modules::Module;
use nabla_tender::modules::core::{Core, CoreArgs};
use nabla_tender::sandbox::{self, Rules};
use nabla_tender::vdso;
use std::sync::OnceLock;

/// Run `f` in a child under the core module's filter; its exit status, or
/// `None` if the filter killed it.
fn under_filter(f: fn() -> i32) -> Option<i32> {
    // Once: guest memory has a fixed address, so one Core per process.
    static RULES: OnceLock<Rules> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        let core = Core::setup(&CoreArgs { mem: 2, quiet: true, initrd: None }).unwrap();
        let mut rules = Rules::default();
        core.rules(&mut rules);
        rules
    });
    // Built before fork: the child of a multi-threaded test may not allocate.
    let prog = sandbox::build(0, rules).unwrap();
    // SAFETY: the child only installs the prepared filter, reads clocks
    // (raw syscalls and the vDSO, neither allocates) and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        if sandbox::install(&prog).is_err() {
            gate::exit_group(100);
        }
        gate::exit_group(f());
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS, "killed by another signal");
        return None;
    }
    Some(libc::WEXITSTATUS(status))
}

/// Read `clock` through the vDSO: 0 on success, 1 on failure, 2 without
/// a vDSO.
fn via_vdso(clock: libc::clockid_t) -> i32 {
    let Some(f) = vdso::clock_gettime() else { return 2 };
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `f` is the vDSO's clock_gettime; `ts` is writable.
    let r = unsafe { f(clock, &raw mut ts) };
    i32::from(r != 0 || ts.tv_sec == 0)
}

#[test]
fn clocks_read_under_the_filter_and_other_clocks_are_killed() {
    if vdso::init().is_err() {
        return; // a host without a vDSO: the gate's own path is tested below
    }
    assert_eq!(under_filter(|| via_vdso(libc::CLOCK_MONOTONIC) + 10 * via_vdso(libc::CLOCK_REALTIME)), Some(0));
    // The same through the gate (which takes the vDSO).
    assert_eq!(
        under_filter(|| i32::from(
            gate::clock_ns(libc::CLOCK_MONOTONIC) == 0 || gate::clock_ns(libc::CLOCK_REALTIME) == 0
        )),
        Some(0)
    );
    // The vDSO makes the syscall itself for a CPU-time clock: killed.
    assert_eq!(under_filter(|| via_vdso(libc::CLOCK_PROCESS_CPUTIME_ID)), None);
}

#[test]
fn raw_clock_syscalls_are_pinned() {
    fn raw(clock: libc::clockid_t) -> i32 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec.
        let r = unsafe { gate::syscall3(libc::SYS_clock_gettime, clock as u64, &raw mut ts as u64, 0) };
        i32::from(r != 0)
    }
    assert_eq!(under_filter(|| raw(libc::CLOCK_MONOTONIC) + 10 * raw(libc::CLOCK_REALTIME)), Some(0));
    assert_eq!(under_filter(|| raw(libc::CLOCK_BOOTTIME)), None);
}
