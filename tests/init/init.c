/*
 * nabla-init: the test /init of the Linux guest's initramfs.
 *
 * One static-pie program (musl), several modes, chosen by argv[1], else by
 * the environment variable NABLA_INIT (a word "NABLA_INIT=mode" on the
 * kernel command line ends up in init's environment), else "hello":
 *
 *   hello       print "nabla-init: hello from Linux <release> (<machine>)"
 *               and power off
 *   poweroff    power off at once, printing nothing (boot benchmark)
 *   exit=N      exit with status N (as pid 1: the kernel panics with
 *               "Attempted to kill init! exitcode=...")
 *   test        run every check in order, one line each ("ok NAME" or
 *               "FAIL NAME: detail"), then "nabla-init: N passed, M failed",
 *               then power off
 *   segv        dereference NULL (helper for the test mode)
 *   spin        loop forever without syscalls (helper for the test mode)
 *   read-line   read a line from the console, print it, power off
 *   kernel-fault  make the kernel fault (read() into its own text)
 *   fpe, ill    die of SIGFPE, SIGILL (helpers for the test mode)
 *   tf, ac      set the trap / alignment-check flag (helpers)
 *   avx-child   keep a pattern in ymm8 across yields (helper)
 *   fpu-child   compute in round-toward-zero mode (helper for the test mode)
 *   pipe-child  write a known string to stdout (helper for the test mode)
 *   stdio-lines, far32, int80, big-mmap, spawn-many=N: see hardening.c
 *   streams     mount devtmpfs on /dev, print "nabla-init: to stdout" on
 *               the console, "nabla-init: to stderr" on /dev/ttyN1 and
 *               "nabla-init: to the kernel log" into /dev/kmsg, power off
 *   restart=S   sync, then reboot(LINUX_REBOOT_CMD_RESTART2, S)
 *   sigterm=S   handle SIGTERM: print "nabla-init: waiting for signals",
 *               sleep; on SIGTERM print "nabla-init: got SIGTERM" and
 *               restart=S
 *   sigterm-busy=S  the same, spinning in user mode (no syscall) while
 *               it waits
 *   sigign=S    ignore SIGTERM, handle SIGHUP as sigterm=S does SIGTERM
 *   sigdfl      print "nabla-init: waiting for signals", sleep for ever
 *               with every signal at its default action
 *   bench-getpid=N  time N syscall(SYS_getpid) (musl does not cache it),
 *               print "nabla-init: bench getpid N calls X ns/call", power off
 *   bench-null=N    the same with syscall number 1000 (no such syscall:
 *               ENOSYS), "nabla-init: bench null N calls X ns/call"
 *   bench-spawn=N   time N posix_spawn of this program in mode exit=0, each
 *               followed by waitpid, "nabla-init: bench spawn N spawns X
 *               us/spawn" (the make bench figures; not part of test)
 *
 * The program also runs natively as an ordinary process (not pid 1), so
 * its checks can be tried on the host: then it mounts nothing, never calls
 * reboot() (not even in hello/poweroff mode: as root on a host that would
 * power the machine off) and exits 0 if every check passed, else 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fenv.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

extern char **environ;

#define TMPFS_MAGIC_VALUE 0x01021994
/* Without an MMU there is no shmem: Linux serves "tmpfs" with ramfs. */
#define RAMFS_MAGIC_VALUE 0x858458f6
#define PIPE_MESSAGE "nabla-init pipe child: 0123456789 abcdefghijklmnopqrstuvwxyz\n"

const char *self_path = "/init";
int native; /* not pid 1: an ordinary process on some host */
static int passed, failed;
char detail[512];

/* Sets the failure detail; returns 0 so a check can `return fail(...)`. */
int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	return 0;
}

int fail_errno(const char *what)
{
	return fail("%s: %s", what, strerror(errno));
}

/* Runs one check: it returns 1 on success, or 0 after setting `detail`. */
static void run_check(const char *name, int (*check)(void))
{
	detail[0] = 0;
	fflush(stdout);
	if (check()) {
		passed++;
		if (detail[0])
			printf("ok %s (%s)\n", name, detail);
		else
			printf("ok %s\n", name);
	} else {
		failed++;
		printf("FAIL %s: %s\n", name, detail[0] ? detail : "no detail");
	}
	fflush(stdout);
}

long long mono_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return -1;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Reads a whole small file into buf (NUL-terminated); returns its length or -1. */
static ssize_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0 || len + (size_t)n == cap - 1) {
			len += (size_t)n;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	return (ssize_t)len;
}

