/* SPDX-License-Identifier: MIT */
/*
 * Threads blocked in system calls when the checkpoint is taken; after
 * the restore every call must complete correctly:
 *   nanosleep (relative, the EINTR + remaining-time idiom),
 *   clock_nanosleep TIMER_ABSTIME, select() and poll() with a timeout
 *   (each sleep must last at least what was asked);
 *   pthread_cond_wait, pthread_cond_timedwait (10 s timeout: it must be
 *   woken by the broadcast, not time out), a raw FUTEX_WAIT, and
 *   sigwaitinfo(): woken by the main thread at tick 3/4;
 *   read() on stdin (a pipe): with stdin_expect=TEXT the harness writes
 *   TEXT and a newline to the restored program's stdin, and the blocked
 *   read must return exactly that.
 */
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/syscall.h>

#include "common.h"

static volatile int stop, wake_tick;
static volatile long sleeps[4], sleeps_at_resume[4];
static volatile int eintr[4];
static const char *const sleep_names[4] = { "nanosleep", "clock_nanosleep", "select", "poll" };

static pthread_mutex_t cv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER, cvt;
static int cv_go;
static volatile int cv_woke, cvt_woke, cvt_ret = -1, futex_woke, sigwait_woke, sigwait_code;
static volatile int futex_word;
static volatile pid_t sigwait_tid;
static char stdin_buf[256];
static volatile int stdin_got = -1;

static void check_slept(int k, uint64_t t0, long ms)
{
	uint64_t dt = now_ns(CLOCK_MONOTONIC) - t0;

	CHECK(dt >= (uint64_t)ms * 1000000, "%s(%ld ms) returned after %.1f ms", sleep_names[k], ms,
	      dt / 1e6);
	sleeps[k]++;
}

static void *ns_main(void *arg)
{
	(void)arg;
	while (!stop) {
		struct timespec req = { 0, 300000000 }, rem;
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);

		while (nanosleep(&req, &rem)) {
			CHECK(errno == EINTR, "nanosleep: %s", strerror(errno));
			CHECK(rem.tv_sec == 0 && rem.tv_nsec >= 0 && rem.tv_nsec <= 300000000,
			      "nanosleep remaining %ld.%09ld", (long)rem.tv_sec, rem.tv_nsec);
			eintr[0]++;
			req = rem;
		}
		check_slept(0, t0, 300);
	}
	return NULL;
}

static void *abs_main(void *arg)
{
	(void)arg;
	while (!stop) {
		uint64_t t0 = now_ns(CLOCK_MONOTONIC), dl = t0 + 400000000ull;
		struct timespec ts = { dl / 1000000000ull, dl % 1000000000ull };
		int r;

		while ((r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))) {
			CHECK(r == EINTR, "clock_nanosleep: %s", strerror(r));
			eintr[1]++;
		}
		CHECK(now_ns(CLOCK_MONOTONIC) >= dl, "clock_nanosleep returned before its deadline");
		check_slept(1, t0, 400);
	}
	return NULL;
}

static void *select_main(void *arg)
{
	(void)arg;
	while (!stop) {
		struct timeval tv = { 0, 250000 };
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);
		int r;

		/* Linux select() leaves the remaining time in tv */
		while ((r = select(0, NULL, NULL, NULL, &tv))) {
			CHECK(r < 0 && errno == EINTR, "select: %d %s", r, strerror(errno));
			CHECK(tv.tv_sec == 0 && tv.tv_usec <= 250000, "select remaining %ld.%06ld",
			      (long)tv.tv_sec, (long)tv.tv_usec);
			eintr[2]++;
		}
		check_slept(2, t0, 250);
	}
	return NULL;
}

static void *poll_main(void *arg)
{
	(void)arg;
	while (!stop) {
		uint64_t t0 = now_ns(CLOCK_MONOTONIC), dl = t0 + 200000000ull;
		int r;

		for (;;) {
			uint64_t now = now_ns(CLOCK_MONOTONIC);
			int ms = now >= dl ? 0 : (int)((dl - now + 999999) / 1000000);

			r = poll(NULL, 0, ms);
			if (r == 0 && now_ns(CLOCK_MONOTONIC) >= dl)
				break;
			CHECK(r == 0 || errno == EINTR, "poll: %d %s", r, strerror(errno));
			if (r < 0)
				eintr[3]++;
		}
		check_slept(3, t0, 200);
	}
	return NULL;
}

static void *cv_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cv_lock);
	while (!cv_go)
		pthread_cond_wait(&cv, &cv_lock);
	pthread_mutex_unlock(&cv_lock);
	cv_woke = g_tick;
	return NULL;
}

static void *cvt_main(void *arg)
{
	struct timespec ts;
	int r = 0;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&cv_lock);
	while (!cv_go && r == 0)
		r = pthread_cond_timedwait(&cvt, &cv_lock, &ts);
	pthread_mutex_unlock(&cv_lock);
	cvt_ret = cv_go ? 0 : r;
	cvt_woke = g_tick;
	return NULL;
}

