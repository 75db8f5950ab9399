/* SPDX-License-Identifier: MIT */
/*
 * Bringing every thread to a safe stop. The coordinator sends each thread
 * the stop signal (queued with our magic value so that it cannot be
 * confused with the application's own use of that signal); the handler
 * records the thread's state, saves a resume context and waits. A thread
 * blocked in a system call is interrupted; the kernel restarts or fails
 * the call as it would for any handler installed with SA_RESTART.
 */
#include <asm/prctl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

#define RSEQ_SIG_GLIBC	0x53053053
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif

/* the kernel's struct sched_attr (glibc 2.36 has no wrapper) */
struct sched_attr_k {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};
#define STOP_TIMEOUT_NS	5000000000ull

struct thread_slot ckpt_slots[CKPT_MAX_THREADS];
volatile int ckpt_nr_slots;

static volatile int stop_count;		/* threads parked in the handler */
static volatile int release_gen;	/* bumped to let them go */
static volatile int restart_count;	/* threads back in the library after a restart */
static volatile int restart_release;

extern __attribute__((weak)) const ptrdiff_t __rseq_offset;
extern __attribute__((weak)) const unsigned int __rseq_size;

struct thread_slot *ckpt_slot_claim(void)
{
	int i = atomic_fetch_add(&ckpt_nr_slots, 1);

	if (i >= CKPT_MAX_THREADS)
		return NULL;
	memset(&ckpt_slots[i], 0, sizeof(ckpt_slots[i]));
	return &ckpt_slots[i];
}

static void capture_rseq(struct ckpt_thread *t)
{
	char *area;

	if (&__rseq_size == NULL || &__rseq_offset == NULL || !__rseq_size)
		return;
	area = (char *)__builtin_thread_pointer() + __rseq_offset;
	if (*(volatile int32_t *)(area + 4) < 0)	/* cpu_id < 0: not registered */
		return;
	t->rseq = (uint64_t)(uintptr_t)area;
	t->rseq_len = 32;	/* what glibc registers, whatever __rseq_size says */
	t->rseq_sig = RSEQ_SIG_GLIBC;
}

/* Scheduling policy, priority, nice value and CPU affinity of the calling thread. */
static void capture_sched(struct ckpt_thread *t)
{
	struct sched_attr_k attr;

	memset(&attr, 0, sizeof(attr));
	if (!syscall(SYS_sched_getattr, 0, &attr, sizeof(attr), 0)) {
		t->sched_policy = attr.sched_policy;
		t->sched_priority = attr.sched_priority;
		t->nice = attr.sched_nice;
		t->sched_flags = attr.sched_flags;
	}
	syscall(SYS_sched_getaffinity, 0, sizeof(t->cpu_affinity), t->cpu_affinity);
}

static void restore_sched(const struct ckpt_thread *t)
{
	struct sched_attr_k attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.sched_policy = t->sched_policy;
	attr.sched_priority = t->sched_priority;
	attr.sched_nice = t->nice;
	attr.sched_flags = t->sched_flags & SCHED_FLAG_RESET_ON_FORK;
	if (syscall(SYS_sched_setattr, 0, &attr, 0))
		pr_warn("thread %d: cannot restore its scheduling policy %d (nice %d): %s", t->tid,
			t->sched_policy, t->nice, strerror(errno));
	/* CPUs that this machine lacks are left out by the kernel */
	if (syscall(SYS_sched_setaffinity, 0, sizeof(t->cpu_affinity), t->cpu_affinity))
		pr_warn("thread %d: cannot restore its CPU affinity: %s", t->tid, strerror(errno));
}

/* Records what the kernel holds for the calling thread. uc: its interrupted context, or NULL. */
void ckpt_thread_capture(struct thread_slot *s, void *ucv)
{
	struct ckpt_thread *t = &s->t;
	ucontext_t *uc = ucv;
	char path[64], buf[2048];
	size_t len;
	void *head;

	t->tid = gettid();
	if (t->tid == getpid())
		t->flags |= CKPT_THREAD_LEADER;
	if (uc) {
		memcpy(t->gregs, uc->uc_mcontext.gregs, sizeof(t->gregs));
		memcpy(&t->sigmask, &uc->uc_sigmask, sizeof(t->sigmask));
		t->altstack_sp = (uint64_t)(uintptr_t)uc->uc_stack.ss_sp;
		t->altstack_size = uc->uc_stack.ss_size;
		t->altstack_flags = uc->uc_stack.ss_flags;
	}
	syscall(SYS_arch_prctl, ARCH_GET_FS, &t->fs_base);
	syscall(SYS_arch_prctl, ARCH_GET_GS, &t->gs_base);
	if (!syscall(SYS_get_robust_list, 0, &head, &len)) {
		t->robust_list = (uint64_t)(uintptr_t)head;
		t->robust_len = len;
	}
	prctl(PR_GET_TID_ADDRESS, &t->clear_child_tid, 0, 0, 0);
	capture_rseq(t);
	capture_sched(t);
	prctl(PR_GET_NAME, t->comm, 0, 0, 0);	/* in the thread itself: its own name */
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", t->tid);
	if (ckpt_read_file(path, buf, sizeof(buf)) > 0)
		t->pending = ckpt_status_field(buf, "SigPnd:", 16);
}

