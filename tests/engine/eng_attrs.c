/* SPDX-License-Identifier: MIT */
/*
 * Per-thread and per-process attributes the kernel keeps: a worker
 * thread with nice 7, SCHED_BATCH and affinity to CPU 0; the process
 * with PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, not dumpable, and
 * personality ADDR_NO_RANDOMIZE. All checked on every tick.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "../progs/common.h"

static volatile pid_t worker_tid;
static volatile int worker_ok = 1;

static void check_worker_attrs(void)
{
	cpu_set_t set;
	struct sched_param sp;

	CHECK(getpriority(PRIO_PROCESS, 0) == 7, "worker nice is %d, not 7",
	      getpriority(PRIO_PROCESS, 0));
	CHECK(sched_getscheduler(0) == SCHED_BATCH, "worker policy is %d, not SCHED_BATCH",
	      sched_getscheduler(0));
	CHECK(!sched_getparam(0, &sp), "sched_getparam");
	CHECK(!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) == 1 &&
	      CPU_ISSET(0, &set), "worker affinity is not {0} (%d CPUs)", CPU_COUNT(&set));
}

static void *worker(void *arg)
{
	struct sched_param sp = { 0 };
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	CHECK(!sched_setaffinity(0, sizeof(set), &set), "sched_setaffinity");
	CHECK(!sched_setscheduler(0, SCHED_BATCH, &sp), "SCHED_BATCH: %s", strerror(errno));
	CHECK(!setpriority(PRIO_PROCESS, 0, 7), "setpriority");
	worker_tid = gettid();
	for (;;) {
		check_worker_attrs();
		sleep_ms(10);
	}
	return arg;
}

static void check_process(void)
{
	int subreaper = 0;

	CHECK(!prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0) && subreaper == 1,
	      "child subreaper is %d", subreaper);
	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs is not set");
	CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, "process is dumpable again");
	CHECK((personality(0xffffffff) & ADDR_NO_RANDOMIZE), "personality lost ADDR_NO_RANDOMIZE");
	CHECK(getpriority(PRIO_PROCESS, 0) == 0, "main thread nice is %d",
	      getpriority(PRIO_PROCESS, 0));
}

int main(int argc, char **argv)
{
	pthread_t t;

	common_init(argc, argv);
	CHECK(!prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "subreaper");
	CHECK(!prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
	CHECK(personality(personality(0xffffffff) | ADDR_NO_RANDOMIZE) >= 0, "personality");
	pthread_create(&t, NULL, worker, NULL);
	while (!worker_tid)
		sleep_ms(1);
	/* last: ckpt-ctl needs to read our environment first (a non-dumpable process hides it) */
	out("ready\n");
	for (int i = 1; i <= g_ticks; i++) {
		g_tick = i;
		check_resumed();
		if (i == 2)
			CHECK(!prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "set dumpable 0");
		if (i >= 2)
			check_process();
		tick_out(i);
		sleep_ms(g_tick_ms);
	}
	out("done\n");
	return 0;
}
