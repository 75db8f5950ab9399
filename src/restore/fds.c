/* SPDX-License-Identifier: MIT */
/*
 * File descriptors go back at their old numbers with their flags and
 * offsets. Standard streams that were a terminal, pipe or socket are
 * taken from whoever runs ckpt-restore. ckpt-restore's own descriptors
 * (the image, mapped files, the status pipe) are moved above every
 * number the program uses and closed by the restorer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "log.h"
#include "restore.h"

/* Moves fd to a number >= fd_base; returns the new number or -1. */
int rst_high_fd(struct rst_ctx *x, int fd)
{
	int nfd;

	if (fd < 0 || fd >= x->fd_base)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, x->fd_base);
	close(fd);
	return nfd;
}

static int open_entry(struct rst_ctx *x, const struct ckpt_fd *f, const int *saved_stdio)
{
	const char *path = ckpt_image_str(x->img, f->path_str);
	int flags, fd;

	if (f->kind == CKPT_FD_STDIO) {
		if (saved_stdio[f->fd] >= 0)
			return fcntl(saved_stdio[f->fd], F_DUPFD_CLOEXEC, x->fd_base);
		return rst_high_fd(x, open("/dev/null", O_RDWR | O_CLOEXEC));
	}
	flags = f->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		snprintf(x->err, sizeof(x->err), "fd %d: cannot reopen %s: %s", f->fd, path,
			 strerror(errno));
		return -1;
	}
	if (f->kind == CKPT_FD_REG && lseek(fd, f->pos, SEEK_SET) < 0) {
		snprintf(x->err, sizeof(x->err), "fd %d: cannot seek %s to %lld: %s", f->fd, path,
			 (long long)f->pos, strerror(errno));
		close(fd);
		return -1;
	}
	return rst_high_fd(x, fd);
}

int rst_restore_fds(struct rst_ctx *x)
{
	int saved_stdio[3];
	int ret = CKPT_EXIT_OK;

	for (int i = 0; i < 3; i++)
		saved_stdio[i] = fcntl(i, F_DUPFD_CLOEXEC, x->fd_base);
	for (uint32_t i = 0; i < x->img->nr_fds; i++) {
		const struct ckpt_fd *f = &x->img->fds[i];
		int fd = open_entry(x, f, saved_stdio);

		if (fd < 0) {
			ret = CKPT_EXIT_FILES;
			break;
		}
		if (dup3(fd, f->fd, (f->fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
			snprintf(x->err, sizeof(x->err), "fd %d: dup3: %s", f->fd, strerror(errno));
			close(fd);
			ret = CKPT_EXIT_FAIL;
			break;
		}
		close(fd);
	}
	for (int i = 0; i < 3; i++)
		if (saved_stdio[i] >= 0)
			close(saved_stdio[i]);
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
