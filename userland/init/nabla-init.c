/*
 * nabla-init: the first process of a Nabla container guest.
 *
 * The container runtimes (nabla-runtime for OCI bundles, the tender's
 * nabla-run mode for runnc) pack this program as /init into an initramfs
 * with /nabla/config (the format is documented in guestcfg/src/lib.rs,
 * the contract between them and this program) and the files to copy
 * (/nabla/files/N). As pid 1 it:
 *
 *   1. mounts devtmpfs on /dev and proc on /proc of the initramfs and
 *      reads /nabla/config strictly (an unknown key or a malformed line is
 *      one line "nabla-init: config line N: ..." and status 1);
 *   2. opens the container's standard streams (/dev/ttyN0, and /dev/ttyN1
 *      for stderr when the kernel has it) and the files to copy, sets the
 *      host name, the sysctls and the network (lo always up as
 *      127.0.0.1/8; addresses, MTUs and routes by ioctl);
 *   3. mounts the root disk on /newroot (waiting up to 3 s for its
 *      device), frees the initramfs' files (/init and the config; the
 *      files to copy too, unless the root is read-only) and makes
 *      /newroot the root (MS_MOVE onto / and chroot, as switch_root
 *      does);
 *   4. in the new root: devtmpfs on /dev and proc on /proc unless the
 *      config mounts something there itself (each only where the
 *      directory exists or can be made), then the config's mounts in
 *      order, then the files (a file on a read-only root that already
 *      exists there is bind-mounted over instead), then the read-only
 *      remount if asked;
 *   5. starts the container's process with vfork (the guest has no MMU,
 *      so no fork): between vfork and execve the child makes only system
 *      calls on data pid 1 prepared (no malloc, no stdio): stdio or the
 *      controlling terminal, rlimits, groups, gid, uid, umask, cwd, then
 *      execve through PATH as execvp does. A program that cannot be run
 *      is "nabla-init: cannot run ARG0: REASON" and status 127 (ENOENT)
 *      or 126;
 *   6. forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and
 *      SIGWINCH to the process, reaps every child that ends, and when the
 *      process exits syncs and reboots with LINUX_REBOOT_CMD_RESTART2 and
 *      the argument "N", N being its exit status or 128 + its signal:
 *      the kernel hands N to the tender, which exits with it. Before
 *      that every other process is killed and the root remounted
 *      read-only, so the disk is left clean (an ext4 image can then be
 *      mounted from a read-only device next time: no journal to replay).
 *
 * Any failure of the set-up is one line "nabla-init: ..." on the
 * tender's stderr (/dev/ttyN1, else the console) and the same reboot
 * with status 1: init never exits, so the kernel never panics for it.
 *
 * Not as pid 1 (on a host, for the tests): "nabla-init --check FILE"
 * parses FILE as a config and exits 0, or prints the error line and
 * exits 1. Nothing else runs outside the guest.
 *
 * Limits: IPv4 only (the config's own limit); a second address on one
 * interface becomes the alias IF:N; the container's process is not
 * killed with its children when it exits, the reboot ends them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_PATH "/nabla/config"
#define FILES_DIR "/nabla/files"
#define NEWROOT "/newroot"
#define CONFIG_MAX (16 << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define ROOT_WAIT_MS 3000

/* <linux/reboot.h> (musl has no kernel headers). */
#define LINUX_REBOOT_MAGIC1 0xfee1dead
#define LINUX_REBOOT_MAGIC2 672274793
#define LINUX_REBOOT_CMD_RESTART2 0xA1B2C3D4

struct rlimit_ent {
	int resource;
	rlim_t soft, hard;
};

struct file_ent {
	unsigned long n;
	char *dest;
	mode_t mode;
	int fd; /* /nabla/files/N, opened before the switch */
};

struct mount_ent {
	char *fstype, *dest, *data;
	unsigned long flags;
};

struct addr_ent {
	char *ifname;
	struct in_addr addr;
	int prefix;
};

struct mtu_ent {
	char *ifname;
	int mtu;
};

struct route_ent {
	char *ifname;
	struct in_addr dest, gw;
	int prefix, has_gw;
};

struct sysctl_ent {
	char *key, *value;
};

struct config {
	int have_root, root_ro;
	char *root_dev, *root_fstype;
	char **args;
	size_t nargs;
	char **env;
	size_t nenv;
	char *cwd;
	int have_user;
	uid_t uid;
	gid_t gid;
	int have_groups;
	gid_t *groups;
	size_t ngroups;
	int have_umask;
	mode_t umask;
	struct rlimit_ent *rlimits;
	size_t nrlimits;
	char *hostname;
	struct file_ent *files;
	size_t nfiles;
	struct mount_ent *mounts;
	size_t nmounts;
	struct addr_ent *addrs;
	size_t naddrs;
	struct mtu_ent *mtus;
	size_t nmtus;
	struct route_ent *routes;
	size_t nroutes;
	struct sysctl_ent *sysctls;
	size_t nsysctls;
	int terminal, readonly;
};

