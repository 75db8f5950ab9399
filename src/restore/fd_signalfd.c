/* SPDX-License-Identifier: MIT */
/*
 * signalfd: a new one with the saved mask. The raw system call takes the
 * mask as the kernel showed it (glibc's sigset functions refuse the
 * signals it reserves for itself).
 */
#include <errno.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"

int rst_open_signalfd(struct rst_fds *s, const struct ckpt_fd *f)
{
	const struct ckpt_fd_signalfd *sf = rst_fd_data(s, f);
	uint64_t mask = sf->sigmask;
	int fd = syscall(SYS_signalfd4, -1, &mask, sizeof(mask), SFD_CLOEXEC);

	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: signalfd: %s", f->fd, strerror(errno));
	return rst_high_fd(s->x, fd);
}
