/*
 * nabla-test: the test program of the containers' OCI image
 * (scripts/build-oci-image.sh puts it at /bin/nabla-test; the tests in
 * tests/tests/containers.rs run it with ctr).
 *
 * One static-pie program (musl), several modes, chosen by argv[1]:
 *
 *   hello            print "hello from nabla-test" and exit 0 (the image's
 *                    default command, and the benchmark's container)
 *   show STATUS ...  print every argument ("arg N=..."), every environment
 *                    variable ("env ..."), the working directory
 *                    ("cwd ..."), the ids ("uid N gid N"), then exit STATUS
 *   streams          write "out-line N" to stdout and "err-line N" to
 *                    stderr, interleaved, N = 1..3, and exit 0
 *   wait-signal      print "ready" and wait for SIGTERM, SIGINT, SIGHUP or
 *                    SIGQUIT: print "got SIGTERM" (or the signal's name)
 *                    and exit 0
 *   sleep            wait forever (the idle container of the benchmark)
 *
 * Every line is written with one write(2), so that output interleaves by
 * whole lines and nothing waits in a stdio buffer when the program ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void say(int fd, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		memmove(buf, buf + w, n - w);
		n -= w;
	}
}

static int show(int argc, char **argv)
{
	char cwd[4096];
	int status = argc > 2 ? atoi(argv[2]) : 0;
	char **e;
	int i;

	for (i = 0; i < argc; i++)
		say(1, "arg %d=%s", i, argv[i]);
	for (e = environ; *e; e++)
		say(1, "env %s", *e);
	if (getcwd(cwd, sizeof(cwd)))
		say(1, "cwd %s", cwd);
	else
		say(1, "cwd ? (%s)", strerror(errno));
	say(1, "uid %u gid %u", (unsigned)getuid(), (unsigned)getgid());
	return status;
}

static int streams(void)
{
	int i;

	for (i = 1; i <= 3; i++) {
		say(1, "out-line %d", i);
		say(2, "err-line %d", i);
	}
	return 0;
}

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
	caught = sig;
}

static const char *signame(int sig)
{
	switch (sig) {
	case SIGTERM:
		return "SIGTERM";
	case SIGINT:
		return "SIGINT";
	case SIGHUP:
		return "SIGHUP";
	case SIGQUIT:
		return "SIGQUIT";
	}
	return "?";
}

static int wait_signal(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
	struct sigaction sa;
	sigset_t block, old;
	unsigned int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&block);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
	}
	/* Blocked until sigsuspend: a signal between "ready" and the wait is kept. */
	sigprocmask(SIG_BLOCK, &block, &old);
	say(1, "ready");
	while (!caught)
		sigsuspend(&old);
	say(1, "got %s", signame(caught));
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "hello";

	if (!strcmp(mode, "hello")) {
		say(1, "hello from nabla-test");
		return 0;
	}
	if (!strcmp(mode, "show"))
		return show(argc, argv);
	if (!strcmp(mode, "streams"))
		return streams();
	if (!strcmp(mode, "wait-signal"))
		return wait_signal();
	if (!strcmp(mode, "sleep")) {
		for (;;)
			pause();
	}
	say(2, "nabla-test: unknown mode %s (hello, show, streams, wait-signal, sleep)", mode);
	return 2;
}