static struct config cfg;
static int log_fd = 2;
static int as_init; /* pid 1 in the guest, not a host process */

/* The container's stdio (opened by pid 1 before the switch; -1: none). */
static int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1, tty_fd = -1;

static volatile pid_t child_pid;

/* Where the root disk is mounted (NULL: not yet): remounted read-only at
 * the end, so that the disk is left clean (no journal to replay). */
static const char *root_at;

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

/* --- ending ------------------------------------------------------------ */

/* Ends the guest with status: sync, then the restart with "N" (the
 * tender exits with N). Never returns; not as pid 1, exits. */
static void __attribute__((noreturn)) finish(int status)
{
	char arg[16];

	if (!as_init)
		_exit(status);
	if (root_at) {
		/* The other processes hold files open for writing: ended
		 * first (given a second to go), then the disk left clean. */
		kill(-1, SIGKILL);
		for (int ms = 0; ms < 1000; ms += 5) {
			if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
				break;
			nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
		}
		sync();
		mount(NULL, root_at, NULL, MS_REMOUNT | MS_RDONLY, NULL);
	}
	sync();
	snprintf(arg, sizeof arg, "%d", status);
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART2, arg);
	/* The kernel refused the restart: power off at least. */
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static void vlog(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof buf, "nabla-init: ");

	n += vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
	if (n > (int)sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	if (write(log_fd, buf, n) < 0 && log_fd != 2)
		(void)!write(2, buf, n);
}

/* One line "nabla-init: ..." and the end with status 1. */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
	finish(1);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

/* Appends one zeroed element to the array *arr of *n elements. */
#define PUSH(arr, n) \
	((arr) = xrealloc((arr), ((n) + 1) * sizeof *(arr)), memset(&(arr)[(n)], 0, sizeof *(arr)), &(arr)[(n)++])

/* --- the config -------------------------------------------------------- */

static unsigned long line_no;
static char parse_err[256];

/* Records a parse error for the current line; returns -1. */
static int __attribute__((format(printf, 1, 2))) bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(parse_err, sizeof parse_err, fmt, ap);
	va_end(ap);
	return -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes one escaped argument in place. */
static int unescape(char *s)
{
	char *out = s, *in = s;

	if (strcmp(s, "%") == 0) {
		*s = 0;
		return 0;
	}
	while (*in) {
		unsigned char c = *in;

		if (c < 0x21 || c > 0x7e)
			return bad("byte 0x%02x must be escaped", c);
		if (c == '%') {
			int h = hexval(in[1]), l = h < 0 ? -1 : hexval(in[2]);

			if (h < 0 || l < 0)
				return bad("bad %%XX escape");
			if (h == 0 && l == 0)
				return bad("a NUL byte (%%00) in an argument");
			*out++ = (char)(h * 16 + l);
			in += 3;
		} else {
			*out++ = *in++;
		}
	}
	*out = 0;
	return 0;
}

static int parse_u64(const char *s, int base, unsigned long long max, unsigned long long *v)
{
	unsigned long long x = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		int d = hexval(*s);

		if (d < 0 || d >= base || d >= 10)
			return -1;
		if (x > (max - d) / base)
			return -1;
		x = x * base + d;
	}
	*v = x;
	return 0;
}

static int parse_id(const char *s, unsigned int *id)
{
	unsigned long long v;

	/* (uid_t)-1 means "no change" to the set*id calls: refused. */
	if (parse_u64(s, 10, UINT32_MAX - 1, &v) < 0)
		return bad("bad id '%s'", s);
	*id = (unsigned int)v;
	return 0;
}

static int parse_limit(const char *s, rlim_t *v)
{
	unsigned long long x;

	if (strcmp(s, "inf") == 0) {
		*v = RLIM_INFINITY;
		return 0;
	}
	if (parse_u64(s, 10, ULLONG_MAX - 1, &x) < 0)
		return bad("bad limit '%s'", s);
	*v = x;
	return 0;
}

static int absolute(const char *what, const char *p)
{
	if (p[0] != '/')
		return bad("%s '%s' is not an absolute path", what, p);
	return 0;
}

/* "A.B.C.D/P" into addr and prefix. */
static int parse_cidr(char *s, struct in_addr *addr, int *prefix)
{
	char *slash = strchr(s, '/');
	unsigned long long p;

	if (!slash)
		return bad("'%s' is not ADDR/PREFIX", s);
	*slash = 0;
	if (inet_pton(AF_INET, s, addr) != 1 || parse_u64(slash + 1, 10, 32, &p) < 0) {
		*slash = '/';
		return bad("'%s' is not an IPv4 ADDR/PREFIX", s);
	}
	*slash = '/';
	*prefix = (int)p;
	return 0;
}

static const struct {
	const char *name;
	unsigned long flag;
} mount_flags[] = {
	{ "ro", MS_RDONLY },	     { "nosuid", MS_NOSUID },		{ "nodev", MS_NODEV },
	{ "noexec", MS_NOEXEC },     { "relatime", MS_RELATIME },	{ "noatime", MS_NOATIME },
	{ "strictatime", MS_STRICTATIME }, { "sync", MS_SYNCHRONOUS },
};

