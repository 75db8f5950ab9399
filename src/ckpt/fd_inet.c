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
 * A TCP connection that is open or half closed (ESTABLISHED, FIN_WAIT1/2,
 * CLOSE_WAIT, CLOSING, LAST_ACK) whose other end is restored with it is
 * saved with its queues (CKPT_INET_ESTABLISHED), so that restore can
 * connect the two again. That end is another socket of this process (the
 * addresses swapped) or, in a tree checkpoint, perhaps a socket of another
 * of its processes (a loopback peer or one at this end's own address: this
 * process cannot tell, restore decides); any other connection is saved as
 * CKPT_INET_RESET, as its queues would be of no use.
 *
 *   receive queue  read with MSG_PEEK (from a peek offset of 0 when the
 *                  program uses SO_PEEK_OFF, which is put back), between
 *                  two TCP_INFO calls that must agree on tcpi_bytes_received
 *   send queue     what the peer has not acknowledged (SIOCOUTQ). On
 *                  loopback that is usually nothing, or bytes the peer has
 *                  received but not acknowledged yet; the rest (a peer whose
 *                  window is full) is read with TCP_REPAIR and
 *                  TCP_REPAIR_QUEUE = TCP_SEND_QUEUE, repair mode being
 *                  turned off again at once. That needs CAP_NET_ADMIN:
 *                  without it the queue is marked unread, and when the other
 *                  end is in this process and has not received those bytes
 *                  the checkpoint fails naming the fd, addresses and bytes
 *   offsets        read_off (bytes the program has read: tcpi_bytes_received
 *                  less the FIN and the receive queue) and write_off (bytes
 *                  it has written: tcpi_bytes_sent - tcpi_bytes_retrans +
 *                  tcpi_notsent_bytes, less an unsent FIN), fixed while the
 *                  program is stopped; they place each saved queue in the
 *                  stream, so that restore can join one end's send queue to
 *                  the other end's receive queue without losing or doubling
 *                  bytes that moved between the two saves
 *
 * plus buffer sizes, SO_PEEK_OFF, SO_LINGER, keepalive timing,
 * TCP_USER_TIMEOUT and TCP_CORK. A connection whose queues cannot be read
 * (urgent data, queues over the room for fd data, a kernel without
 * tcpi_bytes_sent) is saved as CKPT_INET_RESET when its other end is not in
 * this process, and makes the checkpoint fail when it is. A connection
 * being opened (SYN_SENT, SYN_RECV) is saved as CKPT_INET_RESET. Restore
 * makes a RESET socket one that reports the connection reset, as after a
 * network failure. Datagrams queued on a UDP socket are not saved (restore
 * could not send them again from their sources).
 *
 * Raw, ICMP, SCTP and other protocols are refused naming the fd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>		/* the kernel's struct tcp_info, with the byte counters */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "fds.h"
#include "log.h"

/* tcpi_state values (the kernel's include/net/tcp_states.h) */
enum {
	ST_ESTABLISHED = 1, ST_SYN_SENT, ST_SYN_RECV, ST_FIN_WAIT1, ST_FIN_WAIT2, ST_TIME_WAIT,
	ST_CLOSE, ST_CLOSE_WAIT, ST_LAST_ACK, ST_LISTEN, ST_CLOSING,
};

#define PEEK_TRIES	16	/* receive queue reads that data arriving may spoil */

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

/* This end has sent or queued its FIN; the peer's FIN arrived; our FIN is in SIOCOUTQ. */
static int fin_sent(int st)
{
	return st == ST_FIN_WAIT1 || st == ST_FIN_WAIT2 || st == ST_CLOSING || st == ST_LAST_ACK;
}

static int fin_rcvd(int st)
{
	return st == ST_CLOSE_WAIT || st == ST_CLOSING || st == ST_LAST_ACK;
}

static int fin_unacked(int st)
{
	return st == ST_FIN_WAIT1 || st == ST_CLOSING || st == ST_LAST_ACK;
}

