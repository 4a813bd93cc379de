/*
 * The small libc of the C test guests, included by each of them (as a
 * Solo5 unikernel carries its own): memcpy, memmove, memset, memcmp and
 * strlen with external linkage, which the platform library must not
 * collide with, and a printf over solo5_console_write (va_list from
 * solo5.h alone).
 */
#include "solo5.h"

/* Keep GCC from turning these loops back into calls to themselves. */
#define LIBC __attribute__((optimize("no-tree-loop-distribute-patterns")))
/* Not every test uses every helper. */
#define HELPER static __attribute__((unused))

LIBC void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

LIBC void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

LIBC void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

LIBC int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

LIBC size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

HELPER bool streq(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && memcmp(a, b, n) == 0;
}

HELPER void puts_(const char *s)
{
	solo5_console_write(s, strlen(s));
}

HELPER void put_unsigned(unsigned long v, unsigned base)
{
	char buf[24];
	size_t i = sizeof(buf);

	do {
		buf[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	solo5_console_write(buf + i, sizeof(buf) - i);
}

/* %s %c %d %u %x %lu %lx %ld and %%: enough for the tests. */
HELPER void printf_(const char *fmt, ...)
{
	va_list ap;
	bool is_long;
	long v;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			solo5_console_write(fmt, 1);
			continue;
		}
		fmt++;
		is_long = *fmt == 'l';
		if (is_long)
			fmt++;
		switch (*fmt) {
		case 's':
			puts_(va_arg(ap, const char *));
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);

			solo5_console_write(&c, 1);
			break;
		}
		case 'd':
			v = is_long ? va_arg(ap, long) : va_arg(ap, int);
			if (v < 0) {
				puts_("-");
				v = -v;
			}
			put_unsigned((unsigned long)v, 10);
			break;
		case 'u':
		case 'x':
			put_unsigned(is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned),
				     *fmt == 'u' ? 10 : 16);
			break;
		case '%':
			puts_("%");
			break;
		default:
			puts_("?");
			break;
		}
	}
	va_end(ap);
}

HELPER int fail(const char *why)
{
	printf_("FAILURE: %s\n", why);
	return SOLO5_EXIT_FAILURE;
}
