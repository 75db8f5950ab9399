/* SPDX-License-Identifier: MIT */
/*
 * Taking a checkpoint. The thread that receives the trigger signal
 * coordinates, inside its signal handler:
 *
 *   pre_stop hooks -> stop all other threads -> save own context ->
 *   capture process state, regions, fds, timers, shared memory, plugin
 *   state -> fork the writer -> release threads -> resume hooks.
 *
 * The application is stopped from "stop all" to "release"; the writer
 * child produces the image from the copy-on-write snapshot afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

#define SCRATCH_SIZE	(64u << 20)
#define STRINGS_CAP	(4u << 20)
#define WRITER_STACK	(1u << 20)
#define WRITER_DONE	16	/* writer's exit status: WRITER_DONE + chain depth */

static struct ckpt_capture capture;
static uint32_t seq;
static pid_t writer_pid;
static uint32_t writer_seq, writer_nonce;
static char writer_tmp[300];
/* the last complete image: the parent of the next incremental one */
static char last_image[256];
static uint32_t last_depth;

void ckpt_fail(struct ckpt_capture *c, const char *fmt, ...)
{
	va_list ap;

	if (c->error[0])
		return;	/* keep the first, most specific reason */
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

/* Waits for the previous writer; removes its temporary file if it died. */
static void reap_writer(void)
{
	int status;

	if (writer_pid <= 0)
		return;
	while (waitpid(writer_pid, &status, __WCLONE) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) >= WRITER_DONE) {
		snprintf(last_image, sizeof(last_image), "ckpt_%s_%d_%u.img", ckpt_cfg.name,
			 (int)ckpt_cfg.pid, writer_seq);
		last_depth = WEXITSTATUS(status) - WRITER_DONE;
	} else {
		last_image[0] = 0;	/* the next image is a full one */
	}
	if (!WIFEXITED(status)) {
		char msg[128];

		snprintf(msg, sizeof(msg), "the image writer was killed by signal %d; earlier "
			 "images are intact", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		pr_err("checkpoint %u: %s", writer_seq, msg);
		ckpt_status_write(writer_seq, writer_nonce, "error", NULL, 0, 0, msg);
		if (writer_tmp[0])
			unlink(writer_tmp);
	}
	writer_pid = 0;
}

static int capture_state(struct ckpt_capture *c)
{
	int ret;

	ret = ckpt_capture_proc(c);
	if (!ret)
		ckpt_capture_pending(c);
	if (!ret)
		ret = ckpt_capture_regions(c);
	if (!ret)
		ret = ckpt_capture_fds(c);
	if (!ret)
		ret = ckpt_capture_timers(c);
	if (!ret)
		ret = ckpt_copy_shared(c);
	if (!ret)
		ret = ckpt_plugins_save(c);
	if (ret && !c->error[0])
		ckpt_fail(c, "%s", strerror(-ret));
	return ret;
}

static int run_writer(void *arg)
{
	struct ckpt_capture *c = arg;
	char path[4096] = "";
	uint32_t depth = 0;
	int ret = ckpt_writer_freeze_tls(c);

	/* the name leaves writers out of tree checkpoints (tree_scan.c) */
	prctl(PR_SET_NAME, "ckpt-writer", 0, 0, 0);
	/* the application comes first: the writer uses the CPU it leaves idle */
	setpriority(PRIO_PROCESS, 0, 19);
	if (!ret)
		ret = ckpt_write_image(c, path, sizeof(path), &depth);

	if (ret) {
		char msg[512];

		if (c->error[0])
			snprintf(msg, sizeof(msg), "%s", c->error);
		else
			snprintf(msg, sizeof(msg), "writing %s failed: %s", path, strerror(-ret));
		pr_err("checkpoint %u: %s", c->seq, msg);
		ckpt_status_write(c->seq, c->nonce, "error", path, 0, 0, msg);
		ckpt_tree_written(NULL, msg);
		ckpt_tree_finish(0);
		_exit(1);
	}
	ckpt_tree_finish(1);
	ckpt_status_write(c->seq, c->nonce, "done", path, 0, 0, NULL);
	_exit(WRITER_DONE + depth);
}

/*
 * The writer gets a stack of its own: on the application's stack it
 * would overwrite the very pages it is saving. Its exit signal is the
 * trigger signal, not SIGCHLD: the application's wait() never sees it,
 * and our handler reaps it when it ends.
 */
static pid_t fork_writer(struct ckpt_capture *c)
{
	char *stack = mmap(NULL, WRITER_STACK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	pid_t pid;

	if (stack == MAP_FAILED)
		return -1;
	pid = clone(run_writer, stack + WRITER_STACK, ckpt_cfg.trigger_sig, c);
	munmap(stack, WRITER_STACK);
	return pid;
}

static void finish_failed(struct ckpt_capture *c)
{
	pr_err("checkpoint %u failed: %s", c->seq, c->error);
	ckpt_status_write(c->seq, c->nonce, "error", NULL, 0, 0, c->error);
}

/*
 * tree_root: 0 for a checkpoint asked of this process (it covers the
 * process's libckpt descendants too, unless CKPT_TREE=0), else the pid
 * of the ancestor whose tree checkpoint this process joins (token names
 * it).
 */
static int take_checkpoint(uint32_t nonce, uint32_t sequence, pid_t tree_root, uint32_t token)
{
	struct ckpt_capture *c = &capture;
	struct thread_slot *self = NULL;
	pid_t pid;
	int ret;

	reap_writer();
	ckpt_cfg.pid = getpid();
	memset(c, 0, sizeof(*c));
	c->seq = sequence;
	c->nonce = nonce;
	c->dir = ckpt_cfg.dir;
	snprintf(c->parent_name, sizeof(c->parent_name), "%s", last_image);
	c->parent_depth = last_depth;
	if (ckpt_scratch_init(SCRATCH_SIZE)) {
		ckpt_fail(c, "no memory for the checkpoint's tables");
		return -ENOMEM;
	}
	c->strings = ckpt_scratch_alloc(STRINGS_CAP);
	c->strings_cap = STRINGS_CAP;
	ckpt_str_add(c, "");
	if (tree_root)
		ret = ckpt_tree_join(c, tree_root, token);
	else
		ret = ckpt_cfg.tree ? ckpt_tree_begin(c) : 0;
	if (!ret)
		ret = ckpt_plugins_pre_stop(c);
	if (ret) {
		ckpt_tree_stopped(c, ret);
		goto fail_running;
	}
	ret = ckpt_tree_members_stopped(c);
	if (ret)
		goto fail_running;
	c->t_start = ckpt_mono_ns();
	c->created_ns = ckpt_now_ns();
	ckpt_nr_slots = 0;
	ret = ckpt_stop_threads(c);
	if (!ret)
		self = ckpt_slot_claim();
	if (!self) {
		ckpt_tree_stopped(c, ret ? ret : -E2BIG);
		goto fail_stopped;
	}
	ckpt_thread_capture(self, NULL);
	self->t.flags |= CKPT_THREAD_COORD;
	if (ckpt_ctx_save(&self->t.ctx)) {
		ckpt_tree_restarted();
		ckpt_coordinator_restarted(c, self);
		return 0;
	}
	c->stop_ns = ckpt_mono_ns() - c->t_start;
	ret = ckpt_tree_stopped(c, 0);
	if (!ret)
		ret = ckpt_tree_captured(c, capture_state(c));
	if (ret)
		goto fail_stopped;
	c->capture_ns = ckpt_mono_ns() - c->t_start;
	snprintf(writer_tmp, sizeof(writer_tmp), "%s/.ckpt_%s_%d_%u.img.tmp", c->dir,
		 ckpt_cfg.name, c->proc.pid, c->seq);
	c->proc.nr_threads = ckpt_nr_slots;
	c->pause_ns = ckpt_mono_ns() - c->t_start;
	ret = ckpt_dontfork_lift(c);
	if (ret) {
		ckpt_tree_writer_started(-1);
		goto fail_stopped;
	}
	pid = fork_writer(c);
	ckpt_tree_writer_started(pid);
	ckpt_dontfork_restore();
	ckpt_release_threads();
	c->pause_ns = ckpt_mono_ns() - c->t_start;
	ckpt_tree_end();
	ckpt_free_shared(c);
	ckpt_scratch_release();
	ckpt_plugins_resume();
	if (pid < 0) {
		ckpt_fail(c, "fork of the image writer failed: %s", strerror(errno));
		return -errno;
	}
	writer_pid = pid;
	writer_seq = c->seq;
	writer_nonce = c->nonce;
	pr_debug("checkpoint %u: application paused %" PRIu64 " us (threads stopped after %"
		 PRIu64 ", state captured after %" PRIu64 "), writer %d", c->seq,
		 c->pause_ns / 1000, c->stop_ns / 1000, c->capture_ns / 1000, pid);
	return 0;

fail_stopped:
	ckpt_release_threads();
fail_running:
	ckpt_tree_abort();
	ckpt_tree_end();
	ckpt_free_shared(c);
	ckpt_scratch_release();
	ckpt_plugins_resume();
	return ret ? ret : -EIO;
}

/* A tree that changed while its processes were being stopped is tried again a few times. */
static void checkpoint(uint32_t nonce, pid_t tree_root, uint32_t token)
{
	uint32_t sequence = ++seq;
	int ret;

	for (int tries = 0; tries < 5; tries++) {
		ret = take_checkpoint(nonce, sequence, tree_root, token);
		if (ret != -EAGAIN || tree_root)
			break;
		pr_debug("checkpoint %u: %s", sequence, capture.error);
		usleep(10000 << tries);
	}
	if (ret)
		finish_failed(&capture);
}

/*
 * A request is a signal queued by ckpt-ctl (value CKPT_CTL_MAGIC << 32 |
 * nonce) or, when the application has no handler of its own for the
 * trigger signal, any kill() of it. The kernel already restricts who may
 * signal us to the same user (or root); a process that made itself
 * non-dumpable additionally refuses requests from anyone but root, as
 * ptrace would.
 */
static int is_request(int sig, const siginfo_t *si, uint32_t *nonce)
{
	uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;

	*nonce = 0;
	if (si->si_code == SI_QUEUE && (v >> 32) == CKPT_CTL_MAGIC) {
		*nonce = (uint32_t)v;
		return 1;
	}
	if (si->si_code != SI_USER && si->si_code != SI_QUEUE && si->si_code != SI_TKILL)
		return 0;
	return !ckpt_app_handler_installed(sig);
}

static int sender_allowed(const siginfo_t *si)
{
	if (si->si_uid == 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1)
		return 1;
	pr_warn("checkpoint request from uid %u refused: process is not dumpable",
		(unsigned)si->si_uid);
	return 0;
}

/* Called by the coordinator thread for each trigger signal it receives. */
void ckpt_handle_trigger(siginfo_t *si)
{
	int sig = ckpt_cfg.trigger_sig;
	uint32_t nonce;

	uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
	int child = (si->si_code > 0 && si->si_code <= CLD_CONTINUED) ||
		    (si->si_code == SI_QUEUE && (v >> 32) == CKPT_CHILD_MAGIC);

	if (child) {
		if (si->si_pid == writer_pid && writer_pid > 0)
			reap_writer();
		return;
	}
	if (si->si_code == SI_QUEUE && (v >> 32) == CKPT_TREE_MAGIC) {
		if (sender_allowed(si))
			checkpoint(0, si->si_pid, (uint32_t)v);
		return;
	}
	if (!is_request(sig, si, &nonce)) {
		ckpt_app_handler(sig, si, NULL);
		return;
	}
	if (sender_allowed(si))
		checkpoint(nonce, 0, 0);
}

/* CKPT_INTERVAL elapsed. A process whose parent runs libckpt is in that parent's checkpoints. */
void ckpt_periodic(void)
{
	if (ckpt_cfg.tree && ckpt_runs_libckpt(getppid()))
		return;
	checkpoint(0, 0, 0);
}

/* After a restart: no writer of ours is running. */
void ckpt_checkpoint_restarted(void)
{
	writer_pid = 0;
	writer_tmp[0] = 0;
	last_image[0] = 0;	/* our first image after a restart is a full one */
}
