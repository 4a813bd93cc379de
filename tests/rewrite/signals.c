/*
 * signals: blocking syscalls made through rewritten sites, interrupted by
 * signals; vfork + exec and threads in a program whose sites are
 * rewritten. argv[0] must be a path to this program (it runs itself).
 *
 *   signals eintr     warm the read() site on a pipe holding data, then a
 *                     read of an empty pipe interrupted by SIGALRM (100
 *                     ms, no SA_RESTART): -1/EINTR, the handler ran
 *   signals restart   the same with SA_RESTART: the read goes on and
 *                     returns the byte a thread writes at 300 ms
 *   signals stopcont  a child (itself, `sleeper`) in a 500 ms nanosleep
 *                     through a warm site, stopped at 150 ms and
 *                     continued at 250 ms: no handler runs, so the
 *                     kernel restarts the sleep (restart_syscall) and it
 *                     returns 0 after the whole 500 ms
 *   signals vfork     three rounds of vfork + exec of itself (`child`):
 *                     the vforked child runs the parent's rewritten
 *                     getpid site before its exec and sees its own pid;
 *                     the new program's sites are rewritten in turn
 *   signals threads   a thread and the main thread call one site of
 *                     their own (a 3-argument syscall in assembly)
 *                     100,000 times each: gettid and lseek on a file of
 *                     each, results checked per thread
 */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

long sc3(long nr, long a, long b, long c);
__asm__(".text\n"
	".globl sc3\n"
	".type sc3, @function\n"
	"sc3:\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	mov %rdx, %rsi\n"
	"	mov %rcx, %rdx\n"
	"	syscall\n"
	"	ret\n"
	".size sc3, . - sc3\n");

long sig_getpid(void);
extern const unsigned char sig_getpid_site[];
__asm__(".text\n"
	".globl sig_getpid\n"
	".type sig_getpid, @function\n"
	"sig_getpid:\n"
	"	mov $39, %eax\n"
	".globl sig_getpid_site\n"
	"sig_getpid_site:\n"
	"	syscall\n"
	"	ret\n"
	".size sig_getpid, . - sig_getpid\n");

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void alarm_in(long ms)
{
	struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };

	setitimer(ITIMER_REAL, &it, NULL);
}

static void handle_alarm(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
}

/* 100 one-byte writes and reads through musl's write and read, with the
 * counters around them. */
static void warm(int p[2], const char *name)
{
	struct counters a, b;
	char c;
	int bad = 0;

	for (int i = 0; i < 3; i++)
		if (write(p[1], "w", 1) != 1 || read(p[0], &c, 1) != 1)
			bad++;
	a = counters();
	for (int i = 0; i < 100; i++)
		if (write(p[1], "w", 1) != 1 || read(p[0], &c, 1) != 1 || c != 'w')
			bad++;
	b = counters();
	check(!bad, name, "%d pipe writes or reads went wrong", bad);
	deltas(name, a, b);
}

static int eintr(void)
{
	int p[2];
	char c;
	long t0, ms;
	ssize_t r;
	int e;

	if (pipe(p))
		return 2;
	handle_alarm(0);
	warm(p, "eintr-warm");
	alarm_in(100);
	t0 = now_ms();
	r = read(p[0], &c, 1);
	e = errno;
	ms = now_ms() - t0;
	check(r == -1 && e == EINTR, "eintr-read", "read returned %zd (%s), want -1/EINTR", r, strerror(e));
	check(alarms == 1, "eintr-handler", "the handler ran %d times", (int)alarms);
	check(ms >= 90 && ms < 2000, "eintr-time", "the read returned after %ld ms, want about 100", ms);
	return summary("eintr");
}

static int writer_fd;

static void *late_writer(void *arg)
{
	struct timespec t = { 0, 300 * 1000000L };

	(void)arg;
	nanosleep(&t, NULL);
	if (write(writer_fd, "x", 1) != 1)
		return "write";
	return NULL;
}

static int restart(void)
{
	int p[2];
	char c = 0;
	long t0, ms;
	ssize_t r;
	int e;
	pthread_t th;
	void *res;

	if (pipe(p))
		return 2;
	handle_alarm(SA_RESTART);
	warm(p, "restart-warm");
	writer_fd = p[1];
	t0 = now_ms();
	if (pthread_create(&th, NULL, late_writer, NULL)) {
		printf("FAIL restart-thread: pthread_create\n");
		return 2;
	}
	alarm_in(100);
	r = read(p[0], &c, 1);
	e = errno;
	ms = now_ms() - t0;
	pthread_join(th, &res);
	check(r == 1 && c == 'x', "restart-read", "read returned %zd (%s), byte %#x, want 1 and 'x'", r,
	      r < 0 ? strerror(e) : "-", c);
	check(alarms == 1, "restart-handler", "the handler ran %d times", (int)alarms);
	check(ms >= 250 && ms < 3000, "restart-time", "the read returned after %ld ms, want about 300", ms);
	check(res == NULL, "restart-writer", "the thread's %s failed", (char *)res);
	return summary("restart");
}

static int sleeper(void)
{
	struct timespec t = { 0, 1000000 };
	long t0, ms;
	int r;

	for (int i = 0; i < 3; i++)
		nanosleep(&t, NULL);
	t.tv_nsec = 500 * 1000000L;
	t0 = now_ms();
	r = nanosleep(&t, NULL);
	ms = now_ms() - t0;
	printf("val sleeper-ret %d\nval sleeper-ms %ld\n", r, ms);
	fflush(stdout);
	return r == 0 && ms >= 490 ? 0 : 1;
}

