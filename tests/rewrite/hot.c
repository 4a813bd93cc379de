/*
 * hot: one syscall site of the program's own (getpid in assembly, with a
 * global label on its `syscall` so the program can read the site's
 * bytes) called N times (default 1,000,000). Prints the site's bytes
 * before the first call and after the loop, and what the loop did to the
 * kernel's counters; checks that every call returned the pid.
 *
 *   hot [N]
 */
#include "common.h"

long hot_getpid(void);
extern const unsigned char hot_site[];
__asm__(".text\n"
	".globl hot_getpid\n"
	".type hot_getpid, @function\n"
	"hot_getpid:\n"
	"	mov $39, %eax\n"
	".globl hot_site\n"
	"hot_site:\n"
	"	syscall\n"
	"	ret\n"
	".size hot_getpid, . - hot_getpid\n");

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000, wrong = 0, first = 0;
	long pid = getpid();
	struct counters a, b;

	sval("hot-bytes-before", hex2(hot_site));
	a = counters();
	for (long i = 0; i < n; i++) {
		long r = hot_getpid();

		if (r != pid && !wrong++)
			first = r;
	}
	b = counters();
	sval("hot-bytes-after", hex2(hot_site));
	check(wrong == 0, "hot-results", "%ld of %ld calls did not return the pid %ld (the first: %ld)", wrong, n,
	      pid, first);
	val("hot-calls", n);
	val("hot-rewriting", a.on);
	deltas("hot", a, b);
	return summary("hot");
}
