/* SPDX-License-Identifier: MIT */
/*
 * Pending signals, with their siginfo (sender, code, queued value), in
 * queue order: process-wide ones and each thread's own. While the threads are stopped the coordinator
 * takes them off the queue with sigtimedwait (every thread blocks them,
 * or they would not be pending) and puts them straight back; the list
 * stays in this library's memory, so a restored process queues them
 * again in the same order. A signal the kernel will not let us queue
 * with its original code (kill-like codes from another thread) is sent
 * again with kill(), keeping the signal but not the sender.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

#define MAX_PENDING 1024
#define MAX_THREAD_PENDING 16

static siginfo_t pending[MAX_PENDING];
static int nr_pending;
static siginfo_t thread_pending[CKPT_MAX_THREADS][MAX_THREAD_PENDING];
static int nr_thread_pending[CKPT_MAX_THREADS];

/* tid 0: to the process */
static void requeue(const siginfo_t *info, pid_t tid)
{
	siginfo_t si = *info;

	if (si.si_code < 0 && si.si_code != SI_TKILL &&
	    !(tid ? syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, si.si_signo, &si) :
		    syscall(SYS_rt_sigqueueinfo, getpid(), si.si_signo, &si)))
		return;
	if (tid)
		syscall(SYS_tgkill, getpid(), tid, si.si_signo);
	else
		kill(getpid(), si.si_signo);
}

/* The calling thread's own pending signals (SigPnd), not the process's. */
static uint64_t own_pending(void)
{
	char buf[2048];

	if (ckpt_read_file("/proc/thread-self/status", buf, sizeof(buf)) <= 0)
		return 0;
	return ckpt_status_field(buf, "SigPnd:", 16);
}

/*
 * In a stopping thread, inside the stop handler (every signal blocked):
 * dequeue its own pending signals (the kernel takes a thread's queue
 * before the process's) and queue them back.
 */
void ckpt_capture_thread_pending(int slot, uint64_t mask)
{
	struct timespec zero = { 0, 0 };
	int n = 0;

	for (int sig = 1; sig <= CKPT_NR_SIGNALS; sig++) {
		sigset_t one;

		if (!(mask & (1ull << (sig - 1))) || ckpt_is_own_signal(sig))
			continue;
		sigemptyset(&one);
		sigaddset(&one, sig);
		while (n < MAX_THREAD_PENDING && (own_pending() & (1ull << (sig - 1))) &&
		       syscall(SYS_rt_sigtimedwait, &one, &thread_pending[slot][n], &zero, 8) == sig)
			n++;
	}
	nr_thread_pending[slot] = n;
	ckpt_requeue_thread_pending(slot);
}

void ckpt_requeue_thread_pending(int slot)
{
	for (int i = 0; i < nr_thread_pending[slot]; i++)
		requeue(&thread_pending[slot][i], gettid());
}

void ckpt_capture_pending(struct ckpt_capture *c)
{
	struct timespec zero = { 0, 0 };

	nr_pending = 0;
	for (int sig = 1; sig <= CKPT_NR_SIGNALS; sig++) {
		sigset_t one;

		if (!(c->proc.shared_pending & (1ull << (sig - 1))) || ckpt_is_own_signal(sig))
			continue;
		sigemptyset(&one);
		sigaddset(&one, sig);
		while (nr_pending < MAX_PENDING &&
		       syscall(SYS_rt_sigtimedwait, &one, &pending[nr_pending], &zero, 8) == sig)
			nr_pending++;
	}
	for (int i = 0; i < nr_pending; i++)
		requeue(&pending[i], 0);
	if (nr_pending == MAX_PENDING)
		pr_warn("more than %d pending signals: the rest stay pending but are not saved",
			MAX_PENDING);
}

void ckpt_requeue_pending(void)
{
	for (int i = 0; i < nr_pending; i++)
		requeue(&pending[i], 0);
}