/* A connection whose queues restore can rebuild. */
static int is_conn_state(int st)
{
	return st == ST_ESTABLISHED || fin_sent(st) || fin_rcvd(st);
}

/* TCP_INFO; 0 if it reaches tcpi_bytes_retrans (Linux 4.19), else -1 (errno set). */
static int tcp_info_of(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len))
		return -1;
	if (len < offsetof(struct tcp_info, tcpi_bytes_retrans) + sizeof(ti->tcpi_bytes_retrans)) {
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}

/* Bytes the program has written: sent once (retransmissions aside) or still unsent. */
static uint64_t write_off_of(const struct tcp_info *ti)
{
	uint64_t off = ti->tcpi_bytes_sent - ti->tcpi_bytes_retrans + ti->tcpi_notsent_bytes;

	/* a FIN not sent yet is the last of tcpi_notsent_bytes */
	if (fin_sent(ti->tcpi_state) && ti->tcpi_notsent_bytes)
		off--;
	return off;
}

/* IPv4 addresses in their IPv4-mapped IPv6 form, so that both families compare. */
static void norm_addr(const struct sockaddr_storage *ss, uint8_t a[16], uint16_t *port)
{
	memset(a, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		a[10] = a[11] = 0xff;
		memcpy(a + 12, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		memcpy(a, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
	}
}

/* A connected TCP/UDP socket of the process: its addresses, in the form norm_addr gives. */
struct sock_ends {
	uint8_t local[16], peer[16];
	uint16_t lport, pport;
	int fd;
	uint64_t ino;
};

/* The process's connected sockets, listed once per checkpoint (when first needed). */
static struct {
	uint64_t capture;		/* ckpt_capture.t_start of the checkpoint they are of */
	struct sock_ends *e;
	uint32_t n;
} ends;

static int list_ends(struct ckpt_capture *c)
{
	if (ends.capture == c->t_start && ends.e)
		return 0;
	ends.capture = c->t_start;
	ends.n = 0;
	ends.e = ckpt_scratch_alloc((c->nr_fds + 1) * sizeof(*ends.e));
	if (!ends.e)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->nr_fds; i++) {
		const struct ckpt_fd *o = &c->fds[i];
		struct sockaddr_storage ol, op;
		socklen_t ll = sizeof(ol), pl = sizeof(op);
		struct sock_ends *e = &ends.e[ends.n];

		if (o->kind != CKPT_FD_INET || (o->xflags & CKPT_FDX_DUP))
			continue;
		memset(&ol, 0, sizeof(ol));
		memset(&op, 0, sizeof(op));
		if (getsockname(o->fd, (struct sockaddr *)&ol, &ll) ||
		    getpeername(o->fd, (struct sockaddr *)&op, &pl) ||
		    (ol.ss_family != AF_INET && ol.ss_family != AF_INET6) ||
		    (op.ss_family != AF_INET && op.ss_family != AF_INET6))
			continue;
		norm_addr(&ol, e->local, &e->lport);
		norm_addr(&op, e->peer, &e->pport);
		e->fd = o->fd;
		e->ino = o->ino;
		ends.n++;
	}
	return 0;
}

/*
 * The other end of the connection local -> peer when it is a socket of this
 * process (its local and peer addresses swapped): its fd, or -1.
 */
static int peer_here(struct ckpt_capture *c, const struct ckpt_fd *f,
		     const struct sockaddr_storage *local, const struct sockaddr_storage *peer)
{
	uint8_t la[16], pa[16];
	uint16_t lp, pp;

	if (list_ends(c))
		return -1;
	norm_addr(local, la, &lp);
	norm_addr(peer, pa, &pp);
	for (uint32_t i = 0; i < ends.n; i++) {
		const struct sock_ends *e = &ends.e[i];

		if (e->lport == pp && e->pport == lp && e->ino != f->ino &&
		    !memcmp(e->local, pa, 16) && !memcmp(e->peer, la, 16))
			return e->fd;
	}
	return -1;
}

/*
 * Could the other end be a process of this machine: a loopback peer, or
 * one at this end's own address? (For a tree, whose other processes'
 * sockets this one cannot see.)
 */
static int maybe_local(const struct sockaddr_storage *local, const struct sockaddr_storage *peer)
{
	static const uint8_t lo6[16] = { [15] = 1 }, zero[10];
	uint8_t la[16], pa[16];
	uint16_t lp, pp;
	int v4;

	norm_addr(local, la, &lp);
	norm_addr(peer, pa, &pp);
	v4 = !memcmp(pa, zero, 10) && pa[10] == 0xff && pa[11] == 0xff;
	return (v4 && pa[12] == 127) || !memcmp(pa, lo6, 16) || !memcmp(la, pa, 16);
}

static void conn_str(const struct ckpt_fd_inet *in, char *buf, size_t len)
{
	char l[INET6_ADDRSTRLEN], p[INET6_ADDRSTRLEN];
	int v6 = in->family == AF_INET6;

	if (!inet_ntop(in->family, in->local.addr, l, sizeof(l)))
		snprintf(l, sizeof(l), "?");
	if (!inet_ntop(in->family, in->peer.addr, p, sizeof(p)))
		snprintf(p, sizeof(p), "?");
	snprintf(buf, len, v6 ? "[%s]:%u -> [%s]:%u" : "%s:%u -> %s:%u", l, in->local.port, p,
		 in->peer.port);
}

static ssize_t peek(int fd, char *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(fd, buf, len, MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	return n;
}

/*
 * The receive queue into p (room bytes) and the offset of its first byte.
 * Two TCP_INFO calls around the read must see the same bytes received;
 * SIOCINQ must agree with what MSG_PEEK returned (it does not with urgent
 * data). 0 or -errno.
 */
static int save_recvq(int fd, struct ckpt_inet_conn *cn, char *p, size_t room)
{
	int zero = 0, use_off = cn->peek_off >= 0, err = EAGAIN;

	for (int k = 0; k < PEEK_TRIES; k++) {
		struct tcp_info t1, t2;
		size_t got = 0;
		ssize_t n;
		int inq = 0;

		if (use_off && setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero))) {
			err = errno;
			break;
		}
		if (tcp_info_of(fd, &t1)) {
			err = errno;
			break;
		}
		/* with a peek offset each call goes on where the last stopped; without, one call */
		do {
			n = peek(fd, p + got, room - got);
			if (n > 0)
				got += n;
		} while (use_off && n > 0 && got < room);
		if (n < 0 || ioctl(fd, SIOCINQ, &inq) || tcp_info_of(fd, &t2)) {
			err = errno;
			break;
		}
		if (got >= room) {
			err = ENOSPC;
			break;
		}
		if (t1.tcpi_bytes_received != t2.tcpi_bytes_received ||
		    t1.tcpi_state != t2.tcpi_state)
			continue;		/* bytes arrived meanwhile: again */
		if ((size_t)inq != got) {
			err = EPROTO;		/* urgent data */
			break;
		}
		cn->recv_len = got;
		cn->read_off = t2.tcpi_bytes_received - fin_rcvd(t2.tcpi_state) - got;
		err = 0;
		break;
	}
	if (use_off)
		setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &cn->peek_off, sizeof(cn->peek_off));
	return -err;
}

