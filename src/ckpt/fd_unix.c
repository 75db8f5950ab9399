/* SPDX-License-Identifier: MIT */
/*
 * AF_UNIX sockets: stream, datagram and seqpacket.
 * sock_diag (NETLINK_SOCK_DIAG) names each socket's peer, its shutdown
 * state and whether it is bound. The queued messages are read with
 * MSG_PEEK from offset 0 on (SO_PEEK_OFF), which leaves the queue as it
 * was; the socket's own peek offset is put back afterwards. Restore
 * recreates the pair and sends each end's messages to it from the other.
 *
 * A socket whose unnamed peer is outside the process is restored alone
 * (CKPT_FDX_PEER_GONE), as if that peer had closed. Sockets bound to a path
 * or an abstract name are saved with that name (CKPT_UNIX_LISTEN with the
 * backlog, CKPT_UNIX_BOUND with a datagram socket's queue); a connected
 * stream or seqpacket socket whose live peer is in another process and one
 * of whose ends is named (a client of a server, a server's accepted
 * connection) is saved as CKPT_UNIX_RESET. Sockets with descriptors in
 * flight, unnamed unconnected sockets, bound connected datagram sockets and
 * other address families are refused.
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fds.h"

struct unix_info {
	uint32_t state;
	uint32_t peer;
	int named;
	uint32_t shutdown;
	uint32_t name_len;
	char name[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint32_t rqueue, wqueue;
	uint64_t vfs_ino;
};

static const char *path_of(struct ckpt_capture *c, const struct ckpt_fd *f)
{
	return c->strings + f->path_str;
}

static void parse_attrs(const struct unix_diag_msg *m, size_t len, struct unix_info *u)
{
	const struct nlattr *a = (const void *)(m + 1);
	size_t left = len - NLMSG_ALIGN(sizeof(*m));

	while (left >= sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= left) {
		const void *v = a + 1;
		size_t step = NLA_ALIGN(a->nla_len);

		if (a->nla_type == UNIX_DIAG_NAME) {
			u->named = a->nla_len > NLA_HDRLEN;
			u->name_len = a->nla_len - NLA_HDRLEN;
			if (u->name_len > sizeof(u->name))
				u->name_len = sizeof(u->name);
			memcpy(u->name, v, u->name_len);
			/* a path's length counts its terminating 0 */
			if (u->name_len && u->name[0])
				u->name_len = strnlen(u->name, u->name_len);
		} else if (a->nla_type == UNIX_DIAG_RQLEN &&
			   a->nla_len >= NLA_HDRLEN + sizeof(struct unix_diag_rqlen)) {
			const struct unix_diag_rqlen *q = v;

			u->rqueue = q->udiag_rqueue;
			u->wqueue = q->udiag_wqueue;
		} else if (a->nla_type == UNIX_DIAG_VFS &&
			   a->nla_len >= NLA_HDRLEN + sizeof(struct unix_diag_vfs)) {
			u->vfs_ino = ((const struct unix_diag_vfs *)v)->udiag_vfs_ino;
		}
		else if (a->nla_type == UNIX_DIAG_PEER && a->nla_len >= NLA_HDRLEN + 4)
			memcpy(&u->peer, v, 4);
		else if (a->nla_type == UNIX_DIAG_SHUTDOWN && a->nla_len >= NLA_HDRLEN + 1)
			u->shutdown = *(const uint8_t *)v;
		if (step >= left)
			break;
		left -= step;
		a = (const void *)((const char *)a + step);
	}
}

