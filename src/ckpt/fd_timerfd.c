/* SPDX-License-Identifier: MIT */
/*
 * timerfd: clock and settime flags from fdinfo, remaining time and
 * interval from timerfd_gettime, then the expirations not read yet
 * ("ticks"; read after timerfd_gettime, which may add overruns to them).
 * Like POSIX timers, a timer is re-armed with the time it had left; only a
 * CLOCK_REALTIME(_ALARM) timer set with TFD_TIMER_ABSTIME keeps its
 * absolute deadline (wall-clock alarms stay at their wall-clock time).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#include "fds.h"

static void to_deadline(struct ckpt_fd_timerfd *t)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	t->value_sec += now.tv_sec;
	t->value_nsec += now.tv_nsec;
	if (t->value_nsec >= 1000000000) {
		t->value_nsec -= 1000000000;
		t->value_sec++;
	}
}

int ckpt_save_timerfd(struct ckpt_capture *c, struct ckpt_fd *f)
{
	const char *info, *clk, *ticks, *flags;
	struct ckpt_fd_timerfd *t;
	struct itimerspec its;

	if (timerfd_gettime(f->fd, &its)) {
		ckpt_fail(c, "fd %d: timerfd_gettime: %s", f->fd, strerror(errno));
		return -errno;
	}
	info = ckpt_fdinfo(c, f);
	if (!info)
		return -EIO;
	clk = ckpt_fdinfo_field(info, "clockid");
	ticks = ckpt_fdinfo_field(info, "ticks");
	flags = ckpt_fdinfo_field(info, "settime flags");
	if (!clk || !ticks || !flags) {
		ckpt_fail(c, "fd %d: timerfd fdinfo lacks clockid, ticks or settime flags", f->fd);
		return -EIO;
	}
	t = ckpt_fd_data(c, f, sizeof(*t));
	if (!t)
		return -ENOSPC;
	t->clockid = strtol(clk, NULL, 10);
	t->ticks = strtoull(ticks, NULL, 10);
	t->settime_flags = strtoul(flags, NULL, 8) & (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET);
	t->value_sec = its.it_value.tv_sec;
	t->value_nsec = its.it_value.tv_nsec;
	t->interval_sec = its.it_interval.tv_sec;
	t->interval_nsec = its.it_interval.tv_nsec;
	if ((t->settime_flags & TFD_TIMER_ABSTIME) && (t->value_sec || t->value_nsec) &&
	    (t->clockid == CLOCK_REALTIME || t->clockid == CLOCK_REALTIME_ALARM))
		to_deadline(t);
	else
		t->settime_flags = 0;
	return 0;
}
