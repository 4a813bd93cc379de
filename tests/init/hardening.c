/*
 * nabla-init: the checks and modes of the hardening issue (see init.c for
 * how modes are chosen and how the program also runs natively).
 *
 *   checks (part of "test"):
 *     empty-buffers  read/write/readv/writev of zero bytes at NULL succeed
 *     stdio-pipe     a child's 1,000 fully buffered stdio lines all arrive
 *                    through a pipe
 *     stdio-file     1,000 stdio lines written to a tmpfs file read back
 *     clone-novm     clone(SIGCHLD) without CLONE_VM fails like fork on
 *                    nommu (and leaves the parent's memory alone)
 *     far32          a child that switches to 32-bit code and faults there
 *                    dies of SIGSEGV alone
 *     int80          a child that makes an `int $0x80` dies of SIGSEGV
 *     avx512         (only where the CPU and OS have AVX-512, else a line
 *                    "n/a avx512 ...", counted neither way) zmm20 and k3
 *                    kept across syscalls and switches to a child using them
 *     pkru           a child that write-disables protection key 0 (all
 *                    memory) and makes a syscall goes on, one that stores
 *                    then dies of SIGSEGV alone; without PKU, wrpkru is
 *                    SIGILL. With PKU only when NABLA_HOST_PKRU=1 (else
 *                    a line "n/a pkru ...", counted neither way)
 *   modes:
 *     stdio-lines    helper: 1,000 lines to stdout through a FILE
 *     far32, int80, pkru, pkru-store, avx512-child  helpers for the checks
 *     big-mmap       anonymous mmaps of 5, 8, 16 and 64 MiB and a 16 MiB
 *                    malloc, each written and read back; "nabla-init:
 *                    big-mmap ok" or a failure line; then power off
 *     spawn-many=N   spawn /big (a 1 MiB static-pie) N times, each waited
 *                    for; "nabla-init: spawn-many N of N ok" and MemFree
 *                    before and after; power off. NABLA_TRIM=N in the
 *                    environment sets vm.nr_trim_pages first (also for
 *                    big-mmap, which prints what each mapping costs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

#define STDIO_LINES 1000
#define STDIO_LINE_FMT "stdio line %04d of 1000: abcdefghijklmnopqrstuvwxyz\n"
#define STDIO_LINE_LEN 52

int check_empty_buffers(void)
{
	int p[2];
	struct iovec iov = {NULL, 0};
	ssize_t n;
	int ok = 0;

	if (pipe(p) != 0)
		return fail_errno("pipe");
	if ((n = write(p[1], NULL, 0)) != 0)
		fail("write(pipe, NULL, 0) = %zd: %s", n, strerror(errno));
	else if ((n = read(p[0], NULL, 0)) != 0)
		fail("read(pipe, NULL, 0) = %zd: %s", n, strerror(errno));
	else if ((n = writev(p[1], &iov, 1)) != 0)
		fail("writev(pipe, {NULL, 0}, 1) = %zd: %s", n, strerror(errno));
	else if ((n = readv(p[0], &iov, 1)) != 0)
		fail("readv(pipe, {NULL, 0}, 1) = %zd: %s", n, strerror(errno));
	else if ((n = write(1, NULL, 0)) != 0)
		fail("write(1, NULL, 0) = %zd: %s", n, strerror(errno));
	else
		ok = 1;
	close(p[0]);
	close(p[1]);
	return ok;
}

/* Writes the numbered lines through `f`; returns 0 or an errno value. */
static int write_lines(FILE *f)
{
	for (int i = 0; i < STDIO_LINES; i++)
		if (fprintf(f, STDIO_LINE_FMT, i) != STDIO_LINE_LEN)
			return errno ? errno : EIO;
	return fflush(f) == 0 ? 0 : errno;
}

