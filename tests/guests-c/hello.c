/*
 * A Solo5 unikernel: prints its command line and checks its heap, then
 * prints SUCCESS. It carries its own libc (lib.c), as Solo5 programs do.
 */
#include "lib.c"

int solo5_app_main(const struct solo5_start_info *si)
{
	bool heap_ok = si->heap_size >= 4096;

	printf_("Hello from a Solo5 C unikernel! Command line: \"%s\"\n", si->cmdline);
	if (!heap_ok)
		return fail("heap too small");
	/* The heap is ours: write its first and last pages. */
	memset((void *)si->heap_start, 0x5a, 4096);
	memset((void *)(si->heap_start + si->heap_size - 4096), 0xa5, 4096);
	puts_("SUCCESS\n");
	return SOLO5_EXIT_SUCCESS;
}