static int parse_mount_flags(char *s, unsigned long *flags)
{
	char *tok, *save = NULL;

	*flags = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof mount_flags / sizeof mount_flags[0]; i++)
			if (strcmp(tok, mount_flags[i].name) == 0)
				break;
		if (i == sizeof mount_flags / sizeof mount_flags[0])
			return bad("unknown mount flag '%s'", tok);
		*flags |= mount_flags[i].flag;
	}
	return 0;
}

static int once(int *seen, const char *key)
{
	if (*seen)
		return bad("a second '%s' line", key);
	*seen = 1;
	return 0;
}

/* Keys that may appear only once, by their flag in this table. */
static int seen_root, seen_cwd, seen_user, seen_groups, seen_umask, seen_hostname, seen_terminal, seen_readonly;

static int want_args(const char *key, int n, int want)
{
	if (n != want)
		return bad("'%s' takes %d argument%s, not %d", key, want, want == 1 ? "" : "s", n);
	return 0;
}

/* Applies one line (its key and n decoded arguments) to cfg. */
static int parse_line(const char *key, char **a, int n)
{
	unsigned long long v;

	if (strcmp(key, "root") == 0) {
		if (once(&seen_root, key) || want_args(key, n, 3))
			return -1;
		if (absolute("device", a[0]))
			return -1;
		if (strcmp(a[2], "ro") && strcmp(a[2], "rw"))
			return bad("root mode '%s' is not ro or rw", a[2]);
		cfg.have_root = 1;
		cfg.root_dev = a[0];
		cfg.root_fstype = a[1];
		cfg.root_ro = strcmp(a[2], "ro") == 0;
	} else if (strcmp(key, "arg") == 0) {
		if (want_args(key, n, 1))
			return -1;
		*PUSH(cfg.args, cfg.nargs) = a[0];
	} else if (strcmp(key, "env") == 0) {
		if (want_args(key, n, 1))
			return -1;
		if (a[0][0] == '=' || !strchr(a[0], '='))
			return bad("env '%s' is not KEY=VALUE", a[0]);
		*PUSH(cfg.env, cfg.nenv) = a[0];
	} else if (strcmp(key, "cwd") == 0) {
		if (once(&seen_cwd, key) || want_args(key, n, 1) || absolute("cwd", a[0]))
			return -1;
		cfg.cwd = a[0];
	} else if (strcmp(key, "user") == 0) {
		if (once(&seen_user, key) || want_args(key, n, 2))
			return -1;
		if (parse_id(a[0], &cfg.uid) || parse_id(a[1], &cfg.gid))
			return -1;
		cfg.have_user = 1;
	} else if (strcmp(key, "groups") == 0) {
		if (once(&seen_groups, key))
			return -1;
		if (n < 1)
			return bad("'groups' takes at least one group");
		if (n > NGROUPS_MAX)
			return bad("more than %d groups", NGROUPS_MAX);
		for (int i = 0; i < n; i++) {
			unsigned int g;

			if (parse_id(a[i], &g))
				return -1;
			*PUSH(cfg.groups, cfg.ngroups) = g;
		}
		cfg.have_groups = 1;
	} else if (strcmp(key, "umask") == 0) {
		if (once(&seen_umask, key) || want_args(key, n, 1))
			return -1;
		if (parse_u64(a[0], 8, 0777, &v))
			return bad("bad umask '%s'", a[0]);
		cfg.have_umask = 1;
		cfg.umask = (mode_t)v;
	} else if (strcmp(key, "rlimit") == 0) {
		struct rlimit_ent r;

		if (want_args(key, n, 3))
			return -1;
		if (parse_u64(a[0], 10, RLIM_NLIMITS - 1, &v))
			return bad("bad rlimit resource '%s'", a[0]);
		r.resource = (int)v;
		if (parse_limit(a[1], &r.soft) || parse_limit(a[2], &r.hard))
			return -1;
		if (r.soft > r.hard)
			return bad("rlimit %d: soft limit above the hard limit", r.resource);
		*PUSH(cfg.rlimits, cfg.nrlimits) = r;
	} else if (strcmp(key, "hostname") == 0) {
		if (once(&seen_hostname, key) || want_args(key, n, 1))
			return -1;
		if (strlen(a[0]) > 64)
			return bad("host name longer than 64 bytes");
		cfg.hostname = a[0];
	} else if (strcmp(key, "file") == 0) {
		struct file_ent f = { .fd = -1 };

		if (want_args(key, n, 3))
			return -1;
		if (parse_u64(a[0], 10, 1000000, &v))
			return bad("bad file number '%s'", a[0]);
		f.n = (unsigned long)v;
		if (absolute("file", a[1]))
			return -1;
		f.dest = a[1];
		if (parse_u64(a[2], 8, 07777, &v))
			return bad("bad file mode '%s'", a[2]);
		f.mode = (mode_t)v;
		*PUSH(cfg.files, cfg.nfiles) = f;
	} else if (strcmp(key, "mount") == 0) {
		struct mount_ent m;

		if (want_args(key, n, 4))
			return -1;
		if (!a[0][0])
			return bad("empty file system type");
		if (absolute("mount point", a[1]) || parse_mount_flags(a[2], &m.flags))
			return -1;
		m.fstype = a[0];
		m.dest = a[1];
		m.data = a[3];
		*PUSH(cfg.mounts, cfg.nmounts) = m;
	} else if (strcmp(key, "addr") == 0) {
		struct addr_ent ad;

		if (want_args(key, n, 2))
			return -1;
		if (!a[0][0] || strlen(a[0]) >= IFNAMSIZ)
			return bad("bad interface name '%s'", a[0]);
		ad.ifname = a[0];
		if (parse_cidr(a[1], &ad.addr, &ad.prefix))
			return -1;
		*PUSH(cfg.addrs, cfg.naddrs) = ad;
	} else if (strcmp(key, "mtu") == 0) {
		struct mtu_ent m;

		if (want_args(key, n, 2))
			return -1;
		if (!a[0][0] || strlen(a[0]) >= IFNAMSIZ)
			return bad("bad interface name '%s'", a[0]);
		if (parse_u64(a[1], 10, 65535, &v) || v < 68)
			return bad("bad MTU '%s'", a[1]);
		m.ifname = a[0];
		m.mtu = (int)v;
		*PUSH(cfg.mtus, cfg.nmtus) = m;
	} else if (strcmp(key, "route") == 0) {
		struct route_ent r = { 0 };

		if (want_args(key, n, 3))
			return -1;
		if (!a[0][0] || strlen(a[0]) >= IFNAMSIZ)
			return bad("bad interface name '%s'", a[0]);
		r.ifname = a[0];
		if (parse_cidr(a[1], &r.dest, &r.prefix))
			return -1;
		if (strcmp(a[2], "-") != 0) {
			if (inet_pton(AF_INET, a[2], &r.gw) != 1)
				return bad("bad gateway '%s'", a[2]);
			r.has_gw = 1;
		}
		*PUSH(cfg.routes, cfg.nroutes) = r;
	} else if (strcmp(key, "sysctl") == 0) {
		struct sysctl_ent s;

		if (want_args(key, n, 2))
			return -1;
		if (!a[0][0] || strchr(a[0], '/') || a[0][0] == '.' || strstr(a[0], "..") ||
		    a[0][strlen(a[0]) - 1] == '.')
			return bad("bad sysctl key '%s'", a[0]);
		s.key = a[0];
		s.value = a[1];
		*PUSH(cfg.sysctls, cfg.nsysctls) = s;
	} else if (strcmp(key, "terminal") == 0) {
		if (once(&seen_terminal, key) || want_args(key, n, 0))
			return -1;
		cfg.terminal = 1;
	} else if (strcmp(key, "readonly") == 0) {
		if (once(&seen_readonly, key) || want_args(key, n, 0))
			return -1;
		cfg.readonly = 1;
	} else {
		return bad("unknown key '%s'", key);
	}
	return 0;
}

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer. */
static char *slurp(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0, cap = 4096;
	char *buf;

	if (fd < 0)
		return NULL;
	buf = xrealloc(NULL, cap);
	for (;;) {
		ssize_t r;

		if (n + 1 == cap) {
			if (cap > max) {
				close(fd);
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			close(fd);
			free(buf);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += r;
	}
	close(fd);
	buf[n] = 0;
	*len = n;
	return buf;
}

/* Parses the config text (kept: cfg points into it). 0, or -1 with
 * parse_err set and line_no the line (0: the whole config). */
static int parse_config(char *text, size_t len)
{
	char *line = text, *end = text + len;

	if (memchr(text, 0, len))
		return line_no = 0, bad("a NUL byte in the config");
	for (line_no = 1; line < end; line_no++) {
		char *nl = memchr(line, '\n', end - line);
		char **args;
		int n = 0;
		size_t spaces = 0;
		char *p, *key;

		if (nl)
			*nl = 0;
		for (p = line; *p; p++)
			spaces += *p == ' ';
		if (spaces > NGROUPS_MAX)
			return bad("too many arguments");
		/* The strings stay in text (cfg points there), the array not. */
		args = xrealloc(NULL, (spaces + 1) * sizeof *args);
		if (line_no == 1) {
			if (strcmp(line, "nabla-config 1") != 0)
				return bad("not 'nabla-config 1' (an unknown format or version)");
		} else {
			if (!*line)
				return bad("an empty line");
			key = line;
			for (p = line; *p; p++) {
				if (*p != ' ')
					continue;
				*p = 0;
				if (!p[1] || p[1] == ' ')
					return bad("an empty field (two spaces or a trailing space)");
				args[n++] = p + 1;
			}
			if (!*key)
				return bad("an empty key");
			for (int i = 0; i < n; i++)
				if (unescape(args[i]))
					return -1;
			if (parse_line(key, args, n))
				return -1;
		}
		free(args);
		if (!nl)
			break;
		line = nl + 1;
	}
	if (line_no == 1 && !text[0])
		return line_no = 0, bad("empty");
	line_no = 0;
	if (!cfg.have_root)
		return bad("no 'root' line");
	if (!cfg.nargs)
		return bad("no 'arg' line (the process to run)");
	return 0;
}

static void read_config(const char *path)
{
	size_t len;
	char *text = slurp(path, CONFIG_MAX, &len);

	if (!text)
		die("cannot read %s: %s", path, strerror(errno));
	if (parse_config(text, len) < 0) {
		if (line_no)
			die("config line %lu: %s", line_no, parse_err);
		die("config: %s", parse_err);
	}
}

/* --- set-up in the initramfs -------------------------------------------- */

/* Mounts, tolerating "already mounted" (EBUSY). */
static int mount_early(const char *src, const char *dir, const char *type, unsigned long flags)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, flags, NULL) < 0 && errno != EBUSY)
		return -1;
	return 0;
}

