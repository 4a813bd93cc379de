//! `nabla-bench`: times whole commands from exec to exit.
//!
//! `nabla-bench boot RUNS -- CMD_A... [-- CMD_B...]...` runs each command
//! RUNS times (after 3 warm-up runs each), interleaved A, B, A, B... so
//! that all of them see the same machine noise. Each run is
//! `fork`/`execve`/`wait4` timed on the monotonic clock, with stdin and
//! stdout on /dev/null. Prints one line per command:
//! `median_us p10_us p90_us max_rss_kib`.
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

use std::ffi::CString;
use std::time::Instant;

fn run_once(argv: &[CString]) -> (f64, i64) {
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let devnull = c"/dev/null";
    let start = Instant::now();
    // SAFETY: fork in a single-threaded program; the child only calls
    // async-signal-safe functions (open, dup2, execv, _exit).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above; `ptrs` is a NUL-terminated argv of live CStrings.
        unsafe {
            let fd = libc::open(devnull.as_ptr(), libc::O_RDWR);
            libc::dup2(fd, 1);
            libc::dup2(fd, 0);
            libc::execv(ptrs[0], ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    assert!(pid > 0, "fork failed");
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out-buffer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; writes only `status` and `ru`.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let us = start.elapsed().as_secs_f64() * 1e6;
    assert!(r == pid, "wait4 failed");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{:?} failed: status {status:#x}", argv[0]);
    (us, ru.ru_maxrss)
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && (args[1] == "getpid" || args[1] == "trap") {
        return syscalls(args[1] == "trap", args[2].parse().expect("N"));
    }
    if args.len() == 5 && args[1] == "blk" {
        return blk(&args[2], args[3].parse().expect("SIZE"), &args[4]);
    }
    let usage = "usage: nabla-bench boot RUNS -- CMD [ARGS...] [-- CMD [ARGS...]]...";
    if args.len() < 5 || args[1] != "boot" || args[3] != "--" {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let runs: usize = args[2].parse().unwrap_or_else(|_| {
        eprintln!("{usage}");
        std::process::exit(2)
    });
    let cmds: Vec<Vec<CString>> = args[4..]
        .split(|a| a == "--")
        .map(|c| c.iter().map(|a| CString::new(a.as_str()).expect("no NUL in args")).collect::<Vec<_>>())
        .filter(|c| !c.is_empty())
        .collect();
    for cmd in &cmds {
        for _ in 0..3 {
            run_once(cmd);
        }
    }
    let mut times = vec![Vec::with_capacity(runs); cmds.len()];
    let mut rss = vec![0; cmds.len()];
    for _ in 0..runs {
        for (i, cmd) in cmds.iter().enumerate() {
            let (us, r) = run_once(cmd);
            times[i].push(us);
            rss[i] = rss[i].max(r);
        }
    }
    for (t, r) in times.iter_mut().zip(&rss) {
        t.sort_by(f64::total_cmp);
        let pick = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
        println!("{:.1} {:.1} {:.1} {}", pick(0.5), pick(0.1), pick(0.9), r);
    }
}