/*
 * The send queue (bytes not acknowledged, up to write_off) through
 * TCP_REPAIR: > 0 bytes read, or -errno (-EPERM without CAP_NET_ADMIN, or in
 * a state repair mode refuses). Repair mode is on only around the read;
 * leaving it clears SO_REUSEADDR, which is put back.
 */
static ssize_t read_sendq(int fd, char *p, size_t room)
{
	int on = TCP_REPAIR_ON, off = TCP_REPAIR_OFF_NO_WP, q = TCP_SEND_QUEUE, none = TCP_NO_QUEUE;
	int32_t reuse;
	ssize_t n;
	int err;

	if (getopt_int(fd, SOL_SOCKET, SO_REUSEADDR, &reuse))
		return -errno;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		return -errno;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)))
		n = -1;
	else
		n = peek(fd, p, room);
	err = errno;
	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &none, sizeof(none));
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off))) {
		off = TCP_REPAIR_OFF;	/* before Linux 4.16 */
		setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
	if (n < 0)
		return -err;
	if ((size_t)n >= room)
		return -ENOSPC;
	return n;
}

static int save_conn_opts(int fd, struct ckpt_inet_conn *cn)
{
	struct linger lg;
	socklen_t len = sizeof(lg);
	int32_t v;

	memset(&lg, 0, sizeof(lg));
	if (getopt_int(fd, SOL_SOCKET, SO_SNDBUF, &cn->sndbuf) ||
	    getopt_int(fd, SOL_SOCKET, SO_RCVBUF, &cn->rcvbuf) ||
	    getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len) ||
	    getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, &cn->keepidle) ||
	    getopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, &cn->keepintvl) ||
	    getopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT, &cn->keepcnt) ||
	    getopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v))
		return -errno;
	cn->user_timeout = v;
	cn->linger = lg.l_onoff ? lg.l_linger : -1;
	if (getopt_int(fd, IPPROTO_TCP, TCP_CORK, &v))
		return -errno;
	cn->cork = !!v;
	/* -1 (off) unless the program set one; kernels without it for TCP say -1 too */
	if (getopt_int(fd, SOL_SOCKET, SO_PEEK_OFF, &cn->peek_off))
		cn->peek_off = -1;
	return 0;
}

