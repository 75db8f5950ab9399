/* SPDX-License-Identifier: MIT */
/*
 * Fds the checkpoint must refuse, naming the fd (run.py checks the message); the
 * program must go on unharmed.
 *   nested-epoll   epoll 11 watches epoll 10
 *   pty-master     10 is a pty master, not the controlling terminal
 *   named-socket   10 is a listening unix socket bound to DIR/sock (saved now)
 *   inet-socket    10 is a raw IPv4 socket (TCP and UDP are saved: tests/server)
 *   packet-pipe    10/11 a pipe whose write end 11 is in packet mode (O_DIRECT)
 *   pidfd          10 is a pidfd
 *   deleted-mapped 10 is a deleted file that is also mapped shared
 */
#include "fdtest.h"

#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <netinet/in.h>

int main(int argc, char **argv)
{
	const char *mode = arg(argc, argv, 1, "");
	int p[2];

	if (!strcmp(mode, "nested-epoll")) {
		struct epoll_event ev = { .events = EPOLLIN };

		at(epoll_create1(0), 10);
		at(epoll_create1(0), 11);
		CHECK(!epoll_ctl(11, EPOLL_CTL_ADD, 10, &ev), "epoll_ctl");
	} else if (!strcmp(mode, "pty-master")) {
		at(posix_openpt(O_RDWR | O_NOCTTY), 10);
	} else if (!strcmp(mode, "named-socket")) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", arg(argc, argv, 2, "/tmp"));
		at(socket(AF_UNIX, SOCK_STREAM, 0), 10);
		CHECK(!bind(10, (struct sockaddr *)&sa, sizeof(sa)) && !listen(10, 1), "bind: %s",
		      strerror(errno));
	} else if (!strcmp(mode, "inet-socket")) {
		at(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), 10);
	} else if (!strcmp(mode, "packet-pipe")) {
		CHECK(!pipe2(p, O_DIRECT), "pipe2");
		at(p[0], 10);
		at(p[1], 11);
	} else if (!strcmp(mode, "pidfd")) {
		at(syscall(SYS_pidfd_open, getpid(), 0), 10);
	} else if (!strcmp(mode, "deleted-mapped")) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/dm", arg(argc, argv, 2, "/tmp"));
		at(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), 10);
		CHECK(!ftruncate(10, 4096) && !unlink(path), "ftruncate, unlink: %s", strerror(errno));
		CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 10, 0) != MAP_FAILED,
		      "mmap: %s", strerror(errno));
	} else {
		FAIL("unknown mode %s", mode);
	}
	wait_verify();
	CHECK(fcntl(10, F_GETFD) >= 0, "fd 10 closed");
	say("ok");
	return 0;
}
