/* SPDX-License-Identifier: MIT */
/*
 * TCP and UDP sockets. A new socket of the same family, type and protocol
 * gets the saved options; then, by state:
 *
 *   bound      bound to the same address and port again
 *   listening  bound with SO_REUSEADDR (a connection of the old process
 *              may still be in TIME_WAIT on the port), listens again with
 *              the same backlog; SO_REUSEADDR is then put back as it was.
 *              Connections that waited in the old accept queue are lost
 *   UDP connected  bound to the same local address and port (or, when
 *              that is taken, to a new port), connected to the same peer
 *   connection whose other end is restored too (an ESTABLISHED entry with
 *              the addresses swapped, in any image of the restore): both
 *              ends are built at once, on the same addresses and ports. One
 *              end is accepted from the listener of its address when one is
 *              restored (built first if it was not yet), else from a
 *              temporary listener bound there with SO_REUSEADDR; the other
 *              binds its old address (over a TIME_WAIT left by the old
 *              process in repair mode, which needs CAP_NET_ADMIN) and
 *              connects. Each end then gets the bytes it had not read: the
 *              other end sends what this one had received and, after them,
 *              what it had written that this one had not received yet (the
 *              saved offsets tell which); then the FINs that had been sent,
 *              buffer sizes, options and peek offset. Both become objects
 *              (rst_fdobj) that every entry of either socket finds
 *   other connection  (a peer outside the restore, one being opened, or one
 *              whose saved queues do not join up): the socket is made a
 *              connection that its peer reset (a loopback pair whose other
 *              end closes with SO_LINGER 0), so that the program sees what a
 *              network failure shows: ECONNRESET on the next read or write,
 *              then end of file and EPIPE; poll reports POLLERR|POLLHUP. One
 *              warning per socket names the fd and the addresses. Where no
 *              loopback is available the socket stays a new, unconnected one
 *              (ENOTCONN, EPIPE)
 *
 * A taken address (or a connection's addresses and ports still in use by
 * the old process) makes the restore fail with exit 11 naming the fd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"
#include "log.h"

static const char *const tcp_states[] = {
	[TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT",
	[TCP_SYN_RECV] = "SYN_RECV", [TCP_FIN_WAIT1] = "FIN_WAIT1",
	[TCP_FIN_WAIT2] = "FIN_WAIT2", [TCP_TIME_WAIT] = "TIME_WAIT",
	[TCP_CLOSE] = "CLOSE", [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCP_LAST_ACK] = "LAST_ACK", [TCP_LISTEN] = "LISTEN", [TCP_CLOSING] = "CLOSING",
};

static socklen_t to_sockaddr(const struct ckpt_fd_inet *in, const struct ckpt_inet_addr *a,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (in->family == AF_INET) {
		struct sockaddr_in *s4 = (void *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a->addr, 4);
		s4->sin_port = htons(a->port);
		return sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a->addr, 16);
		s6->sin6_port = htons(a->port);
		s6->sin6_scope_id = a->scope_id;
		return sizeof(*s6);
	}
}

/* "127.0.0.1:80", "[::1]:80" */
static const char *addr_str(const struct ckpt_fd_inet *in, const struct ckpt_inet_addr *a,
			    char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!inet_ntop(in->family, a->addr, host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	if (in->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", host, a->port);
	else
		snprintf(buf, len, "%s:%u", host, a->port);
	return buf;
}

static const char *proto_name(const struct ckpt_fd_inet *in)
{
	return in->protocol == IPPROTO_TCP ? "TCP" : "UDP";
}

static int set_int(int fd, int level, int opt, int val)
{
	return setsockopt(fd, level, opt, &val, sizeof(val));
}

/* The saved options; SO_REUSEADDR forced on for a listening socket's bind. */
static int set_opts(int fd, const struct ckpt_fd_inet *in, int force_reuseaddr)
{
	uint32_t o = in->opts;

	if ((force_reuseaddr || (o & CKPT_INET_OPT_REUSEADDR)) &&
	    set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1))
		return -1;
	if (((o & CKPT_INET_OPT_REUSEPORT) && set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) ||
	    ((o & CKPT_INET_OPT_KEEPALIVE) && set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1)) ||
	    ((o & CKPT_INET_OPT_BROADCAST) && set_int(fd, SOL_SOCKET, SO_BROADCAST, 1)) ||
	    ((o & CKPT_INET_OPT_NODELAY) && set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1)))
		return -1;
	/* explicit either way: the default comes from a sysctl (bindv6only) */
	if (in->family == AF_INET6 &&
	    set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, !!(o & CKPT_INET_OPT_V6ONLY)))
		return -1;
	return 0;
}

