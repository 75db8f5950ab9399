/* SPDX-License-Identifier: MIT */
/*
 * File descriptor kinds: fds.c lists and classifies the descriptors and
 * calls one fd_*.c per kind to save what the kind needs beyond struct
 * ckpt_fd. Everything here runs while the application is stopped: no
 * malloc, memory comes from the scratch area.
 */
#ifndef CKPT_FDS_H
#define CKPT_FDS_H

#include "ckpt.h"

/* fds.c: kind-specific bytes of an entry, appended to CKPT_SEC_FDDATA */
void *ckpt_fd_data(struct ckpt_capture *c, struct ckpt_fd *f, size_t len);
/* the free part of that area, for data of a size known only once read */
void *ckpt_fd_data_room(struct ckpt_capture *c, struct ckpt_fd *f, size_t *room);
/* appends len bytes written at ckpt_fd_data_room's pointer to f's data */
void ckpt_fd_data_commit(struct ckpt_capture *c, struct ckpt_fd *f, size_t len);
/* /proc/self/fdinfo/N, NUL-terminated, valid until the next call; NULL on error */
const char *ckpt_fdinfo(struct ckpt_capture *c, const struct ckpt_fd *f);
/* /proc/self/mountinfo, NUL-terminated; NULL on error */
const char *ckpt_mountinfo(struct ckpt_capture *c);
/* the text after "key:" and blanks in one of info's lines, or NULL */
const char *ckpt_fdinfo_field(const char *info, const char *key);
/* the first entry (not a duplicate) with f's kind and identity */
struct ckpt_fd *ckpt_fd_first(struct ckpt_capture *c, const struct ckpt_fd *f);
/* the entry for fd number fd, or NULL */
struct ckpt_fd *ckpt_fd_lookup(struct ckpt_capture *c, int fd);

/* one function per kind: saves f's state; 0 or -errno after ckpt_fail */
int ckpt_save_pipe(struct ckpt_capture *c, struct ckpt_fd *f);		/* fd_pipe.c */
int ckpt_save_unix(struct ckpt_capture *c, struct ckpt_fd *f);		/* fd_unix.c */
int ckpt_save_eventfd(struct ckpt_capture *c, struct ckpt_fd *f);	/* fd_eventfd.c */
int ckpt_save_timerfd(struct ckpt_capture *c, struct ckpt_fd *f);	/* fd_timerfd.c */
int ckpt_save_signalfd(struct ckpt_capture *c, struct ckpt_fd *f);	/* fd_signalfd.c */
int ckpt_save_epoll(struct ckpt_capture *c, struct ckpt_fd *f);		/* fd_epoll.c */
int ckpt_save_inotify(struct ckpt_capture *c, struct ckpt_fd *f);	/* fd_inotify.c */
int ckpt_save_file(struct ckpt_capture *c, struct ckpt_fd *f);		/* fd_file.c */
int ckpt_save_locks(struct ckpt_capture *c, struct ckpt_fd *f);		/* fd_file.c: REG */
int ckpt_save_inet(struct ckpt_capture *c, struct ckpt_fd *f);		/* fd_inet.c */

#endif
