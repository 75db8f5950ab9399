/* SPDX-License-Identifier: MIT */
/* libckpt.so's constructor: configuration, signal handlers, periodic checkpoints. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

/*
 * CKPT_INTERVAL: a thread of ours that asks for a checkpoint every N
 * seconds, the way ckpt-ctl does. It is checkpointed and restored like
 * the application's threads, so periodic checkpoints go on after a restart.
 */
static void *interval_thread(void *arg)
{
	sigset_t all;
	union sigval v;

	sigfillset(&all);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, 8);
	/* but the stop signal must reach us, or no checkpoint could complete */
	sigemptyset(&all);
	sigaddset(&all, ckpt_cfg.stop_sig);
	syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &all, NULL, 8);
	for (;;) {
		struct timespec ts = { ckpt_cfg.interval, 0 };

		while (nanosleep(&ts, &ts))
			;
		v.sival_ptr = (void *)(uintptr_t)((uint64_t)CKPT_CTL_MAGIC << 32);
		sigqueue(getpid(), ckpt_cfg.trigger_sig, v);
	}
	return NULL;
}

__attribute__((constructor)) static void ckpt_init(void)
{
	pthread_t t;

	ckpt_log_init("ckpt");
	if (ckpt_config_load(&ckpt_cfg))
		return;
	if (ckpt_install_handlers()) {
		pr_err("cannot install signal handlers: checkpointing disabled");
		return;
	}
	pr_debug("ready: trigger signal %d, stop signal %d, images in %s", ckpt_cfg.trigger_sig,
		 ckpt_cfg.stop_sig, ckpt_cfg.dir);
	if (ckpt_cfg.interval && pthread_create(&t, NULL, interval_thread, NULL) == 0)
		pthread_detach(t);
}
