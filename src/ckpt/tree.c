/* SPDX-License-Identifier: MIT */
/*
 * Checkpointing a process tree. The process asked for a checkpoint (the
 * root) lists its descendants (tree_scan.c); every live one runs libckpt
 * and takes part. They meet in a shared page (a file in the run directory,
 * mapped by each, never part of an image) and go through the phases
 * together:
 *
 *   root: scan, create the page, signal each member (CKPT_TREE_MAGIC)
 *   members: stop own threads; count in "stopped"
 *   root: all stopped? stop own threads (last: it pauses the least);
 *         scan again (the tree must not have changed) -> CAPTURE
 *   all:  capture own state (memory shared between members is copied by
 *         each at this instant); count in "captured"
 *   root: any failure -> ABORT, else COMMIT
 *   all:  COMMIT: fork own writer; release own threads
 *   member writers: write their images, publish header hash or failure
 *   root writer: waits for them, lists them in CKPT_SEC_TREE, finishes
 *
 * Nobody stays stopped for long if another fails: every wait has a
 * deadline, after which the member or the root aborts on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

#define TREE_MAX		256
#define PHASE_TIMEOUT_NS	(10ull * 1000000000)
#define WRITER_START_NS		(30ull * 1000000000)
#define MEMBER_CHECK_NS		(5ull * 1000000)	/* how often the root looks for ended members */

enum { PHASE_STOP, PHASE_CAPTURE, PHASE_COMMIT, PHASE_ABORT };

struct tree_sync {
	volatile int phase;
	volatile int stopped, captured, written;	/* counts of members */
	volatile int failed;
	char error[256];
	char dir[4096];					/* the root's image directory */
	uint32_t nr;
	struct ckpt_tree_proc procs[TREE_MAX];
	struct {
		volatile int32_t writer_pid;
		volatile int32_t result;		/* 0 writing, 1 done, -1 failed */
	} w[TREE_MAX];
};

static struct tree_sync *sync_page;
static char sync_path[256];
static int is_root;
static uint32_t my_slot;
static uint64_t commit_ns;
static uint32_t last_token;	/* names each attempt's page */

static long futex(volatile int *addr, int op, int val, uint64_t timeout_ns)
{
	struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };

	return syscall(SYS_futex, addr, op, val, timeout_ns ? &ts : NULL, NULL, 0);
}

static void wake(volatile int *addr)
{
	futex(addr, FUTEX_WAKE, 0x7fffffff, 0);
}

/* Waits until *addr != val or the deadline; 0, or -ETIMEDOUT. */
static int wait_change(volatile int *addr, int val, uint64_t deadline)
{
	while (*addr == val) {
		uint64_t now = ckpt_mono_ns();

		if (now >= deadline)
			return -ETIMEDOUT;
		futex(addr, FUTEX_WAIT, val, deadline - now);
	}
	return 0;
}

static int wait_count(volatile int *count, int want, uint64_t deadline)
{
	int v;

	while ((v = *count) < want)
		if (wait_change(count, v, deadline))
			return -ETIMEDOUT;
	return 0;
}

static void set_phase(int phase)
{
	sync_page->phase = phase;
	wake(&sync_page->phase);
}

static uint32_t nr_live(void)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < sync_page->nr; i++)
		n += sync_page->procs[i].state == CKPT_TREE_LIVE;
	return n;
}

/* The first failure of any member, for the root's error. */
static void member_fail(const char *msg)
{
	int zero = 0;

	if (__atomic_compare_exchange_n(&sync_page->failed, &zero, 1, 0, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST))
		snprintf(sync_page->error, sizeof(sync_page->error), "process %d: %s",
			 (int)sync_page->procs[my_slot].pid, msg);
}

static int cancelled(struct ckpt_capture *c)
{
	ckpt_fail(c, "the checkpoint of the tree was cancelled by its root");
	return -ECANCELED;
}