static int bind_fail(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_inet *in,
		     int fd, const char *what)
{
	char a[80];
	int err = errno;

	close(fd);
	return rst_fd_fail(s, err == EADDRINUSE || err == EADDRNOTAVAIL || err == EACCES ?
			   CKPT_EXIT_ENV : CKPT_EXIT_FAIL,
			   "fd %d: cannot %s %s %s again: %s", f->fd, what, proto_name(in),
			   addr_str(in, &in->local, a, sizeof(a)), strerror(err));
}

/*
 * A loopback connection of in->family whose other end was closed with
 * SO_LINGER 0, i.e. reset: its first read or write fails with ECONNRESET.
 * Returns the socket, or -1 (errno set) where loopback cannot be used.
 */
static int reset_pair(const struct ckpt_fd_inet *in)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct pollfd pfd;
	int lfam = in->family, l, c = -1, a = -1, err;

	l = socket(lfam, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (l < 0)
		return -1;
	memset(&ss, 0, sizeof(ss));
	if (lfam == AF_INET6) {
		struct sockaddr_in6 *s6 = (void *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		if (bind(l, (struct sockaddr *)s6, sizeof(*s6))) {
			/* no IPv6 loopback: an IPv4 listener, reached as ::ffff:127.0.0.1 */
			close(l);
			lfam = AF_INET;
			l = socket(lfam, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
			if (l < 0)
				return -1;
		}
	}
	if (lfam == AF_INET) {
		struct sockaddr_in *s4 = (void *)&ss;

		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(l, (struct sockaddr *)s4, sizeof(*s4)))
			goto fail;
	}
	if (listen(l, 1) || getsockname(l, (struct sockaddr *)&ss, &len))
		goto fail;
	if ((uint32_t)lfam != in->family) {
		struct sockaddr_in6 m = { .sin6_family = AF_INET6,
					  .sin6_port = ((struct sockaddr_in *)&ss)->sin_port };

		m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&m.sin6_addr.s6_addr[12], &((struct sockaddr_in *)&ss)->sin_addr, 4);
		memcpy(&ss, &m, sizeof(m));
		len = sizeof(m);
	}
	c = socket(in->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (c < 0 || (in->family == AF_INET6 && set_int(c, IPPROTO_IPV6, IPV6_V6ONLY, 0)) ||
	    connect(c, (struct sockaddr *)&ss, len))
		goto fail;
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (a < 0 || setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		goto fail;
	close(a);
	a = -1;
	close(l);
	l = -1;
	/* the reset crosses loopback at once; wait for it to be seen all the same */
	pfd = (struct pollfd){ .fd = c, .events = POLLIN };
	for (int k = 0; k < 100; k++) {
		if (poll(&pfd, 1, 10) > 0 && (pfd.revents & (POLLERR | POLLHUP)))
			return c;
	}
	errno = ETIMEDOUT;
fail:
	err = errno;
	if (a >= 0)
		close(a);
	if (c >= 0)
		close(c);
	if (l >= 0)
		close(l);
	errno = err;
	return -1;
}

static const char *tcp_state_name(uint32_t st)
{
	return st < sizeof(tcp_states) / sizeof(tcp_states[0]) && tcp_states[st] ? tcp_states[st] :
	       "?";
}

/* why: NULL for a peer outside the restore, else what kept the connection from being rebuilt */
static int open_reset(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_inet *in,
		      const char *why)
{
	const char *st = tcp_state_name(in->tcp_state);
	char la[80], pa[80], because[256] = "";
	int fd = reset_pair(in);

	addr_str(in, &in->local, la, sizeof(la));
	if (in->peer.port)
		addr_str(in, &in->peer, pa, sizeof(pa));
	else
		snprintf(pa, sizeof(pa), "(no peer address)");
	if (why)
		snprintf(because, sizeof(because), " (%s)", why);
	if (fd >= 0) {
		pr_warn("fd %d: TCP connection %s -> %s (%s at the checkpoint) is not restored%s: "
			"it reads as reset by the peer (ECONNRESET)", f->fd, la, pa, st, because);
	} else {
		int err = errno;

		fd = socket(in->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
		if (fd < 0)
			return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: socket: %s", f->fd,
					   strerror(errno));
		pr_warn("fd %d: TCP connection %s -> %s (%s at the checkpoint) is not restored%s: "
			"it is an unconnected socket (ENOTCONN, EPIPE); no loopback to reset it (%s)",
			f->fd, la, pa, st, because, strerror(err));
	}
	if (set_opts(fd, in, 0)) {
		close(fd);
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: setsockopt: %s", f->fd,
				   strerror(errno));
	}
	return rst_high_fd(s->x, fd);
}

/* A socket that is not a connection: new, bound, listening, UDP. */
static int open_plain(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_inet *in)
{
	int listening = in->state == CKPT_INET_LISTEN;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	fd = socket(in->family, in->type | SOCK_CLOEXEC, in->protocol);
	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: socket: %s", f->fd, strerror(errno));
	if (set_opts(fd, in, listening)) {
		close(fd);
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: setsockopt: %s", f->fd,
				   strerror(errno));
	}
	if (in->state == CKPT_INET_NEW)
		return rst_high_fd(s->x, fd);
	len = to_sockaddr(in, &in->local, &ss);
	if (bind(fd, (struct sockaddr *)&ss, len)) {
		char a[80];

		if (in->state != CKPT_INET_CONNECTED || errno != EADDRINUSE)
			return bind_fail(s, f, in, fd, "bind");
		/* connect() below picks another port, as it did the first time */
		pr_warn("fd %d: UDP %s is taken; the socket is connected from another port",
			f->fd, addr_str(in, &in->local, a, sizeof(a)));
	}
	if (listening) {
		if (listen(fd, (int)in->backlog))
			return bind_fail(s, f, in, fd, "listen on");
		if (!(in->opts & CKPT_INET_OPT_REUSEADDR) && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 0)) {
			close(fd);
			return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: SO_REUSEADDR: %s", f->fd,
					   strerror(errno));
		}
		if (in->pending) {
			char a[80];

			pr_warn("fd %d: %u connection%s waiting to be accepted on %s at the checkpoint "
				"%s lost", f->fd, in->pending, in->pending == 1 ? "" : "s",
				addr_str(in, &in->local, a, sizeof(a)), in->pending == 1 ? "is" : "are");
		}
	}
	if (in->state == CKPT_INET_CONNECTED) {
		len = to_sockaddr(in, &in->peer, &ss);
		if (connect(fd, (struct sockaddr *)&ss, len)) {
			char a[80];
			int err = errno;

			close(fd);
			return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: cannot connect UDP socket to %s "
					   "again: %s", f->fd, addr_str(in, &in->peer, a, sizeof(a)),
					   strerror(err));
		}
	}
	return rst_high_fd(s->x, fd);
}