/* Makes sure fds 0, 1 and 2 are open, so that later opens are >= 3. */
static void fill_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int n = open("/dev/console", O_RDWR | O_NOCTTY);

		if (n < 0)
			n = open("/dev/null", O_RDWR);
		if (n >= 0 && n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
}

static int open_tty(const char *path, int flags)
{
	return open(path, flags | O_NOCTTY | O_CLOEXEC);
}

static void open_stdio(void)
{
	if (cfg.terminal) {
		tty_fd = open_tty("/dev/ttyN0", O_RDWR);
		if (tty_fd < 0)
			die("cannot open /dev/ttyN0: %s", strerror(errno));
		return;
	}
	stdin_fd = open_tty("/dev/ttyN0", O_RDONLY);
	stdout_fd = open_tty("/dev/ttyN0", O_WRONLY);
	if (stdin_fd < 0 || stdout_fd < 0)
		die("cannot open /dev/ttyN0: %s", strerror(errno));
	stderr_fd = open_tty("/dev/ttyN1", O_WRONLY);
	if (stderr_fd < 0)
		stderr_fd = open_tty("/dev/ttyN0", O_WRONLY);
	if (stderr_fd < 0)
		die("cannot open /dev/ttyN0: %s", strerror(errno));
}

static void open_files(void)
{
	for (size_t i = 0; i < cfg.nfiles; i++) {
		char path[64];

		snprintf(path, sizeof path, FILES_DIR "/%lu", cfg.files[i].n);
		cfg.files[i].fd = open(path, O_RDWR | O_CLOEXEC);
		if (cfg.files[i].fd < 0)
			die("cannot open %s (for %s): %s", path, cfg.files[i].dest, strerror(errno));
	}
}