static int map_sync(int fd)
{
	void *p = mmap(NULL, sizeof(struct tree_sync), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	sync_page = p;
	return 0;
}

/* A member exited after the scan: the tree changed, the checkpoint is taken again. */
static int member_ended(struct ckpt_capture *c, pid_t pid)
{
	ckpt_fail(c, "process %d of the tree ended during the checkpoint; try again", (int)pid);
	return -EAGAIN;
}

static int signal_members(struct ckpt_capture *c, uint32_t token)
{
	for (uint32_t i = 0; i < sync_page->nr; i++) {
		const struct ckpt_tree_proc *e = &sync_page->procs[i];
		union sigval v = { .sival_ptr = (void *)(uintptr_t)((uint64_t)CKPT_TREE_MAGIC << 32 |
								     token) };

		if (e->state != CKPT_TREE_LIVE || !sigqueue(e->pid, ckpt_cfg.trigger_sig, v))
			continue;
		if (errno == ESRCH)
			return member_ended(c, e->pid);
		ckpt_fail(c, "cannot ask process %d of the tree to take part: %s", (int)e->pid,
			  strerror(errno));
		return -errno;
	}
	return 0;
}

/* Root, threads running: find the members, create the page, ask them in. */
int ckpt_tree_begin(struct ckpt_capture *c)
{
	struct ckpt_tree_proc *scan = ckpt_scratch_alloc(TREE_MAX * sizeof(*scan));
	uint32_t nr = 0;
	int fd, ret = -EAGAIN;

	if (!scan)
		return -ENOMEM;
	/* a child between fork and exec has no coordinator for a moment: look again */
	for (int tries = 0; tries < 50 && ret == -EAGAIN; tries++) {
		c->error[0] = 0;
		ret = ckpt_tree_scan(scan, TREE_MAX, &nr, c->error, sizeof(c->error));
		if (ret == -ENOTSUP) {
			ret = -EAGAIN;
			usleep(2000);
		}
	}
	if (ret == -EAGAIN)
		ret = -ENOTSUP;
	if (ret)
		return ret;
	if (!nr)
		return 0;
	snprintf(sync_path, sizeof(sync_path), "%s/tree.%d.%u", ckpt_cfg.run_dir, (int)getpid(),
		 ++last_token);
	mkdir(ckpt_cfg.run_dir, 0700);
	fd = open(sync_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || ftruncate(fd, sizeof(struct tree_sync))) {
		ckpt_fail(c, "cannot create %s: %s", sync_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	ret = map_sync(fd);
	if (ret) {
		unlink(sync_path);
		ckpt_fail(c, "cannot map %s: %s", sync_path, strerror(-ret));
		return ret;
	}
	is_root = 1;
	snprintf(sync_page->dir, sizeof(sync_page->dir), "%s", ckpt_cfg.dir);
	memcpy(sync_page->procs, scan, nr * sizeof(*scan));
	sync_page->nr = nr;
	c->tree = 1;
	pr_debug("checkpoint %u: tree of %u more processes (%u live)", c->seq, nr, nr_live());
	return signal_members(c, last_token);
}

/* Whether pid is an ancestor of ours (only the root of our tree may enlist us). */
static int is_ancestor(pid_t pid)
{
	pid_t p = getppid();

	for (int depth = 0; p > 1 && depth < 1024; depth++) {
		char path[64], buf[1024], *s;

		if (p == pid)
			return 1;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)p);
		if (ckpt_read_file(path, buf, sizeof(buf)) <= 0 || !(s = strrchr(buf, ')')))
			return 0;
		p = strtol(s + 4, NULL, 10);
	}
	return 0;
}

/* Member, threads running: join the checkpoint the root at pid asked for. */
int ckpt_tree_join(struct ckpt_capture *c, pid_t root, uint32_t token)
{
	pid_t self = getpid();
	int fd, ret;

	if (!is_ancestor(root)) {
		ckpt_fail(c, "tree checkpoint request from process %d, which is not an ancestor",
			  (int)root);
		return -EPERM;
	}
	snprintf(sync_path, sizeof(sync_path), "%s/tree.%d.%u", ckpt_cfg.run_dir, (int)root, token);
	fd = open(sync_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		ckpt_fail(c, "cannot open %s: %s", sync_path, strerror(errno));
		return -errno;
	}
	ret = map_sync(fd);
	if (ret) {
		ckpt_fail(c, "cannot map %s: %s", sync_path, strerror(-ret));
		return ret;
	}
	is_root = 0;
	for (my_slot = 0; my_slot < sync_page->nr; my_slot++)
		if (sync_page->procs[my_slot].pid == self)
			break;
	if (my_slot == sync_page->nr) {
		ckpt_fail(c, "process %d is not listed in %s", (int)self, sync_path);
		ckpt_tree_end();
		return -ESRCH;
	}
	c->tree = 1;
	c->dir = sync_page->dir;
	return 0;
}

/*
 * Member: count itself in (with its failure, if ret), then wait until the
 * root leaves phase `now`; 0 if it went on to `next`.
 */
static int member_report(struct ckpt_capture *c, int ret, volatile int *count, int now, int next)
{
	if (ret)
		member_fail(c->error[0] ? c->error : strerror(-ret));
	__atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST);
	wake(count);
	if (wait_change(&sync_page->phase, now, ckpt_mono_ns() + PHASE_TIMEOUT_NS)) {
		ckpt_fail(c, "the tree's root did not answer");
		return -ETIMEDOUT;
	}
	if (!ret && sync_page->phase != next)
		return cancelled(c);
	return ret;
}

