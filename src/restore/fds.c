/* SPDX-License-Identifier: MIT */
/*
 * File descriptors go back at their old numbers with their flags and
 * offsets. Files, directories and devices are reopened by path; standard
 * streams that were a terminal, pipe or socket are taken from whoever runs
 * ckpt-restore; the other kinds are rebuilt by fd_*.c. A duplicate (same
 * open file as an earlier fd) is a dup of that fd. epoll instances come
 * last, once every fd they watch exists. ckpt-restore's own descriptors
 * (the image, mapped files, the status pipe) are moved above every number
 * the program uses and closed by the restorer. A process of a tree starts
 * with the objects the top built for the whole tree (tree_objs.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"
#include "log.h"
#include "tree.h"

#define SETFL_FLAGS	(O_APPEND | O_NONBLOCK)

/* Moves fd to a number >= fd_base; returns the new number or -1. */
int rst_move_fd(int fd, int base)
{
	int nfd;

	if (fd < 0 || fd >= base)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, base);
	close(fd);
	return nfd;
}

int rst_high_fd(struct rst_ctx *x, int fd)
{
	return rst_move_fd(fd, x->fd_base);
}

int rst_fd_by_path(const struct ckpt_fd *f)
{
	switch (f->kind) {
	case CKPT_FD_REG:
	case CKPT_FD_DIR:
	case CKPT_FD_CHR:
	case CKPT_FD_FIFO:
		return 1;
	default:
		return 0;
	}
}

int rst_fd_fail(struct rst_fds *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->x->err, sizeof(s->x->err), fmt, ap);
	va_end(ap);
	return -code;
}

uint32_t rst_fds_nr_images(const struct rst_fds *s)
{
	return 1 + s->x->nr_others;
}

const struct ckpt_image *rst_fds_image(const struct rst_fds *s, uint32_t k)
{
	return k ? s->x->others[k - 1] : s->x->img;
}

const struct ckpt_image *rst_fd_image(const struct rst_fds *s, const struct ckpt_fd *f)
{
	for (uint32_t k = 0; k < rst_fds_nr_images(s); k++) {
		const struct ckpt_image *img = rst_fds_image(s, k);

		if (f >= img->fds && f < img->fds + img->nr_fds)
			return img;
	}
	return s->x->img;
}

const void *rst_fd_data(const struct rst_fds *s, const struct ckpt_fd *f)
{
	return ckpt_image_fd_data(rst_fd_image(s, f), f);
}

const struct ckpt_fd *rst_fd_entry(const struct rst_fds *s, uint32_t kind, uint64_t ino)
{
	for (uint32_t k = 0; k < rst_fds_nr_images(s); k++) {
		const struct ckpt_image *img = rst_fds_image(s, k);

		for (uint32_t i = 0; i < img->nr_fds; i++) {
			const struct ckpt_fd *f = &img->fds[i];

			if (f->kind == kind && f->ino == ino && !(f->xflags & CKPT_FDX_DUP))
				return f;
		}
	}
	return NULL;
}

struct rst_fdobj *rst_fdobj_find(struct rst_fds *s, const struct ckpt_fd *f)
{
	for (uint32_t i = 0; i < s->nr_objs; i++) {
		struct rst_fdobj *o = &s->objs[i];

		if (o->kind == f->kind && o->dev == f->dev && o->ino == f->ino)
			return o;
	}
	return NULL;
}

/* Room for one object per entry: each entry builds at most one of its own. */
struct rst_fdobj *rst_fdobj_add(struct rst_fds *s, const struct ckpt_fd *f)
{
	struct rst_fdobj *o = &s->objs[s->nr_objs++];

	o->kind = f->kind;
	o->dev = f->dev;
	o->ino = f->ino;
	o->fd[0] = o->fd[1] = -1;
	return o;
}

int rst_fd_reopen(struct rst_fds *s, const struct ckpt_fd *f, int src, int flags)
{
	char link[64];
	int fd;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", src);
	fd = open(link, flags | O_CLOEXEC);
	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: opening %s again: %s", f->fd,
				   ckpt_image_str(s->x->img, f->path_str), strerror(errno));
	return rst_high_fd(s->x, fd);
}

static int open_stdio(struct rst_fds *s, const struct ckpt_fd *f)
{
	if (s->saved_stdio[f->fd] >= 0)
		return fcntl(s->saved_stdio[f->fd], F_DUPFD_CLOEXEC, s->x->fd_base);
	return rst_high_fd(s->x, open("/dev/null", O_RDWR | O_CLOEXEC));
}

