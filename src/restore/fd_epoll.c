/* SPDX-License-Identifier: MIT */
/*
 * epoll: a new instance with every target added back by its fd number,
 * which is the same file again by now (epoll entries are restored after
 * all other fds). The kernel polls each target as it is added, so what is
 * ready shows up again, once, also for edge-triggered targets.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"

int rst_open_epoll(struct rst_fds *s, const struct ckpt_fd *f)
{
	const struct ckpt_fd_epoll *e = rst_fd_data(s, f);
	const struct ckpt_epoll_tfd *t = (const void *)(e + 1);
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: epoll_create1: %s", f->fd,
				   strerror(errno));
	for (uint32_t i = 0; i < e->nr; i++) {
		struct epoll_event ev = { .events = t[i].events, .data.u64 = t[i].data };

		if (epoll_ctl(fd, EPOLL_CTL_ADD, t[i].tfd, &ev)) {
			close(fd);
			return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: adding fd %d to epoll: %s",
					   f->fd, t[i].tfd, strerror(errno));
		}
	}
	return rst_high_fd(s->x, fd);
}