/* Checks that buf holds exactly the numbered lines. */
static int check_lines(const char *what, const char *buf, size_t len)
{
	char want[STDIO_LINE_LEN + 1];

	for (int i = 0; i < STDIO_LINES; i++) {
		size_t at = (size_t)i * STDIO_LINE_LEN;
		snprintf(want, sizeof want, STDIO_LINE_FMT, i);
		if (len < at + STDIO_LINE_LEN)
			return fail("%s: %zu bytes, line %d of %d missing", what, len, i, STDIO_LINES);
		if (memcmp(buf + at, want, STDIO_LINE_LEN) != 0)
			return fail("%s: line %d differs: \"%.*s\"", what, i, STDIO_LINE_LEN - 1, buf + at);
	}
	if (len != (size_t)STDIO_LINES * STDIO_LINE_LEN)
		return fail("%s: %zu bytes, want %d", what, len, STDIO_LINES * STDIO_LINE_LEN);
	return 1;
}

/* A child writes through a fully buffered FILE (musl flushes with a {NULL, 0} iovec). */
int mode_stdio_lines(void)
{
	FILE *f = fdopen(dup(1), "w");

	if (!f)
		return 1;
	int err = write_lines(f);
	return fclose(f) == 0 && err == 0 ? 0 : 1;
}

int check_stdio_pipe(void)
{
	static char buf[STDIO_LINES * STDIO_LINE_LEN + 64];
	posix_spawn_file_actions_t fa;
	size_t len = 0;
	int p[2], err;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0)
		return fail_errno("pipe2");
	err = posix_spawn_file_actions_init(&fa);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	if (!err)
		err = spawn_self("stdio-lines", &fa, &pid);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (err) {
		close(p[0]);
		return fail("spawn stdio-lines: %s", strerror(err));
	}
	for (;;) {
		ssize_t n = read(p[0], buf + len, sizeof buf - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == sizeof buf)
			break;
	}
	close(p[0]);
	if (!expect_child("stdio-lines", pid, 0, 0))
		return 0;
	return check_lines("through the pipe", buf, len);
}

int check_stdio_file(void)
{
	static char buf[STDIO_LINES * STDIO_LINE_LEN + 64];
	const char *path = native ? "/tmp/nabla-init-stdio.txt" : "/tmp/stdio.txt";
	FILE *f = fopen(path, "w");
	size_t len;
	int err;

	if (!f)
		return fail_errno("fopen for writing");
	err = write_lines(f);
	if (fclose(f) != 0 && !err)
		err = errno;
	if (err)
		return fail("writing %s: %s", path, strerror(err));
	f = fopen(path, "r");
	if (!f)
		return fail_errno("fopen for reading");
	len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	unlink(path);
	return check_lines(path, buf, len);
}

static volatile int clone_global = 1;

int check_clone_novm(void)
{
	long r;

	fflush(stdout);
	/* fork() as glibc makes it: no CLONE_VM, child on the parent's stack. */
	r = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
	if (r == 0) {
		clone_global = 7;
		syscall(SYS_exit, 7L);
	}
	if (r < 0) {
		if (native)
			return fail_errno("clone(SIGCHLD) failed on a native run");
		if (errno != EINVAL)
			return fail("clone(SIGCHLD) failed with %s, want EINVAL as fork", strerror(errno));
		snprintf(detail, sizeof detail, "fails as fork: %s", strerror(errno));
		return clone_global == 1 ? 1 : fail("the parent's global changed to %d", clone_global);
	}
	if (!expect_child("clone(SIGCHLD)", (pid_t)r, 7, 0))
		return 0;
	if (clone_global != 1)
		return fail("clone(SIGCHLD) child changed the parent's global to %d", clone_global);
	if (!native)
		return fail("clone(SIGCHLD) succeeded (pid %ld) on a nommu kernel", r);
	snprintf(detail, sizeof detail, "native: cloned a copy");
	return 1;
}

/*
 * 32-bit code for mode_far32: `hlt` is privileged, so it faults (#GP,
 * SIGSEGV) while the CPU runs the 32-bit user code segment.
 */
__asm__(".pushsection .text\n"
	".code32\n"
	"nabla_init_code32:\n"
	"\thlt\n"
	"\tjmp nabla_init_code32\n"
	".code64\n"
	".popsection\n");
extern char nabla_init_code32[];

/* The 32-bit user code segment of x86_64 Linux (GDT entry 4, RPL 3). */
#define USER32_CS 0x23

