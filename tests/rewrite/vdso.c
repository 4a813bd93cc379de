/*
 * vdso: the guest's vDSO against the syscalls it stands for. Built as a
 * musl static-pie and as a glibc dynamic PIE (each C library uses the
 * vDSO on its own); besides the C library's functions, the program looks
 * the vDSO's symbols up itself (AT_SYSINFO_EHDR, its DT_HASH, DT_SYMTAB,
 * version LINUX_2.6) and calls them directly.
 *
 *   vdso check      all the checks below
 *   vdso realtime   REALTIME through the vDSO against the syscall (after
 *                   `date -s`), and "val realtime-sec S"
 */
#include "common.h"
#include <elf.h>
#include <sched.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#ifndef CLOCK_TAI
#define CLOCK_TAI 11
#endif

typedef int (*gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, void *);
typedef time_t (*time_fn)(time_t *);
typedef int (*getcpu_fn)(unsigned *, unsigned *, void *);

static const Elf64_Ehdr *vdso;
static uintptr_t vbase;
static const Elf64_Sym *symtab;
static const char *strtab;
static const Elf64_Versym *versym;
static const Elf64_Verdef *verdef;
static unsigned nsyms;

/* The vDSO's dynamic tables; false when something is missing. */
static int vdso_open(void)
{
	const Elf64_Phdr *ph;
	const Elf64_Dyn *dyn = NULL;

	vdso = (const void *)getauxval(AT_SYSINFO_EHDR);
	if (!vdso || memcmp(vdso->e_ident, ELFMAG, SELFMAG))
		return 0;
	ph = (const void *)((const char *)vdso + vdso->e_phoff);
	vbase = 0;
	for (int i = 0; i < vdso->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !vbase)
			vbase = (uintptr_t)vdso + ph[i].p_offset - ph[i].p_vaddr;
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (const void *)((const char *)vdso + ph[i].p_offset);
	}
	if (!dyn)
		return 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		const void *p = (const void *)(vbase + dyn->d_un.d_ptr);

		if (dyn->d_tag == DT_SYMTAB)
			symtab = p;
		else if (dyn->d_tag == DT_STRTAB)
			strtab = p;
		else if (dyn->d_tag == DT_HASH)
			nsyms = ((const Elf64_Word *)p)[1];
		else if (dyn->d_tag == DT_VERSYM)
			versym = p;
		else if (dyn->d_tag == DT_VERDEF)
			verdef = p;
	}
	return symtab && strtab && nsyms && versym && verdef;
}

/* The name of version index idx, from the verdef chain. */
static const char *version_name(unsigned idx)
{
	const Elf64_Verdef *d = verdef;

	for (;;) {
		if ((d->vd_ndx & 0x7fff) == idx) {
			const Elf64_Verdaux *a = (const void *)((const char *)d + d->vd_aux);

			return strtab + a->vda_name;
		}
		if (!d->vd_next)
			return NULL;
		d = (const void *)((const char *)d + d->vd_next);
	}
}

/* The address of a defined function name@LINUX_2.6, or NULL. */
static void *vsym(const char *name)
{
	for (unsigned i = 1; i < nsyms; i++) {
		const Elf64_Sym *s = &symtab[i];
		const char *v;

		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF || strcmp(strtab + s->st_name, name))
			continue;
		v = version_name(versym[i] & 0x7fff);
		if (v && !strcmp(v, "LINUX_2.6"))
			return (void *)(vbase + s->st_value);
	}
	return NULL;
}

