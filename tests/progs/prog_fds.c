/* SPDX-License-Identifier: MIT */
/*
 * Holds descriptors of one kind (kind=...), prints "fds N [M ...]" with
 * their numbers, and uses them on every tick in a way that shows their
 * state is intact. At close_tick (default ticks/2) it closes them and
 * prints "closed". The core may refuse to checkpoint a kind (then the
 * harness checks that the refusal names the fd and harms nothing) or
 * save it (then the state must be the same after the restore):
 *
 *   pipe      both ends; always 10 bytes in flight: one written and the
 *             oldest read back per tick, in order
 *   socket    a unix stream socketpair, the same in both directions
 *   eventfd   counter 5 between ticks (read returns 5, written back)
 *   epoll     an epoll set holding an eventfd (data 0xabc): ready once
 *             per tick after a write
 *   timerfd   10 ms interval timer: expirations keep coming
 *   signalfd  SIGURG (blocked), raised every tick and read back
 *   inotify   watches dir=PATH for IN_CREATE; a file created per tick
 *             (named after the tick and the parent pid)
 *   memfd     a memfd that is only an fd: its contents read back
 *   tcp       a listening TCP socket on 127.0.0.1: same port, listening
 *   pidfd     pidfd_open of ourselves
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#include "common.h"

#define MAXFD 4

static int fds[MAXFD] = { -1, -1, -1, -1 };
static const char *kind;
static const char *dir;
static long wseq[2], rseq[2];	/* byte streams through pipe / socket */
static int port;

static unsigned char stream_byte(int s, long k)
{
	return (unsigned char)(k * 7 + 1 + s * 100);
}

static void stream_put(int s, int fd)
{
	unsigned char c = stream_byte(s, wseq[s]);

	CHECK(write(fd, &c, 1) == 1, "%s: write: %s", kind, strerror(errno));
	wseq[s]++;
}

static void stream_get(int s, int fd)
{
	unsigned char c = 0;
	ssize_t n = read(fd, &c, 1);

	CHECK(n == 1, "%s: read returned %zd: %s", kind, n, strerror(errno));
	CHECK(c == stream_byte(s, rseq[s]), "%s: byte %ld is %#x, want %#x", kind, rseq[s], c,
	      stream_byte(s, rseq[s]));
	rseq[s]++;
}

static void open_kind(void)
{
	if (!strcmp(kind, "pipe")) {
		CHECK(!pipe(fds), "pipe");
		for (int i = 0; i < 10; i++)
			stream_put(0, fds[1]);
	} else if (!strcmp(kind, "socket")) {
		CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, fds), "socketpair");
		for (int i = 0; i < 10; i++) {
			stream_put(0, fds[1]);
			stream_put(1, fds[0]);
		}
	} else if (!strcmp(kind, "eventfd")) {
		uint64_t v = 5;

		fds[0] = eventfd(0, 0);
		CHECK(fds[0] >= 0 && write(fds[0], &v, 8) == 8, "eventfd");
	} else if (!strcmp(kind, "epoll")) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0xabc };

		fds[0] = epoll_create1(0);
		fds[1] = eventfd(0, EFD_NONBLOCK);
		CHECK(fds[0] >= 0 && fds[1] >= 0 && !epoll_ctl(fds[0], EPOLL_CTL_ADD, fds[1], &ev),
		      "epoll");
	} else if (!strcmp(kind, "timerfd")) {
		struct itimerspec its = { { 0, 10000000 }, { 0, 10000000 } };

		fds[0] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
		CHECK(fds[0] >= 0 && !timerfd_settime(fds[0], 0, &its, NULL), "timerfd");
	} else if (!strcmp(kind, "signalfd")) {
		sigset_t s;

		sigemptyset(&s);
		sigaddset(&s, SIGURG);
		sigprocmask(SIG_BLOCK, &s, NULL);
		fds[0] = signalfd(-1, &s, 0);
	} else if (!strcmp(kind, "inotify")) {
		CHECK(dir, "kind=inotify needs dir=PATH");
		fds[0] = inotify_init1(IN_NONBLOCK);
		CHECK(fds[0] >= 0 && inotify_add_watch(fds[0], dir, IN_CREATE) >= 0, "inotify");
	} else if (!strcmp(kind, "memfd")) {
		fds[0] = memfd_create("prog_fds", 0);
		CHECK(fds[0] >= 0 && write(fds[0], "memfd-contents", 14) == 14, "memfd");
	} else if (!strcmp(kind, "tcp")) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
		socklen_t len = sizeof(a);

		fds[0] = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(fds[0] >= 0 && !bind(fds[0], (struct sockaddr *)&a, sizeof(a)) &&
		      !listen(fds[0], 4) && !getsockname(fds[0], (struct sockaddr *)&a, &len), "tcp");
		port = ntohs(a.sin_port);
	} else if (!strcmp(kind, "pidfd")) {
		fds[0] = syscall(SYS_pidfd_open, getpid(), 0);
	} else {
		FAIL("unknown kind %s", kind);
	}
	CHECK(fds[0] >= 0, "%s: %s", kind, strerror(errno));
}