int mode_far32(void)
{
	struct __attribute__((packed)) {
		unsigned int offset;
		unsigned short selector;
	} target = {(unsigned int)(unsigned long)nabla_init_code32, USER32_CS};

	/*
	 * A PIE of the guest lies below 4 GiB; natively it does not, and the
	 * truncated offset faults as well.
	 */
	__asm__ volatile("ljmpl *%0" : : "m"(target) : "memory");
	return 0;
}

int mode_int80(void)
{
	long ret;

	/* The i386 exit(42): natively (with IA32 emulation) the child exits 42. */
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(1L), "b"(42L) : "memory");
	return 3;
}

int check_far32(void)
{
	/* Before the tender forced the 64-bit code segment, the guest hung here. */
	return spawn_expect("far32", 0, SIGSEGV);
}

int check_int80(void)
{
	pid_t pid;
	int err = spawn_self("int80", NULL, &pid);

	if (err)
		return fail("posix_spawn int80: %s", strerror(err));
	if (native) {
		int status;
		if (!wait_child(pid, &status))
			return 0;
		snprintf(detail, sizeof detail, "native: wait status %#x", status);
		return 1;
	}
	return expect_child("int80", pid, 0, SIGSEGV);
}

/* Protection keys enabled by the OS (CPUID.(7,0):ECX.OSPKE). */
static int have_ospke(void)
{
	unsigned int r[4];

	cpuid(7, 0, r);
	return (r[2] >> 4) & 1;
}

/*
 * Write-disable key 0 (every page), make a getpid with no store in
 * between, then put PKRU back: exit 0. Without PKU, wrpkru is #UD.
 */
int mode_pkru(void)
{
	long pid;

	__asm__ volatile("xorl %%ecx, %%ecx\n\t"
			 "rdpkru\n\t"
			 "movl %%eax, %%r12d\n\t"
			 "movl $2, %%eax\n\t"
			 "xorl %%ecx, %%ecx\n\t"
			 "xorl %%edx, %%edx\n\t"
			 "wrpkru\n\t"
			 "movl $39, %%eax\n\t"
			 "syscall\n\t"
			 "movq %%rax, %%r13\n\t"
			 "movl %%r12d, %%eax\n\t"
			 "xorl %%ecx, %%ecx\n\t"
			 "xorl %%edx, %%edx\n\t"
			 "wrpkru\n\t"
			 "movq %%r13, %0"
			 : "=r"(pid)
			 :
			 : "rax", "rcx", "rdx", "r11", "r12", "r13", "memory");
	return pid == getpid() ? 0 : 4;
}

/* Helper for pkru: write-disable key 0, then store: the pkey fault is its own. */
int mode_pkru_store(void)
{
	static volatile int target;

	__asm__ volatile("xorl %%ecx, %%ecx\n\t"
			 "xorl %%edx, %%edx\n\t"
			 "movl $2, %%eax\n\t"
			 "wrpkru\n\t"
			 "movl $1, %0"
			 : "=m"(target)
			 :
			 : "rax", "rcx", "rdx", "memory");
	return 5;
}

/*
 * A program that write-disables key 0 and makes a syscall goes on (its
 * kernel entered with the tender's PKRU); one that then stores dies of
 * its own pkey fault, alone. Without PKU, wrpkru is SIGILL.
 */
int check_pkru(void)
{
	if (!have_ospke())
		return spawn_expect("pkru", 0, SIGILL);
	return spawn_expect("pkru", 0, 0) && spawn_expect("pkru-store", 0, SIGSEGV);
}

/*
 * Whether to run the pkru check: always without PKU (wrpkru is #UD);
 * with it only when told the host can deliver a signal while key 0 is
 * write-disabled (NABLA_HOST_PKRU=1; Linux 6.12 and later): on older
 * hosts that kills the tender, a limit the README states.
 */
int pkru_check_runs(void)
{
	return !have_ospke() || getenv("NABLA_HOST_PKRU") != NULL;
}

static long mem_free_kb(void);