/* --- connections whose two ends are restored ----------------------------------- */

#define CONNECT_WAIT_MS	5000	/* for connect() and accept() on loopback: immediate */
#define FILL_WAIT_MS	2000	/* for queued bytes to make room */

/* One end of a connection: its entry, saved state and the socket being built. */
struct conn_end {
	const struct ckpt_fd *f;
	const struct ckpt_fd_inet *in;
	const struct ckpt_inet_conn *cn;
	const char *recv, *send;	/* the saved bytes */
	int fd;
};

static const struct ckpt_inet_conn *conn_of(const struct ckpt_fd_inet *in)
{
	return (const struct ckpt_inet_conn *)(in + 1);
}

static int fin_sent(uint32_t st)
{
	return st == TCP_FIN_WAIT1 || st == TCP_FIN_WAIT2 || st == TCP_CLOSING || st == TCP_LAST_ACK;
}

static int fin_rcvd(uint32_t st)
{
	return st == TCP_CLOSE_WAIT || st == TCP_CLOSING || st == TCP_LAST_ACK;
}

/* An address in IPv6 form (IPv4 as ::ffff:a.b.c.d), so that both families compare. */
static void norm(const struct ckpt_fd_inet *in, const struct ckpt_inet_addr *a, uint8_t out[16])
{
	memset(out, 0, 16);
	if (in->family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, a->addr, 4);
	} else {
		memcpy(out, a->addr, 16);
	}
}

static int is_v4(const uint8_t a[16])
{
	static const uint8_t pfx[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, pfx, 12);
}

static int same_addr(const struct ckpt_fd_inet *x, const struct ckpt_inet_addr *a,
		     const struct ckpt_fd_inet *y, const struct ckpt_inet_addr *b)
{
	uint8_t na[16], nb[16];

	norm(x, a, na);
	norm(y, b, nb);
	return a->port == b->port && !memcmp(na, nb, 16);
}

