/* SPDX-License-Identifier: MIT */
/* signalfd: its signal mask ("sigmask" in fdinfo, hexadecimal). */
#include <errno.h>
#include <stdlib.h>

#include "fds.h"

int ckpt_save_signalfd(struct ckpt_capture *c, struct ckpt_fd *f)
{
	const char *info = ckpt_fdinfo(c, f);
	const char *mask;
	struct ckpt_fd_signalfd *s;

	if (!info)
		return -EIO;
	mask = ckpt_fdinfo_field(info, "sigmask");
	if (!mask) {
		ckpt_fail(c, "fd %d: signalfd without sigmask in its fdinfo", f->fd);
		return -EIO;
	}
	s = ckpt_fd_data(c, f, sizeof(*s));
	if (!s)
		return -ENOSPC;
	s->sigmask = strtoull(mask, NULL, 16);
	return 0;
}
