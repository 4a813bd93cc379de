//! `nabla-bench`: times whole commands from exec to exit.
//!
//! `nabla-bench boot RUNS -- CMD_A... [-- CMD_B...]...` runs each command
//! RUNS times (after 3 warm-up runs each), interleaved A, B, A, B... so
//! that all of them see the same machine noise. Each run is
//! `fork`/`execve`/`wait4` timed on the monotonic clock, with stdin and
//! stdout on /dev/null. Prints one line per command:
//! `median_us p10_us p90_us max_rss_kib`.
//!
//! `nabla-bench boot-stdin RUNS TEXT -- CMD_A... [-- CMD_B...]...` is the
//! same with stdin a pipe holding TEXT (then end of input) instead of
//! /dev/null: the Linux guest's console shell runs TEXT as a script and
//! powers off at its end.
//!
//! `nabla-bench pty RUNS PROMPT -- BASELINE... -- CMD...` runs CMD on a new
//! pseudo-terminal (its controlling terminal, stdin, stdout and stderr),
//! measures the time from fork to the first PROMPT in its output, then
//! sends Ctrl-D (0x04) and measures the time to its exit; RUNS runs after
//! 3 warm-ups, interleaved with a fork/exec-to-exit run of BASELINE (as
//! in `boot`). Prints three lines, `median_us p10_us p90_us max_rss_kib`:
//! BASELINE, CMD to the prompt, CMD to its exit.
//!
//! `nabla-bench pty-rss PROMPT SECS -- CMD...` starts CMD on a
//! pseudo-terminal, waits for PROMPT, lets it idle SECS seconds (reading
//! its output), reads VmRSS and VmHWM from /proc/PID/status, then ends it
//! with Ctrl-D; prints `vmrss_kib vmhwm_kib`.
//!
//! `nabla-bench blk read|write SIZE FILE` is the native baseline of the
//! block benchmark: the same sequential loop as the `blkbench` guest, with
//! `pread`/`pwrite` of SIZE bytes over the whole file (writes end with
//! `fdatasync`); prints `MiB/s`.
//!
//! `nabla-bench getpid N` times N native `getpid` syscalls; `nabla-bench
//! trap N` times N `getpid` syscalls that a seccomp filter traps
//! (`SECCOMP_RET_TRAP`) to a SIGSYS handler that only sets the result and
//! returns: the floor of any trap-based syscall path on this host. Both
//! print nanoseconds per call.
//!
//! `nabla-bench clock syscall|vdso N` times N native
//! `clock_gettime(CLOCK_MONOTONIC)` calls, as a raw `syscall` instruction
//! (the clock hypercalls' path without a vDSO) or through the C library
//! (the host's vDSO); prints nanoseconds per call.

use std::ffi::CString;
use std::time::Instant;

fn argv_ptrs(argv: &[CString]) -> Vec<*const libc::c_char> {
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    ptrs
}