/* a's address in family's sockaddr (an IPv4 one as IPv4-mapped IPv6, or back) */
static socklen_t sockaddr_in_family(uint32_t family, const struct ckpt_fd_inet *in,
				    const struct ckpt_inet_addr *a, struct sockaddr_storage *ss)
{
	uint8_t n[16];

	norm(in, a, n);
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (void *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, n + 12, 4);
		s4->sin_port = htons(a->port);
		return sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, n, 16);
		s6->sin6_port = htons(a->port);
		s6->sin6_scope_id = in->family == AF_INET6 ? a->scope_id : 0;
		return sizeof(*s6);
	}
}

/* An entry's inet state, or NULL if it is no TCP/UDP entry with data. */
static const struct ckpt_fd_inet *inet_of(const struct rst_fds *s, const struct ckpt_fd *o)
{
	if (o->kind != CKPT_FD_INET || (o->xflags & CKPT_FDX_DUP) || !o->data_len)
		return NULL;
	return rst_fd_data(s, o);
}

/* The other end of f's connection: an ESTABLISHED entry, in any image, with f's addresses swapped. */
static const struct ckpt_fd *find_peer(const struct rst_fds *s, const struct ckpt_fd *f,
				       const struct ckpt_fd_inet *in)
{
	for (uint32_t k = 0; k < rst_fds_nr_images(s); k++) {
		const struct ckpt_image *img = rst_fds_image(s, k);

		for (uint32_t i = 0; i < img->nr_fds; i++) {
			const struct ckpt_fd *o = &img->fds[i];
			const struct ckpt_fd_inet *oi = inet_of(s, o);

			if (oi && o->ino != f->ino && oi->state == CKPT_INET_ESTABLISHED &&
			    same_addr(oi, &oi->local, in, &in->peer) &&
			    same_addr(oi, &oi->peer, in, &in->local))
				return o;
		}
	}
	return NULL;
}

/* Would a listening socket l take a connection to address a of in? */
static int listens_for(const struct ckpt_fd_inet *l, const struct ckpt_fd_inet *in,
		       const struct ckpt_inet_addr *a)
{
	static const uint8_t any[16];
	uint8_t nl[16], na[16];

	if (l->local.port != a->port)
		return 0;
	norm(l, &l->local, nl);
	norm(in, a, na);
	if (!memcmp(nl, na, 16))
		return 1;
	if (l->family == AF_INET)	/* 0.0.0.0 */
		return is_v4(na) && !memcmp(nl + 12, any, 4);
	/* :: takes IPv4 too unless IPV6_V6ONLY */
	return !memcmp(nl, any, 16) && (!is_v4(na) || !(l->opts & CKPT_INET_OPT_V6ONLY));
}

/* A listening entry, in any image, that a connection to e's local address reaches. */
static const struct ckpt_fd *find_listener(const struct rst_fds *s, const struct conn_end *e)
{
	for (uint32_t k = 0; k < rst_fds_nr_images(s); k++) {
		const struct ckpt_image *img = rst_fds_image(s, k);

		for (uint32_t i = 0; i < img->nr_fds; i++) {
			const struct ckpt_fd_inet *li = inet_of(s, &img->fds[i]);

			if (li && li->state == CKPT_INET_LISTEN && listens_for(li, e->in, &e->in->local))
				return &img->fds[i];
		}
	}
	return NULL;
}

/* "fd 12", or "pid 345 fd 12" for an entry of another process of the tree */
static const char *fd_name(const struct rst_fds *s, const struct ckpt_fd *f, char *buf,
			   size_t len)
{
	const struct ckpt_image *img = rst_fd_image(s, f);

	if (img == s->x->img)
		snprintf(buf, len, "fd %d", f->fd);
	else
		snprintf(buf, len, "pid %d fd %d", img->proc->pid, f->fd);
	return buf;
}

/*
 * The bytes the reader r had not read, which the writer w sends it: what r
 * had received, then what w had written past that (the tail of w's send
 * queue). 0 and the tail's length, or -1 and why when they do not join up.
 */
static int join(const struct rst_fds *s, const struct conn_end *w, const struct conn_end *r,
		uint64_t *tail, char *why, size_t len)
{
	const struct ckpt_inet_conn *wc = w->cn, *rc = r->cn;
	uint64_t end = rc->read_off + rc->recv_len;
	char wn[48], rn[48];

	fd_name(s, w->f, wn, sizeof(wn));
	fd_name(s, r->f, rn, sizeof(rn));
	if (end > wc->write_off) {
		snprintf(why, len, "%s had received %llu bytes more than %s had written", rn,
			 (unsigned long long)(end - wc->write_off), wn);
		return -1;
	}
	*tail = wc->write_off - end;
	if (*tail > wc->send_len) {
		snprintf(why, len, "%llu bytes written by %s were on their way to %s and %s",
			 (unsigned long long)(*tail - wc->send_len), wn, rn,
			 (wc->flags & CKPT_INET_SNDQ_UNREAD) ?
			 "could not be saved: reading a send queue needs CAP_NET_ADMIN" :
			 "are not in the image");
		return -1;
	}
	if (fin_rcvd(r->in->tcp_state) && !fin_sent(w->in->tcp_state)) {
		snprintf(why, len, "%s had a FIN that %s had not sent", rn, wn);
		return -1;
	}
	return 0;
}