static long long ns(struct timespec t)
{
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int sys_gettime(clockid_t c, struct timespec *t)
{
	return syscall(SYS_clock_gettime, c, t);
}

static gettime_fn v_gettime, v_getres;
static gettimeofday_fn v_gettimeofday;
static time_fn v_time;
static getcpu_fn v_getcpu;

/* t1 (first) <= t2 (syscall) <= t3 (first again), rounds times. */
static void ordered(const char *name, clockid_t c, gettime_fn first, int rounds)
{
	struct timespec t1, t2, t3;
	long bad = 0, fails = 0;
	long long b1 = 0, b2 = 0, b3 = 0;

	for (int i = 0; i < rounds; i++) {
		if (first(c, &t1) || sys_gettime(c, &t2) || first(c, &t3)) {
			fails++;
			continue;
		}
		if ((ns(t1) > ns(t2) || ns(t2) > ns(t3)) && !bad++)
			b1 = ns(t1), b2 = ns(t2), b3 = ns(t3);
	}
	check(!bad && !fails, name, "%ld of %d rounds out of order (first: %lld %lld %lld), %ld failed", bad, rounds,
	      b1, b2, b3, fails);
}

/*
 * A coarse clock: between two coarse syscalls (the vDSO's is the
 * kernel's), never ahead of the fine clock, and behind it by about a
 * tick: "val NAME-lag-max-us" and "val NAME-lag-over-10ms" (rounds
 * behind by more than 10 ms), which the test judges.
 */
static void coarse(const char *name, clockid_t c, clockid_t fine)
{
	struct timespec s1, v, s2, f1, f2;
	long bad = 0, over = 0;
	long long lag_max = 0;
	char what[64];

	for (int i = 0; i < 10000; i++) {
		if (sys_gettime(fine, &f1) || sys_gettime(c, &s1) || v_gettime(c, &v) || sys_gettime(c, &s2) ||
		    sys_gettime(fine, &f2)) {
			bad++;
			continue;
		}
		if (ns(s1) > ns(v) || ns(v) > ns(s2) || ns(v) > ns(f2)) {
			if (!bad++)
				printf("%s: fine %lld, coarse syscall %lld, vDSO %lld, syscall %lld, fine %lld\n", name,
				       ns(f1), ns(s1), ns(v), ns(s2), ns(f2));
		}
		if (ns(f1) - ns(v) > lag_max)
			lag_max = ns(f1) - ns(v);
		if (ns(f1) - ns(v) > 10000000)
			over++;
	}
	check(!bad, name, "%ld of 10000 rounds wrong", bad);
	snprintf(what, sizeof what, "%s-lag-max-us", name);
	val(what, lag_max / 1000);
	snprintf(what, sizeof what, "%s-lag-over-10ms", name);
	val(what, over);
}

static void getres(const char *name, clockid_t c)
{
	struct timespec v = { -1, -1 }, s = { -2, -2 }, l = { -3, -3 };
	int rv = v_getres(c, &v), rs = syscall(SYS_clock_getres, c, &s), rl = clock_getres(c, &l);

	check(rv == 0 && rs == 0 && rl == 0 && ns(v) == ns(s) && ns(l) == ns(s), name,
	      "vDSO %d %lld ns, syscall %d %lld ns, libc %d %lld ns", rv, ns(v), rs, ns(s), rl, ns(l));
}

static int check_all(void)
{
	static const struct {
		const char *name;
		clockid_t id;
	} clocks[] = {
		{ "realtime", CLOCK_REALTIME },	  { "monotonic", CLOCK_MONOTONIC },
		{ "boottime", CLOCK_BOOTTIME },	  { "monotonic-raw", CLOCK_MONOTONIC_RAW },
		{ "tai", CLOCK_TAI },
	};
	struct timeval tv1, tv2, tvv;
	struct timespec t;
	unsigned cpu = 99, node = 99;
	long bad = 0;
	char name[64];
	struct counters a, b;

	check(getauxval(AT_SYSINFO_EHDR) != 0, "vdso-auxv", "AT_SYSINFO_EHDR is 0");
	check(vdso_open(), "vdso-tables", "the vDSO at %p lacks its ELF header or dynamic tables", (void *)vdso);
	if (!symtab)
		return summary("vdso");
	v_gettime = (gettime_fn)vsym("__vdso_clock_gettime");
	v_getres = (gettime_fn)vsym("__vdso_clock_getres");
	v_gettimeofday = (gettimeofday_fn)vsym("__vdso_gettimeofday");
	v_time = (time_fn)vsym("__vdso_time");
	v_getcpu = (getcpu_fn)vsym("__vdso_getcpu");
	check(v_gettime && v_getres && v_gettimeofday && v_time && v_getcpu, "vdso-symbols",
	      "missing __vdso_ symbols @LINUX_2.6: %p %p %p %p %p", (void *)v_gettime, (void *)v_getres,
	      (void *)v_gettimeofday, (void *)v_time, (void *)v_getcpu);
	check(vsym("clock_gettime") == (void *)v_gettime && vsym("clock_getres") == (void *)v_getres &&
		      vsym("gettimeofday") == (void *)v_gettimeofday && vsym("time") == (void *)v_time &&
		      vsym("getcpu") == (void *)v_getcpu,
	      "vdso-plain-names", "the plain names are not the __vdso_ functions");
	if (!v_gettime || !v_getres || !v_gettimeofday || !v_time || !v_getcpu)
		return summary("vdso");

	for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
		snprintf(name, sizeof name, "vdso-order-%s", clocks[i].name);
		ordered(name, clocks[i].id, v_gettime, 10000);
		snprintf(name, sizeof name, "libc-order-%s", clocks[i].name);
		ordered(name, clocks[i].id, clock_gettime, 10000);
	}
	coarse("vdso-realtime-coarse", CLOCK_REALTIME_COARSE, CLOCK_REALTIME);
	coarse("vdso-monotonic-coarse", CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC);

	for (int i = 0; i < 10000; i++) {
		if (syscall(SYS_gettimeofday, &tv1, NULL) || v_gettimeofday(&tvv, NULL) ||
		    syscall(SYS_gettimeofday, &tv2, NULL)) {
			bad++;
			continue;
		}
		long long a1 = tv1.tv_sec * 1000000LL + tv1.tv_usec, av = tvv.tv_sec * 1000000LL + tvv.tv_usec,
			  a2 = tv2.tv_sec * 1000000LL + tv2.tv_usec;
		if (a1 > av || av > a2)
			bad++;
	}
	check(!bad, "vdso-gettimeofday", "%ld of 10000 rounds out of order with the syscall", bad);
	gettimeofday(&tvv, NULL);
	syscall(SYS_gettimeofday, &tv1, NULL);
	check(tv1.tv_sec - tvv.tv_sec <= 1 && tv1.tv_sec >= tvv.tv_sec, "libc-gettimeofday", "libc %ld s, syscall %ld s",
	      (long)tvv.tv_sec, (long)tv1.tv_sec);
	bad = 0;
	{
		long long b1 = 0, bv = 0, bl = 0, b2 = 0;

		for (int i = 0; i < 1000; i++) {
			time_t s1 = syscall(SYS_time, NULL), v, l, s2;

			v = v_time(NULL);
			l = time(NULL);
			s2 = syscall(SYS_time, NULL);
			/* musl's time() is clock_gettime(REALTIME)'s seconds,
			 * which can be a second ahead of the coarse seconds
			 * time(2) and __vdso_time give. */
			if ((s1 > v || v > s2 || s1 > l || l > s2 + 1) && !bad++)
				b1 = s1, bv = v, bl = l, b2 = s2;
		}
		check(!bad, "vdso-time",
		      "%ld of 1000 rounds out of order with the syscall (first: syscall %lld, vDSO %lld, libc %lld, "
		      "syscall %lld)",
		      bad, b1, bv, bl, b2);
	}

	getres("vdso-getres-monotonic", CLOCK_MONOTONIC);
	getres("vdso-getres-realtime", CLOCK_REALTIME);
	getres("vdso-getres-monotonic-coarse", CLOCK_MONOTONIC_COARSE);
	getres("vdso-getres-monotonic-raw", CLOCK_MONOTONIC_RAW);

	{
		int r = v_getcpu(&cpu, &node, NULL), l = sched_getcpu();
		unsigned scpu = 98, snode = 98;
		long rs = syscall(SYS_getcpu, &scpu, &snode, NULL);

		check(r == 0 && cpu == 0 && node == 0 && l == 0 && rs == 0 && scpu == 0 && snode == 0, "vdso-getcpu",
		      "vDSO %d cpu %u node %u, sched_getcpu %d, syscall %ld cpu %u node %u", r, cpu, node, l, rs, scpu,
		      snode);
	}
	/* A clock the vDSO leaves to the syscall. */
	{
		struct timespec v, s;
		int rv = v_gettime(CLOCK_PROCESS_CPUTIME_ID, &v), rs = sys_gettime(CLOCK_PROCESS_CPUTIME_ID, &s);

		check(rv == 0 && rs == 0 && ns(v) <= ns(s), "vdso-fallback-cputime", "vDSO %d %lld, syscall %d %lld", rv,
		      ns(v), rs, ns(s));
		errno = 0;
		rv = v_gettime(12345, &v);
		check(rv == -EINVAL || (rv == -1 && errno == EINVAL), "vdso-bad-clock",
		      "clock 12345 gave %d (errno %d), want -EINVAL", rv, errno);
	}

	/* No syscalls: the counters over 100,000 reads, through libc and
	 * through the vDSO itself. */
	a = counters();
	for (int i = 0; i < 100000; i++)
		clock_gettime(CLOCK_MONOTONIC, &t);
	b = counters();
	val("vdso-libc-syscalls", (b.trapped - a.trapped) + (b.fast - a.fast));
	a = counters();
	for (int i = 0; i < 100000; i++)
		v_gettime(CLOCK_MONOTONIC, &t);
	b = counters();
	val("vdso-direct-syscalls", (b.trapped - a.trapped) + (b.fast - a.fast));
	a = counters();
	for (int i = 0; i < 100000; i++)
		gettimeofday(&tvv, NULL);
	b = counters();
	val("vdso-gettimeofday-syscalls", (b.trapped - a.trapped) + (b.fast - a.fast));
	/* The counters themselves, for scale: 1000 syscalls. */
	a = counters();
	for (int i = 0; i < 1000; i++)
		sys_gettime(CLOCK_MONOTONIC, &t);
	b = counters();
	val("vdso-syscall-syscalls", (b.trapped - a.trapped) + (b.fast - a.fast));
	return summary("vdso");
}

static int realtime(void)
{
	struct timespec t;

	check(vdso_open(), "vdso-tables", "no vDSO");
	v_gettime = (gettime_fn)vsym("__vdso_clock_gettime");
	if (!v_gettime)
		return summary("realtime");
	ordered("realtime-order", CLOCK_REALTIME, v_gettime, 10000);
	ordered("realtime-libc-order", CLOCK_REALTIME, clock_gettime, 10000);
	v_gettime(CLOCK_REALTIME, &t);
	val("realtime-sec", t.tv_sec);
	return summary("realtime");
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "check"))
		return check_all();
	if (argc > 1 && !strcmp(argv[1], "realtime"))
		return realtime();
	fprintf(stderr, "usage: vdso check|realtime\n");
	return 2;
}
