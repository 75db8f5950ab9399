/* SPDX-License-Identifier: MIT */
/*
 * Files that existed only while open. The first entry of a file builds it:
 * a memfd that a shared mapping also maps is the memfd files.c made for
 * that mapping (so the fd and the mapping share one memfd again), any other
 * memfd a new one with the saved name and seals; a deleted file becomes an
 * unlinked temporary file (O_TMPFILE) in its old directory, or in /tmp if
 * that is gone, with its old mode. The saved contents are written into it.
 * Every entry then opens it again through /proc/self/fd, with its own
 * access mode and offset. A memfd that several processes of a tree map or
 * hold is the one the top ckpt-restore made for them all (tree_objs.c).
 *
 * File locks of regular files are taken again once every fd is back (a
 * close of any fd of a file drops the process's POSIX locks on it), through
 * the fd they were held by, without waiting: a lock that another process
 * holds now fails the restore (CKPT_EXIT_FILES) naming the file and range.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"
#include "io.h"
#include "log.h"

#define REOPEN_FLAGS	(O_ACCMODE | O_SYNC | O_DSYNC | O_NOATIME)
#define DELETED		" (deleted)"

static int write_contents(int fd, const struct ckpt_fd_file *h)
{
	const char *p = (const char *)(h + 1);

	for (uint32_t i = 0; i < h->nr_extents; i++) {
		struct ckpt_fd_extent e;

		memcpy(&e, p, sizeof(e));
		p += sizeof(e);
		if (ckpt_pwrite_all(fd, p, e.len, e.off))
			return -1;
		p += (e.len + 7) & ~7ull;
	}
	return 0;
}

/* The memfd made for a shared mapping of this file (files.c, tree_objs.c), or -1. */
static int mapping_memfd(struct rst_fds *s, const struct ckpt_fd *f)
{
	const struct ckpt_image *img = s->x->img;
	int fd = rst_tree_shm_fd(s->x->tree, CKPT_REG_MEMFD, f->dev, f->ino);

	if (fd >= 0 || !s->x->region_fd)
		return fd;
	for (uint32_t i = 0; i < img->nr_regions; i++) {
		const struct ckpt_region *r = &img->regions[i];

		if (r->kind != CKPT_REG_MEMFD || !(r->flags & CKPT_REGF_SHARED) ||
		    r->dev != f->dev || r->ino != f->ino || s->x->region_fd[i] < 0)
			continue;
		fd = s->x->region_fd[i];
		if (r->prot & PROT_WRITE)
			break;	/* the one the program writes through */
	}
	return fd;
}

static int new_memfd(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_file *h)
{
	const char *path = ckpt_image_str(s->x->img, f->path_str);
	char name[NAME_MAX];
	size_t n;
	int fd;

	/* "/memfd:NAME (deleted)" */
	path += strlen("/memfd:");
	n = strlen(path);
	if (n >= strlen(DELETED) && !strcmp(path + n - strlen(DELETED), DELETED))
		n -= strlen(DELETED);
	snprintf(name, sizeof(name), "%.*s", (int)n, path);
	fd = memfd_create(name, MFD_CLOEXEC | (h->seals ? MFD_ALLOW_SEALING : 0));
	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: memfd_create(%s): %s", f->fd, name,
				   strerror(errno));
	return fd;
}

static int tmpfile_in(const char *dir, mode_t mode)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);

	if (fd >= 0 && fchmod(fd, mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int new_tmpfile(struct rst_fds *s, const struct ckpt_fd *f)
{
	const char *path = ckpt_image_str(s->x->img, f->path_str);
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%.*s", slash && slash != path ? (int)(slash - path) : 1,
		 path);
	fd = tmpfile_in(dir, f->mode & 07777);
	if (fd < 0) {
		fd = tmpfile_in("/tmp", f->mode & 07777);
		snprintf(dir, sizeof(dir), "/tmp");
	}
	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: cannot recreate deleted file %s: %s",
				   f->fd, path, strerror(errno));
	pr_info("fd %d: deleted file %s recreated as an unlinked file in %s", f->fd, path, dir);
	return fd;
}

