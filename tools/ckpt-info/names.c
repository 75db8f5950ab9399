/* SPDX-License-Identifier: MIT */
/* Names and formats shared by the text and the JSON output. */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>

#include "ckpt-info.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Set by the kernel in F_GETFL on 64-bit; glibc defines O_LARGEFILE as 0. */
#define KERNEL_O_LARGEFILE 0100000

struct flag_name {
	uint64_t bit;
	const char *name;
};

/* Appends the names of the set bits, then any unnamed rest in hex. */
static void flags_str(uint64_t flags, const struct flag_name *names, size_t nr,
		      const char *sep, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = 0;
	for (size_t i = 0; i < nr && pos < len; i++) {
		if ((flags & names[i].bit) != names[i].bit)
			continue;
		pos += snprintf(buf + pos, len - pos, "%s%s", pos ? sep : "", names[i].name);
		flags &= ~names[i].bit;
	}
	if (flags && pos < len)
		snprintf(buf + pos, len - pos, "%s0x%llx", pos ? sep : "", (unsigned long long)flags);
}

/* Length of the valid UTF-8 sequence at p (RFC 3629), 0 if invalid. */
size_t utf8_len(const unsigned char *p, size_t max)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n > max)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (p[i] < lo || p[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

const char *sig_name(int signo, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(signo);

	if (abbrev)
		snprintf(buf, len, "SIG%s", abbrev);
	else if (signo >= SIGRTMIN && signo <= SIGRTMAX)
		snprintf(buf, len, "SIGRTMIN+%d", signo - SIGRTMIN);
	else
		snprintf(buf, len, "SIG%d", signo);
	return buf;
}

void sigset_names(uint64_t set, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = 0;
	for (int signo = 1; signo <= CKPT_NR_SIGNALS && pos < len; signo++) {
		char name[24];

		if (set & (1ull << (signo - 1)))
			pos += snprintf(buf + pos, len - pos, "%s%s", pos ? "," : "",
					sig_name(signo, name, sizeof(name)));
	}
}

/* Short form for the text report: "-", "all", "all but SIGKILL,SIGSTOP" or a list. */
void sigset_brief(uint64_t set, char *buf, size_t len)
{
	size_t n;

	if (!set) {
		snprintf(buf, len, "-");
	} else if (!~set) {
		snprintf(buf, len, "all");
	} else if (__builtin_popcountll(set) > CKPT_NR_SIGNALS / 2) {
		n = snprintf(buf, len, "all but ");
		sigset_names(~set, buf + n, len - n);
	} else {
		sigset_names(set, buf, len);
	}
}

void sa_flags_str(uint64_t flags, char *buf, size_t len)
{
	static const struct flag_name names[] = {
		{ SA_NOCLDSTOP, "NOCLDSTOP" }, { SA_NOCLDWAIT, "NOCLDWAIT" },
		{ SA_SIGINFO, "SIGINFO" }, { SA_ONSTACK, "ONSTACK" },
		{ SA_RESTART, "RESTART" }, { SA_NODEFER, "NODEFER" },
		{ SA_RESETHAND, "RESETHAND" }, { 0x04000000, "RESTORER" },
	};

	flags_str(flags, names, ARRAY_SIZE(names), "|", buf, len);
}

const char *rlimit_name(int res)
{
	static const char *const names[CKPT_NR_RLIMITS] = {
		"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
		"MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO",
		"RTTIME",
	};

	return res >= 0 && res < CKPT_NR_RLIMITS ? names[res] : "?";
}

const char *itimer_name(int which)
{
	static const char *const names[] = { "real", "virtual", "prof" };

	return which >= 0 && which < (int)ARRAY_SIZE(names) ? names[which] : "?";
}

const char *clock_name(int clockid)
{
	static const char *const names[] = {
		[CLOCK_REALTIME] = "realtime", [CLOCK_MONOTONIC] = "monotonic",
		[CLOCK_PROCESS_CPUTIME_ID] = "process-cputime",
		[CLOCK_THREAD_CPUTIME_ID] = "thread-cputime",
		[CLOCK_MONOTONIC_RAW] = "monotonic-raw",
		[CLOCK_REALTIME_COARSE] = "realtime-coarse",
		[CLOCK_MONOTONIC_COARSE] = "monotonic-coarse",
		[CLOCK_BOOTTIME] = "boottime", [CLOCK_REALTIME_ALARM] = "realtime-alarm",
		[CLOCK_BOOTTIME_ALARM] = "boottime-alarm", [CLOCK_TAI] = "tai",
	};

	if (clockid < 0 || clockid >= (int)ARRAY_SIZE(names) || !names[clockid])
		return "?";
	return names[clockid];
}

const char *notify_name(int notify)
{
	switch (notify) {
	case SIGEV_SIGNAL:
		return "signal";
	case SIGEV_NONE:
		return "none";
	case SIGEV_THREAD:
		return "thread";
	case SIGEV_THREAD_ID:
		return "thread-id";
	default:
		return "?";
	}
}

void prot_str(const struct ckpt_region *r, char buf[5])
{
	buf[0] = r->prot & PROT_READ ? 'r' : '-';
	buf[1] = r->prot & PROT_WRITE ? 'w' : '-';
	buf[2] = r->prot & PROT_EXEC ? 'x' : '-';
	buf[3] = r->flags & CKPT_REGF_SHARED ? 's' : 'p';
	buf[4] = 0;
}

void open_flags_str(uint32_t flags, uint32_t fdflags, char *buf, size_t len)
{
	static const char *const modes[] = { "r", "w", "rw", "?" };
	static const struct flag_name names[] = {
		{ O_APPEND, "append" }, { O_NONBLOCK, "nonblock" }, { O_SYNC, "sync" },
		{ O_DSYNC, "dsync" }, { O_DIRECT, "direct" }, { O_NOATIME, "noatime" },
		{ O_PATH, "path" }, { O_TMPFILE, "tmpfile" }, { O_DIRECTORY, "directory" },
	};
	size_t pos;

	pos = snprintf(buf, len, "%s%s", modes[flags & O_ACCMODE],
		       fdflags & FD_CLOEXEC ? ",cloexec" : "");
	flags &= ~(O_ACCMODE | KERNEL_O_LARGEFILE);
	if (!flags || pos + 1 >= len)
		return;
	buf[pos++] = ',';
	flags_str(flags, names, ARRAY_SIZE(names), ",", buf + pos, len - pos);
}

const char *sock_type_name(uint32_t type)
{
	switch (type) {
	case SOCK_STREAM:
		return "stream";
	case SOCK_DGRAM:
		return "dgram";
	case SOCK_SEQPACKET:
		return "seqpacket";
	default:
		return "?";
	}
}

static size_t add(char *buf, size_t len, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static size_t add(char *buf, size_t len, size_t pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (pos >= len)
		return pos;
	va_start(ap, fmt);
	n = vsnprintf(buf + pos, len - pos, fmt, ap);
	va_end(ap);
	return n < 0 ? pos : pos + n;
}

static size_t timerfd_str(const struct ckpt_fd_timerfd *t, char *buf, size_t len, size_t pos)
{
	pos = add(buf, len, pos, "clock %s", clock_name(t->clockid));
	if (!t->value_sec && !t->value_nsec)
		pos = add(buf, len, pos, ", disarmed");
	else if (t->settime_flags & TFD_TIMER_ABSTIME)
		pos = add(buf, len, pos, ", deadline %lld.%09lld", (long long)t->value_sec,
			  (long long)t->value_nsec);
	else
		pos = add(buf, len, pos, ", %.3f s left", t->value_sec + t->value_nsec / 1e9);
	if (t->interval_sec || t->interval_nsec)
		pos = add(buf, len, pos, ", interval %.3f s",
			  t->interval_sec + t->interval_nsec / 1e9);
	if (t->ticks)
		pos = add(buf, len, pos, ", %llu unread", (unsigned long long)t->ticks);
	return pos;
}

const char *inet_state_name(uint32_t state)
{
	static const char *const states[CKPT_INET_MAX] = {
		[CKPT_INET_NEW] = "new", [CKPT_INET_BOUND] = "bound",
		[CKPT_INET_LISTEN] = "listening", [CKPT_INET_CONNECTED] = "connected",
		[CKPT_INET_RESET] = "connection, restored as reset",
		[CKPT_INET_ESTABLISHED] = "connection",
	};

	return state < CKPT_INET_MAX && states[state] ? states[state] : "?";
}

const char *tcp_state_name(uint32_t st)
{
	static const char *const states[] = {
		[1] = "ESTABLISHED", [2] = "SYN_SENT", [3] = "SYN_RECV", [4] = "FIN_WAIT1",
		[5] = "FIN_WAIT2", [6] = "TIME_WAIT", [7] = "CLOSE", [8] = "CLOSE_WAIT",
		[9] = "LAST_ACK", [10] = "LISTEN", [11] = "CLOSING", [12] = "NEW_SYN_RECV",
	};

	return st < ARRAY_SIZE(states) && states[st] ? states[st] : "?";
}

/* "127.0.0.1:80", "[::1]:80" */
void inet_addr_str(const struct ckpt_fd_inet *s, const struct ckpt_inet_addr *a, char *buf,
		   size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	inet_ntop(s->family == AF_INET6 ? AF_INET6 : AF_INET, a->addr, host, sizeof(host));
	snprintf(buf, len, s->family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, a->port);
}

/* An ESTABLISHED connection's struct ckpt_inet_conn, NULL for any other socket. */
const struct ckpt_inet_conn *inet_conn(const struct ckpt_fd *f, const struct ckpt_fd_inet *s)
{
	if (s->state != CKPT_INET_ESTABLISHED ||
	    f->data_len < sizeof(*s) + sizeof(struct ckpt_inet_conn))
		return NULL;
	return (const void *)(s + 1);
}

static size_t inet_str(const struct ckpt_fd *f, const struct ckpt_fd_inet *s, char *buf,
		       size_t len, size_t pos)
{
	const struct ckpt_inet_conn *cn = inet_conn(f, s);
	char a[INET6_ADDRSTRLEN + 16];

	inet_addr_str(s, &s->local, a, sizeof(a));
	pos = add(buf, len, pos, "%s %s %s", s->protocol == IPPROTO_TCP ? "tcp" : "udp",
		  inet_state_name(s->state), a);
	if (s->state == CKPT_INET_CONNECTED || s->state == CKPT_INET_RESET || cn) {
		inet_addr_str(s, &s->peer, a, sizeof(a));
		pos = add(buf, len, pos, " -> %s", a);
	}
	if (s->state == CKPT_INET_LISTEN)
		pos = add(buf, len, pos, ", backlog %u, %u not accepted", s->backlog, s->pending);
	if (cn) {
		pos = add(buf, len, pos, " (%s), %llu bytes received not read, %llu written not "
			  "acknowledged", tcp_state_name(s->tcp_state),
			  (unsigned long long)cn->recv_len, (unsigned long long)cn->unacked);
		if (cn->flags & CKPT_INET_SNDQ_UNREAD)
			pos = add(buf, len, pos, " (not saved)");
		else if (cn->send_len)
			pos = add(buf, len, pos, " (%llu saved)", (unsigned long long)cn->send_len);
	}
	return pos;
}

/* The name of a bound unix socket; an abstract one is shown with a leading '@'. */
static size_t unix_name_str(const struct ckpt_fd_unix *u, char *buf, size_t len, size_t pos)
{
	const struct ckpt_unix_name *n = (const void *)(u + 1);
	char name[sizeof(n->name) + 1];
	uint32_t l = n->len < sizeof(n->name) ? n->len : sizeof(n->name);

	memcpy(name, n->name, l);
	name[l] = 0;
	if (l && !name[0])
		name[0] = '@';
	for (uint32_t i = 1; i < l; i++)
		if ((unsigned char)name[i] < 0x20)
			name[i] = '?';
	pos = add(buf, len, pos, ", %s %s", u->state == CKPT_UNIX_LISTEN ? "listening on" :
		  "bound to", name);
	if (u->state == CKPT_UNIX_LISTEN)
		pos = add(buf, len, pos, ", backlog %u", n->backlog);
	return pos;
}

void fd_state_str(const struct ckpt_image *img, const struct ckpt_fd *f, char *buf, size_t len)
{
	const void *d = ckpt_image_fd_data(img, f);
	size_t pos = 0;

	buf[0] = 0;
	if (f->xflags & CKPT_FDX_DUP)
		pos = add(buf, len, pos, "dup of fd %d", f->dup_of);
	else if (d && (f->kind == CKPT_FD_PIPE || f->kind == CKPT_FD_FIFO))
		pos = add(buf, len, pos, "capacity %u, %llu bytes queued",
			  ((const struct ckpt_fd_pipe *)d)->capacity,
			  (unsigned long long)((const struct ckpt_fd_pipe *)d)->queued);
	else if (d && f->kind == CKPT_FD_UNIX) {
		const struct ckpt_fd_unix *u = d;

		pos = add(buf, len, pos, "%s", sock_type_name(u->type));
		if (u->state == CKPT_UNIX_LISTEN || u->state == CKPT_UNIX_BOUND)
			pos = unix_name_str(u, buf, len, pos);
		if (u->peer_ino)
			pos = add(buf, len, pos, ", peer socket:[%llu]",
				  (unsigned long long)u->peer_ino);
		pos = add(buf, len, pos, ", %u messages (%llu bytes) queued", u->nr_msgs,
			  (unsigned long long)u->queued);
		if (u->shutdown)
			pos = add(buf, len, pos, ", shut down%s%s",
				  u->shutdown & CKPT_UNIX_SHUT_RD ? " rd" : "",
				  u->shutdown & CKPT_UNIX_SHUT_WR ? " wr" : "");
	} else if (d && f->kind == CKPT_FD_EVENTFD) {
		const struct ckpt_fd_eventfd *e = d;

		pos = add(buf, len, pos, "count %llu%s", (unsigned long long)e->count,
			  e->semaphore ? ", semaphore" : "");
	} else if (d && f->kind == CKPT_FD_TIMERFD) {
		pos = timerfd_str(d, buf, len, pos);
	} else if (d && f->kind == CKPT_FD_SIGNALFD) {
		char set[512];

		sigset_brief(((const struct ckpt_fd_signalfd *)d)->sigmask, set, sizeof(set));
		pos = add(buf, len, pos, "signals %s", set);
	} else if (d && f->kind == CKPT_FD_EPOLL) {
		const struct ckpt_fd_epoll *e = d;
		const struct ckpt_epoll_tfd *t = (const void *)(e + 1);

		pos = add(buf, len, pos, "%u targets", e->nr);
		for (uint32_t i = 0; i < e->nr; i++)
			pos = add(buf, len, pos, "%s fd %d events %#x data %#llx", i ? ";" : ":",
				  t[i].tfd, t[i].events, (unsigned long long)t[i].data);
	} else if (d && f->kind == CKPT_FD_INET) {
		pos = inet_str(f, d, buf, len, pos);
	} else if (d && f->kind == CKPT_FD_INOTIFY) {
		pos = add(buf, len, pos, "%u watches", ((const struct ckpt_fd_inotify *)d)->nr);
	} else if (d && (f->kind == CKPT_FD_MEMFD || f->kind == CKPT_FD_DELETED)) {
		const struct ckpt_fd_file *h = d;

		pos = add(buf, len, pos, "size %llu, %u extents (%llu bytes) stored",
			  (unsigned long long)h->size, h->nr_extents,
			  (unsigned long long)(f->data_len - sizeof(*h) -
					       h->nr_extents * sizeof(struct ckpt_fd_extent)));
		if (h->seals)
			pos = add(buf, len, pos, ", seals %#x", h->seals);
	}
	if (f->xflags & CKPT_FDX_PEER_GONE)
		pos = add(buf, len, pos, "%sother end not in the process", pos ? ", " : "");
	if (f->xflags & CKPT_FDX_INHERITED)
		pos = add(buf, len, pos, "%sshared with the parent's fd %d", pos ? ", " : "", f->fd);
	if (f->xflags & CKPT_FDX_STDIO)
		add(buf, len, pos, "%sthe restorer's stream unless the tree holds both ends",
		    pos ? ", " : "");
}

void iso_time(uint64_t ns, char *buf, size_t len)
{
	time_t sec = ns / 1000000000;
	struct tm tm;
	size_t n;

	if (!gmtime_r(&sec, &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03lluZ", (unsigned long long)(ns / 1000000 % 1000));
}

void human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	double v = bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024 && u < (int)sizeof(units) - 2) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

void thread_flags_str(uint32_t flags, char *buf, size_t len)
{
	static const struct flag_name names[] = {
		{ CKPT_THREAD_LEADER, "leader" }, { CKPT_THREAD_COORD, "coordinator" },
	};

	flags_str(flags, names, ARRAY_SIZE(names), ",", buf, len);
}

const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

uint64_t image_stored_bytes(const struct ckpt_image *img)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < img->nr_runs; i++)
		sum += img->runs[i].npages * CKPT_PAGE_SIZE;
	return sum;
}

void image_summary(const struct ckpt_image *img, struct image_summary *s)
{
	memset(s, 0, sizeof(*s));
	for (uint32_t i = 0; i < img->nr_runs; i++) {
		s->file_bytes += img->runs[i].stored_len;
		s->zstd_runs += !!(img->runs[i].flags & CKPT_RUN_ZSTD);
	}
	for (uint32_t i = 0; i < img->nr_inherit; i++)
		s->inherited_bytes += img->inherit[i].npages * CKPT_PAGE_SIZE;
}
