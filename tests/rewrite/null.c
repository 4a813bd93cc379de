/*
 * null: calls into the sled that are not syscalls, and syscall numbers
 * the sled does not cover.
 *
 *   null call-rax       call *%rax with rax = 0 (a null function pointer
 *                       in the register rewritten sites use), after some
 *                       syscalls through sites of our own: SIGSEGV at 0,
 *                       the handler sees rip 0, the return address on the
 *                       stack and rcx, r11 as they were; it prints them
 *                       and exits 7
 *   null call-rax-16    the same with rax = 16: SIGSEGV at 16
 *   null call-rdx       call *%rdx with rdx = 0: SIGSEGV at 0
 *   null jmp-rax        jmp *%rax with rax = 0 (a tail call): SIGSEGV at
 *                       0, the stack as it was
 *   null die            call *%rax with rax = 0 and no handler: killed by
 *                       SIGSEGV (the shell says 139)
 *   null stale          a null call (call *%rax, rax = 0) written by
 *                       the program where one of its rewritten sites was
 *                       (a JIT reusing its page): SIGSEGV at 0, as above
 *   null stale-remap    the same in a page mapped afresh (after munmap)
 *                       at the address of one that held a rewritten site
 *   null enosys [TOP]   one syscall site in assembly that loads every
 *                       register with a pattern first: numbers nothing
 *                       implements (1000, -1, 5000, those around the
 *                       sled's jumps and its trampoline, high ones whose
 *                       low 32 bits are negative, and every number from
 *                       463 to TOP, default 0xfffff) return -ENOSYS, the
 *                       registers the syscall ABI keeps are kept and the
 *                       red zone below the call's 8 bytes is intact;
 *                       getpid through the same site in between still
 *                       works. Numbers with high bits whose low 32 bits
 *                       are a syscall print "val enosys-high-NR R" and
 *                       "val enosys-high-NR-low32 R", the result of the
 *                       low 32 bits alone (what Linux runs for NR)
 */
#include "common.h"
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>

/* The registers probe loads before its syscall and reads back after it. */
struct regs {
	unsigned long rbx, rbp, rdi, rsi, rdx, r8, r9, r10, r12, r13, r14, r15;
	unsigned char redzone_16, redzone_124;
};

long probe(long nr, struct regs *r);
__asm__(".text\n"
	".globl probe\n"
	".type probe, @function\n"
	"probe:\n"
	"	push %rbx\n"
	"	push %rbp\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	push %rsi\n"
	"	movl $0x5a5a5a5a, -16(%rsp)\n"
	"	movl $0xa5a5a5a5, -124(%rsp)\n"
	"	mov %rdi, %rax\n"
	"	mov 0(%rsi), %rbx\n"
	"	mov 8(%rsi), %rbp\n"
	"	mov 16(%rsi), %rdi\n"
	"	mov 32(%rsi), %rdx\n"
	"	mov 40(%rsi), %r8\n"
	"	mov 48(%rsi), %r9\n"
	"	mov 56(%rsi), %r10\n"
	"	mov 64(%rsi), %r12\n"
	"	mov 72(%rsi), %r13\n"
	"	mov 80(%rsi), %r14\n"
	"	mov 88(%rsi), %r15\n"
	"	mov 24(%rsi), %rsi\n"
	".globl probe_site\n"
	"probe_site:\n"
	"	syscall\n"
	"	xchg %rsi, 0(%rsp)\n"
	"	mov %rbx, 0(%rsi)\n"
	"	mov %rbp, 8(%rsi)\n"
	"	mov %rdi, 16(%rsi)\n"
	"	mov %rdx, 32(%rsi)\n"
	"	mov %r8, 40(%rsi)\n"
	"	mov %r9, 48(%rsi)\n"
	"	mov %r10, 56(%rsi)\n"
	"	mov %r12, 64(%rsi)\n"
	"	mov %r13, 72(%rsi)\n"
	"	mov %r14, 80(%rsi)\n"
	"	mov %r15, 88(%rsi)\n"
	"	cmpl $0x5a5a5a5a, -16(%rsp)\n"
	"	setne 96(%rsi)\n"
	"	cmpl $0xa5a5a5a5, -124(%rsp)\n"
	"	setne 97(%rsi)\n"
	"	pop %rdx\n"
	"	mov %rdx, 24(%rsi)\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbp\n"
	"	pop %rbx\n"
	"	ret\n"
	".size probe, . - probe\n");
extern const unsigned char probe_site[];

static const struct regs pattern = {
	0x1111111111111111, 0x2222222222222222, 0x3333333333333333, 0x4444444444444444, 0x5555555555555555,
	0x6666666666666666, 0x7777777777777777, 0x8888888888888888, 0x9999999999999999, 0xaaaaaaaaaaaaaaaa,
	0xbbbbbbbbbbbbbbbb, 0xcccccccccccccccc, 0, 0,
};

