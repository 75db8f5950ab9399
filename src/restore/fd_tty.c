/* SPDX-License-Identifier: MIT */
/*
 * The controlling terminal (on an fd other than 0-2) becomes the terminal
 * of whoever runs ckpt-restore: its standard input, opened again (an open
 * file of its own, so the program's O_NONBLOCK stays its own). Without a
 * terminal there the restore fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"

int rst_open_tty(struct rst_fds *s, const struct ckpt_fd *f)
{
	int in = s->saved_stdio[0];

	if (in < 0 || !isatty(in))
		return rst_fd_fail(s, CKPT_EXIT_ENV, "fd %d was the controlling terminal %s; the "
				   "standard input of ckpt-restore is not a terminal to attach it to",
				   f->fd, ckpt_image_str(s->x->img, f->path_str));
	return rst_fd_reopen(s, f, in, (f->flags & O_ACCMODE) | O_NOCTTY);
}
