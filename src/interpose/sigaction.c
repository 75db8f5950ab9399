/* SPDX-License-Identifier: MIT */
/*
 * The application's view of libckpt's two signals (trigger and stop).
 * The kernel's handler for each stays libckpt's; what the application
 * installs is kept here and called for signals that are not ours
 * (ckpt_app_handler). sigaction() and signal() report the application's
 * own setting back to it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "ckpt.h"
#include "log.h"
#include "real.h"

static struct sigaction app_act[2];	/* [0] trigger, [1] stop */

static int own_index(int sig)
{
	if (sig == ckpt_cfg.trigger_sig)
		return 0;
	if (sig == ckpt_cfg.stop_sig)
		return 1;
	return -1;
}

int ckpt_is_own_signal(int sig)
{
	return own_index(sig) >= 0;
}

int ckpt_app_handler_installed(int sig)
{
	int i = own_index(sig);

	return i >= 0 && app_act[i].sa_handler != SIG_DFL && app_act[i].sa_handler != SIG_IGN;
}

int ckpt_app_handler(int sig, siginfo_t *si, void *uc)
{
	struct sigaction *a;
	int i = own_index(sig);

	if (i < 0)
		return 0;
	a = &app_act[i];
	if (a->sa_handler == SIG_DFL || a->sa_handler == SIG_IGN) {
		pr_debug("signal %d (code %d) is not a checkpoint request: ignored", sig,
			 si->si_code);
		return 0;
	}
	if (a->sa_flags & SA_SIGINFO)
		a->sa_sigaction(sig, si, uc);
	else
		a->sa_handler(sig);
	if (a->sa_flags & SA_RESETHAND)
		a->sa_handler = SIG_DFL;
	return 1;
}

CKPT_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int i = own_index(sig);

	if (i < 0)
		return REAL(sigaction)(sig, act, old);
	if (old)
		*old = app_act[i];
	if (act)
		app_act[i] = *act;
	return 0;
}

static sighandler_t set_handler(int sig, sighandler_t h, int flags)
{
	struct sigaction act, old;

	memset(&act, 0, sizeof(act));
	act.sa_handler = h;
	act.sa_flags = flags;
	if (sigaction(sig, &act, &old))
		return SIG_ERR;
	return old.sa_handler;
}

CKPT_EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	return set_handler(sig, h, SA_RESTART);
}

CKPT_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return set_handler(sig, h, SA_RESTART);
}

CKPT_EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
	return set_handler(sig, h, SA_RESETHAND | SA_NODEFER);
}

int ckpt_install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	sa.sa_sigaction = ckpt_trigger_handler;
	if (REAL(sigaction)(ckpt_cfg.trigger_sig, &sa, NULL))
		return -errno;
	sa.sa_sigaction = ckpt_stop_handler;
	if (REAL(sigaction)(ckpt_cfg.stop_sig, &sa, NULL))
		return -errno;
	return 0;
}