/* Re-establishes, in a restored thread, the per-thread state the kernel lost. */
void ckpt_thread_restore_kernel_state(const struct thread_slot *s)
{
	const struct ckpt_thread *t = &s->t;

	syscall(SYS_set_tid_address, (void *)(uintptr_t)t->clear_child_tid);
	if (t->robust_list)
		syscall(SYS_set_robust_list, (void *)(uintptr_t)t->robust_list, t->robust_len);
	if (t->rseq && syscall(SYS_rseq, (void *)(uintptr_t)t->rseq, (uint32_t)t->rseq_len, 0,
			       t->rseq_sig))
		pr_warn("thread %d: rseq registration failed: %s", t->tid, strerror(errno));
	if (t->comm[0])
		prctl(PR_SET_NAME, t->comm, 0, 0, 0);
	restore_sched(t);
	ckpt_requeue_thread_pending(s - ckpt_slots);
}

/*
 * What the coordinator saw a thread doing just before it sent the stop
 * signal: the system call it was blocked in (from /proc/self/task/TID/syscall).
 */
struct stop_req {
	uint32_t magic;
	pid_t tid;
	long nr;			/* -1: not in a system call */
	uint64_t pc;			/* user address after the syscall instruction */
};

static const struct stop_req *stop_request(const siginfo_t *si)
{
	const struct stop_req *req = si->si_value.sival_ptr;
	uint64_t p = (uint64_t)(uintptr_t)req;

	if (si->si_code != SI_QUEUE || si->si_pid != getpid() ||
	    !ckpt_scratch_contains(p, p + sizeof(*req)) || req->magic != CKPT_CTL_MAGIC ||
	    req->tid != gettid())
		return NULL;
	return req;
}

/*
 * The stop signal has a handler, so the kernel fails a sleeping system
 * call with EINTR instead of restarting it. The application must not
 * see that: point the interrupted context back at the syscall
 * instruction, to run the call again once the handler returns (in this
 * process, and in a restored one, since the frame is in the image).
 * Sleeps continue with the remaining time where the kernel reported it.
 */
static void retry_interrupted_syscall(ucontext_t *uc, const struct stop_req *req)
{
	greg_t *g = uc->uc_mcontext.gregs;

	if (req->nr < 0 || (uint64_t)g[REG_RIP] != req->pc || g[REG_RAX] != -EINTR ||
	    *(const uint16_t *)(uintptr_t)(g[REG_RIP] - 2) != 0x050f)	/* syscall */
		return;
	switch (req->nr) {
	case SYS_nanosleep:
		if (g[REG_RSI])
			g[REG_RDI] = g[REG_RSI];	/* req = rem */
		break;
	case SYS_clock_nanosleep:
		if (!(g[REG_RSI] & TIMER_ABSTIME) && g[REG_R10])
			g[REG_RDX] = g[REG_R10];
		break;
	}
	g[REG_RAX] = req->nr;
	g[REG_RIP] -= 2;
}

void ckpt_stop_handler(int sig, siginfo_t *si, void *uc)
{
	const struct stop_req *req = stop_request(si);
	int saved_errno = errno;
	struct thread_slot *s;
	int gen;

	if (!req) {
		ckpt_app_handler(sig, si, uc);
		errno = saved_errno;
		return;
	}
	retry_interrupted_syscall(uc, req);
	gen = release_gen;
	s = ckpt_slot_claim();
	if (s) {
		ckpt_thread_capture(s, uc);
		ckpt_capture_thread_pending(s - ckpt_slots, s->t.pending);
		if (ckpt_ctx_save(&s->t.ctx)) {
			ckpt_thread_restarted(s);
			errno = saved_errno;
			return;
		}
	}
	atomic_fetch_add(&stop_count, 1);
	ckpt_futex_wake(&stop_count);
	while (release_gen == gen)
		ckpt_futex_wait(&release_gen, gen);
	errno = saved_errno;
}

/*
 * Kernel workers that live in the process (KVM's kvm-nx-lpage-recovery,
 * io_uring's iou-wrk) carry PF_USER_WORKER in /proc/.../stat's flags;
 * they never run a signal handler and hold no user state: skip them.
 */
#define PF_USER_WORKER	0x4000

static int is_user_worker(pid_t tid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	if (ckpt_read_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')');
	/* ") state ppid pgrp session tty_nr tpgid flags" */
	for (int field = 0; field < 7 && p; field++)
		p = strchr(p + 1, ' ');
	return p && (strtoul(p + 1, NULL, 10) & PF_USER_WORKER);
}