static void set_sysctls(void)
{
	for (size_t i = 0; i < cfg.nsysctls; i++) {
		char path[PATH_MAX];
		const char *v = cfg.sysctls[i].value;
		size_t len = strlen(v);
		int fd;

		if (snprintf(path, sizeof path, "/proc/sys/%s", cfg.sysctls[i].key) >= (int)sizeof path)
			die("sysctl %s: name too long", cfg.sysctls[i].key);
		for (char *p = path + strlen("/proc/sys/"); *p; p++)
			if (*p == '.')
				*p = '/';
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			die("sysctl %s: %s", cfg.sysctls[i].key, strerror(errno));
		if (write(fd, v, len) != (ssize_t)len)
			die("sysctl %s = %s: %s", cfg.sysctls[i].key, v, strerror(errno));
		close(fd);
	}
}

/* --- the network --------------------------------------------------------- */

static struct sockaddr_in sin_of(struct in_addr a)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_addr = a };

	return s;
}

static struct in_addr mask_of(int prefix)
{
	struct in_addr m = { .s_addr = prefix ? htonl(~0u << (32 - prefix)) : 0 };

	return m;
}

static void if_ioctl(int sock, unsigned long req, struct ifreq *ifr, const char *what)
{
	if (ioctl(sock, req, ifr) < 0)
		die("interface %s: %s: %s", ifr->ifr_name, what, strerror(errno));
}

static void if_up(int sock, const char *ifname)
{
	struct ifreq ifr = { 0 };

	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	if_ioctl(sock, SIOCGIFFLAGS, &ifr, "get flags");
	ifr.ifr_flags |= IFF_UP;
	if_ioctl(sock, SIOCSIFFLAGS, &ifr, "bring up");
}

static void if_addr(int sock, const char *label, struct in_addr addr, int prefix)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in s;

	strncpy(ifr.ifr_name, label, IFNAMSIZ - 1);
	s = sin_of(addr);
	memcpy(&ifr.ifr_addr, &s, sizeof s);
	if_ioctl(sock, SIOCSIFADDR, &ifr, "set address");
	s = sin_of(mask_of(prefix));
	memcpy(&ifr.ifr_netmask, &s, sizeof s);
	if_ioctl(sock, SIOCSIFNETMASK, &ifr, "set netmask");
}