static int stopcont(const char *self)
{
	char *argv[] = { (char *)self, "sleeper", NULL };
	struct timespec t = { 0, 150 * 1000000L };
	struct counters a, b;
	pid_t pid;
	int st = -1;

	a = counters();
	if (posix_spawn(&pid, self, NULL, NULL, argv, environ)) {
		printf("FAIL stopcont-spawn: %s\n", strerror(errno));
		return 2;
	}
	nanosleep(&t, NULL);
	kill(pid, SIGSTOP);
	t.tv_nsec = 100 * 1000000L;
	nanosleep(&t, NULL);
	kill(pid, SIGCONT);
	waitpid(pid, &st, 0);
	b = counters();
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "stopcont-sleep", "the sleeper ended with status %#x", st);
	deltas("stopcont", a, b);
	return summary("stopcont");
}

/* The exec'd child: its own getpid site, 1000 calls, its own counters. */
static int child(void)
{
	long pid = getpid(), wrong = 0;
	struct counters a = counters(), b;

	for (int i = 0; i < 1000; i++)
		if (sig_getpid() != pid)
			wrong++;
	b = counters();
	check(!wrong, "vfork-child-results", "%ld calls did not return the pid", wrong);
	check(b.fast - a.fast >= (a.on ? 999 : 0), "vfork-child-fast", "fast rose by %ld over 1000 calls (on %d)",
	      b.fast - a.fast, a.on);
	sval("vfork-child-bytes", hex2(sig_getpid_site));
	fflush(stdout);
	_exit(wrong ? 1 : 42);
}

static volatile long seen_in_child;

static int vfork_exec(const char *self)
{
	char *argv[] = { (char *)self, "child", NULL };
	long pid0 = getpid();

	for (int i = 0; i < 1000; i++)
		sig_getpid();
	sval("vfork-parent-bytes", hex2(sig_getpid_site));
	for (int round = 0; round < 3; round++) {
		struct counters a = counters(), b;
		char name[64];
		pid_t pid;
		int st = -1;

		fflush(stdout);
		pid = vfork();
		if (pid == 0) {
			seen_in_child = sig_getpid();
			execve(self, argv, environ);
			_exit(127);
		}
		if (pid < 0) {
			printf("FAIL vfork: %s\n", strerror(errno));
			return 2;
		}
		waitpid(pid, &st, 0);
		b = counters();
		snprintf(name, sizeof name, "vfork-%d-status", round);
		check(WIFEXITED(st) && WEXITSTATUS(st) == 42, name, "the child ended with status %#x, want exit 42",
		      st);
		snprintf(name, sizeof name, "vfork-%d-child-pid", round);
		check(seen_in_child == pid, name, "the child's getpid before exec returned %ld, its pid is %d",
		      seen_in_child, (int)pid);
		snprintf(name, sizeof name, "vfork-%d-parent-pid", round);
		check(sig_getpid() == pid0, name, "the parent's getpid is %ld after, %ld before", sig_getpid(), pid0);
		snprintf(name, sizeof name, "vfork-%d", round);
		deltas(name, a, b);
	}
	return summary("vfork");
}

struct worker {
	const char *path;
	long tid, wrong, first, calls;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	int fd = open(w->path, O_CREAT | O_TRUNC | O_RDWR, 0644);

	w->tid = syscall(SYS_gettid);
	if (fd < 0) {
		w->wrong = -1;
		return NULL;
	}
	for (long i = 0; i < w->calls; i++) {
		long t = sc3(SYS_gettid, 0, 0, 0), off = sc3(SYS_lseek, fd, i * 3 + w->tid, SEEK_SET);

		if ((t != w->tid || off != i * 3 + w->tid) && !w->wrong++)
			w->first = t != w->tid ? t : off;
	}
	close(fd);
	unlink(w->path);
	return NULL;
}

static int threads(void)
{
	struct worker m = { "/tmp/signals-main", 0, 0, 0, 100000 }, t = { "/tmp/signals-thread", 0, 0, 0, 100000 };
	struct counters a = counters(), b;
	pthread_t th;

	if (pthread_create(&th, NULL, work, &t)) {
		printf("FAIL threads-create\n");
		return 2;
	}
	work(&m);
	pthread_join(th, NULL);
	b = counters();
	check(m.tid == getpid() && t.tid != m.tid && t.tid > 0, "threads-tids", "main %ld (pid %d), thread %ld",
	      m.tid, (int)getpid(), t.tid);
	check(!m.wrong, "threads-main", "%ld of %ld rounds went wrong (the first: %ld)", m.wrong, m.calls, m.first);
	check(!t.wrong, "threads-thread", "%ld of %ld rounds went wrong (the first: %ld)", t.wrong, t.calls, t.first);
	deltas("threads", a, b);
	return summary("threads");
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "eintr"))
		return eintr();
	if (!strcmp(mode, "restart"))
		return restart();
	if (!strcmp(mode, "stopcont"))
		return stopcont(argv[0]);
	if (!strcmp(mode, "sleeper"))
		return sleeper();
	if (!strcmp(mode, "vfork"))
		return vfork_exec(argv[0]);
	if (!strcmp(mode, "child"))
		return child();
	if (!strcmp(mode, "threads"))
		return threads();
	fprintf(stderr, "usage: signals eintr|restart|stopcont|vfork|threads\n");
	return 2;
}
