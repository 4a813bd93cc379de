/*
 * nabla-big: a 1 MiB static-pie for the spawn-many mode of the test init.
 * It writes 16 bytes of its megabyte of data into the file argv[1] and
 * exits 0 (2 without an argument, 3..5 when the file cannot be written).
 */
#include <fcntl.h>
#include <unistd.h>

/* Initialised, so it is in the file: the program is 1 MiB on disk. */
static const char pad[1 << 20] = {'n', 'a', 'b', 'l', 'a', '-', 'b', 'i', 'g', '\n'};

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return 3;
	if (write(fd, pad + (argc - 2), 16) != 16)
		return 4;
	return close(fd) == 0 ? 0 : 5;
}