static void end_init(const struct rst_fds *s, struct conn_end *e, const struct ckpt_fd *f)
{
	e->f = f;
	e->in = rst_fd_data(s, f);
	e->cn = conn_of(e->in);
	e->recv = (const char *)(e->cn + 1);
	e->send = e->recv + ((e->cn->recv_len + 7) & ~7ull);
	e->fd = -1;
}

/* Is o (ESTABLISHED) a connection that is to be built: its other end there, queues joining? */
static int rebuildable(const struct rst_fds *s, const struct ckpt_fd *o)
{
	const struct ckpt_fd *p = find_peer(s, o, rst_fd_data(s, o));
	struct conn_end a, b;
	uint64_t t;
	char why[8];

	if (!p)
		return 0;
	end_init(s, &a, o);
	end_init(s, &b, p);
	return !join(s, &a, &b, &t, why, sizeof(why)) && !join(s, &b, &a, &t, why, sizeof(why));
}

static int set_buf(int fd, int opt, int force, int val)
{
	if (val < 1)
		val = 1;
	if (!setsockopt(fd, SOL_SOCKET, force, &val, sizeof(val)))
		return 0;
	return setsockopt(fd, SOL_SOCKET, opt, &val, sizeof(val));
}

static int get_int(int fd, int level, int opt)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, opt, &v, &len))
		return -1;
	return v;
}

/* getsockopt reports twice what was set: the saved size, unless the socket has it already. */
static int restore_buf(int fd, int opt, int force, int32_t saved)
{
	if (get_int(fd, SOL_SOCKET, opt) == saved)
		return 0;
	return set_buf(fd, opt, force, saved / 2);
}

/* A TCP socket of e's family for one end, SO_REUSEADDR on, IPV6_V6ONLY as it was. */
static int conn_socket(const struct conn_end *e)
{
	int fd = socket(e->in->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);

	if (fd < 0)
		return -1;
	if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) ||
	    (e->in->family == AF_INET6 &&
	     set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, !!(e->in->opts & CKPT_INET_OPT_V6ONLY))) ||
	    /* before the connection: the window it announces follows the receive buffer */
	    restore_buf(fd, SO_RCVBUF, SO_RCVBUFFORCE, e->cn->rcvbuf)) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static void repair(int fd, int on)
{
	int v = on ? TCP_REPAIR_ON : TCP_REPAIR_OFF_NO_WP;

	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &v, sizeof(v)) && !on) {
		v = TCP_REPAIR_OFF;
		setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &v, sizeof(v));
	}
}

/*
 * bind() of the connecting end to its old address. A connection of the old
 * process left in TIME_WAIT there stops it unless that socket had
 * SO_REUSEADDR too; repair mode (CAP_NET_ADMIN) skips that check, and
 * connect() still refuses addresses and ports that a live connection holds.
 */
static int bind_end(int fd, const struct sockaddr *sa, socklen_t len)
{
	int ret, err;

	if (!bind(fd, sa, len))
		return 0;
	if (errno != EADDRINUSE)
		return -1;
	repair(fd, 1);
	ret = bind(fd, sa, len);
	err = errno;
	repair(fd, 0);
	/* leaving repair mode clears SO_REUSEADDR */
	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	errno = ret ? EADDRINUSE : err;
	return ret;
}

static int wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

/* c connects (non-blocking, waited for) to addr; 0 or -1 with errno. */
static int connect_end(int c, const struct sockaddr *sa, socklen_t len)
{
	int err = 0;
	socklen_t el = sizeof(err);
	int fl = fcntl(c, F_GETFL);

	if (fl < 0 || fcntl(c, F_SETFL, fl | O_NONBLOCK))
		return -1;
	if (connect(c, sa, len)) {
		if (errno != EINPROGRESS)
			return -1;
		if (wait_fd(c, POLLOUT, CONNECT_WAIT_MS))
			return -1;
		if (getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el))
			return -1;
		if (err) {
			errno = err;
			return -1;
		}
	}
	return fcntl(c, F_SETFL, fl);
}

