/*
 * A Solo5 unikernel using block device "storage": writes a pattern over
 * the whole disk one block per call (as Solo5 allows), reads it back, and
 * checks that bad requests fail. Prints SUCCESS.
 */
#include "solo5.h"

static uint8_t wbuf[4096], rbuf[4096];

static size_t length(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static int fail(const char *why)
{
	solo5_console_write(why, length(why));
	solo5_console_write("\n", 1);
	return SOLO5_EXIT_FAILURE;
}

static uint8_t pattern(solo5_off_t off, size_t i)
{
	return (uint8_t)((off / 512) * 7 + i * 13 + 1);
}

int solo5_app_main(const struct solo5_start_info *si)
{
	struct solo5_block_info bi;
	solo5_handle_t h, h2;
	solo5_off_t off;
	size_t i, bs;

	(void)si;
	if (solo5_block_acquire("storage", &h, &bi) != SOLO5_R_OK)
		return fail("cannot acquire storage");
	if (solo5_block_acquire("storage", &h2, &bi) == SOLO5_R_OK)
		return fail("storage acquired twice");
	bs = bi.block_size;
	if (bs > sizeof(wbuf))
		return fail("block size too large");
	for (off = 0; off < bi.capacity; off += bs) {
		for (i = 0; i < bs; i++)
			wbuf[i] = pattern(off, i);
		if (solo5_block_write(h, off, wbuf, bs) != SOLO5_R_OK)
			return fail("write failed");
	}
	for (off = 0; off < bi.capacity; off += bs) {
		if (solo5_block_read(h, off, rbuf, bs) != SOLO5_R_OK)
			return fail("read failed");
		for (i = 0; i < bs; i++)
			if (rbuf[i] != pattern(off, i))
				return fail("data mismatch");
	}
	if (solo5_block_read(h, bi.capacity, rbuf, bs) == SOLO5_R_OK ||
	    solo5_block_read(h, 1, rbuf, bs) == SOLO5_R_OK ||
	    solo5_block_write(h, 0, wbuf, bs - 1) == SOLO5_R_OK)
		return fail("bad request accepted");
	solo5_console_write("SUCCESS\n", 8);
	return SOLO5_EXIT_SUCCESS;
}
