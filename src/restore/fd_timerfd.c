/* SPDX-License-Identifier: MIT */
/*
 * timerfd: a new one on the saved clock, armed with the time that was left
 * (or the saved wall-clock deadline), then its unread expirations set with
 * TFD_IOC_SET_TICKS (setting the time clears them, so it comes second).
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "fds.h"
#include "log.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS	_IOW('T', 0, uint64_t)
#endif

int rst_open_timerfd(struct rst_fds *s, const struct ckpt_fd *f)
{
	const struct ckpt_fd_timerfd *t = rst_fd_data(s, f);
	struct itimerspec its = {
		.it_interval = { t->interval_sec, t->interval_nsec },
		.it_value = { t->value_sec, t->value_nsec },
	};
	int fd = timerfd_create(t->clockid, TFD_CLOEXEC);

	if (fd < 0)
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: timerfd_create(clock %d): %s", f->fd,
				   t->clockid, strerror(errno));
	if ((t->value_sec || t->value_nsec) && timerfd_settime(fd, t->settime_flags, &its, NULL)) {
		close(fd);
		return rst_fd_fail(s, CKPT_EXIT_FAIL, "fd %d: timerfd_settime: %s", f->fd,
				   strerror(errno));
	}
	if (t->ticks && ioctl(fd, TFD_IOC_SET_TICKS, &t->ticks))
		pr_warn("fd %d: %llu unread timer expirations lost (TFD_IOC_SET_TICKS: %s)", f->fd,
			(unsigned long long)t->ticks, strerror(errno));
	return rst_high_fd(s->x, fd);
}
