/* SPDX-License-Identifier: MIT */
/*
 * eventfd: the counter ("eventfd-count", hexadecimal) and semaphore mode
 * ("eventfd-semaphore", shown by recent kernels) from fdinfo. Where the
 * kernel does not show the mode, the fd is restored in counter mode.
 */
#include <errno.h>
#include <stdlib.h>

#include "fds.h"

int ckpt_save_eventfd(struct ckpt_capture *c, struct ckpt_fd *f)
{
	const char *info = ckpt_fdinfo(c, f);
	const char *count, *sem;
	struct ckpt_fd_eventfd *e;

	if (!info)
		return -EIO;
	count = ckpt_fdinfo_field(info, "eventfd-count");
	sem = ckpt_fdinfo_field(info, "eventfd-semaphore");
	if (!count) {
		ckpt_fail(c, "fd %d: eventfd without eventfd-count in its fdinfo", f->fd);
		return -EIO;
	}
	e = ckpt_fd_data(c, f, sizeof(*e));
	if (!e)
		return -ENOSPC;
	e->count = strtoull(count, NULL, 16);
	e->semaphore = sem && strtoul(sem, NULL, 10);
	return 0;
}
