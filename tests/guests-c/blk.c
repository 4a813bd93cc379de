/*
 * A Solo5 unikernel using block device "storage", of any block size:
 * writes a pattern over the whole disk one block per call (as Solo5
 * allows), reads it back, and checks that bad requests fail. The buffers
 * are on the heap. Prints SUCCESS.
 */
#include "lib.c"

static uint8_t pattern(solo5_off_t off, size_t i)
{
	return (uint8_t)((off / 512) * 7 + i * 13 + 1);
}

int solo5_app_main(const struct solo5_start_info *si)
{
	struct solo5_block_info bi;
	solo5_handle_t h, h2;
	uint8_t *wbuf, *rbuf;
	solo5_off_t off;
	size_t i, bs;

	if (solo5_block_acquire("storage", &h, &bi) != SOLO5_R_OK)
		return fail("cannot acquire storage");
	if (solo5_block_acquire("storage", &h2, &bi) == SOLO5_R_OK)
		return fail("storage acquired twice");
	bs = bi.block_size;
	printf_("storage: %lu bytes, %lu-byte blocks\n", bi.capacity, bs);
	if (bs < 512 || (bs & (bs - 1)) != 0)
		return fail("block size is not a power of two from 512");
	if (si->heap_size < 2 * bs)
		return fail("heap too small for two blocks");
	wbuf = (uint8_t *)si->heap_start;
	rbuf = wbuf + bs;
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
	    solo5_block_read(h, bi.capacity - bs, rbuf, 2 * bs) == SOLO5_R_OK ||
	    solo5_block_read(h, bs / 2, rbuf, bs) == SOLO5_R_OK ||
	    solo5_block_read(h, 512 - 1, rbuf, bs) == SOLO5_R_OK ||
	    solo5_block_write(h, 0, wbuf, bs - 1) == SOLO5_R_OK ||
	    solo5_block_write(h, 0, wbuf, bs + 1) == SOLO5_R_OK ||
	    (bs > 512 && solo5_block_write(h, 0, wbuf, 512) == SOLO5_R_OK))
		return fail("bad request accepted");
	puts_("SUCCESS\n");
	return SOLO5_EXIT_SUCCESS;
}
