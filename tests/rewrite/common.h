/*
 * Shared by the programs of tests/tests/linux_rewrite.rs (musl
 * static-pies, and vdso.c also with glibc): the checks' output and the
 * guest kernel's syscall counters.
 *
 * A check prints "ok NAME" or "FAIL NAME: detail"; a figure the test
 * judges itself, because what it must be depends on how the guest was
 * started (rewriting on or off), prints "val NAME VALUE". The last line
 * is "PROG: N passed, M failed".
 */
#ifndef REWRITE_COMMON_H
#define REWRITE_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;

__attribute__((unused)) static void check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("ok %s\n", name);
		passed++;
		return;
	}
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed++;
}

__attribute__((unused)) static void val(const char *name, long long v)
{
	printf("val %s %lld\n", name, v);
}

__attribute__((unused)) static void sval(const char *name, const char *v)
{
	printf("val %s %s\n", name, v);
}

__attribute__((unused)) static int summary(const char *prog)
{
	printf("%s: %d passed, %d failed\n", prog, passed, failed);
	fflush(stdout);
	return failed ? 1 : 0;
}

/* /proc/nabla_syscalls (arch/um/nabla/rewrite.c), the guest's global counts. */
struct counters {
	int on;
	long trapped, fast, rewritten, shared, full, enosys, stray;
};

/*
 * Read the counters, with open, read and close (a few syscalls of their
 * own, on the trap path the first time their sites run). Exits when the
 * file is missing or incomplete: every test needs it.
 */
__attribute__((unused)) static struct counters counters(void)
{
	struct counters c = { -1, -1, -1, -1, -1, -1, -1, -1 };
	char buf[1024], *line, *save = NULL;
	ssize_t n;
	int fd = open("/proc/nabla_syscalls", O_RDONLY);

	if (fd < 0) {
		printf("FAIL counters: open /proc/nabla_syscalls: %s\n", strerror(errno));
		exit(2);
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) {
		printf("FAIL counters: read /proc/nabla_syscalls: %zd\n", n);
		exit(2);
	}
	buf[n] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		long v;

		if (!colon)
			continue;
		*colon = 0;
		if (!strcmp(line, "rewriting")) {
			c.on = !strcmp(colon + 2, "on");
			continue;
		}
		v = strtol(colon + 2, NULL, 10);
		if (!strcmp(line, "trapped"))
			c.trapped = v;
		else if (!strcmp(line, "fast"))
			c.fast = v;
		else if (!strcmp(line, "rewritten"))
			c.rewritten = v;
		else if (!strcmp(line, "kept-shared"))
			c.shared = v;
		else if (!strcmp(line, "kept-table-full"))
			c.full = v;
		else if (!strcmp(line, "enosys-by-fault"))
			c.enosys = v;
		else if (!strcmp(line, "stray-calls"))
			c.stray = v;
	}
	if (c.on < 0 || c.trapped < 0 || c.fast < 0 || c.rewritten < 0 || c.shared < 0 || c.full < 0 ||
	    c.enosys < 0 || c.stray < 0) {
		printf("FAIL counters: /proc/nabla_syscalls lacks a counter\n");
		exit(2);
	}
	return c;
}

/* "val PREFIX-trapped D" and so on: what changed from a to b. */
__attribute__((unused)) static void deltas(const char *prefix, struct counters a, struct counters b)
{
	char name[128];

#define DELTA(f, s)                                               \
	do {                                                      \
		snprintf(name, sizeof name, "%s-%s", prefix, s); \
		val(name, b.f - a.f);                             \
	} while (0)
	DELTA(trapped, "trapped");
	DELTA(fast, "fast");
	DELTA(rewritten, "rewritten");
	DELTA(shared, "kept-shared");
	DELTA(enosys, "enosys");
	DELTA(stray, "stray");
#undef DELTA
}

/* The two bytes at p, as "0f05". */
__attribute__((unused)) static const char *hex2(const void *p)
{
	static char s[2][8];
	static int k;
	const unsigned char *b = p;

	k ^= 1;
	snprintf(s[k], sizeof s[k], "%02x%02x", b[0], b[1]);
	return s[k];
}

#endif