/* As pid 1, /proc is not mounted yet: mount it for /proc/meminfo. */
static void mount_proc(const char *mode)
{
	if (!native && mount("proc", "/proc", "proc", 0, NULL) != 0 && errno != EBUSY)
		printf("nabla-init: %s: mount /proc: %s\n", mode, strerror(errno));
}

/* AVX-512 usable: AVX512F and the OS enables opmask, ZMM_Hi256, Hi16_ZMM. */
int have_avx512(void)
{
	unsigned int r[4];

	cpuid(7, 0, r);
	return (r[1] & (1U << 16)) && (xcr0_low() & 0xe6) == 0xe6;
}

/*
 * Load zmm20 (its state is in the Hi16_ZMM component) and k3 (opmask),
 * make `n` sched_yield syscalls, store both: one asm block, so no
 * compiled code touches them in between.
 */
__attribute__((target("avx512f"))) static void zmm20_k3_across_yields(const unsigned long long in[8],
									unsigned long long out[8],
									unsigned int kin, unsigned int *kout,
									long n)
{
	unsigned int k;

	__asm__ volatile("vmovdqu64 (%[in]), %%zmm20\n\t"
			 "kmovw %[kin], %%k3\n\t"
			 "1: movl %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "decq %[n]\n\t"
			 "jnz 1b\n\t"
			 "vmovdqu64 %%zmm20, (%[out])\n\t"
			 "kmovw %%k3, %[k]\n\t"
			 "vzeroupper"
			 : [n] "+r"(n), [k] "=&r"(k)
			 : [in] "r"(in), [out] "r"(out), [kin] "r"(kin), [nr] "i"(SYS_sched_yield)
			 : "rax", "rcx", "r11", "xmm20", "k3", "memory", "cc");
	*kout = k;
}

/* Helper for avx512: other patterns in zmm20 and k3 while yielding. */
int mode_avx512_child(void)
{
	static const unsigned long long pat[8] = {0x1111111111111111ULL, 0x2222222222222222ULL,
						  0x3333333333333333ULL, 0x4444444444444444ULL,
						  0x5555555555555555ULL, 0x6666666666666666ULL,
						  0x7777777777777777ULL, 0x8888888888888888ULL};
	unsigned long long out[8];
	unsigned int k;

	zmm20_k3_across_yields(pat, out, 0x5a3c, &k, 200);
	return memcmp(pat, out, sizeof pat) == 0 && k == 0x5a3c ? 0 : 1;
}

/*
 * AVX-512 state (zmm20, k3) is kept across syscalls and switches to a
 * process that uses the same registers: the kernel's xsave mask includes
 * the AVX-512 components (on AMX hosts it once fell back to fxsave).
 */
int check_avx512(void)
{
	static const unsigned long long want[8] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL,
						   0x0f1e2d3c4b5a6978ULL, 0x8796a5b4c3d2e1f0ULL,
						   0x1032547698badcfeULL, 0xefcdab8967452301ULL,
						   0x7968574a3b2c1d0eULL, 0xf0e1d2c3b4a59687ULL};
	unsigned long long got[8];
	unsigned int k;
	pid_t pid;
	int err;

	err = spawn_self("avx512-child", NULL, &pid);
	if (err)
		return fail("posix_spawn %s: %s", self_path, strerror(err));
	zmm20_k3_across_yields(want, got, 0xa5c3, &k, 200);
	/* The child exits 1 when its own zmm20 or k3 changed. */
	if (!expect_child("avx512", pid, 0, 0))
		return 0;
	if (memcmp(want, got, sizeof want) != 0)
		return fail("zmm20 changed across syscalls/switches: %#llx ... %#llx", got[0], got[7]);
	if (k != 0xa5c3)
		return fail("k3 changed across syscalls/switches: %#x", k);
	return 1;
}