static void use_kind(int t)
{
	if (!strcmp(kind, "pipe")) {
		stream_put(0, fds[1]);
		stream_get(0, fds[0]);
	} else if (!strcmp(kind, "socket")) {
		stream_put(0, fds[1]);
		stream_get(0, fds[0]);
		stream_put(1, fds[0]);
		stream_get(1, fds[1]);
	} else if (!strcmp(kind, "eventfd")) {
		uint64_t v = 0;

		CHECK(read(fds[0], &v, 8) == 8 && v == 5, "eventfd counter %llu, want 5",
		      (unsigned long long)v);
		v = 5;
		CHECK(write(fds[0], &v, 8) == 8, "eventfd write");
	} else if (!strcmp(kind, "epoll")) {
		struct epoll_event ev;
		uint64_t v = 1;

		CHECK(epoll_wait(fds[0], &ev, 1, 0) == 0, "epoll ready before the write");
		CHECK(write(fds[1], &v, 8) == 8, "eventfd write");
		CHECK(epoll_wait(fds[0], &ev, 1, 1000) == 1 && ev.data.u64 == 0xabc &&
		      (ev.events & EPOLLIN), "epoll did not report the eventfd");
		CHECK(read(fds[1], &v, 8) == 8 && v == 1, "eventfd read");
	} else if (!strcmp(kind, "timerfd")) {
		uint64_t n = 0;
		struct itimerspec its;
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };

		CHECK(poll(&pfd, 1, 1000) == 1, "timerfd: not readable within 1 s");
		CHECK(read(fds[0], &n, 8) == 8 && n >= 1, "timerfd: no expiration (%s)",
		      strerror(errno));
		CHECK(!timerfd_gettime(fds[0], &its) && its.it_interval.tv_nsec == 10000000,
		      "timerfd interval %ld", its.it_interval.tv_nsec);
	} else if (!strcmp(kind, "signalfd")) {
		struct signalfd_siginfo si;

		raise(SIGURG);
		CHECK(read(fds[0], &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGURG,
		      "signalfd did not return SIGURG");
	} else if (!strcmp(kind, "inotify")) {
		char name[64], path[4200], buf[4096];
		struct inotify_event *ev = (struct inotify_event *)buf;
		int f;
		ssize_t n;

		/* unique per incarnation: the original, running on after the checkpoint,
		 * may have created this tick's file already */
		snprintf(name, sizeof(name), "created-%d-%d", t, (int)getppid());
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		CHECK(f >= 0, "create %s", path);
		close(f);
		n = read(fds[0], buf, sizeof(buf));
		CHECK(n >= (ssize_t)sizeof(*ev) && (ev->mask & IN_CREATE) && !strcmp(ev->name, name),
		      "inotify: no IN_CREATE for %s (%zd)", name, n);
	} else if (!strcmp(kind, "memfd")) {
		char buf[16] = "";

		CHECK(pread(fds[0], buf, 14, 0) == 14 && !memcmp(buf, "memfd-contents", 14),
		      "memfd contents '%s'", buf);
	} else if (!strcmp(kind, "tcp")) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);
		int on = 0;

		CHECK(!getsockname(fds[0], (struct sockaddr *)&a, &len) && ntohs(a.sin_port) == port,
		      "tcp: port changed");
		len = sizeof(on);
		CHECK(!getsockopt(fds[0], SOL_SOCKET, SO_ACCEPTCONN, &on, &len) && on,
		      "tcp: no longer listening");
	} else if (!strcmp(kind, "pidfd")) {
		struct stat st;

		CHECK(!fstat(fds[0], &st), "pidfd: %s", strerror(errno));
	}
}

int main(int argc, char **argv)
{
	char list[64] = "";
	int close_tick;

	common_init(argc, argv);
	kind = opt_str("kind", "pipe");
	dir = opt_str("dir", NULL);
	close_tick = opt_int("close_tick", g_ticks / 2);
	open_kind();
	for (int i = 0; i < MAXFD && fds[i] >= 0; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), " %d", fds[i]);
	out("fds%s\n", list);
	out("ready\n");
	for (int t = 1; t <= g_ticks; t++) {
		g_tick = t;
		check_resumed();
		if (t < close_tick)
			use_kind(t);
		if (t == close_tick) {
			for (int i = 0; i < MAXFD; i++)
				if (fds[i] >= 0)
					close(fds[i]);
			out("closed\n");
		}
		tick_out(t);
		sleep_ms(g_tick_ms);
	}
	out("done\n");
	return 0;
}