static int mkdir_p(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

/* Spawns this program with one argument; returns 0 with *pid set, or an error number. */
int spawn_self(const char *mode_arg, const posix_spawn_file_actions_t *fa, pid_t *pid)
{
	char *argv[] = {(char *)self_path, (char *)mode_arg, NULL};
	fflush(stdout);
	return posix_spawn(pid, self_path, fa, NULL, argv, environ);
}

/* Reaps the child; returns 1, or 0 after setting `detail`. */
int wait_child(pid_t pid, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, 0);
		if (r == pid)
			return 1;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail_errno("waitpid");
		return fail("waitpid returned %d, not the child %d", (int)r, (int)pid);
	}
}

void describe_status(int status, char *out, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(out, cap, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, cap, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(out, cap, "raw wait status %#x", status);
}

/* ---- the checks ---- */

static int check_uname(void)
{
	struct utsname u;
	if (uname(&u) != 0)
		return fail_errno("uname");
	if (strcmp(u.sysname, "Linux") != 0)
		return fail("sysname is \"%s\", not \"Linux\"", u.sysname);
	if (u.release[0] == 0)
		return fail("empty release");
	return 1;
}

static int check_pid(void)
{
	pid_t pid = getpid(), ppid = getppid();
	if (!native) {
		if (pid != 1 || ppid != 0)
			return fail("as init: getpid()=%d getppid()=%d, want 1 and 0", (int)pid, (int)ppid);
		return 1;
	}
	if (pid <= 0 || ppid <= 0)
		return fail("getpid()=%d getppid()=%d, want both > 0", (int)pid, (int)ppid);
	return 1;
}

static int check_console(void)
{
	static const char line[] = "nabla-init: write(1) reaches the console\n";
	ssize_t n = write(1, line, sizeof line - 1);
	if (n < 0)
		return fail_errno("write(1)");
	if ((size_t)n != sizeof line - 1)
		return fail("write(1) returned %zd, want %zu", n, sizeof line - 1);
	return 1;
}

static int check_proc_version(void)
{
	char buf[1024];
	if (access("/proc/version", F_OK) != 0) {
		if (native)
			return fail("/proc/version missing on a native run");
		if (mkdir_p("/proc", 0755) != 0)
			return fail_errno("mkdir /proc");
		if (mount("proc", "/proc", "proc", 0, NULL) != 0)
			return fail_errno("mount proc on /proc");
	}
	if (read_file("/proc/version", buf, sizeof buf) < 0)
		return fail_errno("read /proc/version");
	if (strncmp(buf, "Linux version", 13) != 0)
		return fail("/proc/version starts with \"%.20s\"", buf);
	return 1;
}

static int check_proc_status(void)
{
	char buf[4096];
	if (read_file("/proc/self/status", buf, sizeof buf) < 0)
		return fail_errno("read /proc/self/status");
	char *line = strstr(buf, "\nPid:");
	if (!line)
		return fail("no Pid: line in /proc/self/status");
	long pid = strtol(line + 5, NULL, 10);
	if (pid != (long)getpid())
		return fail("Pid: %ld but getpid()=%d", pid, (int)getpid());
	return 1;
}

static int check_tmpfs(void)
{
	char dir[64], file[96], file2[96];
	static const char data[] = "tmpfs round trip: 0123456789 The quick brown fox.";
	char back[sizeof data + 16];
	const char *base = "/tmp";

	if (!native) {
		if (mkdir_p("/tmp", 01777) != 0)
			return fail_errno("mkdir /tmp");
		if (mount("tmpfs", "/tmp", "tmpfs", 0, NULL) != 0)
			return fail_errno("mount tmpfs on /tmp");
		struct statfs sf;
		if (statfs("/tmp", &sf) != 0)
			return fail_errno("statfs /tmp");
		if ((unsigned long)sf.f_type != TMPFS_MAGIC_VALUE &&
		    (unsigned long)sf.f_type != RAMFS_MAGIC_VALUE)
			return fail("/tmp has f_type %#lx after mounting tmpfs", (unsigned long)sf.f_type);
	}
	snprintf(dir, sizeof dir, "%s/nabla-init-%d", base, (int)getpid());
	snprintf(file, sizeof file, "%s/a", dir);
	snprintf(file2, sizeof file2, "%s/b", dir);

	if (mkdir(dir, 0700) != 0)
		return fail_errno("mkdir");
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_errno("open for writing");
	ssize_t n = write(fd, data, sizeof data);
	if (n < 0)
		fail_errno("write");
	else if (n != (ssize_t)sizeof data)
		fail("short write: %zd of %zu bytes", n, sizeof data);
	if (n != (ssize_t)sizeof data) {
		close(fd);
		return 0;
	}
	if (close(fd) != 0)
		return fail_errno("close");
	if (rename(file, file2) != 0)
		return fail_errno("rename");
	if (access(file, F_OK) == 0)
		return fail("old name still exists after rename");
	ssize_t got = read_file(file2, back, sizeof back);
	if (got < 0)
		return fail_errno("read back");
	if (got != (ssize_t)sizeof data || memcmp(back, data, sizeof data) != 0)
		return fail("read back %zd bytes that differ from the %zu written", got, sizeof data);
	if (unlink(file2) != 0)
		return fail_errno("unlink");
	if (access(file2, F_OK) == 0 || errno != ENOENT)
		return fail("file still there after unlink");
	if (rmdir(dir) != 0)
		return fail_errno("rmdir");
	return 1;
}

static int check_monotonic(void)
{
	long long t1 = mono_ns();
	volatile unsigned long spin = 0;
	for (unsigned long i = 0; i < 2000000; i++)
		spin += i;
	long long t2 = mono_ns();
	if (t1 < 0 || t2 < 0)
		return fail_errno("clock_gettime(CLOCK_MONOTONIC)");
	if (t2 <= t1)
		return fail("did not advance over a busy loop: %lld then %lld ns", t1, t2);
	return 1;
}

static int check_nanosleep(void)
{
	struct timespec req = {0, 20 * 1000 * 1000};
	long long t1 = mono_ns();
	if (nanosleep(&req, NULL) != 0)
		return fail_errno("nanosleep");
	long long t2 = mono_ns();
	if (t1 < 0 || t2 < 0)
		return fail_errno("clock_gettime(CLOCK_MONOTONIC)");
	long long us = (t2 - t1) / 1000;
	if (us < 19000 || us > 200000)
		return fail("20 ms sleep took %lld us", us);
	snprintf(detail, sizeof detail, "%lld us", us);
	return 1;
}

/*
 * Check that a spawned, waited-for child of this program ended as wanted:
 * wait for it, then compare with an exit status (want_signal 0) or a
 * killing signal.
 */
int expect_child(const char *what, pid_t pid, int want_status, int want_signal)
{
	int status;
	if (!wait_child(pid, &status))
		return 0;
	int ok = want_signal ? WIFSIGNALED(status) && WTERMSIG(status) == want_signal
			     : WIFEXITED(status) && WEXITSTATUS(status) == want_status;
	if (!ok) {
		char s[96];
		describe_status(status, s, sizeof s);
		if (want_signal)
			return fail("%s child %s, want signal %d", what, s, want_signal);
		return fail("%s child %s, want exit status %d", what, s, want_status);
	}
	return 1;
}

/* Spawn this program in `mode` and check how it ends (see expect_child). */
int spawn_expect(const char *mode, int want_status, int want_signal)
{
	pid_t pid;
	int err = spawn_self(mode, NULL, &pid);
	if (err)
		return fail("posix_spawn %s %s: %s", self_path, mode, strerror(err));
	return expect_child(mode, pid, want_status, want_signal);
}

static int check_spawn_exit(void)
{
	return spawn_expect("exit=3", 3, 0);
}

static int check_spawn_segv(void)
{
	return spawn_expect("segv", 0, SIGSEGV);
}

/* Divide by zero (helper: SIGFPE). */
static int mode_fpe(void)
{
	volatile int zero = 0, one = 1;
	return one / zero;
}

/* An undefined instruction (helper: SIGILL). */
static int mode_ill(void)
{
	__asm__ volatile("ud2");
	return 0;
}

/* Set the trap flag: the next instruction raises SIGTRAP (helper). */
static int mode_tf(void)
{
	__asm__ volatile("pushfq; orq $0x100, (%%rsp); popfq; nop" ::: "memory", "cc");
	return 0;
}

/*
 * Set the alignment-check flag, make a syscall whose buffer is unaligned
 * (the kernel's copy must not fault), clear the flag, exit 0 (helper).
 */
static int mode_ac(void)
{
	static char buf[32] = " nabla-init: ac\n";
	long ret;

	__asm__ volatile("pushfq; orq $0x40000, (%%rsp); popfq\n\t"
			 "syscall\n\t"
			 "pushfq; andq $~0x40000, (%%rsp); popfq"
			 : "=a"(ret)
			 : "0"((long)SYS_write), "D"(1L), "S"(buf + 1), "d"(15L)
			 : "rcx", "r11", "memory", "cc");
	return ret == 15 ? 0 : 1;
}

/* AVX usable: the CPU has it and the OS saves its state (XCR0). */
void cpuid(unsigned int leaf, unsigned int sub, unsigned int r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "0"(leaf), "2"(sub));
}

