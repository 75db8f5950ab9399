/* SPDX-License-Identifier: MIT */
/*
 * socketpair(AF_UNIX) with messages queued in both directions.
 *   fd_socketpair stream     10 (O_NONBLOCK, SO_RCVBUF 64 KiB) <-> 11 (FD_CLOEXEC), 12 = dup
 *                            of 11; 50000 bytes queued for 11, 3000 for 10; 11 has
 *                            SO_PEEK_OFF 5
 *   fd_socketpair dgram      datagrams of different sizes (one empty) each way
 *   fd_socketpair seqpacket  the same with SOCK_SEQPACKET
 *   fd_socketpair shutdown   stream; 10 sent "bye" and shut down writing
 *   fd_socketpair ext N      fd N (moved to 20) is a stream socket whose peer is the test
 *                            runner, which sent "from outside"; after a restore the peer
 *                            is gone (end of file, EPIPE)
 */
#include "fdtest.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static const size_t dgram_sizes[] = { 1, 1000, 0, 60000, 17 };
static pid_t first_ppid;

static void pattern(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(seed * 31 + i * 13 + i / 509);
}

static void send_pattern(int fd, size_t len, unsigned seed)
{
	char *buf = malloc(len + 1);

	pattern(buf, len, seed);
	CHECK(send(fd, buf, len, 0) == (ssize_t)len, "send %zu on %d: %s", len, fd,
	      strerror(errno));
	free(buf);
}

static void recv_stream(int fd, size_t len, unsigned seed)
{
	char *want = malloc(len + 1), *got = malloc(len + 1);
	size_t have = 0;
	int queued = -1;

	CHECK(!ioctl(fd, FIONREAD, &queued) && queued == (int)len, "fd %d: %d bytes queued, want %zu",
	      fd, queued, len);
	pattern(want, len, seed);
	while (have < len) {
		ssize_t n = recv(fd, got + have, len - have, MSG_DONTWAIT);

		CHECK(n > 0, "fd %d: recv after %zu of %zu bytes: %s", fd, have, len, strerror(errno));
		have += n;
	}
	CHECK(!memcmp(want, got, len), "fd %d: stream bytes differ", fd);
	free(want);
	free(got);
}

static void recv_msg(int fd, size_t len, unsigned seed)
{
	char *want = malloc(len + 1), *got = malloc(len + 2);
	ssize_t n = recv(fd, got, len + 1, MSG_DONTWAIT);

	pattern(want, len, seed);
	CHECK(n == (ssize_t)len, "fd %d: message of %zd bytes, want %zu (%s)", fd, n, len,
	      strerror(errno));
	CHECK(!memcmp(want, got, len), "fd %d: message of %zu bytes differs", fd, len);
	free(want);
	free(got);
}

static int rcvbuf(int fd)
{
	int v = 0;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &l);
	return v;
}

static int peek_off(int fd)
{
	int v = -2;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &v, &l);
	return v;
}

static void pair(int type)
{
	int sv[2];

	CHECK(!socketpair(AF_UNIX, type, 0, sv), "socketpair: %s", strerror(errno));
	at(sv[0], 10);
	at(sv[1], 11);
}

