/* SPDX-License-Identifier: MIT */
/*
 * Unnamed AF_UNIX socket pairs. The first entry of a pair builds it with
 * socketpair(), queues each end's saved messages by sending them from the
 * other end (with room made in the sender's buffer first), then sets the
 * buffer sizes, peek offset, SO_PASSCRED and shutdown state. A socket
 * whose peer was outside the process gets a fresh peer that is closed once
 * all fds are back, as if the other process had closed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"
#include "log.h"

static int set_buf(int fd, int opt, int force, int val)
{
	if (!setsockopt(fd, SOL_SOCKET, force, &val, sizeof(val)))
		return 0;
	return setsockopt(fd, SOL_SOCKET, opt, &val, sizeof(val));
}

static int send_all(int fd, const char *p, uint32_t len)
{
	uint32_t sent = 0;

	for (;;) {
		ssize_t n = send(fd, p + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		sent += n;
		if (sent >= len)
			return 0;
	}
}

/* Sends u's queue from sender, after making room in the sender's buffer. */
static int fill(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_unix *u,
		int sender)
{
	const char *p = (const char *)(u + 1);
	uint64_t room = u->queued + u->nr_msgs * 1024ull + 65536;

	if (!u->nr_msgs)
		return 0;
	set_buf(sender, SO_SNDBUF, SO_SNDBUFFORCE, room > INT32_MAX / 2 ? INT32_MAX / 2 : room);
	for (uint32_t i = 0; i < u->nr_msgs; i++) {
		uint32_t len;

		memcpy(&len, p, 4);
		p += 4;
		if (send_all(sender, p, len))
			return rst_fd_fail(s, CKPT_EXIT_FAIL,
					   "fd %d: cannot queue %u bytes on the socket: %s", f->fd,
					   len, strerror(errno));
		p += (len + 3) & ~3u;
	}
	return 0;
}

/* The kernel doubles the buffer sizes it is given, hence the halves. */
static int setup(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_unix *u,
		 int fd)
{
	int one = 1;

	if (set_buf(fd, SO_SNDBUF, SO_SNDBUFFORCE, u->sndbuf / 2) ||
	    set_buf(fd, SO_RCVBUF, SO_RCVBUFFORCE, u->rcvbuf / 2) ||
	    (u->peek_off >= 0 &&
	     setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &u->peek_off, sizeof(u->peek_off))) ||
	    (u->passcred && setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one))) ||
	    ((u->shutdown & CKPT_UNIX_SHUT_RD) && shutdown(fd, SHUT_RD)) ||
	    ((u->shutdown & CKPT_UNIX_SHUT_WR) && shutdown(fd, SHUT_WR)))
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: setting up the socket: %s", f->fd,
				   strerror(errno));
	return 0;
}

static int build(struct rst_fds *s, const struct ckpt_fd *f)
{
	const struct ckpt_fd_unix *u = rst_fd_data(s, f), *pu = NULL;
	const struct ckpt_fd *peer = NULL;
	struct rst_fdobj *o;
	int sv[2], mine, other, ret;

	if (!(f->xflags & CKPT_FDX_PEER_GONE)) {
		peer = rst_fd_entry(s, CKPT_FD_UNIX, u->peer_ino);
		pu = rst_fd_data(s, peer);
	}
	if (socketpair(AF_UNIX, u->type | SOCK_CLOEXEC, 0, sv))
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: socketpair: %s", f->fd,
				   strerror(errno));
	o = rst_fdobj_add(s, f);
	mine = o->fd[0] = rst_high_fd(s->x, sv[0]);
	other = rst_high_fd(s->x, sv[1]);
	if (peer) {
		rst_fdobj_add(s, peer)->fd[0] = other;
	} else {
		o->fd[1] = other;	/* closed once all fds are back */
		pr_warn("fd %d: the peer of unix socket %s was not in the process; restored with a "
			"peer that closes", f->fd, ckpt_image_str(s->x->img, f->path_str));
	}
	if (mine < 0 || other < 0)
		return -CKPT_EXIT_FAIL;
	ret = fill(s, f, u, other);
	if (!ret && peer)
		ret = fill(s, peer, pu, mine);
	if (!ret)
		ret = setup(s, f, u, mine);
	if (!ret && peer)
		ret = setup(s, peer, pu, other);
	return ret;
}

int rst_open_unix(struct rst_fds *s, const struct ckpt_fd *f)
{
	struct rst_fdobj *o = rst_fdobj_find(s, f);
	int fd;

	if (!o) {
		int ret = build(s, f);

		if (ret)
			return ret;
		o = rst_fdobj_find(s, f);
	}
	fd = fcntl(o->fd[0], F_DUPFD_CLOEXEC, s->x->fd_base);
	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: dup: %s", f->fd, strerror(errno));
	return fd;
}
