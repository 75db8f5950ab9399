/* SPDX-License-Identifier: MIT */
/*
 * epoll: the interest list, one "tfd: N events: X data: Y" line of fdinfo
 * per target. Restore adds the targets back once every other fd exists.
 * Each target must still be the file open at its fd number (checked with
 * kcmp(KCMP_EPOLL_TFD)); a target that is itself an epoll is refused.
 */
#include <errno.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fds.h"

/* Is the toff-th registration of tfd in epoll efd the file now open at tfd? */
static int same_target(int efd, int tfd, int toff)
{
	struct kcmp_epoll_slot slot = { .efd = efd, .tfd = tfd, .toff = toff };
	pid_t pid = getpid();
	long r = syscall(SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, tfd, &slot);

	return !r || (r < 0 && errno == ENOSYS);
}

static int registrations_before(const struct ckpt_epoll_tfd *t, uint32_t nr, int tfd)
{
	int n = 0;

	for (uint32_t i = 0; i < nr; i++)
		n += t[i].tfd == tfd;
	return n;
}

int ckpt_save_epoll(struct ckpt_capture *c, struct ckpt_fd *f)
{
	const char *info = ckpt_fdinfo(c, f);
	struct ckpt_fd_epoll *e;
	struct ckpt_epoll_tfd *targets;

	if (!info)
		return -EIO;
	e = ckpt_fd_data(c, f, sizeof(*e));
	if (!e)
		return -ENOSPC;
	targets = (struct ckpt_epoll_tfd *)(e + 1);
	for (const char *line = info; *line; line = strchr(line, '\n') + 1) {
		struct ckpt_epoll_tfd *t;
		const struct ckpt_fd *target;
		unsigned long long data;
		unsigned events;
		int tfd;

		if (!strchr(line, '\n'))
			break;
		if (strncmp(line, "tfd:", 4))
			continue;
		if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3) {
			ckpt_fail(c, "fd %d: cannot parse epoll fdinfo line", f->fd);
			return -EIO;
		}
		target = ckpt_fd_lookup(c, tfd);
		if (!target || !same_target(f->fd, tfd, registrations_before(targets, e->nr, tfd))) {
			ckpt_fail(c, "fd %d: epoll watches a file that is no longer open at fd %d",
				  f->fd, tfd);
			return -ENOTSUP;
		}
		if (target->kind == CKPT_FD_EPOLL) {
			ckpt_fail(c, "fd %d: epoll watches epoll fd %d; nested epoll is not supported",
				  f->fd, tfd);
			return -ENOTSUP;
		}
		t = ckpt_fd_data(c, f, sizeof(*t));
		if (!t)
			return -ENOSPC;
		t->tfd = tfd;
		t->events = events;
		t->data = data;
		e->nr++;
	}
	return 0;
}