/// Waits for `pid`; panics unless it exited 0. Returns its peak RSS (KiB).
fn wait_ok(pid: libc::pid_t, what: &CString) -> i64 {
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out-buffer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; writes only `status` and `ru`.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert!(r == pid, "wait4 failed");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{what:?} failed: status {status:#x}");
    ru.ru_maxrss
}

fn run_once(argv: &[CString]) -> (f64, i64) {
    run_with_stdin(argv, None)
}

/// Fork/exec/wait of `argv`, stdout on /dev/null, stdin /dev/null or a
/// pipe holding `input` (at most a pipe buffer, 64 KiB) then end of input.
fn run_with_stdin(argv: &[CString], input: Option<&[u8]>) -> (f64, i64) {
    let ptrs = argv_ptrs(argv);
    let devnull = c"/dev/null";
    let mut pipe = [-1; 2];
    if let Some(text) = input {
        assert!(text.len() <= 65536, "stdin text larger than a pipe buffer");
        // SAFETY: `pipe` is a valid out-array of two fds; the write is of a
        // live buffer to the pipe's write end, then closed.
        unsafe {
            assert_eq!(libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC), 0, "pipe2");
            assert_eq!(
                libc::write(pipe[1], text.as_ptr().cast(), text.len()),
                text.len() as isize,
                "write to the pipe"
            );
            libc::close(pipe[1]);
        }
    }
    let start = Instant::now();
    // SAFETY: fork in a single-threaded program; the child only calls
    // async-signal-safe functions (open, dup2, execv, _exit).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above; `ptrs` is a NUL-terminated argv of live CStrings.
        unsafe {
            let fd = libc::open(devnull.as_ptr(), libc::O_RDWR);
            libc::dup2(fd, 1);
            libc::dup2(if pipe[0] >= 0 { pipe[0] } else { fd }, 0);
            libc::execv(ptrs[0], ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    assert!(pid > 0, "fork failed");
    if pipe[0] >= 0 {
        // SAFETY: our copy of the read end, no longer needed.
        unsafe { libc::close(pipe[0]) };
    }
    let rss = wait_ok(pid, &argv[0]);
    (start.elapsed().as_secs_f64() * 1e6, rss)
}

/// A child running on a new pseudo-terminal: its pid and the master fd.
struct PtyChild {
    pid: libc::pid_t,
    master: libc::c_int,
    seen: Vec<u8>,
}

impl PtyChild {
    /// Opens a pty and starts `argv` on it as a session leader with the
    /// pty's slave as its controlling terminal and stdin/stdout/stderr.
    fn spawn(argv: &[CString]) -> PtyChild {
        let ptrs = argv_ptrs(argv);
        // SAFETY: plain pty set-up calls; ptsname_r writes at most
        // `name.len()` bytes into `name`.
        let (master, slave) = unsafe {
            let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            assert!(m >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(m), 0, "grantpt");
            assert_eq!(libc::unlockpt(m), 0, "unlockpt");
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0, "ptsname_r");
            (m, std::ffi::CStr::from_ptr(name.as_ptr()).to_owned())
        };
        // SAFETY: fork in a single-threaded program; the child only calls
        // async-signal-safe functions before execv.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above; `ptrs` is a NUL-terminated argv of live CStrings.
            unsafe {
                libc::setsid();
                let fd = libc::open(slave.as_ptr(), libc::O_RDWR);
                if fd < 0 {
                    libc::_exit(126);
                }
                libc::ioctl(fd, libc::TIOCSCTTY, 0);
                libc::dup2(fd, 0);
                libc::dup2(fd, 1);
                libc::dup2(fd, 2);
                if fd > 2 {
                    libc::close(fd);
                }
                libc::execv(ptrs[0], ptrs.as_ptr());
                libc::_exit(127);
            }
        }
        assert!(pid > 0, "fork failed");
        PtyChild { pid, master, seen: Vec::new() }
    }

    /// Reads the child's output for up to `timeout` (or until `until`
    /// appears in it); false at end of output.
    fn read_for(&mut self, timeout: std::time::Duration, until: Option<&[u8]>) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if until.is_some_and(|pat| self.seen.windows(pat.len()).any(|w| w == pat)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            let mut pfd = libc::pollfd { fd: self.master, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as libc::c_int) };
            if r <= 0 {
                continue;
            }
            let mut buf = [0u8; 4096];
            // SAFETY: reads into a live buffer of its length.
            let n = unsafe { libc::read(self.master, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                // EIO: the last holder of the slave has closed it.
                return false;
            }
            self.seen.extend_from_slice(&buf[..n as usize]);
        }
    }

    /// Waits for `prompt` (panics after 30 s or at end of output).
    fn wait_prompt(&mut self, prompt: &[u8]) {
        let ok = self.read_for(std::time::Duration::from_secs(30), Some(prompt));
        let found = self.seen.windows(prompt.len()).any(|w| w == prompt);
        assert!(
            ok && found,
            "no prompt {:?} in the output: {:?}",
            String::from_utf8_lossy(prompt),
            String::from_utf8_lossy(&self.seen)
        );
    }

    /// Sends Ctrl-D, reads the output to its end, waits for the exit
    /// (which must be status 0); returns the peak RSS (KiB).
    fn finish(mut self, what: &CString) -> i64 {
        // SAFETY: writes one byte from a live buffer to our master fd.
        assert_eq!(unsafe { libc::write(self.master, [4u8].as_ptr().cast(), 1) }, 1, "write Ctrl-D");
        let ended = !self.read_for(std::time::Duration::from_secs(30), None);
        assert!(ended, "{what:?} did not end within 30 s of Ctrl-D: {:?}", String::from_utf8_lossy(&self.seen));
        let rss = wait_ok(self.pid, what);
        // SAFETY: our master fd, not used again.
        unsafe { libc::close(self.master) };
        rss
    }
}

