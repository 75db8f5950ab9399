/* SPDX-License-Identifier: MIT */
/*
 * eventfd counters and modes: 10 (count 12345, O_NONBLOCK), 11 (semaphore, count 3,
 * FD_CLOEXEC), 12 (count 0), 13 = dup of 10, 14 (count 2^64 - 3).
 */
#include "fdtest.h"

#include <stdint.h>
#include <sys/eventfd.h>

static uint64_t get(int fd)
{
	uint64_t v = 0;

	CHECK(read(fd, &v, 8) == 8, "fd %d: read: %s", fd, strerror(errno));
	return v;
}

int main(void)
{
	uint64_t v = 0xfffffffffffffffdull;

	at(eventfd(12345, EFD_NONBLOCK), 10);
	at(eventfd(3, EFD_SEMAPHORE | EFD_CLOEXEC), 11);
	at(eventfd(0, 0), 12);
	CHECK(dup2(10, 13) == 13, "dup2");
	at(eventfd(0, EFD_NONBLOCK), 14);
	CHECK(write(14, &v, 8) == 8, "write");
	wait_verify();
	check_flags(10, O_RDWR | O_NONBLOCK, 0);
	check_flags(11, O_RDWR, FD_CLOEXEC);
	check_flags(12, O_RDWR, 0);
	check_flags(13, O_RDWR | O_NONBLOCK, 0);
	CHECK(get(10) == 12345, "fd 10: wrong count");
	CHECK(read(13, &v, 8) < 0 && errno == EAGAIN, "fd 13 is not fd 10's counter");
	fcntl(11, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 3; i++)
		CHECK(get(11) == 1, "fd 11: not in semaphore mode");
	CHECK(read(11, &v, 8) < 0 && errno == EAGAIN, "fd 11: count was above 3");
	v = 5;
	CHECK(write(12, &v, 8) == 8 && get(12) == 5, "fd 12");
	CHECK(get(14) == 0xfffffffffffffffdull, "fd 14: wrong count");
	say("ok");
	return 0;
}