/* What is wrong with r after a syscall, or NULL. */
static const char *regs_wrong(const struct regs *r)
{
	static char why[128];
	static const char *names[] = { "rbx", "rbp", "rdi", "rsi", "rdx", "r8", "r9", "r10", "r12", "r13", "r14",
				       "r15" };
	const unsigned long *got = &r->rbx, *want = &pattern.rbx;

	for (int i = 0; i < 12; i++)
		if (got[i] != want[i]) {
			snprintf(why, sizeof why, "%s is %#lx, was %#lx", names[i], got[i], want[i]);
			return why;
		}
	if (r->redzone_16 || r->redzone_124)
		return "the red zone below rsp - 8 changed";
	return NULL;
}

static long checked(long nr, const char **why)
{
	struct regs r = pattern;
	long ret = probe(nr, &r);

	*why = regs_wrong(&r);
	return ret;
}

/*
 * At a rewritten site, the numbers 0x7001 to 0x7004 land on the bytes of
 * the trampoline's jump displacement, which depend on where the kernel's
 * fast entry is: what they do is not defined (the README says so). On the
 * trap path they are ENOSYS like the rest.
 */
static int undefined_here(unsigned long nr, int rewriting)
{
	return rewriting && nr >= 0x7001 && nr <= 0x7004;
}

static int enosys(unsigned long top)
{
	static const long named[] = {
		1000, -1, 5000, 4090, 4091, 4092, 4093, 4094, 4095, 4096, 4097, 511, 512, 513, 514, 515, 516, 517, 518,
		520, 0x6fff, 0x7000, 0x7001, 0x7002, 0x7003, 0x7004, 0x7005, 0x7006, 0x7fff, 0x8000, 0xfffff,
		-4096, -4095, -2, (long)0x00007ffffffff000UL, (long)0xfffffffffffff000UL,
	};
	/* Numbers with bits above the low 32: Linux looks at the low 32 only
	 * (these: read of a bad fd, getpid). */
	static const long high[] = {
		(long)0x8000000000000000UL, (long)0x0000800000000000UL, 0x10000000000L,
		(long)0xffff800000000000UL, 0x100000027L,
	};
	long pid = getpid(), bad = 0, badpid = 0;
	struct counters a, b;
	const char *why;

	/* The site's first trap (getpid) makes it a rewritten one. */
	for (int i = 0; i < 3; i++)
		if (checked(SYS_getpid, &why) != pid || why)
			badpid++;
	sval("enosys-bytes", hex2(probe_site));
	val("enosys-rewriting", counters().on);
	int on = counters().on;

	a = counters();
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
			long r;

			if (undefined_here(named[i], on))
				continue;
			r = checked(named[i], &why);

			if (r != -ENOSYS || why) {
				if (bad++ < 20)
					printf("FAIL enosys-%#lx: returned %ld%s%s\n", (unsigned long)named[i], r,
					       why ? ", " : "", why ? why : "");
			}
			if (checked(SYS_getpid, &why) != pid || why)
				badpid++;
		}
	check(!bad, "enosys-named", "%ld calls did not return -ENOSYS with the registers kept", bad);
	for (size_t i = 0; i < sizeof high / sizeof high[0]; i++) {
		long r = checked(high[i], &why), low = checked((int)high[i], &why);
		char name[64];

		check(!why, "enosys-high-registers", "number %#lx: %s", (unsigned long)high[i], why);
		snprintf(name, sizeof name, "enosys-high-%#lx", (unsigned long)high[i]);
		val(name, r);
		snprintf(name, sizeof name, "enosys-high-%#lx-low32", (unsigned long)high[i]);
		val(name, low);
	}
	check(!badpid, "enosys-getpid", "%ld getpid calls between them went wrong", badpid);
	b = counters();
	deltas("enosys-named", a, b);
	bad = 0;
	for (unsigned long nr = 463; nr <= top; nr++) {
		long r;

		if (undefined_here(nr, on))
			continue;
		r = checked(nr, &why);

		if (r != -ENOSYS || why) {
			if (bad++ < 20)
				printf("FAIL enosys-%#lx: returned %ld%s%s\n", nr, r, why ? ", " : "", why ? why : "");
		}
	}
	check(!bad, "enosys-sweep", "%ld of the numbers 463 to %#lx did not return -ENOSYS with the registers kept",
	      bad, top);
	check(checked(SYS_getpid, &why) == pid && !why, "enosys-getpid-after", "getpid went wrong after the sweep");
	/* musl's syscall() too: its own site. */
	errno = 0;
	check(syscall(1000) == -1 && errno == ENOSYS, "enosys-libc", "syscall(1000): errno %d", errno);
	return summary("enosys");
}