static int build(struct rst_fds *s, const struct ckpt_fd *f)
{
	const struct ckpt_fd_file *h = rst_fd_data(s, f);
	struct rst_fdobj *o = rst_fdobj_add(s, f);
	int shared = -1, fd;

	if (f->kind == CKPT_FD_MEMFD)
		shared = mapping_memfd(s, f);
	if (shared >= 0)
		fd = fcntl(shared, F_DUPFD_CLOEXEC, s->x->fd_base);
	else if (f->kind == CKPT_FD_MEMFD)
		fd = new_memfd(s, f, h);
	else
		fd = new_tmpfile(s, f);
	if (fd >= 0)
		fd = o->fd[0] = rst_high_fd(s->x, fd);
	if (fd < 0)
		return s->x->err[0] ? fd : rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: %s", f->fd,
						       strerror(errno));
	if (ftruncate(fd, h->size) || write_contents(fd, h))
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: writing the contents of %s: %s",
				   f->fd, ckpt_image_str(s->x->img, f->path_str), strerror(errno));
	if (shared >= 0 && (h->seals & ~F_SEAL_SEAL))
		pr_warn("fd %d: memfd seals %#x not restored: the memfd of its mapping cannot be "
			"sealed", f->fd, h->seals);
	if (shared < 0 && h->seals && fcntl(fd, F_ADD_SEALS, h->seals))
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: F_ADD_SEALS %#x: %s", f->fd, h->seals,
				   strerror(errno));
	return 0;
}

int rst_open_file(struct rst_fds *s, const struct ckpt_fd *f)
{
	struct rst_fdobj *o = rst_fdobj_find(s, f);
	int fd;

	if (!o) {
		int ret = build(s, f);

		if (ret)
			return ret;
		o = rst_fdobj_find(s, f);
	}
	fd = rst_fd_reopen(s, f, o->fd[0], f->flags & REOPEN_FLAGS);
	if (fd >= 0 && lseek(fd, f->pos, SEEK_SET) < 0) {
		close(fd);
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: seek to %lld: %s", f->fd,
				   (long long)f->pos, strerror(errno));
	}
	return fd;
}

static const char *const lock_names[CKPT_LOCK_MAX] = {
	[CKPT_LOCK_POSIX] = "POSIX", [CKPT_LOCK_OFD] = "OFD", [CKPT_LOCK_FLOCK] = "flock",
};

static int take_lock(int fd, const struct ckpt_fd_lock *l)
{
	struct flock fl = {
		.l_type = l->write ? F_WRLCK : F_RDLCK,
		.l_whence = SEEK_SET,
		.l_start = l->start,
		.l_len = l->end == -1 ? 0 : l->end - l->start + 1,
	};

	if (l->kind == CKPT_LOCK_FLOCK)
		return flock(fd, (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB);
	return fcntl(fd, l->kind == CKPT_LOCK_OFD ? F_OFD_SETLK : F_SETLK, &fl);
}

/* Is the file also mapped through a helper fd that stage 2 closes (dropping POSIX locks)? */
static int mapped_by_helper(const struct rst_ctx *x, const struct ckpt_fd *f)
{
	for (uint32_t i = 0; i < x->img->nr_regions; i++) {
		const struct ckpt_region *r = &x->img->regions[i];

		if (x->region_fd && x->region_fd[i] >= 0 && r->dev == f->dev && r->ino == f->ino)
			return 1;
	}
	return 0;
}

int rst_file_locks(struct rst_fds *s)
{
	const struct ckpt_image *img = s->x->img;

	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct ckpt_fd *f = &img->fds[i];
		const struct ckpt_fd_lock *l = rst_fd_data(s, f);
		uint64_t nr = f->data_len / sizeof(*l);
		int warned = 0;

		if (f->kind != CKPT_FD_REG || (f->xflags & CKPT_FDX_DUP))
			continue;
		for (uint64_t k = 0; k < nr; k++) {
			const char *path = ckpt_image_str(img, f->path_str);
			char range[64];

			if (l[k].end == -1)
				snprintf(range, sizeof(range), "%lld to the end", (long long)l[k].start);
			else
				snprintf(range, sizeof(range), "%lld-%lld", (long long)l[k].start,
					 (long long)l[k].end);
			if (take_lock(f->fd, &l[k])) {
				int busy = errno == EAGAIN || errno == EACCES || errno == EWOULDBLOCK;

				return rst_fd_fail(s, busy ? CKPT_EXIT_FILES : CKPT_EXIT_FAIL,
						   "fd %d: %s %s lock on %s (bytes %s) %s: %s", f->fd,
						   lock_names[l[k].kind], l[k].write ? "write" : "read",
						   path, range, busy ? "is held by another process now"
						   : "cannot be taken again", strerror(errno));
			}
			if (l[k].kind == CKPT_LOCK_POSIX && !warned && mapped_by_helper(s->x, f)) {
				pr_warn("fd %d: %s is also mapped: its POSIX locks are lost when the "
					"restorer closes its mapping's descriptor", f->fd, path);
				warned = 1;
			}
		}
	}
	return 0;
}