/* Accepts from l the connection that comes from the end from; any other is closed. */
static int accept_end(int l, const struct conn_end *from)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct ckpt_fd_inet got = { .family = 0 };
		struct ckpt_inet_addr ga = { .port = 0 };
		int a;

		if (wait_fd(l, POLLIN, CONNECT_WAIT_MS))
			return -1;
		a = accept4(l, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (a < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
				continue;
			return -1;
		}
		got.family = ss.ss_family;
		if (ss.ss_family == AF_INET) {
			memcpy(ga.addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
			ga.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else {
			memcpy(ga.addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
			ga.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
		if (same_addr(&got, &ga, from->in, &from->in->local))
			return a;
		/* someone else's connection to the restored listener */
		close(a);
		pr_warn("a client that connected to %s during the restore was closed",
			addr_str(from->in, &from->in->peer, (char[80]){ 0 }, 80));
	}
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000ll + t.tv_nsec / 1000000;
}

/*
 * Sends len bytes from w without blocking: nobody reads yet, so w's send
 * buffer is made big enough when the bytes do not fit (and set back by the
 * caller). 0 or -1 with errno.
 */
static int send_fill(int w, const char *p, uint64_t len, int *grown)
{
	uint64_t sent = 0;
	int64_t end = now_ms() + FILL_WAIT_MS;

	while (sent < len) {
		ssize_t n = send(w, p + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			sent += n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (!*grown) {
			uint64_t want = len + (1u << 20);

			set_buf(w, SO_SNDBUF, SO_SNDBUFFORCE, want > INT32_MAX / 2 ? INT32_MAX / 2 :
				(int)want);
			*grown = 1;
			continue;
		}
		if (now_ms() > end) {
			errno = ENOBUFS;
			return -1;
		}
		wait_fd(w, POLLOUT, 50);
	}
	return 0;
}

/* w sends r what r had not read (see join); then w's FIN if it had sent one. */
static int fill(struct rst_fds *s, const struct conn_end *w, const struct conn_end *r,
		uint64_t tail, int *grown)
{
	const char *t = w->send + (w->cn->send_len - tail);
	char rn[48], wn[48];

	if (send_fill(w->fd, r->recv, r->cn->recv_len, grown) ||
	    send_fill(w->fd, t, tail, grown))
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "%s: cannot queue the %llu bytes it had not "
				   "read (sent from %s): %s", fd_name(s, r->f, rn, sizeof(rn)),
				   (unsigned long long)(r->cn->recv_len + tail),
				   fd_name(s, w->f, wn, sizeof(wn)), strerror(errno));
	return 0;
}

/* The options of one end (SO_REUSEADDR aside: finish_port); before the bytes are queued. */
static int end_opts(const struct conn_end *e)
{
	const struct ckpt_inet_conn *cn = e->cn;
	uint32_t o = e->in->opts;
	int fd = e->fd;

	if (((o & CKPT_INET_OPT_REUSEPORT) && set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) ||
	    set_int(fd, SOL_SOCKET, SO_KEEPALIVE, !!(o & CKPT_INET_OPT_KEEPALIVE)) ||
	    set_int(fd, IPPROTO_TCP, TCP_NODELAY, !!(o & CKPT_INET_OPT_NODELAY)) ||
	    restore_buf(fd, SO_RCVBUF, SO_RCVBUFFORCE, cn->rcvbuf) ||
	    restore_buf(fd, SO_SNDBUF, SO_SNDBUFFORCE, cn->sndbuf))
		return -1;
	if ((get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE) != cn->keepidle &&
	     set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, cn->keepidle)) ||
	    (get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL) != cn->keepintvl &&
	     set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, cn->keepintvl)) ||
	    (get_int(fd, IPPROTO_TCP, TCP_KEEPCNT) != cn->keepcnt &&
	     set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, cn->keepcnt)) ||
	    (cn->user_timeout && set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)cn->user_timeout)))
		return -1;
	if (cn->linger >= 0) {
		struct linger lg = { .l_onoff = 1, .l_linger = cn->linger };

		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
			return -1;
	}
	return 0;
}

/* After the bytes: the FIN, the send buffer as it was, TCP_CORK, the peek offset. */
static int end_finish(const struct conn_end *e, int grown)
{
	const struct ckpt_inet_conn *cn = e->cn;

	if ((fin_sent(e->in->tcp_state) && shutdown(e->fd, SHUT_WR)) ||
	    (grown && set_buf(e->fd, SO_SNDBUF, SO_SNDBUFFORCE, cn->sndbuf / 2)) ||
	    (cn->cork && set_int(e->fd, IPPROTO_TCP, TCP_CORK, 1)) ||
	    (cn->peek_off >= 0 && set_int(e->fd, SOL_SOCKET, SO_PEEK_OFF, cn->peek_off)))
		return -1;
	return 0;
}

