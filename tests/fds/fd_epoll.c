/* SPDX-License-Identifier: MIT */
/*
 * epoll 10 (15 = dup) with targets:
 *   11 eventfd, count 1            EPOLLIN            data 0x1111
 *   12 pipe read end with bytes    EPOLLIN|EPOLLET    data 0xdeadbeefcafe
 *   13 pipe write end              EPOLLOUT|EPOLLONESHOT, already fired (disabled)
 *   14 socket, nothing queued      EPOLLIN|EPOLLRDHUP data 14; its peer is 16
 */
#include "fdtest.h"

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

static void add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	CHECK(!epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), "epoll_ctl %d: %s", fd, strerror(errno));
}

/* Bit n set: data n's target was reported (data 0x1111 -> 11, the pipe -> 12) */
static unsigned wait_ready(int ep)
{
	struct epoll_event ev[8];
	unsigned seen = 0;
	int n = epoll_wait(ep, ev, 8, 0);

	for (int i = 0; i < n; i++) {
		switch (ev[i].data.u64) {
		case 0x1111:
			CHECK(ev[i].events == EPOLLIN, "eventfd events %#x", ev[i].events);
			seen |= 1 << 11;
			break;
		case 0xdeadbeefcafe:
			seen |= 1 << 12;
			break;
		case 13:
			seen |= 1 << 13;
			break;
		case 14:
			seen |= 1 << 14;
			break;
		default:
			FAIL("unknown data %#llx", (unsigned long long)ev[i].data.u64);
		}
	}
	return seen;
}

int main(void)
{
	int p[2], sv[2];
	uint64_t one = 1;
	unsigned seen;
	char c;

	at(epoll_create1(0), 10);
	at(eventfd(0, EFD_NONBLOCK), 11);
	CHECK(!pipe2(p, O_NONBLOCK) && !socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "pipe");
	at(p[0], 12);
	at(p[1], 13);
	at(sv[0], 14);
	at(sv[1], 16);
	CHECK(dup2(10, 15) == 15, "dup2");
	add(10, 11, EPOLLIN, 0x1111);
	add(10, 12, EPOLLIN | EPOLLET, 0xdeadbeefcafe);
	add(10, 13, EPOLLOUT | EPOLLONESHOT, 13);
	add(10, 14, EPOLLIN | EPOLLRDHUP, 14);
	CHECK(write(11, &one, 8) == 8 && write(13, "abc", 3) == 3, "write");
	seen = wait_ready(10);
	CHECK(seen == (1 << 11 | 1 << 12 | 1 << 13), "before: ready %#x", seen);
	wait_verify();
	/* level-triggered stays ready; the one-shot stays off; edge-triggered may repeat once */
	seen = wait_ready(15) & ~(1u << 12);
	CHECK(seen == 1 << 11, "after: ready %#x, want the eventfd only", seen);
	CHECK(write(16, "x", 1) == 1, "write 16");
	seen = wait_ready(10);
	CHECK(seen & (1 << 14), "socket 14 not reported");
	CHECK(read(14, &c, 1) == 1 && read(12, &c, 1) == 1 && c == 'a', "reads");
	CHECK(write(13, "d", 1) == 1, "write 13");
	CHECK(wait_ready(10) & (1 << 12), "new bytes on pipe 12 not reported");
	CHECK(!epoll_ctl(15, EPOLL_CTL_DEL, 11, NULL), "15 is not the same epoll as 10");
	CHECK(!(wait_ready(10) & (1 << 11)), "eventfd still watched by 10");
	say("ok");
	return 0;
}