static int open_path(struct rst_fds *s, const struct ckpt_fd *f)
{
	const char *path = ckpt_image_str(s->x->img, f->path_str);
	int flags = f->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY);
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FILES, "fd %d: cannot reopen %s: %s", f->fd, path,
				   strerror(errno));
	if (f->kind == CKPT_FD_REG && !(f->flags & O_PATH) && lseek(fd, f->pos, SEEK_SET) < 0) {
		close(fd);
		return rst_fd_fail(s, CKPT_EXIT_FILES, "fd %d: cannot seek %s to %lld: %s", f->fd,
				   path, (long long)f->pos, strerror(errno));
	}
	return rst_high_fd(s->x, fd);
}

static int (*const open_kind[CKPT_FD_MAX])(struct rst_fds *, const struct ckpt_fd *) = {
	[CKPT_FD_REG] = open_path,
	[CKPT_FD_DIR] = open_path,
	[CKPT_FD_CHR] = open_path,
	[CKPT_FD_STDIO] = open_stdio,
	[CKPT_FD_PIPE] = rst_open_pipe,
	[CKPT_FD_FIFO] = rst_open_pipe,
	[CKPT_FD_UNIX] = rst_open_unix,
	[CKPT_FD_EVENTFD] = rst_open_eventfd,
	[CKPT_FD_TIMERFD] = rst_open_timerfd,
	[CKPT_FD_SIGNALFD] = rst_open_signalfd,
	[CKPT_FD_EPOLL] = rst_open_epoll,
	[CKPT_FD_INOTIFY] = rst_open_inotify,
	[CKPT_FD_MEMFD] = rst_open_file,
	[CKPT_FD_DELETED] = rst_open_file,
	[CKPT_FD_TTY] = rst_open_tty,
	[CKPT_FD_INET] = rst_open_inet,
};

/*
 * A tree member's standard stream on a pipe is that pipe if the tree
 * restores both its ends, else ckpt-restore's stream, as CKPT_FD_STDIO.
 */
static int as_stdio(const struct rst_fds *s, const struct ckpt_fd *f)
{
	return f->kind == CKPT_FD_STDIO ||
	       ((f->xflags & CKPT_FDX_STDIO) &&
		rst_pipe_ends(s, f) != (RST_PIPE_READ | RST_PIPE_WRITE));
}

/*
 * What the top built for several processes of a tree: an open file they
 * share (FDX_INHERITED), or a TCP or UDP socket (one open file, as it
 * was); else the kind's open function.
 */
static int open_entry(struct rst_fds *s, const struct ckpt_fd *f)
{
	struct rst_fdobj *o = f->kind == CKPT_FD_INET ? rst_fdobj_find(s, f) : NULL;
	int fd = s->x->tree ? rst_tree_file_fd(s->x->tree, s->x->img, f) : -1;

	if (as_stdio(s, f))
		return open_stdio(s, f);
	if (fd < 0 && o)
		fd = o->fd[0];
	if (fd >= 0)
		return fcntl(fd, F_DUPFD_CLOEXEC, s->x->fd_base);
	return open_kind[f->kind](s, f);
}

int rst_fd_open_kind(struct rst_fds *s, const struct ckpt_fd *f)
{
	int fd = open_kind[f->kind](s, f);

	if (fd < 0 && !s->x->err[0])
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: %s", f->fd, strerror(errno));
	return fd;
}

int rst_fd_prebuild(struct rst_fds *s, const struct ckpt_fd *f)
{
	int fd;

	if (rst_fdobj_find(s, f))
		return 0;
	fd = rst_fd_open_kind(s, f);
	if (fd < 0)
		return fd;
	if (rst_fdobj_find(s, f)) {
		close(fd);	/* the kind keeps its object; fd was one entry's */
		return 0;
	}
	rst_fdobj_add(s, f)->fd[0] = fd;
	return 0;
}

/* O_APPEND and O_NONBLOCK as they were, for the kinds not opened with f->flags. */
static int set_status_flags(const struct ckpt_fd *f)
{
	int cur = fcntl(f->fd, F_GETFL);

	if (cur < 0)
		return -1;
	return fcntl(f->fd, F_SETFL, (cur & ~SETFL_FLAGS) | (f->flags & SETFL_FLAGS));
}