/* One socket's state by inode number; 0 or -errno. */
static int unix_diag(uint64_t ino, struct unix_info *u)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 },
		.req = { .sdiag_family = AF_UNIX, .udiag_states = -1, .udiag_ino = ino,
			 .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN |
				       UDIAG_SHOW_VFS,
			 .udiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE } },
	};
	union {
		struct nlmsghdr nlh;
		char buf[8192];
	} resp;
	const struct nlmsghdr *h = &resp.nlh;
	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	ssize_t n;

	if (nl < 0)
		return -errno;
	memset(u, 0, sizeof(*u));
	if (send(nl, &msg, sizeof(msg), 0) != sizeof(msg)) {
		close(nl);
		return -errno;
	}
	do
		n = recv(nl, &resp, sizeof(resp), 0);
	while (n < 0 && errno == EINTR);
	close(nl);
	if (n < 0)
		return -errno;
	if (!NLMSG_OK(h, (size_t)n))
		return -EPROTO;
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		return h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ? e->error : -EPROTO;
	}
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
		return -EPROTO;
	u->state = ((const struct unix_diag_msg *)NLMSG_DATA(h))->udiag_state;
	parse_attrs(NLMSG_DATA(h), h->nlmsg_len - NLMSG_HDRLEN, u);
	return 0;
}

static int getopt_int(int fd, int opt, int32_t *val)
{
	socklen_t len = sizeof(*val);

	return getsockopt(fd, SOL_SOCKET, opt, val, &len);
}

/* The next message, or the next stream bytes, at the peek offset: > 0, 0 at the end, -errno. */
static ssize_t peek_next(int fd, char *buf, size_t len, int flags)
{
	ssize_t n;

	do
		n = recv(fd, buf, len, MSG_PEEK | MSG_DONTWAIT | flags);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int peek_stream(struct ckpt_fd_unix *u, int fd, char *p, size_t room, size_t *used)
{
	uint32_t len = 0;

	for (;;) {
		size_t avail = room > 8 + (size_t)len ? room - 8 - len : 0;
		ssize_t n;

		if (!avail)
			return -ENOSPC;
		n = peek_next(fd, p + 4 + len, avail, 0);
		if (n == -EAGAIN || !n)
			break;
		if (n < 0)
			return n;
		if ((size_t)n == avail)
			return -ENOSPC;
		len += n;
	}
	if (!len)
		return 0;
	memcpy(p, &len, 4);
	*used = 4 + ((len + 3) & ~3u);
	u->nr_msgs = 1;
	u->queued = len;
	return 0;
}

/* A shut-down socket reads 0 at the end: there a final empty datagram is not seen. */
static int peek_dgrams(struct ckpt_fd_unix *u, int fd, char *p, size_t room, size_t *used)
{
	for (;;) {
		size_t avail = room - *used > 8 ? room - *used - 8 : 0;
		ssize_t n;
		uint32_t len;

		if (!avail)
			return -ENOSPC;
		n = peek_next(fd, p + *used + 4, avail, MSG_TRUNC);
		if (n == -EAGAIN || (!n && (u->shutdown & CKPT_UNIX_SHUT_RD)))
			break;
		if (n < 0)
			return n;
		if ((size_t)n > avail)
			return -ENOSPC;
		len = n;
		memcpy(p + *used, &len, 4);
		*used += 4 + ((len + 3) & ~3u);
		u->nr_msgs++;
		u->queued += len;
	}
	return 0;
}

/*
 * The queue as records (uint32_t length, bytes, padding to 4): a stream's
 * bytes as one record, each datagram as its own. MSG_PEEK from a peek
 * offset of 0 returns the next data on each call without taking it.
 */
static int peek_queue(struct ckpt_capture *c, struct ckpt_fd *f, struct ckpt_fd_unix *u)
{
	size_t room, used = 0;
	char *p = ckpt_fd_data_room(c, f, &room);
	int zero = 0, ret;

	if (setsockopt(f->fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero))) {
		ckpt_fail(c, "fd %d: SO_PEEK_OFF: %s", f->fd, strerror(errno));
		return -errno;
	}
	if (u->type == SOCK_STREAM)
		ret = peek_stream(u, f->fd, p, p ? room : 0, &used);
	else
		ret = peek_dgrams(u, f->fd, p, p ? room : 0, &used);
	setsockopt(f->fd, SOL_SOCKET, SO_PEEK_OFF, &u->peek_off, sizeof(u->peek_off));
	if (ret == -ENOSPC)
		ckpt_fail(c, "fd %d: its queue needs more than the room kept for fd data", f->fd);
	else if (ret)
		ckpt_fail(c, "fd %d: reading its queue: %s", f->fd, strerror(-ret));
	if (ret)
		return ret;
	ckpt_fd_data_commit(c, f, used);
	return 0;
}