/*
 * An open or half-closed connection: struct ckpt_inet_conn and its queues
 * after in. 0 when saved; 1 when it is to be saved as RESET (its other end
 * cannot be restored with it, or its queues cannot be read while that end
 * is not in this process); -errno after ckpt_fail.
 */
static int save_conn(struct ckpt_capture *c, struct ckpt_fd *f, struct ckpt_fd_inet *in,
		     const struct sockaddr_storage *local, const struct sockaddr_storage *peer)
{
	struct ckpt_inet_conn *cn;
	struct tcp_info ti;
	size_t room, used;
	char *p = ckpt_fd_data_room(c, f, &room);
	char addrs[2 * INET6_ADDRSTRLEN + 32];
	const char *why = NULL;
	int outq = 0, err, other = peer_here(c, f, local, peer);
	ssize_t n;

	/* alone, only a peer in this process is restored; in a tree, perhaps one in another */
	if (other < 0 && (!c->tree || !maybe_local(local, peer)))
		return 1;
	conn_str(in, addrs, sizeof(addrs));
	if (!p || room < sizeof(*cn) + 16) {
		err = ENOSPC;
		why = "its queues need more than the room kept for fd data";
		goto cannot;
	}
	cn = (struct ckpt_inet_conn *)p;
	memset(cn, 0, sizeof(*cn));
	err = -save_conn_opts(f->fd, cn);
	if (err) {
		ckpt_fail(c, "fd %d: TCP connection %s: getsockopt: %s", f->fd, addrs,
			  strerror(err));
		return -err;
	}
	used = sizeof(*cn);
	err = -save_recvq(f->fd, cn, p + used, room - used - 8);
	if (err) {
		why = err == EPROTO ? "its receive queue holds urgent data" :
		      err == ENOSPC ? "its queues need more than the room kept for fd data" :
		      "its receive queue cannot be read";
		goto cannot;
	}
	used += (cn->recv_len + 7) & ~7ull;
	memset(p + sizeof(*cn) + cn->recv_len, 0, used - sizeof(*cn) - cn->recv_len);
	if (tcp_info_of(f->fd, &ti) || ioctl(f->fd, SIOCOUTQ, &outq)) {
		err = errno;
		why = "TCP_INFO has no byte counters";
		goto cannot;
	}
	cn->write_off = write_off_of(&ti);
	cn->unacked = (uint64_t)outq - (outq > 0 && fin_unacked(ti.tcpi_state));
	if (cn->unacked > cn->write_off) {
		err = EPROTO;
		why = "its byte counters disagree";
		goto cannot;
	}
	if (cn->unacked) {
		n = room - used > 8 ? read_sendq(f->fd, p + used, room - used - 8) : -ENOSPC;
		if (n == -ENOSPC) {
			err = ENOSPC;
			why = "its queues need more than the room kept for fd data";
			goto cannot;
		}
		if (n >= 0 && (uint64_t)n <= cn->write_off) {
			cn->send_len = n;
			memset(p + used + n, 0, ((n + 7) & ~7ull) - n);
			used += (n + 7) & ~7ull;
		} else {
			cn->flags |= CKPT_INET_SNDQ_UNREAD;
			err = n < 0 ? -n : EPROTO;
		}
	}
	if ((cn->flags & CKPT_INET_SNDQ_UNREAD) && other >= 0) {
		struct tcp_info pt;

		/* fine if the other end has all the bytes already (a delayed ACK) */
		if (!tcp_info_of(other, &pt) &&
		    pt.tcpi_bytes_received - fin_rcvd(pt.tcpi_state) < cn->write_off) {
			ckpt_fail(c, "fd %d: TCP connection %s: %llu bytes written are not yet "
				  "received by its other end (fd %d) and reading them needs "
				  "CAP_NET_ADMIN (TCP_REPAIR): %s", f->fd, addrs,
				  (unsigned long long)(cn->write_off - pt.tcpi_bytes_received +
						       fin_rcvd(pt.tcpi_state)),
				  other, strerror(err));
			return -EPERM;
		}
	}
	ckpt_fd_data_commit(c, f, used);
	in->state = CKPT_INET_ESTABLISHED;
	return 0;
cannot:
	if (other >= 0) {
		ckpt_fail(c, "fd %d: TCP connection %s to another fd of the process: %s (%s)",
			  f->fd, addrs, why, strerror(err));
		return -err;
	}
	pr_info("fd %d: TCP connection %s: %s; saved as a connection to reset", f->fd, addrs,
		why);
	return 1;
}