/* Root: has the tree changed since ckpt_tree_begin? */
static int tree_changed(struct ckpt_capture *c)
{
	struct ckpt_tree_proc *now = ckpt_scratch_alloc(TREE_MAX * sizeof(*now));
	char err[256] = "";
	uint32_t nr = 0;

	if (!now)
		return -ENOMEM;
	if (!ckpt_tree_scan(now, TREE_MAX, &nr, err, sizeof(err)) &&
	    ckpt_tree_same(now, nr, sync_page->procs, sync_page->nr))
		return 0;
	ckpt_fail(c, "the process tree changed during the checkpoint (a process started or "
		  "ended); try again%s%s", err[0] ? ": " : "", err);
	return -EAGAIN;
}

/* Root: waits until every member is counted in *count; the first member failure, if any. */
static int root_wait(struct ckpt_capture *c, volatile int *count, const char *what)
{
	uint64_t deadline = ckpt_mono_ns() + PHASE_TIMEOUT_NS;

	/* in short waits: a member that exits meanwhile never counts itself in */
	while (wait_count(count, nr_live(), ckpt_mono_ns() + MEMBER_CHECK_NS)) {
		for (uint32_t i = 0; i < sync_page->nr; i++)
			if (sync_page->procs[i].state == CKPT_TREE_LIVE &&
			    !ckpt_tree_alive(sync_page->procs[i].pid))
				return member_ended(c, sync_page->procs[i].pid);
		if (ckpt_mono_ns() < deadline)
			continue;
		ckpt_fail(c, "only %d of %u processes of the tree %s within %llu s", *count,
			  nr_live(), what, PHASE_TIMEOUT_NS / 1000000000);
		return -ETIMEDOUT;
	}
	if (sync_page->failed) {
		ckpt_fail(c, "%s", sync_page->error);
		return -ECANCELED;
	}
	return 0;
}

/*
 * Root, own threads still running: wait until every member has stopped.
 * The root stops last, so that it is paused the least.
 */
int ckpt_tree_members_stopped(struct ckpt_capture *c)
{
	if (!sync_page || !is_root)
		return 0;
	return root_wait(c, &sync_page->stopped, "stopped");
}

/*
 * Own threads are stopped (ret 0) or could not be. Member: report, wait
 * for CAPTURE. Root (its members are stopped): check that the tree did
 * not change meanwhile, then let all capture.
 */
int ckpt_tree_stopped(struct ckpt_capture *c, int ret)
{
	if (!sync_page)
		return ret;
	if (!is_root)
		return member_report(c, ret, &sync_page->stopped, PHASE_STOP, PHASE_CAPTURE);
	if (!ret)
		ret = tree_changed(c);
	if (!ret)
		set_phase(PHASE_CAPTURE);
	return ret;
}

/*
 * Own state is captured (or failed). Member: publish its image name, then
 * wait for the root's decision. Root: wait for all, decide. Returns 0 to
 * commit (fork the writer), or -errno.
 */
int ckpt_tree_captured(struct ckpt_capture *c, int ret)
{
	if (!sync_page)
		return ret;
	if (!is_root) {
		struct ckpt_tree_proc *me = &sync_page->procs[my_slot];

		snprintf(me->image, sizeof(me->image), "ckpt_%s_%d_%u.img", ckpt_cfg.name,
			 (int)me->pid, c->seq);
		return member_report(c, ret, &sync_page->captured, PHASE_CAPTURE, PHASE_COMMIT);
	}
	if (!ret)
		ret = root_wait(c, &sync_page->captured, "saved their state");
	if (ret)
		return ret;
	commit_ns = ckpt_mono_ns();
	set_phase(PHASE_COMMIT);
	return 0;
}

