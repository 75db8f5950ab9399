/* SPDX-License-Identifier: MIT */
/*
 * Every libc entry point that takes a signal mask. In application
 * threads the stop signal is never blocked and the trigger signal always
 * is (only the coordinator thread takes it); neither can be waited for
 * or read through a signalfd. Masks are copied and adjusted; the rest of
 * the call is the application's. A raw syscall that bypasses libc is not
 * seen: a thread that blocks the stop signal that way makes a checkpoint
 * fail after a timeout, naming the reason.
 */
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/signalfd.h>

#include "ckpt.h"
#include "real.h"

/* A set to wait on: neither of our signals. */
static const sigset_t *stripped(const sigset_t *in, sigset_t *out)
{
	if (!in)
		return NULL;
	*out = *in;
	sigdelset(out, ckpt_cfg.trigger_sig);
	sigdelset(out, ckpt_cfg.stop_sig);
	return out;
}

/* A mask to install: stop signal open, trigger signal closed. */
static const sigset_t *adjusted(const sigset_t *in, sigset_t *out)
{
	if (!in)
		return NULL;
	*out = *in;
	sigdelset(out, ckpt_cfg.stop_sig);
	sigaddset(out, ckpt_cfg.trigger_sig);
	return out;
}

/* The set argument of sigprocmask/pthread_sigmask, adjusted for `how`. */
static const sigset_t *mask_change(int how, const sigset_t *in, sigset_t *out)
{
	if (!in)
		return NULL;
	*out = *in;
	if (how == SIG_UNBLOCK)
		sigdelset(out, ckpt_cfg.trigger_sig);
	else
		sigdelset(out, ckpt_cfg.stop_sig);
	if (how == SIG_SETMASK)
		sigaddset(out, ckpt_cfg.trigger_sig);
	return out;
}

/*
 * What the application believes about our two signals in this thread's
 * mask, so that the old mask it reads back is the one it set.
 */
static __thread unsigned char app_blocks_trigger, app_blocks_stop;

static void show_app_view(sigset_t *old)
{
	if (!old)
		return;
	(app_blocks_trigger ? sigaddset : sigdelset)(old, ckpt_cfg.trigger_sig);
	(app_blocks_stop ? sigaddset : sigdelset)(old, ckpt_cfg.stop_sig);
}

static void track_app_view(int how, const sigset_t *set)
{
	if (!set)
		return;
	if (how == SIG_SETMASK) {
		app_blocks_trigger = sigismember(set, ckpt_cfg.trigger_sig) == 1;
		app_blocks_stop = sigismember(set, ckpt_cfg.stop_sig) == 1;
		return;
	}
	if (sigismember(set, ckpt_cfg.trigger_sig) == 1)
		app_blocks_trigger = how == SIG_BLOCK;
	if (sigismember(set, ckpt_cfg.stop_sig) == 1)
		app_blocks_stop = how == SIG_BLOCK;
}

CKPT_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t s;
	int ret = REAL(sigprocmask)(how, mask_change(how, set, &s), old);

	if (!ret) {
		show_app_view(old);
		track_app_view(how, set);
	}
	return ret;
}

CKPT_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t s;
	int ret = REAL(pthread_sigmask)(how, mask_change(how, set, &s), old);

	if (!ret) {
		show_app_view(old);
		track_app_view(how, set);
	}
	return ret;
}

CKPT_EXPORT int sigsuspend(const sigset_t *mask)
{
	sigset_t s;

	return REAL(sigsuspend)(adjusted(mask, &s));
}

CKPT_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	sigset_t s;

	return REAL(ppoll)(fds, n, ts, adjusted(mask, &s));
}

CKPT_EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts,
	    const sigset_t *mask)
{
	sigset_t s;

	return REAL(pselect)(n, r, w, e, ts, adjusted(mask, &s));
}

CKPT_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	sigset_t s;

	return REAL(epoll_pwait)(epfd, ev, max, timeout, adjusted(mask, &s));
}

CKPT_EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *timeout,
		 const sigset_t *mask)
{
	sigset_t s;

	return REAL(epoll_pwait2)(epfd, ev, max, timeout, adjusted(mask, &s));
}

CKPT_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
	sigset_t s;

	return REAL(signalfd)(fd, stripped(mask, &s), flags);
}

CKPT_EXPORT int sigwait(const sigset_t *set, int *sig)
{
	sigset_t s;

	return REAL(sigwait)(stripped(set, &s), sig);
}

CKPT_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	sigset_t s;

	return REAL(sigwaitinfo)(stripped(set, &s), info);
}

CKPT_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
{
	sigset_t s;

	return REAL(sigtimedwait)(stripped(set, &s), info, ts);
}