static int check_socket(struct ckpt_capture *c, struct ckpt_fd *f, struct unix_info *info,
			int32_t *type)
{
	int32_t domain;
	int ret;

	if (getopt_int(f->fd, SO_DOMAIN, &domain) || getopt_int(f->fd, SO_TYPE, type)) {
		ckpt_fail(c, "fd %d: %s: getsockopt: %s", f->fd, path_of(c, f), strerror(errno));
		return -errno;
	}
	if (domain != AF_UNIX) {
		ckpt_fail(c, "fd %d: %s is a socket of address family %d, not supported yet",
			  f->fd, path_of(c, f), domain);
		return -ENOTSUP;
	}
	if (*type != SOCK_STREAM && *type != SOCK_DGRAM && *type != SOCK_SEQPACKET) {
		ckpt_fail(c, "fd %d: unix socket of type %d is not supported", f->fd, *type);
		return -ENOTSUP;
	}
	ret = unix_diag(f->ino, info);
	if (ret) {
		ckpt_fail(c, "fd %d: cannot query unix socket %s (sock_diag): %s", f->fd,
			  path_of(c, f), strerror(-ret));
		return ret;
	}
	if (info->state == TCP_LISTEN && !info->named) {
		ckpt_fail(c, "fd %d: %s is a listening unix socket without a name", f->fd,
			  path_of(c, f));
		return -ENOTSUP;
	}
	if (info->named && info->name[0] != '/' &&
	    (info->name[0] || info->name_len < 1)) {
		ckpt_fail(c, "fd %d: %s is a unix socket bound to the relative path %.*s, "
			  "not supported", f->fd, path_of(c, f), (int)info->name_len, info->name);
		return -ENOTSUP;
	}
	if (info->named && info->peer && *type == SOCK_DGRAM) {
		ckpt_fail(c, "fd %d: %s is a bound and connected unix datagram socket, "
			  "not supported yet", f->fd, path_of(c, f));
		return -ENOTSUP;
	}
	/* a connected socket whose peer was closed has no peer inode any more */
	if (!info->named && !info->peer && info->state != TCP_ESTABLISHED) {
		ckpt_fail(c, "fd %d: %s is an unconnected unix socket, not supported yet", f->fd,
			  path_of(c, f));
		return -ENOTSUP;
	}
	return 0;
}

static int in_flight(struct ckpt_capture *c, struct ckpt_fd *f)
{
	const char *info = ckpt_fdinfo(c, f);
	const char *scm;

	if (!info)
		return -EIO;
	scm = ckpt_fdinfo_field(info, "scm_fds");
	if (scm && strtoul(scm, NULL, 10)) {
		ckpt_fail(c, "fd %d: unix socket %s has file descriptors in flight (SCM_RIGHTS), "
			  "not supported", f->fd, path_of(c, f));
		return -ENOTSUP;
	}
	return 0;
}

static struct ckpt_fd *find_peer(struct ckpt_capture *c, uint64_t ino)
{
	for (uint32_t i = 0; i < c->nr_fds; i++) {
		struct ckpt_fd *o = &c->fds[i];

		if (o->kind == CKPT_FD_UNIX && !(o->xflags & CKPT_FDX_DUP) && o->ino == ino)
			return o;
	}
	return NULL;
}