unsigned int xcr0_low(void)
{
	unsigned int r[4], lo, hi;

	cpuid(1, 0, r);
	if (!(r[2] & (1U << 27)))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return lo;
}

static int have_avx(void)
{
	unsigned int r[4];

	cpuid(1, 0, r);
	return (r[2] & (1U << 28)) && (xcr0_low() & 6) == 6;
}

/*
 * Load ymm8 from `in`, make `n` sched_yield syscalls, store ymm8 to `out`,
 * all in one asm block so that no compiled code can touch the register.
 */
static void ymm8_across_yields(const unsigned long long in[4], unsigned long long out[4], long n)
{
	__asm__ volatile("vmovdqu (%[in]), %%ymm8\n\t"
			 "1: movl %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "decq %[n]\n\t"
			 "jnz 1b\n\t"
			 "vmovdqu %%ymm8, (%[out])\n\t"
			 "vzeroupper"
			 : [n] "+r"(n)
			 : [in] "r"(in), [out] "r"(out), [nr] "i"(SYS_sched_yield)
			 : "rax", "rcx", "r11", "xmm8", "memory", "cc");
}

/* Helper for avx: another pattern in ymm8 while yielding. */
static int mode_avx_child(void)
{
	static const unsigned long long pat[4] = { 0x1111111111111111ULL, 0x2222222222222222ULL,
						   0x3333333333333333ULL, 0x4444444444444444ULL };
	unsigned long long out[4];

	ymm8_across_yields(pat, out, 200);
	return memcmp(pat, out, sizeof pat) == 0 ? 0 : 1;
}