static void set_network(void)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (sock < 0)
		die("cannot open a socket for the network set-up: %s", strerror(errno));
	if_addr(sock, "lo", (struct in_addr){ htonl(INADDR_LOOPBACK) }, 8);
	if_up(sock, "lo");
	for (size_t i = 0; i < cfg.nmtus; i++) {
		struct ifreq ifr = { 0 };

		strncpy(ifr.ifr_name, cfg.mtus[i].ifname, IFNAMSIZ - 1);
		ifr.ifr_mtu = cfg.mtus[i].mtu;
		if_ioctl(sock, SIOCSIFMTU, &ifr, "set MTU");
	}
	for (size_t i = 0; i < cfg.naddrs; i++) {
		const char *ifname = cfg.addrs[i].ifname;
		char label[IFNAMSIZ + 8];
		int earlier = 0;

		/* The first address of an interface is its own, the next
		 * ones aliases IF:1, IF:2, ... (SIOCSIFADDR replaces). */
		for (size_t j = 0; j < i; j++)
			earlier += strcmp(cfg.addrs[j].ifname, ifname) == 0;
		if (earlier)
			snprintf(label, sizeof label, "%s:%d", ifname, earlier);
		else
			snprintf(label, sizeof label, "%s", ifname);
		if (strlen(label) >= IFNAMSIZ)
			die("interface %s: too many addresses", ifname);
		if_addr(sock, label, cfg.addrs[i].addr, cfg.addrs[i].prefix);
		if_up(sock, ifname);
	}
	for (size_t i = 0; i < cfg.nroutes; i++) {
		struct route_ent *r = &cfg.routes[i];
		struct rtentry rt = { 0 };
		struct sockaddr_in s;
		char dest[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN] = "-";

		s = sin_of(r->dest);
		memcpy(&rt.rt_dst, &s, sizeof s);
		s = sin_of(mask_of(r->prefix));
		memcpy(&rt.rt_genmask, &s, sizeof s);
		rt.rt_flags = RTF_UP;
		if (r->prefix == 32)
			rt.rt_flags |= RTF_HOST;
		if (r->has_gw) {
			s = sin_of(r->gw);
			memcpy(&rt.rt_gateway, &s, sizeof s);
			rt.rt_flags |= RTF_GATEWAY;
			inet_ntop(AF_INET, &r->gw, gw, sizeof gw);
		}
		rt.rt_dev = r->ifname;
		/* The interface's own subnet route exists already. */
		if (ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST) {
			inet_ntop(AF_INET, &r->dest, dest, sizeof dest);
			die("route %s/%d via %s on %s: %s", dest, r->prefix, gw, r->ifname, strerror(errno));
		}
	}
	close(sock);
}

/* --- the new root ------------------------------------------------------ */

