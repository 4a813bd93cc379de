/*
 * Solo5's TLS API with compiler-generated TLS: __thread variables in
 * .tdata (initialised) and .tbss (zero), one of them 64-byte aligned, in
 * two "threads" areas (one static, one on the heap, misaligned and full of
 * garbage), switching between them with solo5_set_tls_base. Prints
 * SUCCESS. With the argument "notls" it touches a thread variable before
 * setting any TLS base, which must fault.
 */
#include "lib.c"

__thread long counter = 0xC0FFEE;
__thread char greeting[16] = "thread-local";
__thread long zeroed;
__thread char big[300];
__thread _Alignas(64) long aligned = 7;

static uint8_t area1[512];

/*
 * The compiler takes the thread pointer for a constant within a function,
 * so every access to a thread variable after a switch is made in a
 * function of its own that it may not inline or analyse.
 */
#define FRESH_CALL __attribute__((noipa))

static uintptr_t thread_pointer(void)
{
	uintptr_t tp;

	__asm__ volatile("mov %%fs:0, %0" : "=r"(tp));
	return tp;
}

static bool inside(const void *p, uintptr_t tls, size_t size)
{
	return (uintptr_t)p >= tls && (uintptr_t)p + sizeof(long) <= tls + size;
}

/* Does the current thread have the initial values, in its block? */
FRESH_CALL static bool fresh(uintptr_t tls, size_t size)
{
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		if (big[i] != 0)
			return false;
	return counter == 0xC0FFEE && zeroed == 0 && aligned == 7 && streq(greeting, "thread-local") &&
	       ((uintptr_t)&aligned & 63) == 0 && inside(&counter, tls, size) && inside(&big[299], tls, size) &&
	       inside(&aligned, tls, size) && inside(&zeroed, tls, size);
}

FRESH_CALL static void set_values(long c, long z, long a, char b, char g)
{
	counter = c;
	zeroed = z;
	aligned = a;
	big[299] = b;
	greeting[0] = g;
}

FRESH_CALL static bool has_values(long c, long z, long a, char b, char g)
{
	return counter == c && zeroed == z && aligned == a && big[299] == b && greeting[0] == g;
}

FRESH_CALL static long read_counter(void)
{
	return counter;
}

static int switch_to(uintptr_t tls)
{
	if (solo5_set_tls_base(solo5_tls_tp_offset(tls)) != SOLO5_R_OK)
		return fail("solo5_set_tls_base failed");
	if (thread_pointer() != solo5_tls_tp_offset(tls))
		return fail("%fs:0 does not hold the thread pointer");
	return 0;
}

int solo5_app_main(const struct solo5_start_info *si)
{
	size_t size = solo5_tls_size();
	uintptr_t t1 = (uintptr_t)area1, t2 = si->heap_start + 3;

	if (streq(si->cmdline, "notls")) {
		printf_("counter before any TLS base: %lx\n", read_counter());
		return fail("reading TLS without a base did not fault");
	}
	printf_("TLS block: %lu bytes\n", size);
	if (size < 300 + 16 + 3 * sizeof(long) || size > sizeof(area1))
		return fail("unexpected solo5_tls_size");
	if (solo5_tls_init(0) != SOLO5_R_EINVAL)
		return fail("solo5_tls_init(0) accepted");
	memset((void *)si->heap_start, 0xee, size + 3);
	if (solo5_tls_init(t1) != SOLO5_R_OK || solo5_tls_init(t2) != SOLO5_R_OK)
		return fail("solo5_tls_init failed");

	if (switch_to(t1))
		return 1;
	if (!fresh(t1, size))
		return fail("thread 1 starts with wrong values, or outside its block");
	set_values(1, 11, 111, 'x', 'T');
	if (switch_to(t2))
		return 1;
	if (!fresh(t2, size))
		return fail("thread 2 starts with wrong values (is .tbss zeroed?), or outside its block");
	set_values(2, 22, 222, 'y', 'U');
	if (switch_to(t1))
		return 1;
	if (!has_values(1, 11, 111, 'x', 'T'))
		return fail("thread 1 lost its values");
	if (switch_to(t2))
		return 1;
	if (!has_values(2, 22, 222, 'y', 'U'))
		return fail("thread 2 lost its values");
	puts_("SUCCESS\n");
	return SOLO5_EXIT_SUCCESS;
}
