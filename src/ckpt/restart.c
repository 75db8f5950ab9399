/* SPDX-License-Identifier: MIT */
/*
 * The first code that runs in a restored process. ckpt-restore has put
 * memory back and recreated every thread with its old TID; each thread
 * resumes where it saved its context, inside libckpt's signal handler.
 * Each thread re-registers what the kernel keeps per thread; the
 * coordinator waits for all of them, removes the restorer's memory,
 * restores process-wide kernel state and plugin state, then releases
 * everyone. Returning from the handlers then restores the application's
 * registers, FPU state, signal masks and alternate stacks from the
 * kernel's signal frames, which were saved with the stacks.
 *
 * No malloc here: a thread may have held the heap lock in the snapshot.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

/* Filled in by ckpt-restore before any thread resumes. */
struct ckpt_resume ckpt_resume_info;

/* Images whose pages back our memory (restore maps them copy-on-write). */
static struct { uint64_t dev, ino; } mapped_images[2 * CKPT_MAX_CHAIN];
static uint32_t nr_mapped_images;

int ckpt_is_restored_image(uint64_t dev, uint64_t ino)
{
	for (uint32_t i = 0; i < nr_mapped_images; i++)
		if (mapped_images[i].dev == dev && mapped_images[i].ino == ino)
			return 1;
	return 0;
}

static void restore_sigactions(const struct ckpt_proc *p)
{
	for (int sig = 1; sig <= CKPT_NR_SIGNALS; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, &p->sigact[sig - 1], NULL, 8))
			pr_warn("cannot restore the handler of signal %d: %s", sig,
				strerror(errno));
	}
}

static void restore_itimers(const struct ckpt_proc *p)
{
	for (int i = 0; i < 3; i++) {
		struct itimerval it = {
			.it_interval = { p->itimer[i].interval_sec, p->itimer[i].interval_usec },
			.it_value = { p->itimer[i].value_sec, p->itimer[i].value_usec },
		};

		/*
		 * A periodic timer whose signal is still pending reads as value 0:
		 * the kernel re-arms it when the signal is taken. That signal is
		 * queued again; the timer runs on from one interval from now.
		 */
		if (!it.it_value.tv_sec && !it.it_value.tv_usec)
			it.it_value = it.it_interval;
		if ((it.it_value.tv_sec || it.it_value.tv_usec) && setitimer(i, &it, NULL))
			pr_warn("cannot re-arm itimer %d: %s", i, strerror(errno));
	}
}

/* Process attributes set with prctl (no_new_privs, per thread, is set by ckpt-restore). */
static void restore_prctl(const struct ckpt_proc *p)
{
	if (prctl(PR_SET_DUMPABLE, p->dumpable, 0, 0, 0))
		pr_warn("cannot restore dumpable=%u: %s", p->dumpable, strerror(errno));
	if (prctl(PR_SET_CHILD_SUBREAPER, p->child_subreaper, 0, 0, 0))
		pr_warn("cannot restore child_subreaper: %s", strerror(errno));
}

void ckpt_coordinator_restarted(struct ckpt_capture *c, struct thread_slot *self)
{
	struct ckpt_resume *r = &ckpt_resume_info;
	int ret;

	if (r->magic == CKPT_RESUME_MAGIC) {
		ckpt_log_level = r->log_level;
		nr_mapped_images = r->nr_images < 2 * CKPT_MAX_CHAIN ? r->nr_images : 2 * CKPT_MAX_CHAIN;
		for (uint32_t i = 0; i < nr_mapped_images; i++) {
			mapped_images[i].dev = r->images[i].dev;
			mapped_images[i].ino = r->images[i].ino;
		}
	}
	ckpt_thread_restore_kernel_state(self);
	ckpt_wait_restarted(ckpt_nr_slots - 1);
	/* every thread has left the restorer's code: remove it */
	if (r->magic == CKPT_RESUME_MAGIC && r->hole_len)
		munmap((void *)(uintptr_t)r->hole_start, r->hole_len);
	restore_sigactions(&c->proc);
	restore_itimers(&c->proc);
	restore_prctl(&c->proc);
	ckpt_restore_timers(c->timers, c->nr_timers);
	ckpt_requeue_pending();
	ret = ckpt_plugins_restart(r->image_fd);
	if (ret) {
		pr_err("plugin state could not be rebuilt: %s", strerror(-ret));
		_exit(CKPT_RESTART_PLUGIN_FAILED);
	}
	if (r->image_fd >= 0)
		close(r->image_fd);
	ckpt_checkpoint_restarted();
	pr_info("restarted pid %d with %d threads in %" PRIu64 " ms", (int)getpid(),
		(int)ckpt_nr_slots,
		(ckpt_mono_ns() - r->restore_start_ns) / 1000000);
	memset(r, 0, sizeof(*r));
	ckpt_release_restarted();
}
