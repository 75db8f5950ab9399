/* SPDX-License-Identifier: MIT */
/*
 * Pipes and FIFOs. The first entry of a pipe builds it: a new pipe, or the
 * FIFO opened read-write by its path (which never blocks), with the saved
 * capacity and the queued bytes written back. Every entry then opens the
 * pipe again through /proc/self/fd (a read or write end of the same pipe,
 * an open file of its own). The helper ends are closed once all fds are
 * back: a pipe whose other end was outside the process then has no peer.
 * A pipe between processes of a tree is built by the top ckpt-restore from
 * the reading side's entry, which has the queued bytes, and each process
 * opens its ends again from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"
#include "io.h"
#include "log.h"

static int open_fifo(struct rst_fds *s, const struct ckpt_fd *f, struct rst_fdobj *o)
{
	const char *path = ckpt_image_str(s->x->img, f->path_str);
	struct stat st;
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FILES, "fd %d: FIFO %s: %s", f->fd, path,
				   strerror(errno));
	if (fstat(fd, &st) || !S_ISFIFO(st.st_mode)) {
		close(fd);
		return rst_fd_fail(s, CKPT_EXIT_FILES, "fd %d: %s is no longer a FIFO", f->fd, path);
	}
	o->fd[0] = rst_high_fd(s->x, fd);
	return o->fd[0] < 0 ? -CKPT_EXIT_FAIL : 0;
}

static int open_pipe(struct rst_fds *s, const struct ckpt_fd *f, struct rst_fdobj *o)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: pipe: %s", f->fd, strerror(errno));
	o->fd[0] = rst_high_fd(s->x, p[0]);
	o->fd[1] = rst_high_fd(s->x, p[1]);
	return o->fd[0] < 0 || o->fd[1] < 0 ? -CKPT_EXIT_FAIL : 0;
}

int rst_pipe_ends(const struct rst_fds *s, const struct ckpt_fd *f)
{
	int ends = 0;

	for (uint32_t k = 0; k < rst_fds_nr_images(s); k++) {
		const struct ckpt_image *img = rst_fds_image(s, k);

		for (uint32_t i = 0; i < img->nr_fds; i++) {
			const struct ckpt_fd *e = &img->fds[i];
			int acc = e->flags & O_ACCMODE;

			if (e->kind != f->kind || e->dev != f->dev || e->ino != f->ino)
				continue;
			ends |= (acc != O_WRONLY ? RST_PIPE_READ : 0) |
				(acc != O_RDONLY ? RST_PIPE_WRITE : 0);
		}
	}
	return ends;
}

static int build(struct rst_fds *s, const struct ckpt_fd *f)
{
	const struct ckpt_fd_pipe *p = rst_fd_data(s, f);
	const char *path = ckpt_image_str(s->x->img, f->path_str);
	struct rst_fdobj *o = rst_fdobj_add(s, f);
	int ret = f->kind == CKPT_FD_FIFO ? open_fifo(s, f, o) : open_pipe(s, f, o);
	int wfd = o->fd[1] >= 0 ? o->fd[1] : o->fd[0];

	if (ret)
		return ret;
	if (fcntl(wfd, F_SETPIPE_SZ, p->capacity) < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: cannot give %s a capacity of %u: %s",
				   f->fd, path, p->capacity, strerror(errno));
	if (ckpt_write_all(wfd, p + 1, p->queued))
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: cannot queue %llu bytes in %s: %s",
				   f->fd, (unsigned long long)p->queued, path, strerror(errno));
	/* the other end may be in another process of the tree */
	if ((f->xflags & CKPT_FDX_PEER_GONE) &&
	    rst_pipe_ends(s, f) != (RST_PIPE_READ | RST_PIPE_WRITE))
		pr_warn("fd %d: the other end of %s was not in the process; restored without it "
			"(reading ends after the queued bytes, writing fails with EPIPE)", f->fd,
			path);
	return 0;
}

int rst_open_pipe(struct rst_fds *s, const struct ckpt_fd *f)
{
	struct rst_fdobj *o = rst_fdobj_find(s, f);

	if (!o) {
		int ret = build(s, f);

		if (ret)
			return ret;
		o = rst_fdobj_find(s, f);
	}
	return rst_fd_reopen(s, f, o->fd[0], (f->flags & O_ACCMODE) | O_NONBLOCK);
}
