/* SPDX-License-Identifier: MIT */
/* libckpt.so's constructor: configuration, signal handlers, the coordinator thread. */
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

__attribute__((constructor)) static void ckpt_init(void)
{
	sigset_t trig;

	ckpt_log_init("ckpt");
	if (ckpt_config_load(&ckpt_cfg))
		return;
	if (ckpt_install_handlers()) {
		pr_err("cannot install signal handlers: checkpointing disabled");
		return;
	}
	/* application threads inherit this: only the coordinator takes requests */
	sigemptyset(&trig);
	sigaddset(&trig, ckpt_cfg.trigger_sig);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &trig, NULL, 8);
	if (ckpt_start_coordinator())
		return;
	pr_debug("ready: trigger signal %d, stop signal %d, images in %s", ckpt_cfg.trigger_sig,
		 ckpt_cfg.stop_sig, ckpt_cfg.dir);
}
