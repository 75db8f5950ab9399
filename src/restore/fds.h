/* SPDX-License-Identifier: MIT */
/*
 * File descriptor kinds at restore: fds.c puts every fd back at its number
 * and calls one fd_*.c per kind to build the open file. Objects that
 * several entries share (a pipe, a socket pair, a file that exists only
 * while open) are built once, by their first entry, and kept in helper fds
 * (at or above fd_base) until every fd is back. In a tree, objects that
 * entries of several processes share were built by the top ckpt-restore
 * (rst_fd_prebuild) and every process starts with them.
 */
#ifndef CKPT_RESTORE_FDS_H
#define CKPT_RESTORE_FDS_H

#include "restore.h"

struct rst_fdobj {
	uint32_t kind;
	uint64_t dev, ino;
	int fd[2];			/* helpers, closed once all fds are back; -1 if none */
};

struct rst_fds {
	struct rst_ctx *x;
	int saved_stdio[3];		/* ckpt-restore's own 0-2, moved up */
	struct rst_fdobj *objs;
	uint32_t nr_objs;
};

/* fds.c */
/* image k of the restore: 0 is the process's own, then the rest of its tree */
uint32_t rst_fds_nr_images(const struct rst_fds *s);
const struct ckpt_image *rst_fds_image(const struct rst_fds *s, uint32_t k);
/* the image that holds entry f */
const struct ckpt_image *rst_fd_image(const struct rst_fds *s, const struct ckpt_fd *f);
const void *rst_fd_data(const struct rst_fds *s, const struct ckpt_fd *f);
/* the first entry (not a duplicate) of that kind and inode in any image of the restore */
const struct ckpt_fd *rst_fd_entry(const struct rst_fds *s, uint32_t kind, uint64_t ino);
struct rst_fdobj *rst_fdobj_find(struct rst_fds *s, const struct ckpt_fd *f);
struct rst_fdobj *rst_fdobj_add(struct rst_fds *s, const struct ckpt_fd *f);
/* the kind's own open function: an fd at or above fd_base, or -CKPT_EXIT_* with the reason */
int rst_fd_open_kind(struct rst_fds *s, const struct ckpt_fd *f);
/*
 * Builds the object of f into s->objs, for processes of a tree that share
 * it: the kind's own object, or for kinds that keep none (TCP and UDP
 * sockets) the open socket itself, which each entry then shares (dup).
 * 0 or -CKPT_EXIT_*.
 */
int rst_fd_prebuild(struct rst_fds *s, const struct ckpt_fd *f);
/* opens /proc/self/fd/src again (a new open file of the same object), moved up */
int rst_fd_reopen(struct rst_fds *s, const struct ckpt_fd *f, int src, int flags);
/* sets x->err; returns -code */
int rst_fd_fail(struct rst_fds *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* one function per kind: an fd at or above fd_base for f, or -CKPT_EXIT_* */
int rst_open_pipe(struct rst_fds *s, const struct ckpt_fd *f);		/* fd_pipe.c */
/* fd_pipe.c: does some entry of the restore (any process's) read f's pipe, write it? */
#define RST_PIPE_READ	0x1
#define RST_PIPE_WRITE	0x2
int rst_pipe_ends(const struct rst_fds *s, const struct ckpt_fd *f);
int rst_open_unix(struct rst_fds *s, const struct ckpt_fd *f);		/* fd_unix.c */
int rst_open_eventfd(struct rst_fds *s, const struct ckpt_fd *f);	/* fd_eventfd.c */
int rst_open_timerfd(struct rst_fds *s, const struct ckpt_fd *f);	/* fd_timerfd.c */
int rst_open_signalfd(struct rst_fds *s, const struct ckpt_fd *f);	/* fd_signalfd.c */
int rst_open_epoll(struct rst_fds *s, const struct ckpt_fd *f);		/* fd_epoll.c */
int rst_open_inotify(struct rst_fds *s, const struct ckpt_fd *f);	/* fd_inotify.c */
int rst_open_file(struct rst_fds *s, const struct ckpt_fd *f);		/* fd_file.c */
/* fd_file.c: takes the file locks of REG entries again, once every fd is back; 0 or -CKPT_EXIT_* */
int rst_file_locks(struct rst_fds *s);
int rst_open_tty(struct rst_fds *s, const struct ckpt_fd *f);		/* fd_tty.c */
int rst_open_inet(struct rst_fds *s, const struct ckpt_fd *f);		/* fd_inet.c */

#endif
