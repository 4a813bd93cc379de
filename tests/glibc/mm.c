/*
 * mm: what a glibc program expects of the kernel's memory calls and of its
 * start, checked from inside the guest (tests/tests/linux_memory.rs builds
 * it with the host's gcc, dynamic and static-pie, and runs both).
 *
 * Each check prints "ok NAME" or "FAIL NAME: detail"; the last line is
 * "mm: N passed, M failed". The test wants no FAIL line. It also runs
 * natively, where the same checks hold except the no-MMU ones (MAP_FIXED
 * outside one's own mappings, across a mapping's end or into a hole
 * refused, mremap without room failing, a reservation refused, PROT_NONE
 * memory still readable, the memory a thread costs, fork failing), which
 * run only with the argument "nommu" that the test passes in the guest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed, nommu;
static char pattern_path[4096];

static void check(int ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		printf("ok %s\n", name);
		passed++;
		return;
	}
	va_list ap;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed++;
}

static int all(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static void auxv(const char *argv0)
{
	const unsigned char *r = (const void *)getauxval(AT_RANDOM);
	const char *fn = (const char *)getauxval(AT_EXECFN);
	const char *plat = (const char *)getauxval(AT_PLATFORM);

	check(r && !all(r, 16, 0), "auxv-random", "AT_RANDOM %p", (void *)r);
	check(getauxval(AT_PAGESZ) == 4096, "auxv-pagesz", "%lu", getauxval(AT_PAGESZ));
	check(getauxval(AT_CLKTCK) == 100, "auxv-clktck", "%lu", getauxval(AT_CLKTCK));
	check(getauxval(AT_PHDR) && getauxval(AT_PHENT) == 56 && getauxval(AT_PHNUM) > 2, "auxv-phdr",
	      "phdr %lx phent %lu phnum %lu", getauxval(AT_PHDR), getauxval(AT_PHENT), getauxval(AT_PHNUM));
	check(getauxval(AT_ENTRY) != 0, "auxv-entry", "0");
	check(getauxval(AT_HWCAP) != 0, "auxv-hwcap", "0");
	errno = 0;
	getauxval(AT_HWCAP2);
	check(errno == 0, "auxv-hwcap2", "absent");
	check(getauxval(AT_UID) == getuid() && getauxval(AT_EUID) == geteuid() && getauxval(AT_GID) == getgid() &&
		      getauxval(AT_EGID) == getegid(),
	      "auxv-ids", "uid %lu", getauxval(AT_UID));
	check(getauxval(AT_SECURE) == 0, "auxv-secure", "%lu", getauxval(AT_SECURE));
	check(fn && strcmp(fn, argv0) == 0, "auxv-execfn", "%s vs %s", fn ? fn : "(null)", argv0);
	check(plat && strcmp(plat, "x86_64") == 0, "auxv-platform", "%s", plat ? plat : "(null)");
	check(getauxval(AT_MINSIGSTKSZ) >= 1024 && getauxval(AT_MINSIGSTKSZ) <= 65536, "auxv-minsigstksz", "%lu",
	      getauxval(AT_MINSIGSTKSZ));
}

/* A file of known bytes: byte i is (i * 7 + i / 4096) & 0xff. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 4096);
}

static int pattern_file(const char *path, size_t n)
{
	unsigned char *b = malloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = pattern(i);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, b, n) != (ssize_t)n)
		return -1;
	free(b);
	return fd;
}

/* An address no mapping of ours holds right now: the middle of three
 * pages, unmapped. Use it before the next mmap, which may take it. */
static void *hole(void)
{
	unsigned char *h = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED || munmap(h + 4096, 4096) != 0)
		return NULL;
	return h + 4096;
}

/*
 * MAP_FIXED inside one's own mappings, into anonymous memory and into a
 * private mapping of a file (which no-MMU makes a copy of the process's
 * own, on a disk as on a tmpfs).
 */