/*
 * AVX registers (here the upper half of ymm8) are kept across syscalls and
 * switches to a process that uses the same register.
 */
static int check_avx(void)
{
	static const unsigned long long want[4] = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL,
						    0x0f1e2d3c4b5a6978ULL, 0x8796a5b4c3d2e1f0ULL };
	unsigned long long got[4];
	pid_t pid;
	int err;

	if (!have_avx())
		return fail("this CPU or OS has no AVX: the check cannot run");
	err = spawn_self("avx-child", NULL, &pid);
	if (err)
		return fail("posix_spawn %s: %s", self_path, strerror(err));
	ymm8_across_yields(want, got, 200);
	/* The child exits 1 when its own ymm8 changed. */
	if (!expect_child("avx", pid, 0, 0))
		return 0;
	if (memcmp(want, got, sizeof want) != 0)
		return fail("ymm8 changed across syscalls/switches: %#llx %#llx %#llx %#llx", got[0], got[1],
			    got[2], got[3]);
	return 1;
}


static int check_spawn_fpe_ill(void)
{
	/* A child killed by SIGFPE, then one by SIGILL; the parent goes on. */
	return spawn_expect("fpe", 0, SIGFPE) && spawn_expect("ill", 0, SIGILL);
}

/* User-set TF and AC stay the user's: SIGTRAP for TF, a working syscall
 * with AC set. */
static int check_user_flags(void)
{
	return spawn_expect("tf", 0, SIGTRAP) && spawn_expect("ac", 0, 0);
}

static double fp_series(int n, int yield_every)
{
	volatile double one = 1.0;
	double acc = 0.0;
	for (int i = 1; i <= n; i++) {
		acc += one / (double)i * (i % 3 ? 1.5 : -0.25);
		if (yield_every && i % yield_every == 0)
			sched_yield();
	}
	return acc;
}

/* Helper for fpu: change the rounding mode and compute, while the parent
 * computes in between its yields. */
static int mode_fpu_child(void)
{
	fesetround(FE_TOWARDZERO);
	volatile double sink = fp_series(200000, 0);
	(void)sink;
	return 0;
}

/*
 * FPU/SSE state survives syscalls and switches: the same series, once
 * without syscalls and once yielding to a child that changes its own
 * rounding mode and computes, must give the same bits.
 */
static int check_fpu(void)
{
	double want = fp_series(100000, 0);
	pid_t pid;
	int err = spawn_self("fpu-child", NULL, &pid);
	if (err)
		return fail("posix_spawn %s: %s", self_path, strerror(err));
	double got = fp_series(100000, 1000);
	if (!expect_child("fpu", pid, 0, 0))
		return 0;
	if (got != want || fegetround() != FE_TONEAREST)
		return fail("FPU state changed across syscalls/switches: %.17g vs %.17g", got, want);
	return 1;
}


/* Read one line of console input and print it back, then power off. */
static int mode_read_line(void)
{
	char line[256];

	if (!fgets(line, sizeof line, stdin)) {
		printf("nabla-init: no console input\n");
		return 1;
	}
	line[strcspn(line, "\r\n")] = 0;
	printf("nabla-init: read \"%s\" from the console\n", line);
	return power_off();
}