static unsigned long want_ret, want_rsp;
static int want_rip;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;

	(void)sig;
	printf("val segv-addr %lu\nval segv-code %d\nval segv-rip %llu\n", (unsigned long)si->si_addr, si->si_code,
	       (unsigned long long)g[REG_RIP]);
	printf("val segv-rsp-ok %d\n", (unsigned long)g[REG_RSP] == want_rsp);
	printf("val segv-ret-ok %d\n", *(unsigned long *)g[REG_RSP] == want_ret);
	printf("val segv-rcx-ok %d\nval segv-r11-ok %d\n", g[REG_RCX] == 0x1234, g[REG_R11] == 0x5678);
	printf("val segv-rip-ok %d\n", (int)g[REG_RIP] == want_rip);
	fflush(stdout);
	_exit(7);
}

/* Some syscalls through sites of our own, so the process has rewritten
 * sites before it calls into the sled. */
static void warm(void)
{
	const char *why;

	for (int i = 0; i < 10; i++)
		checked(SYS_getpid, &why);
	sval("null-bytes", hex2(probe_site));
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	struct sigaction sa;

	if (!strcmp(mode, "enosys"))
		return enosys(argc > 2 ? strtoul(argv[2], NULL, 0) : 0xfffff);
	warm();
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (strcmp(mode, "die"))
		sigaction(SIGSEGV, &sa, NULL);
	fflush(stdout);
	if (!strcmp(mode, "call-rax") || !strcmp(mode, "die") || !strcmp(mode, "call-rax-16")) {
		want_rip = !strcmp(mode, "call-rax-16") ? 16 : 0;
		__asm__ volatile("lea 1f(%%rip), %%rdx\n"
				 "	mov %%rdx, %0\n"
				 "	lea -8(%%rsp), %%rdx\n"
				 "	mov %%rdx, %1\n"
				 "	movslq %2, %%rax\n"
				 "	mov $0x1234, %%ecx\n"
				 "	mov $0x5678, %%r11d\n"
				 "	call *%%rax\n"
				 "1:\n"
				 : "=m"(want_ret), "=m"(want_rsp)
				 : "m"(want_rip)
				 : "rax", "rcx", "rdx", "r11", "memory");
	} else if (!strcmp(mode, "call-rdx")) {
		__asm__ volatile("lea 1f(%%rip), %%rdx\n"
				 "	mov %%rdx, %0\n"
				 "	lea -8(%%rsp), %%rdx\n"
				 "	mov %%rdx, %1\n"
				 "	mov $39, %%eax\n"
				 "	mov $0x1234, %%ecx\n"
				 "	mov $0x5678, %%r11d\n"
				 "	xor %%edx, %%edx\n"
				 "	call *%%rdx\n"
				 "1:\n"
				 : "=m"(want_ret), "=m"(want_rsp)
				 :
				 : "rax", "rcx", "rdx", "r11", "memory");
	} else if (!strcmp(mode, "jmp-rax")) {
		/* The stack top is left as it was: the handler finds there
		 * the word we put. */
		__asm__ volatile("lea -8(%%rsp), %%rdx\n"
				 "	mov %%rdx, %1\n"
				 "	mov $0x77777777, %%edx\n"
				 "	mov %%rdx, %0\n"
				 "	push %%rdx\n"
				 "	xor %%eax, %%eax\n"
				 "	mov $0x1234, %%ecx\n"
				 "	mov $0x5678, %%r11d\n"
				 "	jmp *%%rax\n"
				 : "=m"(want_ret), "=m"(want_rsp)
				 :
				 : "rax", "rcx", "rdx", "r11", "memory");
	} else if (!strcmp(mode, "stale") || !strcmp(mode, "stale-remap")) {
		static const unsigned char getpid_code[] = { 0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3 };
		/* xor %eax,%eax; nop x3; call *%rax; ret: the call where the
		 * syscall was. */
		static const unsigned char null_call[] = { 0x31, 0xc0, 0x90, 0x90, 0x90, 0xff, 0xd0, 0xc3 };
		unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return 2;
		memcpy(p, getpid_code, sizeof getpid_code);
		for (int i = 0; i < 3; i++)
			((long (*)(void))(void *)p)();
		sval("stale-site-bytes", hex2(p + 5));
		if (!strcmp(mode, "stale-remap")) {
			unsigned char *q;

			munmap(p, 4096);
			q = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			val("stale-same-address", q == p);
			p = q;
		}
		memcpy(p, null_call, sizeof null_call);
		__asm__ volatile("" ::: "memory");
		want_rip = 0;
		want_ret = (unsigned long)p + 7;
		fflush(stdout);
		printf("val stale-returned %ld\n", ((long (*)(void))(void *)p)());
	} else {
		fprintf(stderr, "usage: null call-rax|call-rax-16|call-rdx|jmp-rax|die|stale|stale-remap|enosys [TOP]\n");
		return 2;
	}
	printf("FAIL null-%s: the call returned\n", mode);
	return 1;
}