static void map_fixed(void)
{
	const size_t span = 64 * 1024;
	unsigned char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		check(0, "fixed-anon", "mmap: %s", strerror(errno));
		return;
	}
	memset(p, 0xaa, span);
	void *q = mmap(p + 16384, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check(q == p + 16384 && all(p + 16384, 8192, 0) && all(p, 16384, 0xaa) && all(p + 24576, span - 24576, 0xaa),
	      "fixed-anon", "%p (want %p): %s", q, (void *)(p + 16384), q == MAP_FAILED ? strerror(errno) : "bytes");

	/* A file's bytes into the range, zeroes past its end (40000 bytes;
	 * the last page, from 36864). */
	int fd = pattern_file(pattern_path, 40000);
	q = mmap(p + 4096, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 36864);
	int ok = q == p + 4096;
	for (size_t i = 0; ok && i < 4096; i++)
		ok = p[4096 + i] == (36864 + i < 40000 ? pattern(36864 + i) : 0);
	check(ok && all(p, 4096, 0xaa) && all(p + 8192, 8192, 0xaa), "fixed-file", "%p: %s", q,
	      q == MAP_FAILED ? strerror(errno) : "bytes");

	/* The loader's pattern: the whole span from the file, then a
	 * segment again at another offset, then zeroes for bss. */
	unsigned char *l = mmap(NULL, 8 * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	ok = l != MAP_FAILED && l[100] == pattern(100) && l[8 * 4096 - 1] == pattern(8 * 4096 - 1);
	q = ok ? mmap(l + 4 * 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 4096) : MAP_FAILED;
	ok = ok && q == l + 4 * 4096 && l[4 * 4096 + 5] == pattern(4096 + 5);
	q = ok ? mmap(l + 5 * 4096, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0)
	       : MAP_FAILED;
	ok = ok && q == l + 5 * 4096 && all(l + 5 * 4096, 3 * 4096, 0);
	check(ok, "fixed-loader", "%s", q == MAP_FAILED ? strerror(errno) : "bytes");
	check(ok && mprotect(l + 4 * 4096, 4096, PROT_READ) == 0, "mprotect-relro", "%s", strerror(errno));
	check(ok && munmap(l, 8 * 4096) == 0, "munmap-whole", "%s", strerror(errno));

	/* Outside the caller's mappings: still refused. */
	if (nommu) {
		errno = 0;
		q = mmap(hole(), 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		check(q == MAP_FAILED && errno == EINVAL, "fixed-outside", "%p errno %d", q, errno);
		errno = 0;
		q = mmap(p + span - 4096, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		check(q == MAP_FAILED && errno == EINVAL, "fixed-across-end", "%p errno %d", q, errno);
	}

	/* mprotect: own ranges succeed, unmapped ones fail. */
	check(mprotect(p, span, PROT_READ) == 0 && mprotect(p, span, PROT_READ | PROT_WRITE) == 0, "mprotect-own",
	      "%s", strerror(errno));
	/* glibc's _dl_make_stack_executable asks for the whole stack so;
	 * a mapping that is not a stack refuses it. */
	volatile char on_stack = 0;
	void *sp_page = (void *)((uintptr_t)&on_stack & ~(uintptr_t)4095);
	check(mprotect(sp_page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN) == 0 &&
		      mprotect(sp_page, 4096, PROT_READ | PROT_WRITE | PROT_GROWSDOWN) == 0,
	      "mprotect-growsdown", "%s", strerror(errno));
	errno = 0;
	check(mprotect(p, 4096, PROT_READ | PROT_GROWSDOWN) == -1 && errno == EINVAL, "mprotect-growsdown-not-stack",
	      "errno %d", errno);
	errno = 0;
	check(mprotect(hole(), 4096, PROT_READ) == -1 && errno == ENOMEM, "mprotect-unmapped", "errno %d", errno);
	if (nommu) {
		mprotect(p, 4096, PROT_NONE);
		check(p[0] == 0xaa, "mprotect-not-enforced", "0x%x", p[0]);
		mprotect(p, 4096, PROT_READ | PROT_WRITE);
	}

	/* munmap of a middle part, then of a part of a file copy. */
	check(munmap(p + 32768, 8192) == 0 && all(p + 24576, 8192, 0xaa) && all(p + 40960, span - 40960, 0xaa),
	      "munmap-middle", "%s", strerror(errno));
	if (nommu) {
		errno = 0;
		q = mmap(p + 32768, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		check(q == MAP_FAILED && errno == EINVAL, "fixed-into-hole", "%p errno %d", q, errno);
	}
	unsigned char *f = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	check(f != MAP_FAILED && munmap(f + 8192, 4096) == 0 && f[100] == pattern(100) && munmap(f, 4096) == 0 &&
		      f[4096 + 1] == pattern(4096 + 1),
	      "munmap-file-part", "%s", strerror(errno));

	/* madvise(MADV_DONTNEED): anonymous memory reads back as zeroes, a
	 * private file mapping as the file. */
	check(madvise(p + 40960, 8192, MADV_DONTNEED) == 0 && all(p + 40960, 8192, 0) && all(p + 49152, 4096, 0xaa),
	      "madvise-dontneed-anon", "%s", strerror(errno));
	unsigned char *g = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	memset(g, 0x55, 2 * 4096);
	check(madvise(g, 2 * 4096, MADV_DONTNEED) == 0 && g[4097] == pattern(4097) && g[5] == pattern(5),
	      "madvise-dontneed-file", "%s", strerror(errno));
	check(madvise(p, 4096, MADV_WILLNEED) == 0 && madvise(p, 4096, MADV_HUGEPAGE) == 0 &&
		      madvise(p, 4096, MADV_FREE) == 0,
	      "madvise-hints", "%s", strerror(errno));
	errno = 0;
	check(madvise(p, 4096, 12345) == -1 && errno == EINVAL, "madvise-bad", "errno %d", errno);
	errno = 0;
	check(madvise(hole(), 4096, MADV_DONTNEED) == -1 && errno == ENOMEM, "madvise-unmapped", "errno %d", errno);
	close(fd);
	unlink(pattern_path);
}

static void remap(void)
{
	size_t old = 1 << 20, new = 4 << 20;
	unsigned char *p = mmap(NULL, old, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < old; i += 4096)
		p[i] = (unsigned char)(i >> 12);
	unsigned char *q = mremap(p, old, new, MREMAP_MAYMOVE);
	int ok = q != MAP_FAILED;
	for (size_t i = 0; ok && i < old; i += 4096)
		ok = q[i] == (unsigned char)(i >> 12);
	check(ok && all(q + old, new - old, 0), "mremap-grow", "%s", q == MAP_FAILED ? strerror(errno) : "bytes");
	if (nommu) {
		errno = 0;
		void *r = mremap(q, new, 16 << 20, 0);
		check(r == MAP_FAILED && errno == ENOMEM, "mremap-in-place", "%p errno %d", r, errno);
	}
	check(mremap(q, new, old, 0) == q, "mremap-shrink", "%s", strerror(errno));
	/* Grown again, the shrunk part reads as zeroes, not its old bytes. */
	memset(q, 9, old);
	unsigned char *g = mremap(q, old, 2 * old, MREMAP_MAYMOVE);
	check(g != MAP_FAILED && g[old - 1] == 9 && all(g + old, old, 0), "mremap-regrow", "%s",
	      g == MAP_FAILED ? strerror(errno) : "bytes");
	check(g != MAP_FAILED && munmap(g, 2 * old) == 0, "mremap-unmap", "%s", strerror(errno));

	/* realloc of an mmapped block (glibc's mremap_chunk). */
	char *b = malloc(1 << 20);
	memset(b, 3, 1 << 20);
	b = realloc(b, 8 << 20);
	check(b && b[(1 << 20) - 1] == 3, "realloc-big", "lost");
	free(b);
}

static void reservation(void)
{
	if (!nommu)
		return;
	errno = 0;
	void *r = mmap(NULL, 64 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	check(r == MAP_FAILED && errno == ENOMEM, "reservation-refused", "%p errno %d", r, errno);
	r = mmap(NULL, 64 << 10, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	check(r != MAP_FAILED && munmap(r, 64 << 10) == 0, "small-reservation", "%s", strerror(errno));
}

#define THREADS 8
static pthread_barrier_t started, measured;

static void *worker(void *arg)
{
	/* malloc from the thread: small blocks, then a big one. */
	void *small[50];
	for (int i = 0; i < 50; i++)
		memset(small[i] = malloc(64 + i), i, 64 + i);
	char *big = malloc(256 << 10);
	memset(big, 1, 256 << 10);
	pthread_barrier_wait(&started);
	pthread_barrier_wait(&measured);
	for (int i = 0; i < 50; i++)
		free(small[i]);
	free(big);
	return arg;
}

static long mem_free_kib(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemFree: %ld kB", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static void threads(void)
{
	pthread_t t[THREADS];
	pthread_barrier_init(&started, NULL, THREADS + 1);
	pthread_barrier_init(&measured, NULL, THREADS + 1);
	long before = mem_free_kib();
	int made = 0;
	for (long i = 0; i < THREADS; i++)
		made += pthread_create(&t[i], NULL, worker, (void *)i) == 0;
	if (made != THREADS) {
		check(0, "threads", "%d of %d created", made, THREADS);
		return;
	}
	pthread_barrier_wait(&started);
	long during = mem_free_kib();
	pthread_barrier_wait(&measured);
	int joined = 0;
	for (long i = 0; i < THREADS; i++) {
		void *r;
		joined += pthread_join(t[i], &r) == 0 && r == (void *)i;
	}
	check(joined == THREADS, "threads", "%d joined", joined);
	long per = (before - during) / THREADS;
	printf("mm: threads: %d, memory per thread %ld KiB\n", THREADS, per);
	/* A thread is its stack (the 1 MiB limit), its blocks (256 KiB and
	 * 50 small ones, a page each: glibc serves a thread whose arena
	 * reservation was refused from mapped chunks) and little else: not a
	 * 64 MiB arena, not an 8 MiB stack. */
	if (nommu)
		check(per > 0 && per < 2048, "thread-memory", "%ld KiB per thread", per);
}

static void children(void)
{
	/* vfork + exec, as posix_spawn makes it. */
	pid_t pid = vfork();
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	int st = -1;
	check(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "vfork-exec",
	      "pid %d status %d", pid, st);
	if (nommu) {
		errno = 0;
		pid = fork();
		if (pid == 0)
			_exit(0);
		check(pid == -1 && errno != 0, "fork-fails", "pid %d errno %d", pid, errno);
	}
}

int main(int argc, char **argv)
{
	nommu = argc > 1 && strcmp(argv[1], "nommu") == 0;
	/* The file for the file-mapping checks sits next to the program, on
	 * the file system it runs from. */
	const char *slash = strrchr(argv[0], '/');
	snprintf(pattern_path, sizeof(pattern_path), "%.*s/mm-pattern", slash ? (int)(slash - argv[0]) : 1,
		 slash ? argv[0] : ".");
	setvbuf(stdout, NULL, _IOLBF, 0);
	auxv(argv[0]);
	map_fixed();
	remap();
	reservation();
	threads();
	children();
	printf("mm: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
