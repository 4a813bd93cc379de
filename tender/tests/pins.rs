//! The seccomp pins of the block module, enforced by the real kernel: each
//! case builds the tender's rules for a device, installs the filter in a
//! forked child and issues one host syscall; the child must either
//! complete it or be killed by the filter (SIGSYS).

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_abi::DEVICE_BLOCK;
use nabla_tender::gate;
use nabla_tender::modules::block;
use nabla_tender::runtime::Device;
use nabla_tender::sandbox::{self, Rules};
use std::os::fd::AsRawFd;

/// Run one raw syscall `(nr, fd, len, off)` with buffer `buf` in a child
/// under the filter of `rules`; true if it completed, false if the filter
/// killed the child.
fn allowed(rules: &Rules, (nr, fd, len, off): (i64, i32, u64, u64), buf: u64) -> bool {
    // Built before fork: the child of a multi-threaded test may not allocate.
    let prog = sandbox::build(0, rules).unwrap();
    // SAFETY: the child only installs the prepared filter, makes one raw
    // syscall and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        if sandbox::install(&prog).is_err() {
            gate::exit_group(2);
        }
        // SAFETY: `buf` is a live buffer of at least `len` bytes.
        let r = unsafe { gate::syscall6(nr, fd as u64, buf, len, off, 0, 0) };
        gate::exit_group(if r >= 0 { 0 } else { 3 });
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS, "killed by another signal");
        return false;
    }
    assert_eq!(libc::WEXITSTATUS(status), 0, "the syscall ran but failed");
    true
}

fn rules_for(fd: i32, capacity: u64, read_only: bool) -> Rules {
    let d = Device {
        kind: DEVICE_BLOCK,
        fd,
        capacity,
        sector: 512,
        window: block::MAX_IO.min(capacity),
        read_only,
        frame_max: 0,
    };
    let mut rules = Rules::default();
    rules.allow(libc::SYS_exit_group, &[]);
    block::rules(&d, &mut rules);
    rules
}

#[test]
fn block_requests_cannot_leave_the_file() {
    let path = std::env::temp_dir().join(format!("nabla-pins-{}.img", std::process::id()));
    let cap = 1u64 << 20;
    std::fs::write(&path, vec![0u8; cap as usize]).unwrap();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let fd = f.as_raw_fd();
    let buf = vec![0u8; 2 * block::MAX_IO as usize];
    let b = buf.as_ptr() as u64;
    let w = block::MAX_IO;
    let (rd, wr) = (libc::SYS_pread64, libc::SYS_pwrite64);

    let rules = rules_for(fd, cap, false);
    assert!(allowed(&rules, (rd, fd, w, 0), b));
    assert!(allowed(&rules, (rd, fd, w, cap - w), b), "the last window");
    assert!(allowed(&rules, (wr, fd, 512, cap - w), b));
    assert!(!allowed(&rules, (rd, fd, 512, cap - w + 512), b), "past the pinned offset");
    assert!(!allowed(&rules, (wr, fd, 512, cap), b), "at the end: would grow the file");
    assert!(!allowed(&rules, (rd, fd, w + 512, 0), b), "longer than the window");
    assert!(!allowed(&rules, (rd, 0, 512, 0), b), "another fd");

    let ro = rules_for(fd, cap, true);
    assert!(allowed(&ro, (rd, fd, 512, 0), b));
    assert!(!allowed(&ro, (wr, fd, 512, 0), b), "write to a read-only device");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), cap, "the file changed size");
    drop(buf);
    std::fs::remove_file(&path).unwrap();
}