/*
 * Make the kernel itself fault: read() into the kernel's read-only text
 * (nommu: every address is reachable, and access_ok() admits guest
 * memory). The guest must end with the tender's report.
 */
static int mode_kernel_fault(void)
{
	int fd = open(self_path, O_RDONLY);
	if (fd < 0) {
		printf("nabla-init: open %s: %s\n", self_path, strerror(errno));
		return 1;
	}
	ssize_t n = read(fd, (void *)0x101000, 16);
	printf("nabla-init: read into kernel text returned %zd\n", n);
	return 1;
}

/* Spin in user mode without a syscall, forever (helper for preempt). */
static int mode_spin(void)
{
	volatile unsigned long n = 0;
	for (;;)
		n++;
	return 0;
}

/*
 * A child that spins without making syscalls must not freeze the system:
 * the parent gets the CPU back, sleeps 20 ms while the child spins, then
 * kills it.
 */
static int check_preempt(void)
{
	pid_t pid;
	int err = spawn_self("spin", NULL, &pid);
	if (err)
		return fail("posix_spawn %s: %s", self_path, strerror(err));
	struct timespec d = { 0, 20 * 1000 * 1000 };
	if (nanosleep(&d, NULL) != 0) {
		kill(pid, SIGKILL);
		return fail_errno("nanosleep next to a spinning child");
	}
	if (kill(pid, SIGKILL) != 0)
		return fail_errno("kill the spinning child");
	return expect_child("spinning", pid, 0, SIGKILL);
}

static int check_fork(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0) {
		if (native)
			return fail_errno("fork failed on a native run");
		snprintf(detail, sizeof detail, "fails as on nommu: %s", strerror(errno));
		return 1;
	}
	int status;
	if (!wait_child(pid, &status))
		return 0;
	if (!native)
		return fail("fork() succeeded (pid %d) on a nommu kernel", (int)pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail("forked child: raw wait status %#x", status);
	snprintf(detail, sizeof detail, "native: forked");
	return 1;
}

static int check_pipe(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return fail_errno("pipe2");
	posix_spawn_file_actions_t fa;
	int err = posix_spawn_file_actions_init(&fa);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	if (err) {
		close(p[0]);
		close(p[1]);
		return fail("file actions: %s", strerror(err));
	}
	pid_t pid;
	err = spawn_self("pipe-child", &fa, &pid);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (err) {
		close(p[0]);
		return fail("posix_spawn %s: %s", self_path, strerror(err));
	}
	char buf[256];
	size_t len = 0;
	int read_errno = 0;
	while (len < sizeof buf - 1) {
		ssize_t n = read(p[0], buf + len, sizeof buf - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			read_errno = errno;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	close(p[0]);
	int status;
	if (!wait_child(pid, &status))
		return 0;
	if (read_errno)
		return fail("read from the pipe: %s", strerror(read_errno));
	if (len != strlen(PIPE_MESSAGE) || memcmp(buf, PIPE_MESSAGE, len) != 0)
		return fail("read %zu bytes \"%.40s\", want the %zu-byte message", len, buf, strlen(PIPE_MESSAGE));
	if (status != 0) {
		char s[96];
		describe_status(status, s, sizeof s);
		return fail("child %s, want status 0", s);
	}
	return 1;
}

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	if (sig == SIGUSR1)
		usr1_seen = 1;
}

static int check_signal(void)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, &old) != 0)
		return fail_errno("sigaction");
	usr1_seen = 0;
	if (raise(SIGUSR1) != 0)
		return fail_errno("raise");
	int seen = usr1_seen;
	sigaction(SIGUSR1, &old, NULL);
	if (!seen)
		return fail("SIGUSR1 handler did not run");
	return 1;
}

struct sum_job {
	unsigned long n;
	unsigned long sum;
	pthread_t self;
};

static void *sum_thread(void *arg)
{
	struct sum_job *job = arg;
	unsigned long s = 0;
	for (unsigned long i = 1; i <= job->n; i++)
		s += i * i;
	job->sum = s;
	job->self = pthread_self();
	return (void *)(s ^ 0x5a5a5a5aUL);
}

static int check_pthread(void)
{
	struct sum_job job = {1000, 0, 0};
	pthread_t t;
	int err = pthread_create(&t, NULL, sum_thread, &job);
	if (err)
		return fail("pthread_create: %s", strerror(err));
	void *ret = NULL;
	err = pthread_join(t, &ret);
	if (err)
		return fail("pthread_join: %s", strerror(err));
	unsigned long want = 1000UL * 1001UL * 2001UL / 6UL;
	if (job.sum != want || (unsigned long)ret != (want ^ 0x5a5a5a5aUL))
		return fail("thread computed %lu / returned %#lx, want %lu", job.sum, (unsigned long)ret, want);
	if (pthread_equal(job.self, pthread_self()))
		return fail("the thread ran as the main thread");
	return 1;
}

