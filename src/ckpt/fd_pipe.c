/* SPDX-License-Identifier: MIT */
/*
 * Pipes and FIFOs. Entries with the same inode are one pipe; its first
 * entry records the pipe's capacity and the bytes queued in it. The bytes
 * are copied with tee(2) into a pipe of our own and read from there: tee
 * duplicates the pipe's buffers without consuming them, so the pipe stays
 * exactly as it was for the application, and for a process at the other
 * end if there is one; nothing is written back.
 *
 * A pipe with only one end in the process is marked CKPT_FDX_PEER_GONE
 * and restored with that end alone, as if the other process had exited:
 * a read end delivers what was queued, then end of file; a write end fails
 * with EPIPE. What is queued for a reader elsewhere belongs to that reader
 * and is not saved; neither is the content of a FIFO with an end elsewhere
 * (the FIFO keeps it as long as the other process holds it open).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fds.h"
#include "io.h"

static int is_reader(const struct ckpt_fd *f)
{
	return (f->flags & O_ACCMODE) != O_WRONLY;
}

static int is_writer(const struct ckpt_fd *f)
{
	return (f->flags & O_ACCMODE) != O_RDONLY;
}

static int same_pipe(const struct ckpt_fd *a, const struct ckpt_fd *b)
{
	return !(b->xflags & CKPT_FDX_DUP) && a->kind == b->kind && a->dev == b->dev &&
	       a->ino == b->ino;
}

static int copy_queued(struct ckpt_capture *c, struct ckpt_fd *f, int rfd,
		       struct ckpt_fd_pipe *p)
{
	int queued = 0, tmp[2], ret = 0;
	ssize_t n;
	char *buf;

	if (ioctl(rfd, FIONREAD, &queued) || queued <= 0)
		return 0;
	if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK)) {
		ckpt_fail(c, "fd %d: pipe: %s", f->fd, strerror(errno));
		return -errno;
	}
	if (fcntl(tmp[1], F_SETPIPE_SZ, p->capacity) < 0) {
		ckpt_fail(c, "fd %d: cannot make a pipe of %u bytes to copy it: %s", f->fd,
			  p->capacity, strerror(errno));
		ret = -errno;
		goto out;
	}
	n = tee(rfd, tmp[1], queued, SPLICE_F_NONBLOCK);
	if (n != queued) {
		ckpt_fail(c, "fd %d: tee copied %zd of %d queued bytes", f->fd, n, queued);
		ret = -EIO;
		goto out;
	}
	buf = ckpt_fd_data(c, f, queued);
	if (!buf) {
		ret = -ENOSPC;
		goto out;
	}
	ret = ckpt_read_all(tmp[0], buf, queued) ? -EIO : 0;
	if (ret)
		ckpt_fail(c, "fd %d: cannot read the copy of its queued bytes", f->fd);
	p->queued = queued;
out:
	close(tmp[0]);
	close(tmp[1]);
	return ret;
}

int ckpt_save_pipe(struct ckpt_capture *c, struct ckpt_fd *f)
{
	int readers = 0, writers = 0, rfd = -1, capacity;
	struct ckpt_fd_pipe *p;

	if (f->flags & O_DIRECT) {
		ckpt_fail(c, "fd %d: packet-mode pipe (O_DIRECT) is not supported yet", f->fd);
		return -ENOTSUP;
	}
	if (ckpt_fd_first(c, f) != f)
		return 0;
	for (uint32_t i = 0; i < c->nr_fds; i++) {
		const struct ckpt_fd *o = &c->fds[i];

		if (!same_pipe(f, o))
			continue;
		readers += is_reader(o);
		writers += is_writer(o);
		if (rfd < 0 && is_reader(o))
			rfd = o->fd;
	}
	capacity = fcntl(f->fd, F_GETPIPE_SZ);
	if (capacity < 0) {
		ckpt_fail(c, "fd %d: F_GETPIPE_SZ: %s", f->fd, strerror(errno));
		return -errno;
	}
	p = ckpt_fd_data(c, f, sizeof(*p));
	if (!p)
		return -ENOSPC;
	p->capacity = capacity;
	if (!readers || !writers) {
		for (uint32_t i = 0; i < c->nr_fds; i++)
			if (same_pipe(f, &c->fds[i]))
				c->fds[i].xflags |= CKPT_FDX_PEER_GONE;
	}
	if (!readers || (f->kind == CKPT_FD_FIFO && !writers))
		return 0;
	return copy_queued(c, f, rfd, p);
}