static int conn_fail(struct rst_fds *s, const struct conn_end *e, const struct conn_end *o,
		     const char *what)
{
	char la[80], pa[80], en[48], on[48];
	int err = errno;

	return rst_fd_fail(s, err == EADDRINUSE || err == EADDRNOTAVAIL || err == EACCES ?
			   CKPT_EXIT_ENV : CKPT_EXIT_FAIL,
			   "%s: cannot connect TCP %s -> %s again (its other end is %s): %s: %s",
			   fd_name(s, e->f, en, sizeof(en)),
			   addr_str(e->in, &e->in->local, la, sizeof(la)),
			   addr_str(e->in, &e->in->peer, pa, sizeof(pa)),
			   fd_name(s, o->f, on, sizeof(on)), what, strerror(err));
}

/* The listener entry l's socket, built now if it was not yet. */
static int listener_fd(struct rst_fds *s, const struct ckpt_fd *l)
{
	struct rst_fdobj *o = rst_fdobj_find(s, l);
	int fd;

	if (o)
		return o->fd[0];
	fd = open_plain(s, l, rst_fd_data(s, l));
	if (fd < 0)
		return fd;
	rst_fdobj_add(s, l)->fd[0] = fd;
	return fd;
}

/*
 * Rebuilt connections keep SO_REUSEADDR on while other connections on the
 * same port are still to be built: another temporary listener or connecting
 * socket will bind that port. Once the last one is built, each gets its own
 * setting back. 0 or -1 with errno.
 */
static int finish_port(struct rst_fds *s, const struct ckpt_fd_inet *in,
		       const struct ckpt_inet_addr *a)
{
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t k = 0; k < rst_fds_nr_images(s); k++) {
			const struct ckpt_image *img = rst_fds_image(s, k);

			for (uint32_t i = 0; i < img->nr_fds; i++) {
				const struct ckpt_fd *o = &img->fds[i];
				const struct ckpt_fd_inet *oi = inet_of(s, o);
				struct rst_fdobj *obj;

				if (!oi || oi->state != CKPT_INET_ESTABLISHED ||
				    !same_addr(oi, &oi->local, in, a))
					continue;
				obj = rst_fdobj_find(s, o);
				if (!pass && !obj && rebuildable(s, o))
					return 0;	/* one still to build: not yet */
				if (pass && obj && set_int(obj->fd[0], SOL_SOCKET, SO_REUSEADDR,
							   !!(oi->opts & CKPT_INET_OPT_REUSEADDR)))
					return -1;
			}
		}
	}
	return 0;
}

static int setup_fail(struct rst_fds *s, const struct conn_end *a, const struct conn_end *b)
{
	char an[48], bn[48];
	int err = errno;

	return rst_fd_fail(s, CKPT_EXIT_FAIL, "%s and %s: setting up their connection: %s",
			   fd_name(s, a->f, an, sizeof(an)), fd_name(s, b->f, bn, sizeof(bn)),
			   strerror(err));
}

/*
 * Builds the connection: sv is accepted (from lent, the listener of its
 * address, or a temporary one), cl binds its old address and connects.
 * tail_*: the bytes of the other end's send queue that each end gets after
 * its own received ones (join). Both sockets become objects. 0 or -code;
 * with may_swap, 1 when a temporary listener cannot have sv's address (a
 * TIME_WAIT of the old process without SO_REUSEADDR holds it, which only
 * the connecting end can pass): then the ends may swap roles.
 */
