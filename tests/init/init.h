/*
 * Shared by the test init's files (init.c: the checks of the process
 * model and the modes; hardening.c: the checks of the hardening issue).
 * A check returns 1 on success, or 0 after setting `detail` with fail().
 */
#ifndef NABLA_INIT_H
#define NABLA_INIT_H

#include <spawn.h>
#include <sys/types.h>

extern const char *self_path;
extern int native; /* not pid 1: an ordinary process on some host */
extern char detail[512];

int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fail_errno(const char *what);
int spawn_self(const char *mode_arg, const posix_spawn_file_actions_t *fa, pid_t *pid);
int wait_child(pid_t pid, int *status);
void describe_status(int status, char *out, size_t cap);
int expect_child(const char *what, pid_t pid, int want_status, int want_signal);
int spawn_expect(const char *mode, int want_status, int want_signal);
long long mono_ns(void);
int power_off(void);
/* CPUID leaf/sub-leaf into r[0..4] = eax, ebx, ecx, edx. */
void cpuid(unsigned int leaf, unsigned int sub, unsigned int r[4]);
/* The low word of XCR0, or 0 when the OS has not enabled XSAVE. */
unsigned int xcr0_low(void);

/* hardening.c: checks (part of the test mode) */
int check_empty_buffers(void);
int check_stdio_pipe(void);
int check_stdio_file(void);
int check_clone_novm(void);
int check_far32(void);
int check_int80(void);
int check_pkru(void);
int pkru_check_runs(void);
int have_avx512(void);
int check_avx512(void);

/* hardening.c: modes */
int mode_stdio_lines(void);
int mode_far32(void);
int mode_int80(void);
int mode_pkru(void);
int mode_pkru_store(void);
int mode_avx512_child(void);
int mode_big_mmap(void);
int mode_spawn_many(const char *arg);

#endif