static int save_tcp(struct ckpt_capture *c, struct ckpt_fd *f, struct ckpt_fd_inet *in,
		    const struct sockaddr_storage *local, const struct sockaddr_storage *peer,
		    int connected)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int ret;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(f->fd, IPPROTO_TCP, TCP_INFO, &ti, &len)) {
		ckpt_fail(c, "fd %d: %s: TCP_INFO: %s", f->fd, path_of(c, f), strerror(errno));
		return -errno;
	}
	in->tcp_state = ti.tcpi_state;
	switch (ti.tcpi_state) {
	case ST_LISTEN:
		in->state = CKPT_INET_LISTEN;
		in->backlog = ti.tcpi_sacked;		/* sk_max_ack_backlog */
		in->pending = ti.tcpi_unacked;		/* sk_ack_backlog */
		if (in->backlog > INT32_MAX)
			in->backlog = INT32_MAX;
		break;
	case ST_CLOSE:
		in->state = in->local.port ? CKPT_INET_BOUND : CKPT_INET_NEW;
		break;
	default:
		/* connecting, open or closing: a connection to a peer */
		in->state = CKPT_INET_RESET;
		if (!connected)
			break;
		to_addr(peer, &in->peer);
		if (!is_conn_state(ti.tcpi_state))
			break;
		ret = save_conn(c, f, in, local, peer);
		if (ret < 0)
			return ret;
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
	/* the options first: a connection's queues follow the struct */
	ret = save_opts(c, f, in);
	if (ret)
		return ret;
	if (proto == IPPROTO_TCP) {
		ret = save_tcp(c, f, in, &local, &peer, connected);
	} else if (connected) {
		in->state = CKPT_INET_CONNECTED;
		to_addr(&peer, &in->peer);
	} else {
		in->state = in->local.port ? CKPT_INET_BOUND : CKPT_INET_NEW;
	}
	return ret;
}