/* NABLA_TRIM=N: measure another trimming policy (vm.nr_trim_pages). */
static void set_trim(const char *mode)
{
	const char *trim = getenv("NABLA_TRIM");
	int fd;

	if (!trim || native)
		return;
	fd = open("/proc/sys/vm/nr_trim_pages", O_WRONLY);
	if (fd < 0 || write(fd, trim, strlen(trim)) < 0)
		printf("nabla-init: %s: set nr_trim_pages: %s\n", mode, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/*
 * Maps `mib` MiB, writes a pattern over it and reads it back; 1 or 0.
 * Prints how much MemFree dropped while it was mapped (the cost of a
 * mapping without an MMU: a whole power-of-two block, kept whole).
 */
static int try_big(int mib, int use_malloc)
{
	size_t len = (size_t)mib << 20;
	long before = mem_free_kb();
	unsigned char *p;

	if (use_malloc)
		p = malloc(len);
	else
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!p || p == MAP_FAILED)
		return fail("%s of %d MiB: %s", use_malloc ? "malloc" : "mmap", mib, strerror(errno));
	if (!use_malloc)
		for (size_t i = 0; i < len; i += 4096)
			if (p[i] != 0)
				return fail("mmap of %d MiB: byte %zu is %d, not 0", mib, i, p[i]);
	for (size_t i = 0; i < len; i += 4096)
		p[i] = (unsigned char)(i >> 12);
	for (size_t i = 0; i < len; i += 4096)
		if (p[i] != (unsigned char)(i >> 12))
			return fail("%d MiB: byte %zu reads back %d", mib, i, p[i]);
	printf("nabla-init: big-mmap: %s of %d MiB: MemFree %ld kB lower\n", use_malloc ? "malloc" : "mmap", mib,
	       before - mem_free_kb());
	if (use_malloc)
		free(p);
	else if (munmap(p, len) != 0)
		return fail("munmap of %d MiB: %s", mib, strerror(errno));
	return 1;
}

int mode_big_mmap(void)
{
	static const int sizes[] = {5, 8, 16, 64};
	int ok = 1;

	mount_proc("big-mmap");
	set_trim("big-mmap");
	for (size_t i = 0; ok && i < sizeof sizes / sizeof sizes[0]; i++)
		ok = try_big(sizes[i], 0);
	if (ok)
		ok = try_big(4, 1) && try_big(16, 1);
	if (ok)
		printf("nabla-init: big-mmap ok\n");
	else
		printf("nabla-init: big-mmap FAIL: %s\n", detail);
	fflush(stdout);
	return native ? !ok : power_off();
}

/*
 * Spawn /big N times. Each child rewrites one of 500 small files in
 * tmpfs: pages that outlive it, allocated while it runs, as real
 * workloads leave behind (the page cache, a shell's history), which is
 * what fragments the page allocator.
 */
/* MemFree of /proc/meminfo in kB, or -1. */
static long mem_free_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemFree: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Copies a small file to stdout (what the kernel says of its memory). */
static void show_file(const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(buf, sizeof buf, f))
		printf("nabla-init: %s: %s", path, buf);
	fclose(f);
}

int mode_spawn_many(const char *arg)
{
	mount_proc("spawn-many");
	set_trim("spawn-many");
	long free_before = mem_free_kb();
	const char *prog = native ? "./big" : "/big";
	long n = strtol(arg, NULL, 10);
	char name[64];
	long i;

	if (mkdir("/tmp/many", 0755) != 0 && errno != EEXIST) {
		printf("nabla-init: spawn-many: mkdir /tmp/many: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++) {
		char *argv[] = {(char *)prog, name, NULL};
		int status = -1, err;
		pid_t pid;

		snprintf(name, sizeof name, "/tmp/many/%ld", i % 500);
		err = posix_spawn(&pid, prog, NULL, NULL, argv, NULL);
		if (err) {
			printf("nabla-init: spawn-many: spawn %ld of %ld failed: %s\n", i + 1, n, strerror(err));
			break;
		}
		if (!wait_child(pid, &status) || status != 0) {
			printf("nabla-init: spawn-many: spawn %ld of %ld: wait status %#x %s\n", i + 1, n, status,
			       detail);
			show_file("/proc/buddyinfo");
			break;
		}
	}
	if (i == n)
		printf("nabla-init: spawn-many %ld of %ld ok\n", i, n);
	printf("nabla-init: spawn-many: MemFree %ld kB before, %ld kB after\n", free_before, mem_free_kb());
	fflush(stdout);
	return native ? i != n : power_off();
}