/* ---- modes ---- */

int power_off(void)
{
	fflush(stdout);
	if (native) {
		printf("nabla-init: native run, not powering off\n");
		return 0;
	}
	sync();
	reboot(RB_POWER_OFF);
	printf("nabla-init: reboot(RB_POWER_OFF) failed: %s\n", strerror(errno));
	return 1;
}

static int mode_test(void)
{
	printf("nabla-init: test mode, pid %d\n", (int)getpid());
	run_check("uname", check_uname);
	run_check("pid", check_pid);
	run_check("console", check_console);
	run_check("proc-version", check_proc_version);
	run_check("proc-status", check_proc_status);
	run_check("tmpfs", check_tmpfs);
	run_check("monotonic", check_monotonic);
	run_check("nanosleep", check_nanosleep);
	run_check("spawn-exit", check_spawn_exit);
	run_check("spawn-segv", check_spawn_segv);
	run_check("spawn-fpe-ill", check_spawn_fpe_ill);
	run_check("user-flags", check_user_flags);
	run_check("fpu", check_fpu);
	run_check("avx", check_avx);
	if (have_avx512())
		run_check("avx512", check_avx512);
	else
		printf("n/a avx512 (no AVX-512 on this CPU or OS: nothing to check)\n");
	run_check("preempt", check_preempt);
	run_check("fork", check_fork);
	run_check("pipe", check_pipe);
	run_check("signal", check_signal);
	run_check("pthread", check_pthread);
	run_check("empty-buffers", check_empty_buffers);
	run_check("stdio-pipe", check_stdio_pipe);
	run_check("stdio-file", check_stdio_file);
	run_check("clone-novm", check_clone_novm);
	run_check("far32", check_far32);
	run_check("int80", check_int80);
	if (pkru_check_runs())
		run_check("pkru", check_pkru);
	else
		printf("n/a pkru (NABLA_HOST_PKRU not set: the host may not deliver signals with key 0 write-disabled)\n");
	printf("nabla-init: %d passed, %d failed\n", passed, failed);
	if (native) {
		power_off();
		return failed ? 1 : 0;
	}
	return power_off();
}

static int mode_hello(void)
{
	struct utsname u;
	if (uname(&u) != 0) {
		printf("nabla-init: uname: %s\n", strerror(errno));
		return 1;
	}
	printf("nabla-init: hello from Linux %s (%s)\n", u.release, u.machine);
	return power_off();
}

static int mode_exit(const char *arg)
{
	char *end;
	errno = 0;
	long n = strtol(arg, &end, 10);
	if (errno || end == arg || *end || n < 0 || n > 255) {
		printf("nabla-init: bad exit status \"%s\" (want 0..255)\n", arg);
		return 2;
	}
	return (int)n;
}

static int mode_segv(void)
{
	/* Both the pointer and the access are volatile: the compiler can
	 * neither know the address is NULL nor drop the store. */
	volatile int *volatile p = NULL;
	*p = 1;
	/* Only reached if the write did not fault. */
	return 0;
}

