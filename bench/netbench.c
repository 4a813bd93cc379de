/*
 * netbench: the TCP throughput and latency tool of make bench (sections
 * linux-net-tcp and linux-net-rr), run as the same musl static-pie in the
 * Linux guest and natively on the host (between two network namespaces,
 * the baseline). Our own, instead of iperf3: the guest has no MMU (no
 * fork, no threads needed) and we want the same binary on both sides.
 *
 *   netbench server [-1] PORT
 *   netbench client HOST PORT send|recv|rr STREAMS SECONDS
 *
 * The server listens on PORT (all IPv4 addresses), prints "READY PORT"
 * once listening, and serves any number of connections at once; with -1
 * it exits after one client session (all STREAMS connections of the
 * first client done). The client opens STREAMS connections to HOST (an
 * IPv4 address) and starts each with a HDR_LEN-byte header "netbench
 * MODE STREAMS SECONDS" (NUL-padded), then, for SECONDS seconds:
 *
 *   send  client -> server: the client writes BUF_LEN-byte buffers, then
 *         shuts down its side; the server counts what it read and, at
 *         end of stream, answers "bytes N\n" and closes. Throughput: the
 *         bytes the server read / (last answer - start).
 *   recv  server -> client: the server writes BUF_LEN-byte buffers for
 *         SECONDS, then shuts down its side; the client reads to end of
 *         stream. Throughput: bytes read / (last end of stream - start).
 *   rr    1-byte request, 1-byte response (TCP_NODELAY on both sides),
 *         one request in flight per stream; each round trip is timed.
 *
 * The client prints one result line:
 *
 *   stream MBIT M streams N secs S bytes B        (send, recv; 10^6 bit/s)
 *   rr US MEDIAN mean MEAN p90 P90 n COUNT tps T  (rr; microseconds)
 *
 * Design: one thread, one poll() loop over non-blocking sockets (the
 * listening one and every connection), on both sides; no fork. Round
 * trips go into a histogram of RTT_BUCKET_NS buckets up to RTT_MAX_NS
 * (longer ones count in the last bucket; the mean uses exact sums), so
 * memory stays fixed however many there are.
 *
 * Limits: IPv4 only, numeric addresses (no resolver in the guest); at
 * most MAX_CONNS connections per server, MAX_STREAMS per client; the
 * clock is CLOCK_MONOTONIC read once per buffer or round trip (in the
 * guest each read is a trapped syscall: a few microseconds of every
 * round trip are the clock's). The client gives up with an error when
 * nothing moves for STALL_MS.
 *
 * Exit codes: 0 done, 1 a run-time error (connect, I/O, stall), 2 bad
 * arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HDR_LEN 64		/* bytes of the connection header */
#define BUF_LEN (128 * 1024)	/* bytes per write and read in streams */
#define MAX_CONNS 64		/* connections one server serves at once */
#define MAX_STREAMS 32		/* connections of one client */
#define MAX_SECONDS 3600
#define STALL_MS 10000		/* client: error after this long idle */
#define RTT_BUCKET_NS 100
#define RTT_MAX_NS 10000000	/* 10 ms: the histogram's range */
#define RTT_BUCKETS (RTT_MAX_NS / RTT_BUCKET_NS)

enum mode { SEND, RECV, RR };
static const char *const mode_names[] = { "send", "recv", "rr" };

