/*
 * The stack protector (-fstack-protector-strong
 * -mstack-protector-guard=global, the recipe's flags). With "smash" it
 * overruns a 16-byte stack buffer, so __stack_chk_fail must end it (exit
 * 255, a message). With "guard" it prints the canary, so a test can see
 * that it is random. Otherwise it runs a protected function normally.
 */
#include "lib.c"

extern uintptr_t __stack_chk_guard;

/* A protected function (it has a char array) copying n bytes into it. */
static __attribute__((noinline)) size_t copy_in(const char *src, size_t n)
{
	char buf[16];

	memset(buf, 0, sizeof(buf));
	memcpy(buf, src, n);
	return strlen(buf);
}

int solo5_app_main(const struct solo5_start_info *si)
{
	static const char text[64] = "a string much longer than the sixteen-byte buffer";

	if (streq(si->cmdline, "guard")) {
		printf_("guard %lx\n", (unsigned long)__stack_chk_guard);
	} else if (streq(si->cmdline, "smash")) {
		copy_in(text, strlen(si->cmdline) * 8); /* 40 bytes into 16 */
		return fail("the smashed stack went unnoticed");
	} else if (copy_in(text, 15) != 15) {
		return fail("copy_in");
	}
	puts_("SUCCESS\n");
	return SOLO5_EXIT_SUCCESS;
}