static int mode_pipe_child(void)
{
	static const char msg[] = PIPE_MESSAGE;
	size_t off = 0;
	while (off < sizeof msg - 1) {
		ssize_t n = write(1, msg + off, sizeof msg - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 1;
		off += (size_t)n;
	}
	return 0;
}

/* ---- streams, host signals and exit statuses (tests/linux_streams.rs) ---- */

static int write_str(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;
	while (off < len) {
		ssize_t n = write(fd, s + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int mode_streams(void)
{
	if (!native && mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0) {
		printf("nabla-init: mount devtmpfs: %s\n", strerror(errno));
		return 1;
	}
	int err = open("/dev/ttyN1", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	int kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (err < 0 || kmsg < 0) {
		printf("nabla-init: open /dev/ttyN1 or /dev/kmsg: %s\n", strerror(errno));
		return 1;
	}
	fflush(stdout);
	if (write_str(1, "nabla-init: to stdout\n") || write_str(err, "nabla-init: to stderr\n") ||
	    write_str(kmsg, "<3>nabla-init: to the kernel log\n")) {
		printf("nabla-init: write: %s\n", strerror(errno));
		return 1;
	}
	return power_off();
}

/* <linux/reboot.h>, which musl's headers do not include. */
#define LINUX_REBOOT_MAGIC1 0xfee1deadU
#define LINUX_REBOOT_MAGIC2 672274793U
#define LINUX_REBOOT_CMD_RESTART2 0xA1B2C3D4U

/* reboot(LINUX_REBOOT_CMD_RESTART2, arg): the tender exits with arg's
 * status when it is a number 0..255, else as for a plain reboot (0). */
static int restart_with(const char *arg)
{
	fflush(stdout);
	if (native) {
		printf("nabla-init: native run, not restarting with \"%s\"\n", arg);
		return 0;
	}
	sync();
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART2, arg);
	printf("nabla-init: reboot(LINUX_REBOOT_CMD_RESTART2, \"%s\") failed: %s\n", arg, strerror(errno));
	return 1;
}

static volatile sig_atomic_t got_signal;

static void on_host_signal(int sig)
{
	got_signal = sig;
}

/* Wait for `sig` with a handler (and SIGTERM at `term`), then restart
 * with `arg`. `busy`: spin without syscalls while waiting. */
static int wait_signal(int sig, void (*term)(int), int busy, const char *arg)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_host_signal;
	if (sigaction(sig, &sa, NULL) != 0) {
		printf("nabla-init: sigaction: %s\n", strerror(errno));
		return 1;
	}
	if (sig != SIGTERM)
		signal(SIGTERM, term);
	printf("nabla-init: waiting for signals\n");
	fflush(stdout);
	while (!got_signal) {
		if (!busy)
			pause();
	}
	printf("nabla-init: got %s\n", got_signal == SIGTERM ? "SIGTERM" : got_signal == SIGHUP ? "SIGHUP" : "?");
	return restart_with(arg);
}

static int mode_sigdfl(void)
{
	printf("nabla-init: waiting for signals\n");
	fflush(stdout);
	if (native)
		return 0;
	for (;;)
		pause();
}

/* ---- benchmarks (make bench; the test mode does not run them) ---- */

/* An invalid syscall number: the kernel answers ENOSYS. */
#define BENCH_NULL_SYSCALL 1000

/* Parses the N of a bench mode (1..10^9); returns it, or 0 after printing why. */
static long bench_count(const char *what, const char *arg)
{
	char *end;
	errno = 0;
	long n = strtol(arg, &end, 10);
	if (errno || end == arg || *end || n < 1 || n > 1000000000L) {
		printf("nabla-init: bench %s: bad count \"%s\" (want 1..1000000000)\n", what, arg);
		return 0;
	}
	return n;
}

/* After a benchmark: power off as init, exit natively (no message). */
static int bench_done(int rc)
{
	fflush(stdout);
	if (native)
		return rc;
	return power_off();
}

/* bench-getpid=N and bench-null=N: N calls of one syscall, timed. */
static int mode_bench_syscall(const char *what, long nr, long want_errno, const char *arg)
{
	long n = bench_count(what, arg);
	if (!n)
		return bench_done(2);
	long long t1 = mono_ns();
	long bad = 0;
	for (long i = 0; i < n; i++) {
		long r = syscall(nr);
		if (want_errno ? (r != -1 || errno != want_errno) : r <= 0)
			bad++;
	}
	long long t2 = mono_ns();
	if (t1 < 0 || t2 < 0) {
		printf("nabla-init: bench %s: clock_gettime: %s\n", what, strerror(errno));
		return bench_done(1);
	}
	if (bad) {
		printf("nabla-init: bench %s: %ld of %ld calls returned the wrong result\n", what, bad, n);
		return bench_done(1);
	}
	printf("nabla-init: bench %s %ld calls %.1f ns/call\n", what, n, (double)(t2 - t1) / (double)n);
	return bench_done(0);
}

/* bench-spawn=N: N x (posix_spawn of this program in mode exit=0, waitpid). */
static int mode_bench_spawn(const char *arg)
{
	long n = bench_count("spawn", arg);
	if (!n)
		return bench_done(2);
	char *argv[] = {(char *)self_path, (char *)"exit=0", NULL};
	detail[0] = 0;
	fflush(stdout);
	long long t1 = mono_ns();
	for (long i = 0; i < n; i++) {
		pid_t pid;
		int status, err = posix_spawn(&pid, self_path, NULL, NULL, argv, environ);
		if (err) {
			printf("nabla-init: bench spawn: posix_spawn %s: %s\n", self_path, strerror(err));
			return bench_done(1);
		}
		if (!wait_child(pid, &status) || status != 0) {
			char s[96];
			if (detail[0])
				snprintf(s, sizeof s, "%s", detail);
			else
				describe_status(status, s, sizeof s);
			printf("nabla-init: bench spawn: child %d: %s\n", (int)pid, s);
			return bench_done(1);
		}
	}
	long long t2 = mono_ns();
	if (t1 < 0 || t2 < 0) {
		printf("nabla-init: bench spawn: clock_gettime: %s\n", strerror(errno));
		return bench_done(1);
	}
	printf("nabla-init: bench spawn %ld spawns %.1f us/spawn\n", n, (double)(t2 - t1) / 1000.0 / (double)n);
	return bench_done(0);
}

int main(int argc, char **argv)
{
	native = getpid() != 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 0 && argv[0] && strchr(argv[0], '/'))
		self_path = argv[0];
	else if (access("/proc/self/exe", X_OK) == 0)
		self_path = "/proc/self/exe";

	const char *mode = argc > 1 ? argv[1] : getenv("NABLA_INIT");
	if (!mode || !*mode)
		mode = "hello";

	int rc;
	if (strcmp(mode, "hello") == 0)
		rc = mode_hello();
	else if (strcmp(mode, "poweroff") == 0)
		rc = power_off();
	else if (strcmp(mode, "test") == 0)
		rc = mode_test();
	else if (strncmp(mode, "exit=", 5) == 0)
		rc = mode_exit(mode + 5);
	else if (strcmp(mode, "segv") == 0)
		rc = mode_segv();
	else if (strcmp(mode, "spin") == 0)
		rc = mode_spin();
	else if (strcmp(mode, "read-line") == 0)
		rc = mode_read_line();
	else if (strcmp(mode, "kernel-fault") == 0)
		rc = mode_kernel_fault();
	else if (strcmp(mode, "fpe") == 0)
		rc = mode_fpe();
	else if (strcmp(mode, "avx-child") == 0)
		rc = mode_avx_child();
	else if (strcmp(mode, "tf") == 0)
		rc = mode_tf();
	else if (strcmp(mode, "ac") == 0)
		rc = mode_ac();
	else if (strcmp(mode, "ill") == 0)
		rc = mode_ill();
	else if (strcmp(mode, "fpu-child") == 0)
		rc = mode_fpu_child();
	else if (strcmp(mode, "pipe-child") == 0)
		rc = mode_pipe_child();
	else if (strcmp(mode, "streams") == 0)
		rc = mode_streams();
	else if (strncmp(mode, "restart=", 8) == 0)
		rc = restart_with(mode + 8);
	else if (strncmp(mode, "sigterm=", 8) == 0)
		rc = wait_signal(SIGTERM, SIG_DFL, 0, mode + 8);
	else if (strncmp(mode, "sigterm-busy=", 13) == 0)
		rc = wait_signal(SIGTERM, SIG_DFL, 1, mode + 13);
	else if (strncmp(mode, "sigign=", 7) == 0)
		rc = wait_signal(SIGHUP, SIG_IGN, 0, mode + 7);
	else if (strcmp(mode, "sigdfl") == 0)
		rc = mode_sigdfl();
	else if (strcmp(mode, "stdio-lines") == 0)
		rc = mode_stdio_lines();
	else if (strcmp(mode, "far32") == 0)
		rc = mode_far32();
	else if (strcmp(mode, "int80") == 0)
		rc = mode_int80();
	else if (strcmp(mode, "pkru") == 0)
		rc = mode_pkru();
	else if (strcmp(mode, "pkru-store") == 0)
		rc = mode_pkru_store();
	else if (strcmp(mode, "avx512-child") == 0)
		rc = mode_avx512_child();
	else if (strcmp(mode, "big-mmap") == 0)
		rc = mode_big_mmap();
	else if (strncmp(mode, "spawn-many=", 11) == 0)
		rc = mode_spawn_many(mode + 11);
	else if (strncmp(mode, "bench-getpid=", 13) == 0)
		rc = mode_bench_syscall("getpid", SYS_getpid, 0, mode + 13);
	else if (strncmp(mode, "bench-null=", 11) == 0)
		rc = mode_bench_syscall("null", BENCH_NULL_SYSCALL, ENOSYS, mode + 11);
	else if (strncmp(mode, "bench-spawn=", 12) == 0)
		rc = mode_bench_spawn(mode + 12);
	else {
		printf("nabla-init: unknown mode \"%s\" (hello, poweroff, exit=N, test, segv, pipe-child, "
		       "big-mmap, spawn-many=N, streams, restart=S, sigterm=S, sigterm-busy=S, sigign=S, sigdfl, "
		       "bench-getpid=N, bench-null=N, bench-spawn=N)\n", mode);
		rc = 2;
	}
	fflush(stdout);
	return rc;
}