fn status_kib(pid: libc::pid_t, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// `pty RUNS PROMPT -- BASELINE... -- CMD...` (see the module comment).
fn pty(runs: usize, prompt: &[u8], baseline: &[CString], cmd: &[CString]) {
    let once = || {
        let start = Instant::now();
        let mut c = PtyChild::spawn(cmd);
        c.wait_prompt(prompt);
        let at_prompt = start.elapsed().as_secs_f64() * 1e6;
        let rss = c.finish(&cmd[0]);
        (at_prompt, start.elapsed().as_secs_f64() * 1e6, rss)
    };
    for _ in 0..3 {
        run_once(baseline);
        once();
    }
    let (mut b, mut p, mut e) = (Vec::new(), Vec::new(), Vec::new());
    let (mut brss, mut crss) = (0, 0);
    for _ in 0..runs {
        let (us, r) = run_once(baseline);
        b.push(us);
        brss = r.max(brss);
        let (at_prompt, at_exit, r) = once();
        p.push(at_prompt);
        e.push(at_exit);
        crss = r.max(crss);
    }
    for (t, r) in [(b, brss), (p, crss), (e, crss)] {
        print_stats(t, r);
    }
}

/// `pty-rss PROMPT SECS -- CMD...` (see the module comment).
fn pty_rss(prompt: &[u8], secs: f64, cmd: &[CString]) {
    let mut c = PtyChild::spawn(cmd);
    c.wait_prompt(prompt);
    c.read_for(std::time::Duration::from_secs_f64(secs), None);
    let (rss, hwm) = (status_kib(c.pid, "VmRSS:"), status_kib(c.pid, "VmHWM:"));
    c.finish(&cmd[0]);
    println!("{rss} {hwm}");
}

fn print_stats(mut t: Vec<f64>, rss: i64) {
    t.sort_by(f64::total_cmp);
    let pick = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
    println!("{:.1} {:.1} {:.1} {}", pick(0.5), pick(0.1), pick(0.9), rss);
}

fn cstrings(args: &[String]) -> Vec<Vec<CString>> {
    args.split(|a| a == "--")
        .map(|c| c.iter().map(|a| CString::new(a.as_str()).expect("no NUL in args")).collect::<Vec<_>>())
        .filter(|c| !c.is_empty())
        .collect()
}

fn blk(mode: &str, size: usize, path: &str) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).expect("open the file");
    let cap = f.metadata().expect("stat").len();
    let mut buf = vec![0x5au8; size];
    let start = Instant::now();
    let mut off = 0;
    while off + size as u64 <= cap {
        if mode == "write" {
            f.write_all_at(&buf, off).expect("pwrite");
        } else {
            f.read_exact_at(&mut buf, off).expect("pread");
        }
        off += size as u64;
    }
    if mode == "write" {
        f.sync_data().expect("fdatasync");
    }
    println!("{:.1}", off as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64());
}

fn raw_getpid() -> i64 {
    let r: i64;
    // SAFETY: getpid takes no arguments and touches no memory.
    unsafe {
        std::arch::asm!("syscall", inlateout("rax") libc::SYS_getpid => r, lateout("rcx") _, lateout("r11") _);
    }
    r
}

extern "C" fn on_sigsys(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
    let uc = unsafe { &mut *ctx.cast::<libc::ucontext_t>() };
    uc.uc_mcontext.gregs[libc::REG_RAX as usize] = 0;
}

fn syscalls(trap: bool, n: u64) {
    if trap {
        // SAFETY: zeroed sigaction is a valid empty value; the handler only
        // edits the saved context.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigsys as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut());
        }
        // Trap getpid; allow everything else.
        let prog = [
            libc::sock_filter { code: 0x20, jt: 0, jf: 0, k: 0 },
            libc::sock_filter { code: 0x15, jt: 0, jf: 1, k: libc::SYS_getpid as u32 },
            libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: 0x0003_0000 },
            libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: 0x7fff_0000 },
        ];
        let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr().cast_mut() };
        // SAFETY: a valid filter program for this thread.
        unsafe {
            assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
            assert_eq!(libc::syscall(libc::SYS_seccomp, 1, 0, &fprog), 0, "seccomp");
        }
    }
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(raw_getpid());
    }
    println!("{:.1}", start.elapsed().as_nanos() as f64 / n as f64);
}

