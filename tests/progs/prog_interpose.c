/* SPDX-License-Identifier: MIT */
/*
 * The application's use of libckpt's own signals (trigger SIGUSR2, stop
 * SIGRTMAX-1 by default) must not break checkpoints, and checkpoint
 * requests must never reach the application (see src/interpose/):
 *
 * mode=handler  the program installs its own SIGUSR2 handler with
 *               sigaction() and sleeps in pselect() with an empty signal
 *               mask (bash's `read -t` does both). A request from
 *               ckpt-ctl must produce an image and must not run the
 *               program's handler; a SIGUSR2 the program sends itself
 *               with kill() at tick 3/4 must run it, exactly once.
 * mode=blockall the main thread and a worker block every signal with
 *               sigprocmask / pthread_sigmask (SIG_SETMASK, full set).
 *               The checkpoint must still stop them, and afterwards
 *               they must still have every other signal blocked.
 * mode=unblocked the main thread and 3 workers unblock SIGUSR2 with a raw
 *               rt_sigprocmask (behind libc's back, as src/ckpt/coord.c
 *               allows) and sleep; every checkpoint must then still be
 *               exactly one image per request (the harness counts them).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/syscall.h>

#include "common.h"

#define CKPT_CTL_MAGIC 0x636b7074ull

static volatile long app_usr2, app_usr2_bad;
static volatile int stop;

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;

	(void)sig;
	(void)uc;
	if (si->si_code == SI_QUEUE && (v >> 32) == CKPT_CTL_MAGIC)
		FAIL("a checkpoint request from ckpt-ctl (pid %d) ran the application's own "
		     "SIGUSR2 handler", si->si_pid);
	if (si->si_code != SI_USER || si->si_pid != getpid())
		app_usr2_bad++;
	app_usr2++;
}

static int handler_mode(void)
{
	struct sigaction sa, old;
	sigset_t empty;
	int kill_tick = g_ticks * 3 / 4;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	CHECK(!sigaction(SIGUSR2, &sa, NULL), "sigaction(SIGUSR2)");
	sigemptyset(&empty);
	out("ready\n");
	for (int t = 1; t <= g_ticks; t++) {
		struct timespec ts = { 0, g_tick_ms * 1000000L };

		g_tick = t;
		check_resumed();
		CHECK(!sigaction(SIGUSR2, NULL, &old) && old.sa_sigaction == on_usr2 &&
		      (old.sa_flags & SA_SIGINFO), "sigaction(SIGUSR2) does not report our handler");
		if (t < kill_tick)
			CHECK(app_usr2 == 0, "SIGUSR2 handler ran %ld times before we sent one", app_usr2);
		if (t == kill_tick) {
			kill(getpid(), SIGUSR2);
			for (int i = 0; i < 100 && !app_usr2; i++)
				sleep_ms(10);
			CHECK(app_usr2 == 1 && !app_usr2_bad,
			      "SIGUSR2 sent with kill() ran the application's handler %ld times "
			      "(%ld with a wrong si_code), want once", app_usr2, app_usr2_bad);
		}
		tick_out(t);
		/* as bash's read -t: pselect with the signal mask emptied */
		pselect(0, NULL, NULL, NULL, &ts, &empty);
	}
	CHECK(app_usr2 == 1, "application's SIGUSR2 handler ran %ld times", app_usr2);
	out("done\n");
	return 0;
}

static void check_all_blocked(const char *who)
{
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	for (int s = 1; s < 65; s++) {
		if (s == SIGKILL || s == SIGSTOP || s == SIGUSR2 || s == SIGRTMAX - 1 ||
		    (s >= 32 && s < SIGRTMIN))
			continue;
		CHECK(sigismember(&cur, s), "%s: signal %d no longer blocked", who, s);
	}
}

static void *blocker(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	while (!stop) {
		check_all_blocked("worker");
		sleep_ms(10);
	}
	return NULL;
}

static int blockall_mode(void)
{
	sigset_t all;
	pthread_t t;

	sigfillset(&all);
	CHECK(!pthread_create(&t, NULL, blocker, NULL), "pthread_create");
	sigprocmask(SIG_SETMASK, &all, NULL);
	out("ready\n");
	for (int i = 1; i <= g_ticks; i++) {
		g_tick = i;
		check_resumed();
		check_all_blocked("main thread");
		tick_out(i);
		sleep_ms(g_tick_ms);
	}
	stop = 1;
	pthread_join(t, NULL);
	out("done\n");
	return 0;
}

static void unblock_usr2_raw(void)
{
	uint64_t set = 1ull << (SIGUSR2 - 1);

	CHECK(!syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, 8), "rt_sigprocmask");
}

static void *unblocked_worker(void *arg)
{
	(void)arg;
	unblock_usr2_raw();
	while (!stop)
		sleep_ms(5);
	return NULL;
}

static int unblocked_mode(void)
{
	pthread_t t[3];

	for (int i = 0; i < 3; i++)
		CHECK(!pthread_create(&t[i], NULL, unblocked_worker, NULL), "pthread_create");
	unblock_usr2_raw();
	out("ready\n");
	for (int i = 1; i <= g_ticks; i++) {
		g_tick = i;
		check_resumed();
		tick_out(i);
		sleep_ms(g_tick_ms);
	}
	stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	out("done\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode;

	common_init(argc, argv);
	mode = opt_str("mode", "handler");
	if (!strcmp(mode, "handler"))
		return handler_mode();
	if (!strcmp(mode, "blockall"))
		return blockall_mode();
	if (!strcmp(mode, "unblocked"))
		return unblocked_mode();
	FAIL("unknown mode %s", mode);
}