static void *futex_main(void *arg)
{
	(void)arg;
	while (!futex_word) {
		long r = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);

		CHECK(r == 0 || errno == EAGAIN || errno == EINTR, "futex wait: %s", strerror(errno));
	}
	futex_woke = g_tick;
	return NULL;
}

static void *sigwait_main(void *arg)
{
	sigset_t set;
	siginfo_t si;
	int r;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigwait_tid = gettid();
	do
		r = sigwaitinfo(&set, &si);
	while (r < 0 && errno == EINTR);
	CHECK(r == SIGUSR1, "sigwaitinfo returned %d: %s", r, strerror(errno));
	sigwait_code = si.si_code;
	sigwait_woke = g_tick;
	return NULL;
}

static void *stdin_main(void *arg)
{
	ssize_t n;

	(void)arg;
	do
		n = read(0, stdin_buf, sizeof(stdin_buf) - 1);
	while (n < 0 && errno == EINTR);
	stdin_got = n;
	return NULL;
}

int main(int argc, char **argv)
{
	void *(*fns[])(void *) = { ns_main, abs_main, select_main, poll_main, cv_main, cvt_main,
				   futex_main, sigwait_main };
	int n = sizeof(fns) / sizeof(fns[0]);
	pthread_t th[8], t_stdin;
	pthread_condattr_t ca;
	const char *expect;
	sigset_t set;

	common_init(argc, argv);
	expect = opt_str("stdin_expect", NULL);
	wake_tick = g_ticks * 3 / 4;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cvt, &ca);
	/* only the sigwait thread may take SIGUSR1 */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < n; i++)
		CHECK(!pthread_create(&th[i], NULL, fns[i], NULL), "pthread_create");
	CHECK(!pthread_create(&t_stdin, NULL, stdin_main, NULL), "pthread_create");
	while (!sigwait_tid)
		sleep_ms(1);
	sleep_ms(20);	/* let everyone block */
	out("ready\n");
	for (int t = 1; t <= g_ticks; t++) {
		g_tick = t;
		if (check_resumed())
			for (int k = 0; k < 4; k++)
				sleeps_at_resume[k] = sleeps[k];
		if (t < wake_tick)
			CHECK(!cv_woke && !cvt_woke && !futex_woke && !sigwait_woke,
			      "a waiter woke early: cv %d cvt %d futex %d sigwait %d", cv_woke, cvt_woke,
			      futex_woke, sigwait_woke);
		CHECK(stdin_got <= 0 || expect, "read %d bytes from stdin, expected nothing", stdin_got);
		if (t == wake_tick) {
			pthread_mutex_lock(&cv_lock);
			cv_go = 1;
			pthread_cond_broadcast(&cv);
			pthread_cond_broadcast(&cvt);
			pthread_mutex_unlock(&cv_lock);
			futex_word = 1;
			syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
			CHECK(!pthread_kill(th[7], SIGUSR1), "pthread_kill");
		}
		if (t == wake_tick + 5) {
			for (int i = 0; i < 200 && !(cv_woke && cvt_woke && futex_woke && sigwait_woke); i++)
				sleep_ms(10);	/* a slow machine */
			CHECK(cv_woke, "pthread_cond_wait was not woken by the broadcast");
			CHECK(cvt_woke && cvt_ret == 0, "pthread_cond_timedwait: woke %d, ret %d",
			      cvt_woke, cvt_ret);
			CHECK(futex_woke, "FUTEX_WAIT was not woken");
			/* tgkill: SI_TKILL, or SI_USER on newer kernels */
			CHECK(sigwait_woke && (sigwait_code == SI_TKILL || sigwait_code == SI_USER),
			      "sigwaitinfo: woke %d, si_code %d", sigwait_woke, sigwait_code);
		}
		tick_out(t);
		sleep_ms(g_tick_ms);
	}
	stop = 1;
	for (int i = 0; i < n; i++) {
		struct timespec ts;
		int r;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		r = pthread_timedjoin_np(th[i], NULL, &ts);
		CHECK(r == 0, "join thread %d: %s", i, strerror(r));
	}
	for (int k = 0; k < 4; k++) {
		CHECK(sleeps[k] > 0, "%s never completed", sleep_names[k]);
		if (g_resumes)
			CHECK(sleeps[k] > sleeps_at_resume[k], "%s completed no sleep after the restore",
			      sleep_names[k]);
	}
	if (expect) {
		char want[256];

		snprintf(want, sizeof(want), "%s\n", expect);
		for (int i = 0; i < 100 && stdin_got < 0; i++)
			sleep_ms(10);
		CHECK(stdin_got == (int)strlen(want) && !memcmp(stdin_buf, want, stdin_got),
		      "read from stdin returned %d bytes '%.*s', want '%s'", stdin_got,
		      stdin_got > 0 ? stdin_got : 0, stdin_buf, expect);
	}
	out("interrupted: nanosleep %d, clock_nanosleep %d, select %d, poll %d\n", eintr[0],
	    eintr[1], eintr[2], eintr[3]);
	out("done\n");
	return 0;
}
