/*
 * Device names as long as Solo5 allows (67 characters): acquires the
 * block device with the longest name, and checks that a prefix of it is
 * another name. Prints SUCCESS.
 */
#include "lib.c"

#define LONGEST "a_device_name_of_sixty_seven_characters_the_longest_solo5_allows_xy"

int solo5_app_main(const struct solo5_start_info *si)
{
	struct solo5_block_info bi;
	solo5_handle_t h;

	(void)si;
	if (strlen(LONGEST) != 67)
		return fail("the test's name is not 67 characters long");
	if (solo5_block_acquire("a_device_name_of_sixty_seven_characters_the_longest_solo5_allows_x", &h, &bi) ==
	    SOLO5_R_OK)
		return fail("a prefix of the name was acquired");
	if (solo5_block_acquire(LONGEST, &h, &bi) != SOLO5_R_OK)
		return fail("cannot acquire the device with the longest name");
	printf_("%s: handle %lu, %lu bytes\n", LONGEST, h, bi.capacity);
	puts_("SUCCESS\n");
	return SOLO5_EXIT_SUCCESS;
}
