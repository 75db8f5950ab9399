/* SPDX-License-Identifier: MIT */
/*
 * Open file descriptors. The core saves regular files, directories,
 * character devices it can reopen by name, and standard streams (fds 0-2
 * on a terminal, pipe or socket are taken from whoever runs ckpt-restore).
 * Any other kind makes the checkpoint fail with a message naming the fd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

static const char *const reopenable_devices[] = {
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
};

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static int classify(struct ckpt_capture *c, struct ckpt_fd *f, const struct stat *st,
		    const char *path)
{
	int stdio_stream = f->fd <= 2 && (S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode) ||
					  (S_ISCHR(st->st_mode) && isatty(f->fd)));

	if (stdio_stream) {
		f->kind = CKPT_FD_STDIO;
		return 0;
	}
	if (ckpt_plugins_own(path)) {
		f->kind = 0;	/* the plugin rebuilds it */
		return 0;
	}
	if (S_ISREG(st->st_mode)) {
		if (ends_with(path, " (deleted)") || path[0] != '/') {
			ckpt_fail(c, "fd %d: %s is a deleted or unnamed file, not supported yet",
				  f->fd, path);
			return -ENOTSUP;
		}
		f->kind = CKPT_FD_REG;
		return 0;
	}
	if (S_ISDIR(st->st_mode) && path[0] == '/') {
		f->kind = CKPT_FD_DIR;
		return 0;
	}
	if (S_ISCHR(st->st_mode)) {
		for (size_t i = 0; i < sizeof(reopenable_devices) / sizeof(reopenable_devices[0]); i++) {
			if (!strcmp(path, reopenable_devices[i])) {
				f->kind = CKPT_FD_CHR;
				return 0;
			}
		}
	}
	ckpt_fail(c, "fd %d: %s is a kind of file the core cannot save yet", f->fd, path);
	return -ENOTSUP;
}

static int capture_fd(struct ckpt_capture *c, int fd)
{
	struct ckpt_fd *f = &c->fds[c->nr_fds];
	char link[64], path[4096];
	struct stat st;
	ssize_t n;
	int ret;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0 || fstat(fd, &st))
		return 0;	/* closed meanwhile */
	path[n] = 0;
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	ret = classify(c, f, &st, path);
	if (ret || !f->kind)
		return ret;
	f->flags = fcntl(fd, F_GETFL);
	f->fdflags = fcntl(fd, F_GETFD);
	f->pos = f->kind == CKPT_FD_REG || f->kind == CKPT_FD_DIR ? lseek(fd, 0, SEEK_CUR) : 0;
	f->path_str = ckpt_str_add(c, path);
	f->mode = st.st_mode;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->rdev = st.st_rdev;
	c->nr_fds++;
	return 0;
}

int ckpt_capture_fds(struct ckpt_capture *c)
{
	char buf[4096];
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	c->fds = ckpt_scratch_alloc(CKPT_MAX_FDS * sizeof(*c->fds));
	c->nr_fds = 0;
	if (dfd < 0 || !c->fds) {
		if (dfd >= 0)
			close(dfd);
		ckpt_fail(c, "cannot list /proc/self/fd");
		return -EIO;
	}
	for (;;) {
		long got = syscall(SYS_getdents64, dfd, buf, sizeof(buf));

		if (got <= 0)
			break;
		for (long off = 0; off < got && !ret; off += ((struct dirent64 *)(buf + off))->d_reclen) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int fd;

			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			fd = atoi(d->d_name);
			if (fd == dfd)
				continue;
			if (c->nr_fds >= CKPT_MAX_FDS) {
				ckpt_fail(c, "more than %d open files", CKPT_MAX_FDS);
				ret = -E2BIG;
				break;
			}
			ret = capture_fd(c, fd);
		}
		if (ret)
			break;
	}
	close(dfd);
	return ret;
}
