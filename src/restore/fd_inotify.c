/* SPDX-License-Identifier: MIT */
/*
 * inotify: a new instance with each watch added back by path, in the order
 * of their watch descriptors. The kernel hands out descriptors in
 * increasing order, so a gap before the next saved one is stepped over by
 * adding and removing a watch on a scratch memfd; the IN_IGNORED events
 * that leaves are read away before the program gets the fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"

#define WATCH_FLAGS	(IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK | IN_ONLYDIR)

/* Steps the next watch descriptor up to wd; *next is the one the kernel gives next. */
static int skip_to(int fd, const char *scratch, int wd, int *next)
{
	while (*next < wd) {
		int w = inotify_add_watch(fd, scratch, IN_ACCESS);

		if (w < 0 || inotify_rm_watch(fd, w))
			return -1;
		*next = w + 1;
	}
	return 0;
}

static void drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static int add_watches(struct rst_fds *s, const struct ckpt_fd *f, int fd, const char *scratch)
{
	const struct ckpt_fd_inotify *in = rst_fd_data(s, f);
	const struct ckpt_inotify_watch *w = (const void *)(in + 1);
	int next = 1;

	for (uint32_t i = 0; i < in->nr; i++) {
		const char *path = ckpt_image_str(s->x->img, w[i].path_str);
		int wd;

		if (skip_to(fd, scratch, w[i].wd, &next))
			return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: reaching inotify watch %d: %s",
					   f->fd, w[i].wd, strerror(errno));
		wd = inotify_add_watch(fd, path, (w[i].mask & WATCH_FLAGS) | IN_DONT_FOLLOW);
		if (wd < 0)
			return rst_fd_fail(s, CKPT_EXIT_FILES, "fd %d: inotify watch %d on %s: %s",
					   f->fd, w[i].wd, path, strerror(errno));
		if (wd != w[i].wd)
			return rst_fd_fail(s, CKPT_EXIT_FAIL,
					   "fd %d: inotify watch on %s got descriptor %d, not %d",
					   f->fd, path, wd, w[i].wd);
		next = wd + 1;
	}
	drain(fd);
	return 0;
}

int rst_open_inotify(struct rst_fds *s, const struct ckpt_fd *f)
{
	char scratch[64];
	int fd, mfd, ret;

	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	mfd = memfd_create("ckpt-inotify", MFD_CLOEXEC);
	if (fd < 0 || mfd < 0) {
		ret = rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: inotify_init1: %s", f->fd,
				  strerror(errno));
		goto out;
	}
	snprintf(scratch, sizeof(scratch), "/proc/self/fd/%d", mfd);
	ret = add_watches(s, f, fd, scratch);
	if (!ret) {
		ret = rst_high_fd(s->x, fd);
		fd = -1;
	}
out:
	if (mfd >= 0)
		close(mfd);
	if (fd >= 0)
		close(fd);
	return ret;
}