static char buf[BUF_LEN];

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("netbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(const char *why)
{
	fprintf(stderr, "netbench: %s\n"
		"usage: netbench server [-1] PORT\n"
		"       netbench client HOST PORT send|recv|rr STREAMS SECONDS\n", why);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A decimal number in [lo, hi], else -1. */
static long number(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	return v;
}

static int parse_mode(const char *s)
{
	for (int m = SEND; m <= RR; m++)
		if (!strcmp(s, mode_names[m]))
			return m;
	return -1;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die("fcntl O_NONBLOCK: %s", strerror(errno));
}

static void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("setsockopt TCP_NODELAY: %s", strerror(errno));
}

static int would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* ---- server ---- */

struct conn {
	int fd;
	char hdr[HDR_LEN];
	int got;		/* header bytes read; HDR_LEN once started */
	enum mode mode;
	double end;		/* recv: when to stop writing */
	int shut;		/* recv: our side shut down */
	unsigned long long bytes;
};

static int server_listen(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind port %d: %s", port, strerror(errno));
	if (listen(fd, MAX_CONNS) < 0)
		die("listen: %s", strerror(errno));
	set_nonblock(fd);
	return fd;
}

/* Parses a complete header into c; 0 on success, else -1. */
static int start_conn(struct conn *c, long *streams)
{
	char h[HDR_LEN + 1], m[8];
	long n, s;
	int mode;

	memcpy(h, c->hdr, HDR_LEN);
	h[HDR_LEN] = 0;
	if (sscanf(h, "netbench %7s %ld %ld", m, &n, &s) != 3 || (mode = parse_mode(m)) < 0 ||
	    n < 1 || n > MAX_STREAMS || s < 1 || s > MAX_SECONDS)
		return -1;
	c->mode = mode;
	c->end = now_s() + s;
	if (mode == RR)
		set_nodelay(c->fd);
	*streams = n;
	return 0;
}

/* Serves one poll event on c at time t (read after the poll, only when
 * a recv connection needs it); returns 1 when c is finished (closed). */
static int serve(struct conn *c, short rev, double t, long *streams)
{
	ssize_t r;

	if (c->got < HDR_LEN) {
		r = read(c->fd, c->hdr + c->got, HDR_LEN - c->got);
		if (r < 0 && would_block())
			return 0;
		if (r <= 0)
			return 1;	/* closed before its header: nothing to serve */
		c->got += r;
		if (c->got == HDR_LEN && start_conn(c, streams) < 0) {
			fprintf(stderr, "netbench: bad connection header, closing it\n");
			return 1;
		}
		return 0;
	}
	switch (c->mode) {
	case SEND:
		/* One read per event, so that one busy stream cannot starve others. */
		r = read(c->fd, buf, BUF_LEN);
		if (r > 0)
			c->bytes += r;
		if (r > 0 || (r < 0 && would_block()))
			return 0;
		if (r == 0) {
			char ans[32];
			int n = snprintf(ans, sizeof(ans), "bytes %llu\n", c->bytes);

			/* The socket's send buffer is empty: it takes the line whole. */
			if (send(c->fd, ans, n, MSG_NOSIGNAL) != n)
				fprintf(stderr, "netbench: cannot answer: %s\n", strerror(errno));
		}
		return 1;
	case RECV:
		if (rev & POLLIN) {
			r = read(c->fd, buf, BUF_LEN);
			if (r == 0 || (r < 0 && !would_block()))
				return 1;	/* the client is done (or gone) */
		}
		if (!c->shut && (rev & POLLOUT)) {
			if (t >= c->end) {
				shutdown(c->fd, SHUT_WR);
				c->shut = 1;
			} else if ((r = send(c->fd, buf, BUF_LEN, MSG_NOSIGNAL)) < 0 && !would_block()) {
				return 1;
			}
		}
		return 0;
	case RR: {
		/* One read per event (poll is level-triggered): no extra read
		 * that only says EAGAIN, a trapped syscall in the guest. */
		char q[64];

		r = read(c->fd, q, sizeof(q));
		if (r < 0 && would_block())
			return 0;
		if (r <= 0)
			return 1;
		return send(c->fd, q, r, MSG_NOSIGNAL) != r;	/* 1-byte answers always fit */
	}
	}
	return 1;
}

static int server(int argc, char **argv)
{
	static struct conn conns[MAX_CONNS];
	struct pollfd p[MAX_CONNS + 1];
	int once = 0, lfd, n = 0, port;
	long streams = 0, done = 0;

	if (argc > 0 && !strcmp(argv[0], "-1")) {
		once = 1;
		argc--, argv++;
	}
	if (argc != 1)
		usage("server takes [-1] PORT");
	if ((port = number(argv[0], 1, 65535)) < 0)
		usage("PORT must be a number from 1 to 65535");
	lfd = server_listen(port);
	printf("READY %d\n", port);
	fflush(stdout);

	/* The clock, read once after each poll and only while a recv
	 * connection is writing (in the guest every read is a trap). */
	double t = 0;

	for (;;) {
		int timeout = -1, sending = 0;

		p[0] = (struct pollfd){ .fd = lfd, .events = n < MAX_CONNS ? POLLIN : 0 };
		for (int i = 0; i < n; i++) {
			struct conn *c = &conns[i];
			short ev = POLLIN;

			if (c->got == HDR_LEN && c->mode == RECV && !c->shut) {
				int ms;

				if (t == 0)
					t = now_s();
				ms = c->end > t ? (int)((c->end - t) * 1000) + 1 : 0;
				sending = 1;
				ev |= POLLOUT;
				if (timeout < 0 || ms < timeout)
					timeout = ms;
			}
			p[i + 1] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		if (poll(p, n + 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		t = sending ? now_s() : 0;
		/* Connections first, then new ones; a finished one is replaced by
		 * the last (whose pollfd is then the last's too). */
		for (int i = n - 1; i >= 0; i--) {
			short rev = p[i + 1].revents;
			struct conn *c = &conns[i];

			if (c->got == HDR_LEN && c->mode == RECV && !c->shut && t >= c->end)
				rev |= POLLOUT;	/* time is up: shut down even if not writable */
			if (!rev)
				continue;
			if (serve(c, rev, t, &streams)) {
				close(c->fd);
				done += c->got == HDR_LEN;	/* not a bare probe */
				conns[i] = conns[--n];
			}
		}
		if (once && streams > 0 && done >= streams && n == 0)
			return 0;
		if (p[0].revents & POLLIN) {
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0) {
				if (!would_block() && errno != ECONNABORTED)
					die("accept: %s", strerror(errno));
				continue;
			}
			set_nonblock(fd);
			conns[n++] = (struct conn){ .fd = fd };
		}
	}
}

/* ---- client ---- */

struct stream {
	int fd;
	int done;
	double sent_at;		/* rr: when the request in flight went out */
	double end_at;		/* send, recv: when the stream was over */
	unsigned long long bytes;
	char ans[32];		/* send: the server's "bytes N\n" */
	int anslen;
};

static unsigned rtt_hist[RTT_BUCKETS];
static double rtt_sum;
static unsigned long long rtt_n;

static void rtt_add(double s)
{
	long b = (long)(s * 1e9 / RTT_BUCKET_NS);

	rtt_hist[b < RTT_BUCKETS ? b : RTT_BUCKETS - 1]++;
	rtt_sum += s;
	rtt_n++;
}

/* The q-quantile of the round trips, in microseconds (a bucket's middle). */
static double rtt_quantile(double q)
{
	unsigned long long want = (unsigned long long)(q * (rtt_n - 1)) + 1, seen = 0;

	for (long b = 0; b < RTT_BUCKETS; b++)
		if ((seen += rtt_hist[b]) >= want)
			return (b + 0.5) * RTT_BUCKET_NS / 1e3;
	return RTT_MAX_NS / 1e3;
}

static int client_connect(const struct in_addr *host, int port, enum mode mode, long streams, long secs)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = *host };
	char hdr[HDR_LEN] = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect to %s:%d: %s", inet_ntoa(*host), port, strerror(errno));
	if (mode == RR)
		set_nodelay(fd);
	snprintf(hdr, sizeof(hdr), "netbench %s %ld %ld", mode_names[mode], streams, secs);
	if (send(fd, hdr, HDR_LEN, MSG_NOSIGNAL) != HDR_LEN)
		die("cannot send the header: %s", strerror(errno));
	set_nonblock(fd);
	return fd;
}

/* Serves one poll event on s; returns 1 when s is done. */
static int drive(struct stream *s, enum mode mode, short rev, double end)
{
	ssize_t r;
	double t;

	switch (mode) {
	case SEND:
		if (s->end_at == 0 && (rev & POLLOUT)) {
			if (now_s() >= end) {
				shutdown(s->fd, SHUT_WR);
				s->end_at = -1;	/* now waiting for the answer */
			} else if ((r = send(s->fd, buf, BUF_LEN, MSG_NOSIGNAL)) < 0 && !would_block()) {
				die("send: %s", strerror(errno));
			}
		}
		if (rev & (POLLIN | POLLHUP | POLLERR)) {
			r = read(s->fd, s->ans + s->anslen, sizeof(s->ans) - 1 - s->anslen);
			if (r < 0 && would_block())
				return 0;
			if (r < 0)
				die("read the answer: %s", strerror(errno));
			s->anslen += r;
			s->ans[s->anslen] = 0;
			if (r > 0 && !strchr(s->ans, '\n'))
				return 0;
			if (sscanf(s->ans, "bytes %llu", &s->bytes) != 1)
				die("no \"bytes N\" answer from the server (got \"%s\")", s->ans);
			s->end_at = now_s();
			return 1;
		}
		return 0;
	case RECV:
		r = read(s->fd, buf, BUF_LEN);
		if (r > 0)
			s->bytes += r;
		if (r > 0 || (r < 0 && would_block()))
			return 0;
		if (r < 0)
			die("read: %s", strerror(errno));
		s->end_at = now_s();
		return 1;
	case RR:
		r = read(s->fd, buf, 1);
		if (r < 0 && would_block())
			return 0;
		if (r <= 0)
			die("rr: %s", r ? strerror(errno) : "the server closed the connection");
		t = now_s();
		rtt_add(t - s->sent_at);
		if (t >= end)
			return 1;
		s->sent_at = t;
		if (send(s->fd, "q", 1, MSG_NOSIGNAL) != 1)
			die("rr send: %s", strerror(errno));
		return 0;
	}
	return 1;
}

static int client(int argc, char **argv)
{
	static struct stream st[MAX_STREAMS];
	struct pollfd p[MAX_STREAMS];
	struct in_addr host;
	long port, streams, secs, left;
	double start, end, last = 0;
	unsigned long long bytes = 0;
	int mode;

	if (argc != 5)
		usage("client takes HOST PORT send|recv|rr STREAMS SECONDS");
	if (inet_pton(AF_INET, argv[0], &host) != 1)
		usage("HOST must be an IPv4 address");
	if ((port = number(argv[1], 1, 65535)) < 0)
		usage("PORT must be a number from 1 to 65535");
	if ((mode = parse_mode(argv[2])) < 0)
		usage("the mode is send, recv or rr");
	if ((streams = number(argv[3], 1, MAX_STREAMS)) < 0)
		usage("STREAMS must be a number from 1 to 32");
	if ((secs = number(argv[4], 1, MAX_SECONDS)) < 0)
		usage("SECONDS must be a number from 1 to 3600");

	for (long i = 0; i < streams; i++)
		st[i] = (struct stream){ .fd = client_connect(&host, port, mode, streams, secs) };
	start = now_s();
	end = start + secs;
	if (mode == RR)
		for (long i = 0; i < streams; i++) {
			st[i].sent_at = now_s();
			if (send(st[i].fd, "q", 1, MSG_NOSIGNAL) != 1)
				die("rr send: %s", strerror(errno));
		}

	for (left = streams; left > 0;) {
		int n = 0, r, timeout = STALL_MS;

		for (long i = 0; i < streams; i++) {
			if (st[i].done)
				continue;
			p[n++] = (struct pollfd){ .fd = st[i].fd,
				.events = POLLIN | (mode == SEND && st[i].end_at == 0 ? POLLOUT : 0) };
		}
		/* send: wake at the end to shut down even if a stream is stuck full. */
		if (mode == SEND && now_s() < end)
			timeout = (int)((end - now_s()) * 1000) + 1;
		r = poll(p, n, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (r == 0 && (mode != SEND || now_s() > end + STALL_MS / 1000.0))
			die("no progress for %d s", STALL_MS / 1000);
		n = 0;
		for (long i = 0; i < streams; i++) {
			short rev;

			if (st[i].done)
				continue;
			rev = p[n++].revents;
			if (mode == SEND && st[i].end_at == 0 && now_s() >= end)
				rev |= POLLOUT;	/* time is up: shut down even if not writable */
			if (rev && drive(&st[i], mode, rev, end)) {
				st[i].done = 1;
				left--;
				close(st[i].fd);
				bytes += st[i].bytes;
				if (st[i].end_at > last)
					last = st[i].end_at;
			}
		}
	}

	if (mode == RR) {
		double took;

		if (rtt_n == 0)
			die("rr: no round trip completed");
		took = now_s() - start;

		printf("rr US %.1f mean %.1f p90 %.1f n %llu tps %.0f\n", rtt_quantile(0.5),
		       rtt_sum / rtt_n * 1e6, rtt_quantile(0.9), rtt_n, rtt_n / took);
	} else {
		printf("stream MBIT %.1f streams %ld secs %.2f bytes %llu\n",
		       bytes * 8 / (last - start) / 1e6, streams, last - start, bytes);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage("no command");
	if (!strcmp(argv[1], "server"))
		return server(argc - 2, argv + 2);
	if (!strcmp(argv[1], "client"))
		return client(argc - 2, argv + 2);
	usage("the command is server or client");
	return 2;
}