/* Member: the writer was forked (pid > 0) or not. */
void ckpt_tree_writer_started(pid_t pid)
{
	if (!sync_page || is_root)
		return;
	if (pid > 0) {
		sync_page->w[my_slot].writer_pid = pid;
		return;
	}
	sync_page->w[my_slot].result = -1;
	__atomic_fetch_add(&sync_page->written, 1, __ATOMIC_SEQ_CST);
	wake(&sync_page->written);
}

/* Root, on any failure after ckpt_tree_begin: nobody waits for us any longer. */
void ckpt_tree_abort(void)
{
	if (sync_page && is_root && sync_page->phase != PHASE_COMMIT)
		set_phase(PHASE_ABORT);
}

/* Threads released: the page stays mapped only in the writers. */
void ckpt_tree_end(void)
{
	if (!sync_page)
		return;
	if (is_root && sync_page->phase != PHASE_COMMIT)
		unlink(sync_path);
	munmap(sync_page, sizeof(struct tree_sync));
	sync_page = NULL;
}

/* After a restart: the page of the checkpoint we were taken in is not ours. */
void ckpt_tree_restarted(void)
{
	sync_page = NULL;
	is_root = 0;
}

int ckpt_tree_is_member(void)
{
	return sync_page && !is_root;
}

int ckpt_tree_contains(uint64_t start, uint64_t end)
{
	uint64_t b = (uint64_t)(uintptr_t)sync_page;

	return sync_page && start < b + sizeof(struct tree_sync) && end > b;
}

/* Member's writer: its image is complete (hash) or failed. */
void ckpt_tree_written(const struct ckpt_header *hdr, const char *error)
{
	if (!sync_page || is_root)
		return;
	if (hdr) {
		sync_page->procs[my_slot].header_hash = hdr->header_hash;
		sync_page->w[my_slot].result = 1;
	} else {
		member_fail(error);
		sync_page->w[my_slot].result = -1;
	}
	__atomic_fetch_add(&sync_page->written, 1, __ATOMIC_SEQ_CST);
	wake(&sync_page->written);
}

static int writer_gone(pid_t pid)
{
	int fd = syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int gone;

	if (fd < 0)
		return errno == ESRCH;
	gone = poll(&p, 1, 0) == 1;
	close(fd);
	return gone;
}

/*
 * Root's writer, its own pages written: waits for every member's image.
 * Returns the tree table to write (CKPT_SEC_TREE), or NULL with err set.
 */
const struct ckpt_tree_proc *ckpt_tree_collect(uint32_t *nr, char *err, size_t errlen)
{
	uint32_t want = nr_live();

	for (;;) {
		int done = sync_page->written, bad = 0;

		for (uint32_t i = 0; i < sync_page->nr; i++) {
			pid_t wp = sync_page->w[i].writer_pid;

			if (sync_page->procs[i].state != CKPT_TREE_LIVE || sync_page->w[i].result)
				continue;
			if ((wp > 0 && writer_gone(wp)) ||
			    (wp <= 0 && ckpt_mono_ns() - commit_ns > WRITER_START_NS)) {
				/* it may have finished just now */
				if (sync_page->w[i].result)
					continue;
				snprintf(err, errlen, "process %d of the tree: its image writer %s",
					 (int)sync_page->procs[i].pid,
					 wp > 0 ? "died" : "never started");
				bad = 1;
			}
		}
		if (sync_page->failed) {
			snprintf(err, errlen, "%s", sync_page->error);
			bad = 1;
		}
		if (bad)
			return NULL;
		if ((uint32_t)done >= want)
			break;
		futex(&sync_page->written, FUTEX_WAIT, done, 100000000);
	}
	*nr = sync_page->nr;
	return sync_page->procs;
}

/* Root's writer, at the end: the page is no longer needed; on failure the members' images go. */
void ckpt_tree_finish(int ok)
{
	if (!sync_page || !is_root)
		return;
	for (uint32_t i = 0; !ok && i < sync_page->nr; i++) {
		char path[4400];

		if (sync_page->w[i].result != 1)
			continue;
		snprintf(path, sizeof(path), "%s/%s", sync_page->dir, sync_page->procs[i].image);
		unlink(path);
	}
	unlink(sync_path);
}