static int restore_one(struct rst_fds *s, const struct ckpt_fd *f)
{
	int cloexec = (f->fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0;
	int fd;

	if (f->xflags & CKPT_FDX_DUP) {
		if (dup3(f->dup_of, f->fd, cloexec) < 0)
			return -rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: dup3 of fd %d: %s", f->fd,
					    f->dup_of, strerror(errno));
		return CKPT_EXIT_OK;
	}
	fd = open_entry(s, f);
	if (fd < 0) {
		/* -1 (CKPT_EXIT_FAIL) may come from a failed rst_high_fd */
		if (!s->x->err[0])
			rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: %s", f->fd, strerror(errno));
		return -fd;
	}
	if (dup3(fd, f->fd, cloexec) < 0) {
		close(fd);
		return -rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: dup3: %s", f->fd, strerror(errno));
	}
	close(fd);
	if (open_kind[f->kind] != open_path && !as_stdio(s, f) && set_status_flags(f))
		return -rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: F_SETFL: %s", f->fd,
				    strerror(errno));
	return CKPT_EXIT_OK;
}

/* epoll instances last: the fds they watch must exist. */
static int restore_pass(struct rst_fds *s, int epolls)
{
	for (uint32_t i = 0; i < s->x->img->nr_fds; i++) {
		const struct ckpt_fd *f = &s->x->img->fds[i];
		int ret;

		if ((f->kind == CKPT_FD_EPOLL) != epolls)
			continue;
		ret = restore_one(s, f);
		if (ret)
			return ret;
	}
	return CKPT_EXIT_OK;
}

int rst_restore_fds(struct rst_ctx *x)
{
	struct rst_fds s = { .x = x };
	uint32_t pre = x->tree ? x->tree->nr_objs : 0;
	int ret;

	s.objs = calloc(x->img->nr_fds + 1 + pre, sizeof(*s.objs));
	if (!s.objs) {
		snprintf(x->err, sizeof(x->err), "out of memory");
		return CKPT_EXIT_FAIL;
	}
	/* the tree's shared objects, inherited from the top; closed below like ours */
	if (pre)
		memcpy(s.objs, x->tree->objs, pre * sizeof(*s.objs));
	s.nr_objs = pre;
	for (int i = 0; i < 3; i++)
		s.saved_stdio[i] = fcntl(i, F_DUPFD_CLOEXEC, x->fd_base);
	ret = restore_pass(&s, 0);
	if (!ret)
		ret = restore_pass(&s, 1);
	for (uint32_t i = 0; i < s.nr_objs; i++) {
		for (int k = 0; k < 2; k++)
			if (s.objs[i].fd[k] >= 0)
				close(s.objs[i].fd[k]);
	}
	for (int i = 0; i < 3; i++)
		if (s.saved_stdio[i] >= 0)
			close(s.saved_stdio[i]);
	/* last: closing any fd of a file drops the process's POSIX locks on it */
	if (!ret)
		ret = -rst_file_locks(&s);
	free(s.objs);
	return ret;
}

static int is_app_fd(const struct ckpt_image *img, int fd)
{
	for (uint32_t i = 0; i < img->nr_fds; i++)
		if (img->fds[i].fd == fd)
			return 1;
	return 0;
}

static int is_helper_fd(const struct rst_ctx *x, int fd)
{
	if (fd == x->img->fd || fd == x->status_fd || fd == x->exe_fd)
		return 1;
	for (uint32_t k = 0; x->chain && k < x->chain->n; k++)
		if (fd == x->chain->imgs[k]->fd || fd == x->chain->memfd[k])
			return 1;
	for (uint32_t k = 0; x->chain && k < x->chain->n; k++)
		if (fd == x->chain->imgs[k]->fd)
			return 1;
	for (uint32_t i = 0; i < x->img->nr_regions; i++)
		if (x->region_fd && x->region_fd[i] == fd)
			return 1;
	return 0;
}

/* Closes what ckpt-restore inherited that the program did not have. */
void rst_close_others(struct rst_ctx *x)
{
	DIR *d = opendir("/proc/self/fd");
	int fds[4096], n = 0;
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) && n < 4096) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d))
			continue;
		if (!is_app_fd(x->img, fd) && !is_helper_fd(x, fd))
			fds[n++] = fd;
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}
