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
 *   connection a TCP connection cannot be taken over: the socket is made
 *              a connection that its peer reset (a loopback pair whose
 *              other end closes with SO_LINGER 0), so that the program
 *              sees what a network failure shows: ECONNRESET on the next
 *              read or write, then end of file and EPIPE; poll reports
 *              POLLERR|POLLHUP. One warning per socket names the fd and
 *              the addresses. Where no loopback is available the socket
 *              stays a new, unconnected one (ENOTCONN, EPIPE)
 *
 * A taken address makes the restore fail with exit 11 naming the fd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
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

static int open_reset(struct rst_fds *s, const struct ckpt_fd *f, const struct ckpt_fd_inet *in)
{
	const char *st = in->tcp_state < sizeof(tcp_states) / sizeof(tcp_states[0]) &&
			 tcp_states[in->tcp_state] ? tcp_states[in->tcp_state] : "?";
	char la[80], pa[80];
	int fd = reset_pair(in);

	addr_str(in, &in->local, la, sizeof(la));
	if (in->peer.port)
		addr_str(in, &in->peer, pa, sizeof(pa));
	else
		snprintf(pa, sizeof(pa), "(no peer address)");
	if (fd >= 0) {
		pr_warn("fd %d: TCP connection %s -> %s (%s at the checkpoint) is not restored: "
			"it reads as reset by the peer (ECONNRESET)", f->fd, la, pa, st);
	} else {
		int err = errno;

		fd = socket(in->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
		if (fd < 0)
			return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: socket: %s", f->fd,
					   strerror(errno));
		pr_warn("fd %d: TCP connection %s -> %s (%s at the checkpoint) is not restored: "
			"it is an unconnected socket (ENOTCONN, EPIPE); no loopback to reset it (%s)",
			f->fd, la, pa, st, strerror(err));
	}
	if (set_opts(fd, in, 0)) {
		close(fd);
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: setsockopt: %s", f->fd,
				   strerror(errno));
	}
	return rst_high_fd(s->x, fd);
}

int rst_open_inet(struct rst_fds *s, const struct ckpt_fd *f)
{
	const struct ckpt_fd_inet *in = rst_fd_data(s, f);
	int listening = in->state == CKPT_INET_LISTEN;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (in->state == CKPT_INET_RESET)
		return open_reset(s, f, in);
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
