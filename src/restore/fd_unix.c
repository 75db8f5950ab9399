/* SPDX-License-Identifier: MIT */
/*
 * Unnamed AF_UNIX socket pairs. The first entry of a pair builds it with
 * socketpair(), queues each end's saved messages by sending them from the
 * other end (with room made in the sender's buffer first), then sets the
 * buffer sizes, peek offset, SO_PASSCRED and shutdown state. A socket
 * whose peer was outside the process gets a fresh peer that is closed once
 * all fds are back, as if the other process had closed it. A pair whose
 * ends are in two processes of a tree is built the same way by the top
 * ckpt-restore, each end's queue from its own process's image.
 *
 * Named sockets, by state:
 *
 *   listening  bound to the same path or abstract name again and listening
 *              with the same backlog. A socket file left at the path is
 *              removed first, but only if it is a socket that nothing
 *              answers on (connect() is refused); the file gets the saved
 *              permissions. Connections that waited in the old accept queue
 *              are lost (one warning)
 *   bound      bound again; a datagram socket's queued datagrams are sent to
 *              it again from an unnamed socket (their sender addresses are
 *              lost; what does not fit in the queue is lost, with a warning)
 *   reset      a connection to or from another process cannot be taken
 *              over: the socket is made one whose peer closed with data
 *              unread, so the program sees ECONNRESET on the next read or
 *              write, then end of file and EPIPE; poll reports
 *              POLLERR|POLLHUP. One warning names the fd and the path
 *
 * A name that is taken makes the restore fail with exit 11 naming the fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

static const char *records(const struct ckpt_fd_unix *u)
{
	return (const char *)(u + 1) +
	       (u->state != CKPT_UNIX_PAIR ? sizeof(struct ckpt_unix_name) : 0);
}

/* Sends u's queue from sender, after making room in the sender's buffer. */
static int fill(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_unix *u,
		int sender)
{
	const char *p = records(u);
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

	/* a peer "gone" from the process may be in another process of the tree */
	if (!(f->xflags & CKPT_FDX_PEER_GONE) || u->peer_ino)
		peer = rst_fd_entry(s, CKPT_FD_UNIX, u->peer_ino);
	if (peer)
		pu = rst_fd_data(s, peer);
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

/* "/run/x.sock", "@name" (an abstract name, each 0 shown as @) */
static const char *name_str(const struct ckpt_unix_name *n, char *buf, size_t len)
{
	size_t k;

	for (k = 0; k < n->len && k + 1 < len; k++)
		buf[k] = n->name[k] ? n->name[k] : '@';
	buf[k] = 0;
	return buf;
}

static socklen_t to_sockaddr(const struct ckpt_unix_name *n, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, n->name, n->len);
	/* a path's length counts its terminating 0, as bind() of a C string gives */
	return offsetof(struct sockaddr_un, sun_path) + n->len + (n->name[0] ? 1 : 0);
}

static const char *type_str(uint32_t type)
{
	return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "datagram" : "seqpacket";
}

/* A socket file at the path that nothing answers on is removed; 0 or -1 with errno. */
static int remove_stale(const struct ckpt_fd_unix *u, const struct ckpt_unix_name *n,
			const struct sockaddr_un *sa, socklen_t len)
{
	struct stat st;
	int probe, ret, err;

	if (!n->name[0] || lstat(sa->sun_path, &st))
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	probe = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -1;
	ret = connect(probe, (const struct sockaddr *)sa, len);
	err = errno;
	close(probe);
	if (!ret) {
		errno = EADDRINUSE;
		return -1;
	}
	if (err != ECONNREFUSED) {
		errno = err;
		return -1;
	}
	return unlink(sa->sun_path) && errno != ENOENT ? -1 : 0;
}

static int name_fail(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_unix *u,
		     int fd, const char *what)
{
	const struct ckpt_unix_name *n = (const void *)(u + 1);
	char b[2 * sizeof(n->name)];
	int err = errno;

	if (fd >= 0)
		close(fd);
	return rst_fd_fail(s, err == EADDRINUSE || err == EEXIST || err == EACCES ||
			   err == EPERM || err == ENOENT || err == ENOTDIR || err == EROFS ?
			   CKPT_EXIT_ENV : CKPT_EXIT_FAIL,
			   "fd %d: cannot %s unix %s socket %s again: %s", f->fd, what,
			   type_str(u->type), name_str(n, b, sizeof(b)), strerror(err));
}

/*
 * The saved datagrams, sent to the bound socket again. The receiver's queue
 * holds at most net.unix.max_dgram_qlen of them: the rest are lost.
 */
