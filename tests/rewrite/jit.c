/*
 * jit: code written at run time into an anonymous RWX page and called,
 * as a JIT compiler does. Each phase calls the page N times (default
 * 100,000) and checks the results; "val jit-P-..." says what phase P did
 * to the counters and the site's bytes.
 *
 *   a  `mov $39,%eax; syscall; ret` (getpid), the syscall at offset 5
 *   b  the whole sequence written afresh with `mov $110,%eax` (getppid):
 *      a new 0f 05 where the rewritten site was, which traps once again
 *   c  only the immediate changed back to 39, the site's bytes left as
 *      they are (ff d0 if the kernel rewrote them): getpid again
 *   d  a new layout, a nop first: the syscall at offset 6 (getppid)
 *   e  the page unmapped, a new one mapped and written with getpid
 *
 *   jit [N]
 */
#include "common.h"
#include <sys/mman.h>

typedef long (*fn)(void);
static long n = 100000;

/* Write code to p; the empty asm keeps the compiler from reordering
 * the copy after the call. */
static void emit(unsigned char *p, const unsigned char *code, size_t len)
{
	memcpy(p, code, len);
	__asm__ volatile("" ::: "memory");
}

static void phase(const char *name, unsigned char *page, int site, long want)
{
	char what[64];
	long wrong = 0, first = 0;
	struct counters a, b;

	snprintf(what, sizeof what, "jit-%s-bytes-before", name);
	sval(what, hex2(page + site));
	a = counters();
	for (long i = 0; i < n; i++) {
		long r = ((fn)(void *)page)();

		if (r != want && !wrong++)
			first = r;
	}
	b = counters();
	snprintf(what, sizeof what, "jit-%s-bytes-after", name);
	sval(what, hex2(page + site));
	snprintf(what, sizeof what, "jit-%s-results", name);
	check(!wrong, what, "%ld of %ld calls did not return %ld (the first: %ld)", wrong, n, want, first);
	snprintf(what, sizeof what, "jit-%s", name);
	deltas(what, a, b);
}

static unsigned char *rwx_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		printf("FAIL jit-mmap: an anonymous RWX page: %s\n", strerror(errno));
		exit(2);
	}
	return p;
}

int main(int argc, char **argv)
{
	static const unsigned char getpid_code[] = { 0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3 };
	static const unsigned char getppid_code[] = { 0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0xc3 };
	static const unsigned char getppid_at6[] = { 0x90, 0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0xc3 };
	long pid = getpid(), ppid = getppid();
	unsigned char *page;

	if (argc > 1)
		n = atol(argv[1]);
	val("jit-rewriting", counters().on);
	page = rwx_page();
	memset(page, 0xcc, 4096);
	emit(page, getpid_code, sizeof getpid_code);
	phase("a", page, 5, pid);
	emit(page, getppid_code, sizeof getppid_code);
	phase("b", page, 5, ppid);
	page[1] = 39;
	__asm__ volatile("" ::: "memory");
	phase("c", page, 5, pid);
	emit(page, getppid_at6, sizeof getppid_at6);
	phase("d", page, 6, ppid);
	munmap(page, 4096);
	page = rwx_page();
	emit(page, getpid_code, sizeof getpid_code);
	phase("e", page, 5, pid);
	return summary("jit");
}
