/*
 * shared: code in a file mapped MAP_SHARED, PROT_READ|PROT_EXEC, whose
 * syscall site must keep trapping (the bytes are the page cache's, not
 * the process's), and the same file mapped MAP_PRIVATE (the process's own
 * copy on no-MMU: rewritten, the file unchanged).
 *
 *   shared make FILE        write FILE: 4096 bytes, `mov $39,%eax;
 *                           syscall; ret` (getpid) first, int3 after
 *                           (ftruncate to the size first: a no-MMU shared
 *                           mapping of a ramfs file needs it contiguous)
 *   shared run FILE N       map it MAP_SHARED and call it N times
 *   shared private FILE N   map it MAP_PRIVATE and call it N times
 */
#include "common.h"
#include <sys/mman.h>

static const unsigned char code[] = { 0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3 };

static int make(const char *path)
{
	unsigned char page[4096];
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0755);

	memset(page, 0xcc, sizeof page);
	memcpy(page, code, sizeof code);
	if (fd < 0 || ftruncate(fd, sizeof page) || pwrite(fd, page, sizeof page, 0) != sizeof page || close(fd)) {
		printf("FAIL shared-make: %s: %s\n", path, strerror(errno));
		return 2;
	}
	printf("ok shared-make\n");
	return 0;
}

static int run(const char *path, long n, int flags, const char *name)
{
	char what[64], file[8];
	long pid = getpid(), wrong = 0, first = 0;
	int fd = open(path, O_RDONLY);
	unsigned char *p;
	struct counters a, b;

	if (fd < 0) {
		printf("FAIL %s-open: %s: %s\n", name, path, strerror(errno));
		return 2;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, flags, fd, 0);
	snprintf(what, sizeof what, "%s-mmap", name);
	check(p != MAP_FAILED, what, "mmap of %s, PROT_READ|PROT_EXEC: %s", path, strerror(errno));
	if (p == MAP_FAILED)
		return summary(name);
	val("shared-rewriting", counters().on);
	snprintf(what, sizeof what, "%s-bytes-before", name);
	sval(what, hex2(p + 5));
	a = counters();
	for (long i = 0; i < n; i++) {
		long r = ((long (*)(void))(void *)p)();

		if (r != pid && !wrong++)
			first = r;
	}
	b = counters();
	snprintf(what, sizeof what, "%s-bytes-after", name);
	sval(what, hex2(p + 5));
	snprintf(what, sizeof what, "%s-results", name);
	check(!wrong, what, "%ld of %ld calls did not return the pid %ld (the first: %ld)", wrong, n, pid, first);
	snprintf(what, sizeof what, "%s-file-bytes", name);
	check(pread(fd, file, 2, 5) == 2 && !memcmp(file, "\x0f\x05", 2), what, "the file reads %s at 5, not 0f05",
	      hex2(file));
	deltas(name, a, b);
	munmap(p, 4096);
	close(fd);
	return summary(name);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "make"))
		return make(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "run"))
		return run(argv[2], atol(argv[3]), MAP_SHARED, "shared");
	if (argc == 4 && !strcmp(argv[1], "private"))
		return run(argv[2], atol(argv[3]), MAP_PRIVATE, "private");
	fprintf(stderr, "usage: shared make FILE | run FILE N | private FILE N\n");
	return 2;
}
