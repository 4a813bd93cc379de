/*
 * The spawn benchmark of make bench (section disk-spawn), run as the same
 * static-pie both in the Linux guest and natively on the host:
 *
 *   spawn N PATH [ARGV0 [ARG...]]
 *
 * N times posix_spawn(PATH) with argv { ARGV0 (default PATH), ARG... } and
 * the current environment, then waitpid it, checking that it exited 0.
 * Prints "spawn N US" in microseconds per spawn+wait (the mean over N).
 * In the guest PATH is /bin/true on the ext4 root (busybox's applet link;
 * musl's posix_spawn is a vfork-style clone there and on the host); the
 * linux-programs section runs it chrooted into Debian's programs tree on
 * Debian's /bin/true, perl -e 1 and python3 -c pass.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
	struct timespec a, b;
	char *path_only[2], **args;
	long n, i;

	if (argc < 3 || (n = atol(argv[1])) < 1) {
		fprintf(stderr, "usage: spawn N PATH [ARGV0 [ARG...]]\n");
		return 2;
	}
	/* argv[3..] as they are (argv ends with NULL), or { PATH, NULL }. */
	path_only[0] = argv[2];
	path_only[1] = NULL;
	args = argc >= 4 ? argv + 3 : path_only;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		pid_t pid;
		int st, e = posix_spawn(&pid, argv[2], NULL, NULL, args, environ);

		if (e) {
			fprintf(stderr, "posix_spawn %s: error %d\n", argv[2], e);
			return 1;
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "spawn: %s did not exit 0 (status %#x)\n", argv[2], st);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("spawn %ld %.1f\n", n, ((b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3) / n);
	return 0;
}