/// N monotonic clock reads by a raw syscall or through the vDSO.
fn clocks(vdso: bool, n: u64) {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let start = Instant::now();
    for _ in 0..n {
        let r: i64;
        if vdso {
            // SAFETY: `ts` is a valid, writable timespec.
            r = i64::from(unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) });
        } else {
            // SAFETY: clock_gettime writes only the valid, writable `ts`;
            // the `syscall` instruction clobbers only rax, rcx and r11.
            unsafe {
                std::arch::asm!("syscall", inlateout("rax") libc::SYS_clock_gettime => r,
                    in("rdi") libc::CLOCK_MONOTONIC, in("rsi") &raw mut ts,
                    lateout("rcx") _, lateout("r11") _, options(nostack));
            }
        }
        assert_eq!(r, 0, "clock_gettime");
        std::hint::black_box(&ts);
    }
    println!("{:.1}", start.elapsed().as_nanos() as f64 / n as f64);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "clock" && (args[2] == "syscall" || args[2] == "vdso") {
        return clocks(args[2] == "vdso", args[3].parse().expect("N"));
    }
    if args.len() == 3 && (args[1] == "getpid" || args[1] == "trap") {
        return syscalls(args[1] == "trap", args[2].parse().expect("N"));
    }
    if args.len() == 5 && args[1] == "blk" {
        return blk(&args[2], args[3].parse().expect("SIZE"), &args[4]);
    }
    let usage = "usage: nabla-bench boot RUNS -- CMD [ARGS...] [-- CMD [ARGS...]]...\n\
                 \x20      nabla-bench boot-stdin RUNS TEXT -- CMD [ARGS...] [-- CMD [ARGS...]]...\n\
                 \x20      nabla-bench pty RUNS PROMPT -- BASELINE [ARGS...] -- CMD [ARGS...]\n\
                 \x20      nabla-bench pty-rss PROMPT SECS -- CMD [ARGS...]";
    let bad = || -> ! {
        eprintln!("{usage}");
        std::process::exit(2)
    };
    if args.len() >= 5 && args[1] == "pty-rss" && args[4] == "--" {
        let cmds = cstrings(&args[5..]);
        let secs = args[3].parse().unwrap_or_else(|_| bad());
        if cmds.len() != 1 {
            bad();
        }
        return pty_rss(args[2].as_bytes(), secs, &cmds[0]);
    }
    if args.len() >= 5 && args[1] == "pty" && args[4] == "--" {
        let cmds = cstrings(&args[5..]);
        let runs = args[2].parse().unwrap_or_else(|_| bad());
        if cmds.len() != 2 || runs == 0 {
            bad();
        }
        return pty(runs, args[3].as_bytes(), &cmds[0], &cmds[1]);
    }
    let (input, rest) = match args.get(1).map(String::as_str) {
        Some("boot") if args.len() >= 5 && args[3] == "--" => (None, &args[4..]),
        Some("boot-stdin") if args.len() >= 6 && args[4] == "--" => (Some(args[3].as_bytes()), &args[5..]),
        _ => bad(),
    };
    let runs: usize = args[2].parse().unwrap_or_else(|_| bad());
    if runs == 0 {
        bad();
    }
    let cmds = cstrings(rest);
    for cmd in &cmds {
        for _ in 0..3 {
            run_with_stdin(cmd, input);
        }
    }
    let mut times = vec![Vec::with_capacity(runs); cmds.len()];
    let mut rss = vec![0; cmds.len()];
    for _ in 0..runs {
        for (i, cmd) in cmds.iter().enumerate() {
            let (us, r) = run_with_stdin(cmd, input);
            times[i].push(us);
            rss[i] = rss[i].max(r);
        }
    }
    for (t, r) in times.into_iter().zip(rss) {
        print_stats(t, r);
    }
}
