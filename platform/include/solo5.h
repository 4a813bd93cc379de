/* SPDX-License-Identifier: Apache-2.0 */
/*
 * solo5.h: the Solo5 public interface, as implemented by nabla-platform
 * (feature "solo5", built as libnabla_platform.a). Written for Nabla from
 * the documented Solo5 API: same types, result codes and semantics, so a
 * unikernel written for Solo5 builds unchanged.
 *
 * Differences: block requests may span many blocks (up to the device's
 * maximum, 256 KiB); calls on absent devices return SOLO5_R_EINVAL
 * instead of aborting.
 *
 * Like Solo5's header it needs nothing but the compiler's own freestanding
 * headers (with -nostdinc, add -isystem $(cc -print-file-name=include)),
 * and it brings bool, size_t, the fixed-width integers and va_list with it.
 */
#ifndef NABLA_SOLO5_H
#define NABLA_SOLO5_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	SOLO5_R_OK = 0,
	SOLO5_R_AGAIN,
	SOLO5_R_EINVAL,
	SOLO5_R_EUNSPEC
} solo5_result_t;

struct solo5_start_info {
	const char *cmdline;
	uintptr_t heap_start;
	size_t heap_size;
};

/* The application's entry point; its return value is the exit status. */
int solo5_app_main(const struct solo5_start_info *info);

#define SOLO5_EXIT_SUCCESS 0
#define SOLO5_EXIT_FAILURE 1
#define SOLO5_EXIT_ABORT 255

void solo5_exit(int status) __attribute__((noreturn));
void solo5_abort(void) __attribute__((noreturn));

/* Set the thread pointer (%fs base on x86_64). */
solo5_result_t solo5_set_tls_base(uintptr_t base);

/*
 * Thread-local storage (x86_64 TLS variant II). A TLS block is
 * solo5_tls_size() bytes of the application's memory, of any alignment;
 * solo5_tls_init(tls) fills it (.tdata copied, .tbss zeroed, the word at
 * the thread pointer set to its own address; SOLO5_R_EINVAL for tls == 0),
 * and solo5_set_tls_base(solo5_tls_tp_offset(tls)) makes it current.
 */
size_t solo5_tls_size(void);
uintptr_t solo5_tls_tp_offset(uintptr_t tls);
solo5_result_t solo5_tls_init(uintptr_t tls);

typedef uint64_t solo5_time_t;
solo5_time_t solo5_clock_monotonic(void);
solo5_time_t solo5_clock_wall(void);

typedef uint64_t solo5_handle_t;
typedef uint64_t solo5_handle_set_t;

/* Sleep until the deadline (monotonic ns) or until a network device has
 * input; the ready devices' bits (1 << handle) go to *ready_set. */
void solo5_yield(solo5_time_t deadline, solo5_handle_set_t *ready_set);

void solo5_console_write(const char *buf, size_t size);

#define SOLO5_NET_ALEN 6
#define SOLO5_NET_HLEN 14

struct solo5_net_info {
	uint8_t mac_address[SOLO5_NET_ALEN];
	size_t mtu; /* without the Ethernet header */
};

solo5_result_t solo5_net_acquire(const char *name, solo5_handle_t *handle,
				 struct solo5_net_info *info);
solo5_result_t solo5_net_write(solo5_handle_t handle, const uint8_t *buf,
			       size_t size);
solo5_result_t solo5_net_read(solo5_handle_t handle, uint8_t *buf,
			      size_t size, size_t *read_size);

typedef uint64_t solo5_off_t;

struct solo5_block_info {
	solo5_off_t capacity;
	solo5_off_t block_size;
};

solo5_result_t solo5_block_acquire(const char *name, solo5_handle_t *handle,
				   struct solo5_block_info *info);
solo5_result_t solo5_block_write(solo5_handle_t handle, solo5_off_t offset,
				 const uint8_t *buf, size_t size);
solo5_result_t solo5_block_read(solo5_handle_t handle, solo5_off_t offset,
				uint8_t *buf, size_t size);

#endif
