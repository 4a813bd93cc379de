/*
 * The 4 KiB fsync benchmark of make bench (section disk-fsync), run as
 * the same static-pie both in the Linux guest (on an ext4 second disk)
 * and natively on the host (on the host file system that holds that
 * disk's image):
 *
 *   fsync FILE N
 *
 * creates (truncates) FILE, then N times appends 4 KiB and fsyncs it,
 * timing each write+fsync on the monotonic clock. Prints
 * "fsync N MEDIAN P10 P90" in microseconds per write+fsync.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static char buf[4096];
	double *t;
	long n, i;
	int fd;

	if (argc != 3 || (n = atol(argv[2])) < 1) {
		fprintf(stderr, "usage: fsync FILE N\n");
		return 2;
	}
	t = malloc(n * sizeof(*t));
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!t || fd < 0) {
		perror(argv[1]);
		return 1;
	}
	memset(buf, 0x5a, sizeof(buf));
	for (i = 0; i < n; i++) {
		double t0 = now_us();

		if (write(fd, buf, sizeof(buf)) != sizeof(buf) || fsync(fd)) {
			perror("write+fsync");
			return 1;
		}
		t[i] = now_us() - t0;
	}
	close(fd);
	qsort(t, n, sizeof(*t), cmp);
	printf("fsync %ld %.1f %.1f %.1f\n", n, t[(n - 1) / 2], t[(n - 1) / 10], t[(n - 1) * 9 / 10]);
	return 0;
}
