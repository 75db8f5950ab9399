/* SPDX-License-Identifier: MIT */
/* eventfd: a new one in the saved mode, its counter written back. */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"

int rst_open_eventfd(struct rst_fds *s, const struct ckpt_fd *f)
{
	const struct ckpt_fd_eventfd *e = rst_fd_data(s, f);
	int fd = eventfd(0, EFD_CLOEXEC | (e->semaphore ? EFD_SEMAPHORE : 0));

	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: eventfd: %s", f->fd, strerror(errno));
	if (e->count && write(fd, &e->count, sizeof(e->count)) != sizeof(e->count)) {
		close(fd);
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: setting the eventfd counter: %s",
				   f->fd, strerror(errno));
	}
	return rst_high_fd(s->x, fd);
}
