/*
 * The system-call benchmark of make bench (section linux-syscalls), run
 * as the same musl static-pie in the Linux guest (from its second disk)
 * and natively on the host, each operation a timed loop in this process:
 *
 *   syscalls run N RR SPAWNS   time every operation, N times each (RR
 *                              pipe round trips, SPAWNS spawns), and
 *                              print one line "NAME NS" per operation,
 *                              in nanoseconds per operation (the mean)
 *   syscalls pong RFD WFD      the round trip's child: echo each byte
 *                              read from RFD to WFD until end of file
 *   syscalls exit              the spawn's child: exit 0 at once
 *
 * argv[0] must be a path to this binary (it is spawned as the children
 * and is the file that stat and open+close work on: run it as
 * ./syscalls from its directory on both sides, so both walk one path
 * component). No fork: the guest has no MMU; the children are
 * posix_spawn'd (musl: a vfork-style clone, on the host too). Also
 * prints "vdso 0|1": whether the kernel gave us a vDSO (AT_SYSINFO_EHDR),
 * which musl's clock_gettime uses; without one (the guest, so far) it is
 * a system call. Limits: each figure is a mean over one loop after a
 * short warm-up (bench.sh takes medians over rounds); the round trip's
 * two processes may run on two host CPUs natively, on the guest's one
 * CPU in the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *self;
static int zero_fd, null_fd, ping_w, pong_r;
/* The read ends of 100 pipes whose write ends stay open (never ready). */
static int sel_fds[100];

static void die(const char *what)
{
	fprintf(stderr, "syscalls: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void op_null(void)
{
	if (syscall(1000) != -1 || errno != ENOSYS)
		die("syscall 1000 did not fail with ENOSYS");
}

static void op_getpid(void)
{
	syscall(SYS_getpid);
}

static void op_clock_libc(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
}

static void op_clock_sys(void)
{
	struct timespec t;

	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t);
}

static void op_read(void)
{
	char c;

	if (read(zero_fd, &c, 1) != 1)
		die("read /dev/zero");
}

static void op_write(void)
{
	if (write(null_fd, "x", 1) != 1)
		die("write /dev/null");
}

static void op_stat(void)
{
	struct stat st;

	if (stat(self, &st))
		die("stat");
}

static void op_open_close(void)
{
	int fd = open(self, O_RDONLY);

	if (fd < 0 || close(fd))
		die("open+close");
}

static void do_select(int n)
{
	struct timeval tv = { 0, 0 };
	fd_set set;
	int i, max = 0;

	FD_ZERO(&set);
	for (i = 0; i < n; i++) {
		FD_SET(sel_fds[i], &set);
		if (sel_fds[i] > max)
			max = sel_fds[i];
	}
	if (select(max + 1, &set, NULL, NULL, &tv) != 0)
		die("select found a ready fd or failed");
}

static void op_select10(void)
{
	do_select(10);
}

static void op_select100(void)
{
	do_select(100);
}

static void op_round_trip(void)
{
	char c = 'x';

	if (write(ping_w, &c, 1) != 1 || read(pong_r, &c, 1) != 1)
		die("pipe round trip");
}

static pid_t spawn(char *const *args)
{
	pid_t pid;
	int e = posix_spawn(&pid, self, NULL, NULL, args, environ);

	if (e) {
		errno = e;
		die("posix_spawn");
	}
	return pid;
}

static void reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "syscalls: child %d did not exit 0 (status %#x)\n", (int)pid, st);
		exit(1);
	}
}

static void op_spawn(void)
{
	char *args[] = { (char *)self, "exit", NULL };

	reap(spawn(args));
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* A warm-up of n / 10 (at most 1000), then n timed calls of f. */
static void measure(const char *name, void (*f)(void), long n)
{
	long i, w = n / 10 < 1000 ? n / 10 : 1000;
	double a;

	for (i = 0; i < w; i++)
		f();
	a = now_ns();
	for (i = 0; i < n; i++)
		f();
	printf("%s %.1f\n", name, (now_ns() - a) / n);
	fflush(stdout);
}

static int pong(int r, int w)
{
	char c;
	ssize_t k;

	while ((k = read(r, &c, 1)) == 1)
		if (write(w, &c, 1) != 1)
			die("pong write");
	return k == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	long n, rr, spawns;
	int ping[2], back[2], i;
	char rfd[16], wfd[16];
	pid_t child;

	self = argv[0];
	if (argc == 4 && !strcmp(argv[1], "pong"))
		return pong(atoi(argv[2]), atoi(argv[3]));
	if (argc == 2 && !strcmp(argv[1], "exit"))
		return 0;
	if (argc != 5 || strcmp(argv[1], "run") || !strchr(self, '/') || (n = atol(argv[2])) < 1 ||
	    (rr = atol(argv[3])) < 1 || (spawns = atol(argv[4])) < 1) {
		fprintf(stderr, "usage: DIR/syscalls run N RR SPAWNS | pong RFD WFD | exit\n");
		return 2;
	}
	if ((zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC)) < 0)
		die("/dev/zero");
	if ((null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
		die("/dev/null");
	for (i = 0; i < 100; i++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC))
			die("pipe");
		sel_fds[i] = p[0];
		/* p[1] stays open: the read end never sees end of file. */
	}
	printf("vdso %d\n", getauxval(AT_SYSINFO_EHDR) != 0);

	measure("null", op_null, n);
	measure("getpid", op_getpid, n);
	measure("clock-libc", op_clock_libc, n);
	measure("clock-syscall", op_clock_sys, n);
	measure("read-zero", op_read, n);
	measure("write-null", op_write, n);
	measure("stat", op_stat, n);
	measure("open-close", op_open_close, n);
	measure("select-10", op_select10, n);
	measure("select-100", op_select100, n);

	/* The child reads ping[0] and writes back[1]; only those two are
	 * inherited (the rest are close-on-exec). */
	if (pipe2(ping, O_CLOEXEC) || pipe2(back, O_CLOEXEC))
		die("pipe");
	{
		posix_spawn_file_actions_t fa;
		char *args[] = { (char *)self, "pong", rfd, wfd, NULL };
		int e;

		/* Onto 3 and 4 in the child (ping[0] and back[1] are past
		 * the select pipes, far higher): dup2 clears close-on-exec. */
		snprintf(rfd, sizeof rfd, "%d", 3);
		snprintf(wfd, sizeof wfd, "%d", 4);
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, ping[0], 3);
		posix_spawn_file_actions_adddup2(&fa, back[1], 4);
		e = posix_spawn(&child, self, &fa, NULL, args, environ);
		posix_spawn_file_actions_destroy(&fa);
		if (e) {
			errno = e;
			die("posix_spawn pong");
		}
	}
	close(ping[0]);
	close(back[1]);
	ping_w = ping[1];
	pong_r = back[0];
	measure("pipe-round-trip", op_round_trip, rr);
	close(ping_w);
	reap(child);

	measure("spawn-wait", op_spawn, spawns);
	return 0;
}