/* mkdir -p of path's first `len` bytes (all of it for len 0). */
static int mkdir_p(const char *path, size_t len)
{
	char buf[PATH_MAX];

	if (!len)
		len = strlen(path);
	if (len >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len);
	buf[len] = 0;
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = 0;
			if (buf[0] && mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -1;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

static void wait_for(const char *dev)
{
	struct stat st;

	for (int ms = 0; stat(dev, &st) < 0; ms += 10) {
		if (errno != ENOENT || ms >= ROOT_WAIT_MS)
			die("root device %s: %s", dev, strerror(errno));
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
}

/* The initramfs' own files: freed (the file data lives in guest memory;
 * the files to copy stay open until copied). On a read-only root the
 * files stay: they may be bind-mounted, which needs a linked file. */
static void free_initramfs(void)
{
	for (size_t i = 0; i < cfg.nfiles && !cfg.root_ro; i++) {
		char path[64];

		snprintf(path, sizeof path, FILES_DIR "/%lu", cfg.files[i].n);
		unlink(path);
	}
	unlink(CONFIG_PATH);
	unlink("/init");
}

static void switch_root(void)
{
	if (chdir(NEWROOT) < 0)
		die("chdir %s: %s", NEWROOT, strerror(errno));
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		die("cannot move %s onto /: %s", NEWROOT, strerror(errno));
	if (chroot(".") < 0 || chdir("/") < 0)
		die("cannot change the root to %s: %s", NEWROOT, strerror(errno));
}

static int config_mounts(const char *dest)
{
	for (size_t i = 0; i < cfg.nmounts; i++)
		if (strcmp(cfg.mounts[i].dest, dest) == 0)
			return 1;
	return 0;
}

/* devtmpfs on /dev and proc on /proc unless the config mounts there. */
static void default_mount(const char *type, const char *dir, unsigned long flags)
{
	struct stat st;

	if (config_mounts(dir))
		return;
	if (stat(dir, &st) < 0 && mkdir(dir, 0755) < 0)
		return; /* no such directory and a read-only root: none */
	if (mount(type, dir, type, flags, NULL) < 0)
		die("cannot mount %s on %s: %s", type, dir, strerror(errno));
}

static void make_mounts(void)
{
	default_mount("devtmpfs", "/dev", MS_NOSUID);
	default_mount("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	for (size_t i = 0; i < cfg.nmounts; i++) {
		struct mount_ent *m = &cfg.mounts[i];

		if (mkdir_p(m->dest, 0) < 0)
			die("cannot make the mount point %s: %s", m->dest, strerror(errno));
		if (mount(m->fstype, m->dest, m->fstype, m->flags, m->data[0] ? m->data : NULL) < 0)
			die("cannot mount %s on %s: %s", m->fstype, m->dest, strerror(errno));
	}
}

static void copy_files(void)
{
	static char buf[65536];

	for (size_t i = 0; i < cfg.nfiles; i++) {
		struct file_ent *f = &cfg.files[i];
		const char *slash = strrchr(f->dest, '/');
		int out;

		if (slash > f->dest && mkdir_p(f->dest, slash - f->dest) < 0 && errno != EROFS)
			die("cannot make the directory of %s: %s", f->dest, strerror(errno));
		out = open(f->dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (out < 0 && errno == EROFS) {
			/* A read-only root: the file (in the initramfs,
			 * writable) bind-mounted over an existing one. */
			char src[64];

			if (fchmod(f->fd, f->mode) < 0)
				die("chmod %s: %s", f->dest, strerror(errno));
			snprintf(src, sizeof src, "/proc/self/fd/%d", f->fd);
			if (mount(src, f->dest, NULL, MS_BIND, NULL) < 0)
				die("cannot bind %s over %s on the read-only root: %s", src, f->dest,
				    strerror(errno));
			close(f->fd);
			continue;
		}
		if (out < 0)
			die("cannot create %s: %s", f->dest, strerror(errno));
		for (;;) {
			ssize_t r = read(f->fd, buf, sizeof buf), w = 0;

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("read of the file for %s: %s", f->dest, strerror(errno));
			if (r == 0)
				break;
			while (w < r) {
				ssize_t k = write(out, buf + w, r - w);

				if (k < 0 && errno == EINTR)
					continue;
				if (k < 0)
					die("write %s: %s", f->dest, strerror(errno));
				w += k;
			}
		}
		if (fchmod(out, f->mode) < 0)
			die("chmod %s: %s", f->dest, strerror(errno));
		if (close(out) < 0)
			die("write %s: %s", f->dest, strerror(errno));
		close(f->fd);
	}
}

/* --- the container's process ------------------------------------------- */

/* What the child needs, prepared by pid 1 before vfork. */
static char **child_argv, **child_envp, **candidates;
static size_t ncandidates;

static const char *env_path(void)
{
	for (size_t i = cfg.nenv; i-- > 0;)
		if (strncmp(cfg.env[i], "PATH=", 5) == 0)
			return cfg.env[i] + 5;
	return DEFAULT_PATH;
}

/* The paths execvp would try for argv[0], in order. */
static void prepare_exec(void)
{
	const char *arg0 = cfg.args[0];

	child_argv = xrealloc(NULL, (cfg.nargs + 1) * sizeof *child_argv);
	memcpy(child_argv, cfg.args, cfg.nargs * sizeof *child_argv);
	child_argv[cfg.nargs] = NULL;
	child_envp = xrealloc(NULL, (cfg.nenv + 1) * sizeof *child_envp);
	memcpy(child_envp, cfg.env, cfg.nenv * sizeof *child_envp);
	child_envp[cfg.nenv] = NULL;
	if (!arg0[0])
		return; /* nothing to try: ENOENT */
	if (strchr(arg0, '/')) {
		*PUSH(candidates, ncandidates) = (char *)arg0;
		return;
	}
	for (const char *p = env_path();; p++) {
		const char *colon = strchrnul(p, ':');
		size_t dlen = colon - p;
		char *c = xrealloc(NULL, dlen + strlen(arg0) + 2);

		/* An empty element is the working directory, as in execvp. */
		if (dlen)
			sprintf(c, "%.*s/%s", (int)dlen, p, arg0);
		else
			strcpy(c, arg0);
		*PUSH(candidates, ncandidates) = c;
		p = colon;
		if (!*p)
			break;
	}
}

/* In the vforked child: a message on its stderr from pieces, then exit.
 * Only system calls (and strerror's table): no stdio, no malloc. */
static void __attribute__((noreturn)) child_fail(const char *what, const char *arg, int err, int status)
{
	const char *parts[] = { "nabla-init: ", what, arg, ": ", strerror(err), "\n" };

	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
		if (parts[i][0])
			(void)!write(2, parts[i], strlen(parts[i]));
	_exit(status);
}

static void __attribute__((noreturn)) child(void)
{
	int err = ENOENT, eacces = 0;
	sigset_t none;

	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		signal(forwarded[i], SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	if (cfg.terminal) {
		if (setsid() < 0)
			child_fail("setsid", "", errno, 1);
		if (ioctl(tty_fd, TIOCSCTTY, 1) < 0)
			child_fail("cannot make /dev/ttyN0 the controlling terminal", "", errno, 1);
		if (dup2(tty_fd, 0) < 0 || dup2(tty_fd, 1) < 0 || dup2(tty_fd, 2) < 0)
			child_fail("dup2", "", errno, 1);
	} else if (dup2(stdin_fd, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) {
		child_fail("dup2", "", errno, 1);
	}
	for (size_t i = 0; i < cfg.nrlimits; i++) {
		struct rlimit r = { cfg.rlimits[i].soft, cfg.rlimits[i].hard };

		if (syscall(SYS_prlimit64, 0, cfg.rlimits[i].resource, &r, NULL) < 0)
			child_fail("setrlimit", "", errno, 1);
	}
	/* Raw system calls: musl's set*id wrappers synchronise threads. */
	if (syscall(SYS_setgroups, cfg.ngroups, cfg.groups) < 0)
		child_fail("setgroups", "", errno, 1);
	if (syscall(SYS_setgid, cfg.gid) < 0)
		child_fail("setgid", "", errno, 1);
	if (syscall(SYS_setuid, cfg.uid) < 0)
		child_fail("setuid", "", errno, 1);
	if (cfg.have_umask)
		umask(cfg.umask);
	if (cfg.cwd && chdir(cfg.cwd) < 0)
		child_fail("cannot change to the directory ", cfg.cwd, errno, 1);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (size_t i = 0; i < ncandidates; i++) {
		execve(candidates[i], child_argv, child_envp);
		if (errno == EACCES)
			eacces = 1;
		else if (errno != ENOENT && errno != ENOTDIR) {
			err = errno;
			break;
		}
		err = errno;
	}
	if (eacces && (err == ENOENT || err == ENOTDIR))
		err = EACCES;
	child_fail("cannot run ", cfg.args[0], err, err == ENOENT || err == ENOTDIR ? 127 : 126);
}

static void forward(int sig)
{
	int e = errno;

	if (child_pid > 0)
		kill(child_pid, sig);
	errno = e;
}

static void wake(int sig)
{
	(void)sig;
}

/* Starts the process; waits for it, reaping every other child; returns
 * its status as the tender should exit with it. */
static int run(void)
{
	struct sigaction sa = { 0 };
	sigset_t all, old;
	pid_t pid;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	sigfillset(&sa.sa_mask);
	sa.sa_handler = forward;
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaction(forwarded[i], &sa, NULL);
	sa.sa_handler = wake;
	sigaction(SIGCHLD, &sa, NULL);

	pid = vfork();
	if (pid < 0)
		die("vfork: %s", strerror(errno));
	if (pid == 0)
		child();
	child_pid = pid;
	sigdelset(&old, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigdelset(&old, forwarded[i]);
	for (;;) {
		int status;
		pid_t p;

		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p != pid)
				continue;
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			if (WIFSIGNALED(status))
				return 128 + WTERMSIG(status);
		}
		if (p < 0 && errno == ECHILD)
			die("the container's process is gone");
		/* Signals are taken only here: handlers never race the loop. */
		sigsuspend(&old);
	}
}

/* --- main ---------------------------------------------------------------- */

static void init_main(void)
{
	mount_early("devtmpfs", "/dev", "devtmpfs", MS_NOSUID);
	fill_std_fds();
	log_fd = open_tty("/dev/ttyN1", O_WRONLY);
	if (log_fd < 0)
		log_fd = 2;
	if (mount_early("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0)
		die("cannot mount /proc: %s", strerror(errno));
	read_config(CONFIG_PATH);
	open_stdio();
	open_files();
	if (cfg.hostname && sethostname(cfg.hostname, strlen(cfg.hostname)) < 0)
		die("cannot set the host name: %s", strerror(errno));
	set_sysctls();
	set_network();

	wait_for(cfg.root_dev);
	if (mount(cfg.root_dev, NEWROOT, cfg.root_fstype, cfg.root_ro ? MS_RDONLY : 0, NULL) < 0)
		die("cannot mount %s (%s) on %s: %s", cfg.root_dev, cfg.root_fstype, NEWROOT, strerror(errno));
	root_at = NEWROOT;
	free_initramfs();
	/* The initramfs' /dev and /proc stay mounted under the new root,
	 * unreachable: the new root gets its own. */
	switch_root();
	root_at = "/";
	make_mounts();
	copy_files();
	if (cfg.readonly && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		die("cannot remount the root read-only: %s", strerror(errno));
	prepare_exec();
	finish(run());
}

int main(int argc, char **argv)
{
	as_init = getpid() == 1;
	if (as_init)
		init_main();
	if (argc == 3 && strcmp(argv[1], "--check") == 0) {
		read_config(argv[2]);
		return 0;
	}
	fprintf(stderr, "usage: nabla-init --check CONFIG (as pid 1 in a Nabla guest, it runs the container)\n");
	return 2;
}
