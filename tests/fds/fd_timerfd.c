/* SPDX-License-Identifier: MIT */
/*
 * timerfds:
 *   10 CLOCK_MONOTONIC, 30 s left, interval 5 s, O_NONBLOCK
 *   11 CLOCK_MONOTONIC one-shot that expired and was not read (1 tick), FD_CLOEXEC
 *   12 CLOCK_REALTIME with TFD_TIMER_ABSTIME, deadline now + 60 s
 *   13 CLOCK_BOOTTIME, every 10 ms, O_NONBLOCK
 *   14 CLOCK_MONOTONIC, disarmed
 */
#include "fdtest.h"

#include <stdint.h>
#include <sys/timerfd.h>

static time_t deadline;

static double left(int fd, double *interval)
{
	struct itimerspec its;

	CHECK(!timerfd_gettime(fd, &its), "fd %d: timerfd_gettime: %s", fd, strerror(errno));
	if (interval)
		*interval = its.it_interval.tv_sec + its.it_interval.tv_nsec / 1e9;
	return its.it_value.tv_sec + its.it_value.tv_nsec / 1e9;
}

static void check_fdinfo(int fd, const char *line)
{
	char path[64], buf[4096];
	int f, n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strstr(buf, line), "fd %d: fdinfo lacks \"%s\"", fd, line);
}

static void arm(int fd, int flags, time_t sec, long nsec, time_t isec, long insec)
{
	struct itimerspec its = { { isec, insec }, { sec, nsec } };

	CHECK(!timerfd_settime(fd, flags, &its, NULL), "timerfd_settime: %s", strerror(errno));
}

int main(void)
{
	struct timespec now;
	double interval, l;
	uint64_t ticks;

	at(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), 10);
	arm(10, 0, 30, 0, 5, 0);
	at(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), 11);
	arm(11, 0, 0, 1000000, 0, 0);
	at(timerfd_create(CLOCK_REALTIME, 0), 12);
	clock_gettime(CLOCK_REALTIME, &now);
	deadline = now.tv_sec + 60;
	arm(12, TFD_TIMER_ABSTIME, deadline, 0, 0, 0);
	at(timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK), 13);
	arm(13, 0, 0, 10000000, 0, 10000000);
	at(timerfd_create(CLOCK_MONOTONIC, 0), 14);
	sleep_ms(20);
	wait_verify();
	check_flags(10, O_RDWR | O_NONBLOCK, 0);
	check_flags(11, O_RDWR, FD_CLOEXEC);
	l = left(10, &interval);
	CHECK(l > 25 && l <= 30 && interval == 5, "fd 10: %.3f s left, interval %.3f", l, interval);
	check_fdinfo(10, "clockid: 1");
	fcntl(11, F_SETFL, O_NONBLOCK);
	CHECK(read(11, &ticks, 8) == 8 && ticks == 1, "fd 11: unread expiration lost");
	CHECK(left(11, NULL) == 0, "fd 11 re-armed");
	clock_gettime(CLOCK_REALTIME, &now);
	l = left(12, NULL);
	CHECK(l > 0 && now.tv_sec + l > deadline - 1 && now.tv_sec + l <= deadline + 1,
	      "fd 12: deadline moved (%.3f s left)", l);
	check_fdinfo(12, "settime flags: 01");
	check_fdinfo(12, "clockid: 0");
	sleep_ms(25);
	CHECK(read(13, &ticks, 8) == 8 && ticks >= 1, "fd 13: periodic timer stopped");
	check_fdinfo(13, "clockid: 7");
	CHECK(left(14, &interval) == 0 && interval == 0, "fd 14 is armed");
	say("ok");
	return 0;
}