static int list_tasks(pid_t *tids, int max)
{
	char buf[4096];
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int n = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		long got = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		if (got <= 0)
			break;
		for (long off = 0; off < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);

			off += d->d_reclen;
			if (d->d_name[0] >= '0' && d->d_name[0] <= '9' && n < max &&
			    !is_user_worker(atoi(d->d_name)))
				tids[n++] = atoi(d->d_name);
		}
	}
	close(fd);
	return n;
}

static int task_alive(pid_t tid)
{
	return syscall(SYS_tgkill, getpid(), tid, 0) == 0;
}

static void read_blocked_syscall(struct stop_req *req)
{
	char path[64], buf[256], *end;

	req->nr = -1;
	req->pc = 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)req->tid);
	if (ckpt_read_file(path, buf, sizeof(buf)) <= 0 || buf[0] < '0' || buf[0] > '9')
		return;
	req->nr = strtol(buf, &end, 10);
	/* nr, six arguments, sp, pc */
	for (int field = 0; field < 7 && *end; field++)
		strtoull(end, &end, 16);
	req->pc = strtoull(end, NULL, 16);
}

static int send_stop(struct stop_req *req, pid_t tid)
{
	siginfo_t si;

	req->magic = CKPT_CTL_MAGIC;
	req->tid = tid;
	read_blocked_syscall(req);
	memset(&si, 0, sizeof(si));
	si.si_signo = ckpt_cfg.stop_sig;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_ptr = req;
	return syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, ckpt_cfg.stop_sig, &si);
}

/* Waits until `expected` threads are parked; drops threads that exited meanwhile. */
static int wait_stopped(pid_t *sent, int *nr_sent, uint64_t deadline, char *who, size_t wlen)
{
	while (stop_count < *nr_sent) {
		int cur = stop_count;
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		syscall(SYS_futex, &stop_count, FUTEX_WAIT_PRIVATE, cur, &ts, NULL, 0);
		if (stop_count >= *nr_sent)
			break;
		for (int i = 0; i < *nr_sent; i++) {
			if (task_alive(sent[i]))
				continue;
			sent[i] = sent[--*nr_sent];	/* exited before it could stop */
			i--;
		}
		if (ckpt_mono_ns() > deadline) {
			snprintf(who, wlen, "%d of %d threads did not stop within 5 s "
				 "(a thread blocks signal %d with a raw system call?)",
				 *nr_sent - stop_count, *nr_sent, ckpt_cfg.stop_sig);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

int ckpt_stop_threads(struct ckpt_capture *c)
{
	pid_t *sent = ckpt_scratch_alloc(CKPT_MAX_THREADS * sizeof(pid_t));
	pid_t *now = ckpt_scratch_alloc(CKPT_MAX_THREADS * sizeof(pid_t));
	struct stop_req *reqs = ckpt_scratch_alloc(CKPT_MAX_THREADS * sizeof(*reqs));
	uint64_t deadline = ckpt_mono_ns() + STOP_TIMEOUT_NS;
	pid_t self = gettid();
	int nr_sent = 0;

	if (!sent || !now || !reqs)
		return -ENOMEM;
	stop_count = 0;
	for (;;) {
		int n = list_tasks(now, CKPT_MAX_THREADS), added = 0;

		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			int known = now[i] == self;

			for (int j = 0; j < nr_sent && !known; j++)
				known = sent[j] == now[i];
			if (known)
				continue;
			if (nr_sent >= CKPT_MAX_THREADS - 1) {
				ckpt_fail(c, "more than %d threads", CKPT_MAX_THREADS - 1);
				return -E2BIG;
			}
			if (send_stop(&reqs[nr_sent], now[i]) == 0) {
				sent[nr_sent++] = now[i];
				added++;
			}
		}
		if (!added)
			break;
		if (wait_stopped(sent, &nr_sent, deadline, c->error, sizeof(c->error)))
			return -ETIMEDOUT;
	}
	return 0;
}

void ckpt_release_threads(void)
{
	atomic_fetch_add(&release_gen, 1);
	ckpt_futex_wake(&release_gen);
}

/* Restart side: every thread reports back, then waits for the coordinator. */
void ckpt_thread_restarted(struct thread_slot *self)
{
	int rel = restart_release;

	ckpt_thread_restore_kernel_state(self);
	atomic_fetch_add(&restart_count, 1);
	ckpt_futex_wake(&restart_count);
	while (restart_release == rel)
		ckpt_futex_wait(&restart_release, rel);
}

/* Coordinator side of the restart rendezvous. */
void ckpt_wait_restarted(int others)
{
	while (restart_count < others) {
		int cur = restart_count;

		ckpt_futex_wait(&restart_count, cur);
	}
}

void ckpt_release_restarted(void)
{
	restart_count = 0;
	atomic_fetch_add(&restart_release, 1);
	ckpt_futex_wake(&restart_release);
}
