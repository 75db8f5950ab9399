/* SPDX-License-Identifier: MIT */
/*
 * POSIX timers (timer_create). /proc/self/timers lists them; the remaining
 * time comes from timer_gettime. At restart each timer is created again
 * with its old id (PR_TIMER_CREATE_RESTORE_IDS, Linux 6.17+, or by
 * allocating ids in order on older kernels) and re-armed relative to now.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS	77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF	0
#define PR_TIMER_CREATE_RESTORE_IDS_ON	1
#endif

#define TIMERS_BUF	(256 << 10)

/* Not scratch: the restarted coordinator re-arms the timers from here. */
static struct ckpt_timer timer_store[CKPT_MAX_TIMERS];

static int parse_notify(struct ckpt_timer *t, const char *s)
{
	const char *dot = strchr(s, '.');

	if (!strncmp(s, "signal/", 7))
		t->notify = SIGEV_SIGNAL;
	else if (!strncmp(s, "thread/", 7))
		t->notify = SIGEV_THREAD_ID;
	else if (!strncmp(s, "none/", 5))
		t->notify = SIGEV_NONE;
	else
		return -1;
	t->target_tid = dot ? atoi(dot + 1) : 0;
	return 0;
}

int ckpt_capture_timers(struct ckpt_capture *c)
{
	char *buf = ckpt_scratch_alloc(TIMERS_BUF), *line, *next;
	struct ckpt_timer *t = NULL;

	c->timers = timer_store;
	c->nr_timers = 0;
	if (!buf)
		return -ENOMEM;
	if (ckpt_read_file("/proc/self/timers", buf, TIMERS_BUF) < 0)
		return 0;	/* kernel without CONFIG_CHECKPOINT_RESTORE: none visible */
	for (line = buf; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		else
			next = line + strlen(line);
		if (!strncmp(line, "ID: ", 4)) {
			if (c->nr_timers >= CKPT_MAX_TIMERS) {
				ckpt_fail(c, "more than %d POSIX timers", CKPT_MAX_TIMERS);
				return -E2BIG;
			}
			t = &c->timers[c->nr_timers++];
			memset(t, 0, sizeof(*t));
			t->id = atoi(line + 4);
		} else if (t && !strncmp(line, "signal: ", 8)) {
			char *slash;

			t->signo = strtol(line + 8, &slash, 10);
			if (*slash == '/')
				t->sigval = strtoull(slash + 1, NULL, 16);
		} else if (t && !strncmp(line, "notify: ", 8)) {
			if (parse_notify(t, line + 8)) {
				ckpt_fail(c, "POSIX timer %d has an unknown notification (%s)", t->id,
					  line + 8);
				return -ENOTSUP;
			}
		} else if (t && !strncmp(line, "ClockID: ", 9)) {
			t->clockid = atoi(line + 9);
		}
	}
	for (uint32_t i = 0; i < c->nr_timers; i++) {
		struct itimerspec its;

		t = &c->timers[i];
		if (syscall(SYS_timer_gettime, t->id, &its))
			continue;
		t->interval_sec = its.it_interval.tv_sec;
		t->interval_nsec = its.it_interval.tv_nsec;
		t->value_sec = its.it_value.tv_sec;
		t->value_nsec = its.it_value.tv_nsec;
	}
	return 0;
}

static int create_with_id(const struct ckpt_timer *t, int restore_ids)
{
	struct sigevent sev;
	int id = t->id;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = t->notify;
	sev.sigev_signo = t->signo;
	sev.sigev_value.sival_ptr = (void *)(uintptr_t)t->sigval;
	sev._sigev_un._tid = t->target_tid;
	if (restore_ids)
		return syscall(SYS_timer_create, t->clockid, &sev, &id) ? -errno : 0;
	/* Without the prctl, ids come in order: create until ours comes up. */
	for (int tries = 0; tries < 4096; tries++) {
		int got;

		if (syscall(SYS_timer_create, t->clockid, &sev, &got))
			return -errno;
		if (got == t->id)
			return 0;
		if (got > t->id) {
			syscall(SYS_timer_delete, got);
			return -EEXIST;
		}
		syscall(SYS_timer_delete, got);
	}
	return -EEXIST;
}

void ckpt_restore_timers(const struct ckpt_timer *timers, uint32_t nr)
{
	int restore_ids = nr && !prctl(PR_TIMER_CREATE_RESTORE_IDS,
				       PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0);

	for (uint32_t i = 0; i < nr; i++) {
		const struct ckpt_timer *t = &timers[i];
		struct itimerspec its = {
			.it_interval = { t->interval_sec, t->interval_nsec },
			.it_value = { t->value_sec, t->value_nsec },
		};
		int ret = create_with_id(t, restore_ids);

		if (ret) {
			pr_err("cannot recreate POSIX timer %d: %s", t->id, strerror(-ret));
			continue;
		}
		if ((its.it_value.tv_sec || its.it_value.tv_nsec) &&
		    syscall(SYS_timer_settime, t->id, 0, &its, NULL))
			pr_err("cannot re-arm POSIX timer %d: %s", t->id, strerror(errno));
	}
	if (restore_ids)
		prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0);
}
