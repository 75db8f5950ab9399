/* SPDX-License-Identifier: MIT */
/*
 * The coordinator: a thread of libckpt's own, the only one that accepts
 * the trigger signal (every other thread keeps it blocked), so a request
 * never interrupts the application's system calls. It takes checkpoints
 * on request and every CKPT_INTERVAL seconds. It is checkpointed and
 * restored like any thread, and started again in children after fork().
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

static volatile pid_t coord_tid;

static void *coordinator(void *arg)
{
	sigset_t trig;

	coord_tid = gettid();
	sigemptyset(&trig);
	sigaddset(&trig, ckpt_cfg.trigger_sig);
	for (;;) {
		struct timespec ts = { ckpt_cfg.interval, 0 };
		siginfo_t si;
		int sig;

		/* raw call: the libc wrapper is ours and would strip the signal */
		sig = syscall(SYS_rt_sigtimedwait, &trig, &si,
			      ckpt_cfg.interval ? &ts : NULL, 8);
		if (sig == ckpt_cfg.trigger_sig)
			ckpt_handle_trigger(&si);
		else if (sig < 0 && errno == EAGAIN)
			ckpt_periodic();
	}
	return NULL;
}

/*
 * Only reached in a thread that unblocked the trigger signal behind
 * libc's back: pass the request on to the coordinator.
 */
void ckpt_trigger_handler(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	siginfo_t fwd = *si;

	if (fwd.si_code > 0 && fwd.si_code <= CLD_CONTINUED) {
		/* the writer's exit: say so, since the code cannot be queued */
		fwd.si_value.sival_ptr = (void *)(uintptr_t)((uint64_t)CKPT_CHILD_MAGIC << 32);
	}
	if (fwd.si_code >= 0)
		fwd.si_code = SI_QUEUE;	/* the kernel lets us queue only negative codes */
	if (coord_tid > 0)
		syscall(SYS_rt_tgsigqueueinfo, getpid(), coord_tid, sig, &fwd);
	errno = saved_errno;
}

/* A fork()ed child is a process of its own: no writer, no parent image, a coordinator of its own. */
static void restart_in_child(void)
{
	coord_tid = 0;
	ckpt_checkpoint_restarted();
	ckpt_start_coordinator();
}

int ckpt_start_coordinator(void)
{
	static int atfork_done;
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int ret;

	if (!atfork_done++)
		pthread_atfork(NULL, NULL, restart_in_child);
	/* the thread starts with every signal blocked but the stop signal */
	sigfillset(&all);
	sigdelset(&all, ckpt_cfg.stop_sig);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	ret = pthread_create(&t, &attr, coordinator, NULL);
	pthread_attr_destroy(&attr);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
	if (ret) {
		pr_err("cannot start the checkpoint thread: %s", strerror(ret));
		return -ret;
	}
	pthread_setname_np(t, "ckpt-coord");
	return 0;
}