static int queue_dgrams(struct rst_fds *s, const struct ckpt_fd *f,
			const struct ckpt_fd_unix *u, int sender)
{
	const struct ckpt_unix_name *n = (const void *)(u + 1);
	const char *p = records(u);
	uint64_t room = u->queued + u->nr_msgs * 1024ull + 65536;
	char b[2 * sizeof(n->name)];

	set_buf(sender, SO_SNDBUF, SO_SNDBUFFORCE, room > INT32_MAX / 2 ? INT32_MAX / 2 : room);
	for (uint32_t i = 0; i < u->nr_msgs; i++) {
		uint32_t len;
		ssize_t k;

		memcpy(&len, p, 4);
		p += 4;
		do
			k = send(sender, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (k < 0 && errno == EINTR);
		if (k < 0 && errno == EAGAIN) {
			pr_warn("fd %d: the queue of unix datagram socket %s is full: %u of its %u "
				"saved datagrams are lost", f->fd, name_str(n, b, sizeof(b)),
				u->nr_msgs - i, u->nr_msgs);
			return 0;
		}
		if (k < 0)
			return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: cannot queue a datagram of %u "
					   "bytes: %s", f->fd, len, strerror(errno));
		p += (len + 3) & ~3u;
	}
	return 0;
}

/* The peer closes with a byte unread: this end reads ECONNRESET, then end of file. */
static int open_reset(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_unix *u)
{
	const struct ckpt_unix_name *n = (const void *)(u + 1);
	char b[2 * sizeof(n->name)];
	int sv[2];

	if (socketpair(AF_UNIX, u->type | SOCK_CLOEXEC, 0, sv))
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: socketpair: %s", f->fd,
				   strerror(errno));
	if (send(sv[0], "", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
		int err = errno;

		close(sv[0]);
		close(sv[1]);
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: cannot reset the socket: %s", f->fd,
				   strerror(err));
	}
	close(sv[1]);
	sv[0] = rst_high_fd(s->x, sv[0]);
	if (sv[0] < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: dup: %s", f->fd, strerror(errno));
	pr_warn("fd %d: unix %s connection on %s is not restored: it reads as reset by the "
		"peer (ECONNRESET)", f->fd, type_str(u->type), name_str(n, b, sizeof(b)));
	if (setup(s, f, u, sv[0])) {
		close(sv[0]);
		return -CKPT_EXIT_FAIL;
	}
	return sv[0];
}

static int open_named(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_unix *u)
{
	const struct ckpt_unix_name *n = (const void *)(u + 1);
	struct sockaddr_un sa;
	socklen_t len = to_sockaddr(n, &sa);
	char b[2 * sizeof(n->name)];
	int fd, ret, sender;

	if (u->state == CKPT_UNIX_RESET)
		return open_reset(s, f, u);
	fd = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: socket: %s", f->fd, strerror(errno));
	if (remove_stale(u, n, &sa, len))
		return name_fail(s, f, u, fd, "bind");
	if (bind(fd, (struct sockaddr *)&sa, len))
		return name_fail(s, f, u, fd, "bind");
	if (n->mode && chmod(sa.sun_path, n->mode & 07777))
		return name_fail(s, f, u, fd, "set the mode of");
	if (u->state == CKPT_UNIX_LISTEN) {
		if (listen(fd, (int)n->backlog))
			return name_fail(s, f, u, fd, "listen on");
		if (n->pending)
			pr_warn("fd %d: %u connection%s waiting to be accepted on %s at the "
				"checkpoint %s lost", f->fd, n->pending, n->pending == 1 ? "" : "s",
				name_str(n, b, sizeof(b)), n->pending == 1 ? "is" : "are");
	}
	ret = setup(s, f, u, fd);
	if (!ret && u->nr_msgs) {
		sender = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (sender < 0 || connect(sender, (struct sockaddr *)&sa, len))
			ret = rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: cannot queue its datagrams: %s",
					  f->fd, strerror(errno));
		else
			ret = queue_dgrams(s, f, u, sender);
		if (sender >= 0)
			close(sender);
	}
	if (ret) {
		close(fd);
		return ret;
	}
	fd = rst_high_fd(s->x, fd);
	return fd < 0 ? rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: dup: %s", f->fd, strerror(errno))
		      : fd;
}

int rst_open_unix(struct rst_fds *s, const struct ckpt_fd *f)
{
	struct rst_fdobj *o = rst_fdobj_find(s, f);
	const struct ckpt_fd_unix *u;
	int fd;

	if (!o && (u = rst_fd_data(s, f))->state != CKPT_UNIX_PAIR) {
		fd = open_named(s, f, u);
		if (fd < 0)
			return fd;
		o = rst_fdobj_add(s, f);
		o->fd[0] = fd;
	}
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
