/* A Solo5 unikernel: prints its command line, then SUCCESS. */
#include "solo5.h"

static size_t length(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static void puts_(const char *s)
{
	solo5_console_write(s, length(s));
}

int solo5_app_main(const struct solo5_start_info *si)
{
	puts_("Hello from a Solo5 C unikernel! Command line: \"");
	puts_(si->cmdline);
	puts_("\"\n");
	if (si->heap_size < 4096) {
		puts_("heap too small\n");
		return SOLO5_EXIT_FAILURE;
	}
	puts_("SUCCESS\n");
	return SOLO5_EXIT_SUCCESS;
}
