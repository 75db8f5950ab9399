/* SPDX-License-Identifier: MIT */
/*
 * TCP and UDP sockets over IPv4 and IPv6. What a socket is (new, bound,
 * listening, a connection, a connected UDP socket) comes from getsockname,
 * getpeername and TCP_INFO; the options that decide how it binds and
 * behaves (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, TCP_NODELAY,
 * SO_KEEPALIVE, SO_BROADCAST) from getsockopt. A listening socket's
 * backlog is TCP_INFO's tcpi_sacked (sk_max_ack_backlog) and the
 * connections waiting in its accept queue tcpi_unacked (they are lost at
 * restore: the message says how many).
 *
 * A TCP connection's state (sequence numbers, queues, the peer's view) is
 * not saved: restore makes a socket that reports the connection reset, as
 * after a network failure. Datagrams queued on a UDP socket are not saved
 * either (restore could not send them again from their sources).
 *
 * Raw, ICMP, SCTP and other protocols are refused naming the fd.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "fds.h"

static const char *path_of(struct ckpt_capture *c, const struct ckpt_fd *f)
{
	return c->strings + f->path_str;
}

static int getopt_int(int fd, int level, int opt, int32_t *val)
{
	socklen_t len = sizeof(*val);

	*val = 0;
	return getsockopt(fd, level, opt, val, &len);
}

static void to_addr(const struct sockaddr_storage *ss, struct ckpt_inet_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		memcpy(a->addr, &s4->sin_addr, 4);
		a->port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		memcpy(a->addr, &s6->sin6_addr, 16);
		a->port = ntohs(s6->sin6_port);
		a->scope_id = s6->sin6_scope_id;
	}
}

static int check_type(struct ckpt_capture *c, struct ckpt_fd *f, int32_t domain, int32_t type,
		      int32_t proto)
{
	const char *fam = domain == AF_INET ? "IPv4" : "IPv6";

	if ((type == SOCK_STREAM && proto == IPPROTO_TCP) ||
	    (type == SOCK_DGRAM && proto == IPPROTO_UDP))
		return 0;
	if (type == SOCK_RAW)
		ckpt_fail(c, "fd %d: %s is a raw %s socket (protocol %d), not supported", f->fd,
			  path_of(c, f), fam, proto);
	else
		ckpt_fail(c, "fd %d: %s is an %s socket of type %d, protocol %d; only TCP and UDP "
			  "are supported", f->fd, path_of(c, f), fam, type, proto);
	return -ENOTSUP;
}

static int save_opts(struct ckpt_capture *c, struct ckpt_fd *f, struct ckpt_fd_inet *in)
{
	static const struct {
		int level, opt;
		uint32_t bit;
		int family, protocol;	/* 0: any */
	} opts[] = {
		{ SOL_SOCKET, SO_REUSEADDR, CKPT_INET_OPT_REUSEADDR, 0, 0 },
		{ SOL_SOCKET, SO_REUSEPORT, CKPT_INET_OPT_REUSEPORT, 0, 0 },
		{ SOL_SOCKET, SO_KEEPALIVE, CKPT_INET_OPT_KEEPALIVE, 0, 0 },
		{ SOL_SOCKET, SO_BROADCAST, CKPT_INET_OPT_BROADCAST, 0, 0 },
		{ IPPROTO_IPV6, IPV6_V6ONLY, CKPT_INET_OPT_V6ONLY, AF_INET6, 0 },
		{ IPPROTO_TCP, TCP_NODELAY, CKPT_INET_OPT_NODELAY, 0, IPPROTO_TCP },
	};

	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		int32_t v;

		if ((opts[k].family && opts[k].family != (int)in->family) ||
		    (opts[k].protocol && opts[k].protocol != (int)in->protocol))
			continue;
		if (getopt_int(f->fd, opts[k].level, opts[k].opt, &v)) {
			ckpt_fail(c, "fd %d: %s: getsockopt: %s", f->fd, path_of(c, f),
				  strerror(errno));
			return -errno;
		}
		if (v)
			in->opts |= opts[k].bit;
	}
	return 0;
}

static int save_tcp(struct ckpt_capture *c, struct ckpt_fd *f, struct ckpt_fd_inet *in,
		    const struct sockaddr_storage *peer, int connected)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(f->fd, IPPROTO_TCP, TCP_INFO, &ti, &len)) {
		ckpt_fail(c, "fd %d: %s: TCP_INFO: %s", f->fd, path_of(c, f), strerror(errno));
		return -errno;
	}
	in->tcp_state = ti.tcpi_state;
	switch (ti.tcpi_state) {
	case TCP_LISTEN:
		in->state = CKPT_INET_LISTEN;
		in->backlog = ti.tcpi_sacked;		/* sk_max_ack_backlog */
		in->pending = ti.tcpi_unacked;		/* sk_ack_backlog */
		if (in->backlog > INT32_MAX)
			in->backlog = INT32_MAX;
		break;
	case TCP_CLOSE:
		in->state = in->local.port ? CKPT_INET_BOUND : CKPT_INET_NEW;
		break;
	default:
		/* established, connecting or closing: a connection to a peer */
		in->state = CKPT_INET_RESET;
		if (connected)
			to_addr(peer, &in->peer);
		break;
	}
	return 0;
}

int ckpt_save_inet(struct ckpt_capture *c, struct ckpt_fd *f)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof(local), plen = sizeof(peer);
	int32_t domain, type, proto;
	struct ckpt_fd_inet *in;
	int connected, ret;

	if (getopt_int(f->fd, SOL_SOCKET, SO_DOMAIN, &domain) ||
	    getopt_int(f->fd, SOL_SOCKET, SO_TYPE, &type) ||
	    getopt_int(f->fd, SOL_SOCKET, SO_PROTOCOL, &proto)) {
		ckpt_fail(c, "fd %d: %s: getsockopt: %s", f->fd, path_of(c, f), strerror(errno));
		return -errno;
	}
	if (domain != AF_INET && domain != AF_INET6) {
		ckpt_fail(c, "fd %d: %s is a socket of address family %d, not supported yet",
			  f->fd, path_of(c, f), domain);
		return -ENOTSUP;
	}
	ret = check_type(c, f, domain, type, proto);
	if (ret)
		return ret;
	memset(&local, 0, sizeof(local));
	memset(&peer, 0, sizeof(peer));
	if (getsockname(f->fd, (struct sockaddr *)&local, &llen) || local.ss_family != domain) {
		ckpt_fail(c, "fd %d: %s: getsockname: %s", f->fd, path_of(c, f),
			  local.ss_family != domain ? "unexpected address family" : strerror(errno));
		return -EIO;
	}
	connected = !getpeername(f->fd, (struct sockaddr *)&peer, &plen) &&
		    peer.ss_family == domain;
	in = ckpt_fd_data(c, f, sizeof(*in));
	if (!in)
		return -ENOSPC;
	in->family = domain;
	in->type = type;
	in->protocol = proto;
	to_addr(&local, &in->local);
	if (proto == IPPROTO_TCP) {
		ret = save_tcp(c, f, in, &peer, connected);
	} else if (connected) {
		in->state = CKPT_INET_CONNECTED;
		to_addr(&peer, &in->peer);
	} else {
		in->state = in->local.port ? CKPT_INET_BOUND : CKPT_INET_NEW;
	}
	if (!ret)
		ret = save_opts(c, f, in);
	return ret;
}
