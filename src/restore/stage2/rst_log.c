/* SPDX-License-Identifier: MIT */
/* The restorer's only output: a message, a hex number, an errno, then exit. */
#include <stdint.h>

#include "rst.h"
#include "syscall.h"

static void put(int fd, const char *s)
{
	long n = 0;

	while (s[n])
		n++;
	sys3(NR_write, fd, s, n);
}

static void put_hex(int fd, uint64_t v)
{
	char buf[19];
	int i = 18;

	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v && i > 2);
	buf[--i] = 'x';
	buf[--i] = '0';
	put(fd, buf + i);
}

void rst_die(const struct rst_args *a, const char *what, uint64_t addr, long err)
{
	put(a->log_fd, "ckpt-restore: error: restorer: ");
	put(a->log_fd, what);
	put(a->log_fd, " at ");
	put_hex(a->log_fd, addr);
	put(a->log_fd, " failed, errno ");
	put_hex(a->log_fd, (uint64_t)-err);
	put(a->log_fd, "\n");
	sys1(NR_exit_group, CKPT_RST_EXIT);
	__builtin_unreachable();
}