static void stream_setup(void)
{
	int v = 65536, five = 5;

	pair(SOCK_STREAM);
	fcntl(10, F_SETFL, O_NONBLOCK);
	fcntl(11, F_SETFD, FD_CLOEXEC);
	setsockopt(10, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	dup2(11, 12);
	send_pattern(10, 50000, 1);
	send_pattern(11, 3000, 2);
	setsockopt(11, SOL_SOCKET, SO_PEEK_OFF, &five, sizeof(five));
}

static void stream_verify(void)
{
	char c, want[8];
	int minus = -1;

	check_flags(10, O_RDWR | O_NONBLOCK, 0);
	check_flags(11, O_RDWR, FD_CLOEXEC);
	check_flags(12, O_RDWR, 0);
	CHECK(rcvbuf(10) == 131072, "fd 10: SO_RCVBUF %d", rcvbuf(10));
	CHECK(peek_off(11) == 5, "fd 11: SO_PEEK_OFF %d, want 5", peek_off(11));
	pattern(want, 8, 1);
	CHECK(recv(11, &c, 1, MSG_PEEK) == 1 && c == want[5], "fd 11: peek at offset 5");
	setsockopt(11, SOL_SOCKET, SO_PEEK_OFF, &minus, sizeof(minus));
	recv_stream(11, 50000, 1);
	recv_stream(10, 3000, 2);
	CHECK(recv(10, &c, 1, 0) < 0 && errno == EAGAIN, "fd 10: more than was queued");
	CHECK(send(10, "x", 1, 0) == 1 && recv(12, &c, 1, 0) == 1 && c == 'x', "10 -> 12 (dup of 11)");
	CHECK(send(12, "y", 1, 0) == 1 && recv(10, &c, 1, 0) == 1 && c == 'y', "12 -> 10");
}

static void dgram_setup(int type)
{
	pair(type);
	for (size_t i = 0; i < sizeof(dgram_sizes) / sizeof(dgram_sizes[0]); i++)
		send_pattern(10, dgram_sizes[i], 10 + i);
	send_pattern(11, 5, 20);
	send_pattern(11, 7, 21);
}

static void dgram_verify(int type)
{
	int t = 0;
	socklen_t l = sizeof(t);
	char c;

	CHECK(!getsockopt(10, SOL_SOCKET, SO_TYPE, &t, &l) && t == type, "socket type %d", t);
	for (size_t i = 0; i < sizeof(dgram_sizes) / sizeof(dgram_sizes[0]); i++)
		recv_msg(11, dgram_sizes[i], 10 + i);
	CHECK(recv(11, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "fd 11: more messages");
	recv_msg(10, 5, 20);
	recv_msg(10, 7, 21);
	CHECK(recv(10, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "fd 10: more messages");
	send_pattern(11, 3, 30);
	recv_msg(10, 3, 30);
}

static void shutdown_setup(void)
{
	pair(SOCK_STREAM);
	send_pattern(10, 3, 40);
	shutdown(10, SHUT_WR);
}

static void shutdown_verify(void)
{
	char c;

	recv_stream(11, 3, 40);
	CHECK(recv(11, &c, 1, 0) == 0, "fd 11: no end of file");
	CHECK(send(10, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "fd 10 can still send");
	CHECK(send(11, "b", 1, 0) == 1 && recv(10, &c, 1, 0) == 1 && c == 'b', "11 -> 10");
}

static void ext_verify(void)
{
	char buf[64];
	ssize_t n = recv(20, buf, sizeof(buf), MSG_DONTWAIT);

	CHECK(n == 12 && !memcmp(buf, "from outside", 12), "fd 20: got %zd bytes", n);
	n = recv(20, buf, 1, MSG_DONTWAIT);
	if (getppid() == first_ppid) {
		CHECK(n < 0 && errno == EAGAIN, "original: recv %zd, want EAGAIN", n);
		CHECK(send(20, "w", 1, 0) == 1, "original: send: %s", strerror(errno));
	} else {
		CHECK(n == 0, "restored: recv %zd (%s), want end of file", n, strerror(errno));
		n = send(20, "w", 1, MSG_NOSIGNAL);
		CHECK(n < 0 && errno == EPIPE, "restored: send %zd, want EPIPE", n);
	}
}

int main(int argc, char **argv)
{
	const char *mode = arg(argc, argv, 1, "stream");

	first_ppid = getppid();
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "stream"))
		stream_setup();
	else if (!strcmp(mode, "dgram"))
		dgram_setup(SOCK_DGRAM);
	else if (!strcmp(mode, "seqpacket"))
		dgram_setup(SOCK_SEQPACKET);
	else if (!strcmp(mode, "shutdown"))
		shutdown_setup();
	else if (!strcmp(mode, "ext"))
		at(atoi(arg(argc, argv, 2, "-1")), 20);
	else
		FAIL("unknown mode %s", mode);
	wait_verify();
	if (!strcmp(mode, "stream"))
		stream_verify();
	else if (!strcmp(mode, "dgram"))
		dgram_verify(SOCK_DGRAM);
	else if (!strcmp(mode, "seqpacket"))
		dgram_verify(SOCK_SEQPACKET);
	else if (!strcmp(mode, "shutdown"))
		shutdown_verify();
	else
		ext_verify();
	say("ok");
	return 0;
}