static int build_conn(struct rst_fds *s, struct conn_end *sv, struct conn_end *cl,
		      const struct ckpt_fd *lent, uint64_t tail_sv, uint64_t tail_cl,
		      int may_swap)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int l = -1, tmp = 0, grown_sv = 0, grown_cl = 0, ret;

	if (lent) {
		l = listener_fd(s, lent);
		if (l < 0)
			return l;
	} else {
		l = conn_socket(sv);
		tmp = 1;
		if (l < 0)
			return conn_fail(s, sv, cl, "socket");
		len = to_sockaddr(sv->in, &sv->in->local, &ss);
		if (bind(l, (struct sockaddr *)&ss, len) || listen(l, 1)) {
			ret = may_swap && errno == EADDRINUSE ? 1 :
			      conn_fail(s, sv, cl, "binding its address");
			goto out;
		}
	}
	cl->fd = conn_socket(cl);
	if (cl->fd < 0) {
		ret = conn_fail(s, cl, sv, "socket");
		goto out;
	}
	len = to_sockaddr(cl->in, &cl->in->local, &ss);
	if (bind_end(cl->fd, (struct sockaddr *)&ss, len)) {
		ret = conn_fail(s, cl, sv, "binding its address");
		goto out;
	}
	len = sockaddr_in_family(cl->in->family, sv->in, &sv->in->local, &ss);
	if (connect_end(cl->fd, (struct sockaddr *)&ss, len)) {
		ret = conn_fail(s, cl, sv, "connect");
		goto out;
	}
	sv->fd = accept_end(l, cl);
	if (sv->fd < 0) {
		ret = conn_fail(s, sv, cl, "accept");
		goto out;
	}
	if (end_opts(sv) || end_opts(cl)) {
		ret = setup_fail(s, sv, cl);
		goto out;
	}
	ret = fill(s, cl, sv, tail_sv, &grown_cl);
	if (!ret)
		ret = fill(s, sv, cl, tail_cl, &grown_sv);
	if (ret)
		goto out;
	if (end_finish(sv, grown_sv) || end_finish(cl, grown_cl)) {
		ret = setup_fail(s, sv, cl);
		goto out;
	}
	sv->fd = rst_high_fd(s->x, sv->fd);
	cl->fd = rst_high_fd(s->x, cl->fd);
	if (sv->fd < 0 || cl->fd < 0) {
		ret = setup_fail(s, sv, cl);
		goto out;
	}
	rst_fdobj_add(s, sv->f)->fd[0] = sv->fd;
	rst_fdobj_add(s, cl->f)->fd[0] = cl->fd;
	sv->fd = cl->fd = -1;
	ret = 0;
	if (finish_port(s, sv->in, &sv->in->local) || finish_port(s, cl->in, &cl->in->local))
		ret = setup_fail(s, sv, cl);
out:
	if (tmp && l >= 0)
		close(l);
	if (sv->fd >= 0)
		close(sv->fd);
	if (cl->fd >= 0)
		close(cl->fd);
	sv->fd = cl->fd = -1;
	return ret;
}

/*
 * An ESTABLISHED entry: with its other end in the restore, both are built
 * (0; the objects hold them); else a reset socket (its fd). -code on error.
 */
static int open_conn(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_inet *in)
{
	const struct ckpt_fd *pf = find_peer(s, f, in), *la, *lb;
	struct conn_end a, b;
	uint64_t ta, tb;
	char why[256];
	int ret;

	if (!pf)
		return open_reset(s, f, in, NULL);
	end_init(s, &a, f);
	end_init(s, &b, pf);
	if (join(s, &b, &a, &ta, why, sizeof(why)) || join(s, &a, &b, &tb, why, sizeof(why)))
		return open_reset(s, f, in, why);
	/* the end on a listener's address is the accepted one */
	la = find_listener(s, &a);
	lb = find_listener(s, &b);
	if (la)
		return build_conn(s, &a, &b, la, ta, tb, 0);
	if (lb)
		return build_conn(s, &b, &a, lb, tb, ta, 0);
	/* no listener: the lower port (more likely a server's) is accepted, unless it cannot be */
	if (a.in->local.port <= b.in->local.port) {
		ret = build_conn(s, &a, &b, NULL, ta, tb, 1);
		if (ret == 1)
			ret = build_conn(s, &b, &a, NULL, tb, ta, 0);
	} else {
		ret = build_conn(s, &b, &a, NULL, tb, ta, 1);
		if (ret == 1)
			ret = build_conn(s, &a, &b, NULL, ta, tb, 0);
	}
	return ret;
}

int rst_open_inet(struct rst_fds *s, const struct ckpt_fd *f)
{
	struct rst_fdobj *o = rst_fdobj_find(s, f);
	int fd;

	if (!o) {
		const struct ckpt_fd_inet *in = rst_fd_data(s, f);

		if (in->state == CKPT_INET_ESTABLISHED)
			fd = open_conn(s, f, in);
		else if (in->state == CKPT_INET_RESET)
			fd = open_reset(s, f, in, NULL);
		else
			fd = open_plain(s, f, in);
		if (fd < 0)
			return fd;
		o = rst_fdobj_find(s, f);
		if (!o) {
			o = rst_fdobj_add(s, f);
			o->fd[0] = fd;
		}
	}
	fd = fcntl(o->fd[0], F_DUPFD_CLOEXEC, s->x->fd_base);
	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: dup: %s", f->fd, strerror(errno));
	return fd;
}