static void set_name(struct ckpt_unix_name *n, const struct unix_info *info)
{
	struct stat st;

	n->len = info->name_len;
	memcpy(n->name, info->name, info->name_len);
	/* the socket file's permissions, if the path still names this socket */
	if (info->name[0] && info->name_len < sizeof(n->name)) {
		char path[sizeof(n->name) + 1];

		memcpy(path, info->name, info->name_len);
		path[info->name_len] = 0;
		if (!stat(path, &st) && S_ISSOCK(st.st_mode) && st.st_ino == info->vfs_ino)
			n->mode = S_IFSOCK | (st.st_mode & 07777);
	}
}

/* The name's state, or CKPT_UNIX_PAIR (the pair logic below) */
static uint32_t named_state(struct ckpt_capture *c, struct unix_info *info,
			    struct unix_info *peer, int32_t type)
{
	if (info->state == TCP_LISTEN)
		return CKPT_UNIX_LISTEN;
	if (info->named && !info->peer && info->state != TCP_ESTABLISHED)
		return CKPT_UNIX_BOUND;
	/* connected, the live peer outside the process, one end named */
	if (type != SOCK_DGRAM && info->peer && !find_peer(c, info->peer) &&
	    !unix_diag(info->peer, peer) && (info->named || peer->named)) {
		if (!info->named) {
			/* the name to show is the server's */
			memcpy(info->name, peer->name, peer->name_len);
			info->name_len = peer->name_len;
			info->vfs_ino = peer->vfs_ino;
		}
		return CKPT_UNIX_RESET;
	}
	return CKPT_UNIX_PAIR;
}

int ckpt_save_unix(struct ckpt_capture *c, struct ckpt_fd *f)
{
	struct unix_info info, peer;
	struct ckpt_fd_unix *u;
	struct ckpt_unix_name *n = NULL;
	uint32_t state;
	int32_t type, passcred;
	int ret;

	ret = check_socket(c, f, &info, &type);
	if (!ret)
		ret = in_flight(c, f);
	if (ret)
		return ret;
	state = named_state(c, &info, &peer, type);
	if (state == CKPT_UNIX_PAIR && (!info.peer || !find_peer(c, info.peer))) {
		if (info.peer && !unix_diag(info.peer, &peer) && peer.named) {
			ckpt_fail(c, "fd %d: %s is connected to a named unix socket, not supported yet",
				  f->fd, path_of(c, f));
			return -ENOTSUP;
		}
		f->xflags |= CKPT_FDX_PEER_GONE;
	}
	u = ckpt_fd_data(c, f, sizeof(*u) + (state != CKPT_UNIX_PAIR ? sizeof(*n) : 0));
	if (!u)
		return -ENOSPC;
	u->state = state;
	if (state != CKPT_UNIX_PAIR) {
		n = (struct ckpt_unix_name *)(u + 1);
		set_name(n, &info);
		if (state == CKPT_UNIX_LISTEN) {
			n->backlog = info.wqueue > INT32_MAX ? INT32_MAX : info.wqueue;
			n->pending = info.rqueue;
		}
	}
	u->peer_ino = state != CKPT_UNIX_PAIR ? 0 : info.peer;
	u->type = type;
	u->shutdown = info.shutdown & (CKPT_UNIX_SHUT_RD | CKPT_UNIX_SHUT_WR);
	if (getopt_int(f->fd, SO_SNDBUF, &u->sndbuf) || getopt_int(f->fd, SO_RCVBUF, &u->rcvbuf) ||
	    getopt_int(f->fd, SO_PEEK_OFF, &u->peek_off) ||
	    getopt_int(f->fd, SO_PASSCRED, &passcred)) {
		ckpt_fail(c, "fd %d: getsockopt: %s", f->fd, strerror(errno));
		return -errno;
	}
	u->passcred = !!passcred;
	if (state == CKPT_UNIX_LISTEN || state == CKPT_UNIX_RESET ||
	    (state == CKPT_UNIX_BOUND && type != SOCK_DGRAM))
		return 0;
	return peek_queue(c, f, u);
}
