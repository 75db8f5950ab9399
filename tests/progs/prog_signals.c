/* SPDX-License-Identifier: MIT */
/*
 * Signal state: handlers installed with sigaction (flags and mask read
 * back), SIG_IGN, per-thread blocked masks, an alternate signal stack
 * (and a handler that runs on it), pending blocked signals (one
 * thread-directed, one process-wide: still pending after the restore
 * and delivered exactly once when unblocked at tick 3/4), an ITIMER_REAL
 * interval timer and two POSIX timers (one deleted before the
 * checkpoint, so the ids have a gap) that keep firing with their ids
 * and values.
 *
 * mode=alarm instead: alarm(alarm_s) (default 3 s) armed at start must
 * fire exactly once, after the restore (use ticks >= 20 * alarm_s + 20).
 * mode=rtqueue and mode=itimer_pending: see there.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include "common.h"

#define SIG_T1	(SIGRTMIN + 2)
#define SIG_T3	(SIGRTMIN + 4)

static volatile long usr1_count, alrm_count, hup_count, int_count, winch_count;
static volatile long t1_count, t3_count, bad_timer, timer_requeued;
static volatile pid_t hup_tid, main_tid;
static timer_t timer1, timer2, timer3;
static char *altstack;
static size_t altstack_size = 1 << 16;
static volatile int winch_on_altstack = 1;
static volatile int stop;
static int unblock_tick;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	usr1_count++;
}

static void on_alrm(int sig)
{
	(void)sig;
	alrm_count++;
}

static void on_hup(int sig)
{
	(void)sig;
	hup_tid = gettid();
	hup_count++;
}

static void on_int(int sig)
{
	(void)sig;
	int_count++;
}

static void on_winch(int sig)
{
	char here;

	(void)sig;
	if (&here < altstack || &here >= altstack + altstack_size)
		winch_on_altstack = 0;
	winch_count++;
}

static void on_timer(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (si->si_code == SI_USER && si->si_pid == getpid()) {
		/* pending at the checkpoint and re-sent by kill() at the restore:
		 * no timer id or value (mode=rtqueue tests this on its own) */
		timer_requeued++;
		return;
	}
	if (si->si_code != SI_TIMER) {
		bad_timer = 1000 + si->si_code;
		return;
	}
	if (sig == SIG_T1 && si->si_value.sival_int == 0x1111 &&
	    si->si_timerid == (int)(intptr_t)timer1)
		t1_count++;
	else if (sig == SIG_T3 && si->si_value.sival_int == 0x3333 &&
		 si->si_timerid == (int)(intptr_t)timer3)
		t3_count++;
	else
		bad_timer = si->si_timerid + 1;
}

static void install(int sig, void (*h)(int), void (*sa3)(int, siginfo_t *, void *), int flags,
		    int mask_sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (sa3)
		sa.sa_sigaction = sa3;
	else
		sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (mask_sig)
		sigaddset(&sa.sa_mask, mask_sig);
	CHECK(!sigaction(sig, &sa, NULL), "sigaction %d: %s", sig, strerror(errno));
}

static void check_action(int sig, void *handler, int flags, int mask_sig)
{
	struct sigaction sa;
	const int keep = SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_NODEFER | SA_RESETHAND;

	CHECK(!sigaction(sig, NULL, &sa), "sigaction query %d", sig);
	CHECK((void *)sa.sa_sigaction == handler, "signal %d: handler %p, want %p", sig,
	      (void *)sa.sa_sigaction, handler);
	CHECK((sa.sa_flags & keep) == flags, "signal %d: flags %#x, want %#x", sig,
	      sa.sa_flags & keep, flags);
	for (int s = 1; s < 65; s++)
		if (s < 32 || s >= SIGRTMIN)
			CHECK(!!sigismember(&sa.sa_mask, s) == (s == mask_sig),
			      "signal %d: handler mask has %d: %d", sig, s, sigismember(&sa.sa_mask, s));
}

static void make_set(sigset_t *s, const int *sigs)
{
	sigemptyset(s);
	for (; *sigs; sigs++)
		sigaddset(s, *sigs);
}

/* libckpt's own signals (trigger, stop) are its business, not the application's */
static int ckpt_signal(int s)
{
	return s == SIGUSR2 || s == SIGRTMAX - 1;
}

static void check_mask(const char *who, const sigset_t *want)
{
	sigset_t cur;

	CHECK(!pthread_sigmask(SIG_BLOCK, NULL, &cur), "pthread_sigmask");
	for (int s = 1; s < 65; s++)
		if ((s < 32 || s >= SIGRTMIN) && !ckpt_signal(s))
			CHECK(!!sigismember(&cur, s) == !!sigismember(want, s),
			      "%s: signal %d is %sblocked", who, s, sigismember(&cur, s) ? "" : "not ");
}

/* bit (sig - 1) of a hex mask line in a status file */
static int status_has(const char *path, const char *key, int sig)
{
	char buf[4096], *p;
	FILE *f = fopen(path, "re");
	size_t n;

	CHECK(f, "open %s", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strstr(buf, key);
	CHECK(p, "%s has no %s", path, key);
	return (strtoull(p + strlen(key), NULL, 16) >> (sig - 1)) & 1;
}

static sigset_t mask_t1, mask_t2, mask_main;

static void *t1_main(void *arg)
{
	(void)arg;
	pthread_sigmask(SIG_SETMASK, &mask_t1, NULL);
	while (!stop) {
		check_mask("thread 1", &mask_t1);
		sleep_ms(10);
	}
	return NULL;
}

static volatile pid_t t2_tid;

static void *t2_main(void *arg)
{
	stack_t ss;

	(void)arg;
	pthread_sigmask(SIG_SETMASK, &mask_t2, NULL);
	altstack = malloc(altstack_size);
	memset(altstack, 0x77, altstack_size);
	ss.ss_sp = altstack;
	ss.ss_size = altstack_size;
	ss.ss_flags = 0;
	CHECK(!sigaltstack(&ss, NULL), "sigaltstack: %s", strerror(errno));
	t2_tid = gettid();
	while (!stop) {
		stack_t cur;

		check_mask("thread 2", &mask_t2);
		CHECK(!sigaltstack(NULL, &cur), "sigaltstack query");
		CHECK(cur.ss_sp == altstack && cur.ss_size == altstack_size && cur.ss_flags == 0,
		      "thread 2: altstack %p size %zu flags %d, want %p %zu 0", cur.ss_sp,
		      cur.ss_size, cur.ss_flags, (void *)altstack, altstack_size);
		sleep_ms(10);
	}
	return NULL;
}

static int alarm_mode(void)
{
	int secs = opt_int("alarm_s", 3), fired_tick = 0;
	long at_resume = -1;

	install(SIGALRM, on_alrm, NULL, SA_RESTART, 0);
	alarm(secs);
	out("ready\n");
	for (int t = 1; t <= g_ticks; t++) {
		struct itimerval it;

		g_tick = t;
		if (check_resumed())
			at_resume = alrm_count;
		CHECK(!getitimer(ITIMER_REAL, &it), "getitimer");
		CHECK(alrm_count <= 1, "SIGALRM came %ld times", alrm_count);
		if (!alrm_count)
			CHECK(it.it_value.tv_sec || it.it_value.tv_usec, "alarm not armed, not fired");
		else if (!fired_tick)
			fired_tick = t;
		if (alrm_count)
			CHECK(!it.it_value.tv_sec && !it.it_value.tv_usec, "alarm still armed after firing");
		tick_out(t);
		sleep_ms(g_tick_ms);
	}
	CHECK(alrm_count == 1, "SIGALRM came %ld times, want once", alrm_count);
	if (g_resumes)
		CHECK(at_resume == 0, "alarm fired before the restore");
	out("alarm fired at tick %d\n", fired_tick);
	out("done\n");
	return 0;
}

/*
 * mode=rtqueue: real-time signals queued with a value while blocked, two
 * of each (one process-wide, one thread-directed), must still be queued
 * after the restore: two deliveries each, with si_code SI_QUEUE and the
 * value.
 */
#define SIG_QP	(SIGRTMIN + 7)
#define SIG_QT	(SIGRTMIN + 8)
static volatile long q_count[2], q_bad[2];
static volatile int q_bad_code[2], q_bad_val[2];

static void on_queued(int sig, siginfo_t *si, void *uc)
{
	int i = sig == SIG_QT;
	int want = i ? 0x5151 : 0x4242;

	(void)uc;
	if (si->si_code == SI_QUEUE && si->si_value.sival_int == want + (int)q_count[i]) {
		q_count[i]++;
	} else {
		q_bad[i]++;
		q_bad_code[i] = si->si_code;
		q_bad_val[i] = si->si_value.sival_int;
	}
}

static int rtqueue_mode(void)
{
	sigset_t blk;
	int unblock = g_ticks * 3 / 4;

	install(SIG_QP, NULL, on_queued, SA_SIGINFO | SA_RESTART, 0);
	install(SIG_QT, NULL, on_queued, SA_SIGINFO | SA_RESTART, 0);
	sigemptyset(&blk);
	sigaddset(&blk, SIG_QP);
	sigaddset(&blk, SIG_QT);
	pthread_sigmask(SIG_BLOCK, &blk, NULL);
	for (int k = 0; k < 2; k++) {
		CHECK(!sigqueue(getpid(), SIG_QP, (union sigval){ .sival_int = 0x4242 + k }),
		      "sigqueue: %s", strerror(errno));
		CHECK(!pthread_sigqueue(pthread_self(), SIG_QT, (union sigval){ .sival_int = 0x5151 + k }),
		      "pthread_sigqueue");
	}
	out("ready\n");
	for (int t = 1; t <= g_ticks; t++) {
		g_tick = t;
		check_resumed();
		if (t < unblock) {
			CHECK(status_has("/proc/self/status", "ShdPnd:", SIG_QP),
			      "queued signal %d no longer pending for the process", SIG_QP);
			CHECK(status_has("/proc/thread-self/status", "SigPnd:", SIG_QT),
			      "queued signal %d no longer pending for the thread", SIG_QT);
		}
		if (t == unblock) {
			pthread_sigmask(SIG_UNBLOCK, &blk, NULL);
			for (int i = 0; i < 2; i++)
				CHECK(q_count[i] == 2 && !q_bad[i],
				      "%s signal queued twice with a value while blocked: delivered "
				      "%ld times as queued, %ld times otherwise (last si_code %d, "
				      "value %#x); want 2 deliveries with SI_QUEUE (%d)",
				      i ? "thread-directed" : "process-wide", q_count[i], q_bad[i],
				      q_bad_code[i], q_bad_val[i], SI_QUEUE);
		}
		tick_out(t);
		sleep_ms(g_tick_ms);
	}
	out("done\n");
	return 0;
}

/*
 * mode=itimer_pending: an ITIMER_REAL (20 ms interval) whose SIGALRM is
 * blocked, so that it is pending at the checkpoint. Linux re-arms an
 * ITIMER_REAL only when its SIGALRM is dequeued: meanwhile getitimer()
 * says value 0, interval 20 ms. The interval must survive the restore,
 * and once SIGALRM is unblocked (tick 3/4) the timer must go on firing.
 */
static int itimer_pending_mode(void)
{
	struct itimerval itv = { { 0, 20000 }, { 0, 20000 } };
	sigset_t blk;
	int unblock = g_ticks * 3 / 4;
	long at_unblock = 0;

	install(SIGALRM, on_alrm, NULL, SA_RESTART, 0);
	sigemptyset(&blk);
	sigaddset(&blk, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &blk, NULL);
	CHECK(!setitimer(ITIMER_REAL, &itv, NULL), "setitimer");
	sleep_ms(60);
	out("ready\n");
	for (int t = 1; t <= g_ticks; t++) {
		g_tick = t;
		check_resumed();
		CHECK(!getitimer(ITIMER_REAL, &itv), "getitimer");
		CHECK(itv.it_interval.tv_sec == 0 && itv.it_interval.tv_usec == 20000,
		      "ITIMER_REAL interval %ld.%06ld (value %ld.%06ld), want 0.020000%s",
		      (long)itv.it_interval.tv_sec, (long)itv.it_interval.tv_usec,
		      (long)itv.it_value.tv_sec, (long)itv.it_value.tv_usec,
		      t < unblock ? " (its SIGALRM is pending)" : "");
		if (t < unblock)
			CHECK(status_has("/proc/self/status", "ShdPnd:", SIGALRM) && !alrm_count,
			      "SIGALRM not pending while blocked");
		if (t == unblock) {
			pthread_sigmask(SIG_UNBLOCK, &blk, NULL);
			CHECK(alrm_count == 1, "SIGALRM delivered %ld times on unblock", alrm_count);
			at_unblock = alrm_count;
		}
		tick_out(t);
		sleep_ms(g_tick_ms);
	}
	CHECK(alrm_count - at_unblock >= 3, "ITIMER_REAL fired %ld times after SIGALRM was "
	      "unblocked", alrm_count - at_unblock);
	out("done\n");
	return 0;
}

int main(int argc, char **argv)
{
	static const int s_t1[] = { SIGHUP, SIGINT, SIGTERM, 0, 0 };
	static const int s_t2[] = { SIGINT, SIGQUIT, 0, 0 };
	static const int s_main[] = { SIGINT, SIGHUP, SIGPIPE, 0 };
	int st1[5], st2[4];
	struct sigevent sev;
	struct itimerspec its;
	struct itimerval itv;
	pthread_t th1, th2;
	long alrm_at_resume = -1, t1_at_resume = -1, t3_at_resume = -1, usr1_sent = 0;
	sigset_t blk;

	common_init(argc, argv);
	if (!strcmp(opt_str("mode", ""), "alarm"))
		return alarm_mode();
	if (!strcmp(opt_str("mode", ""), "rtqueue"))
		return rtqueue_mode();
	if (!strcmp(opt_str("mode", ""), "itimer_pending"))
		return itimer_pending_mode();
	unblock_tick = g_ticks * 3 / 4;
	main_tid = gettid();
	memcpy(st1, s_t1, sizeof(st1));
	st1[3] = SIGRTMIN + 5;
	memcpy(st2, s_t2, sizeof(st2));
	st2[2] = SIGRTMIN + 6;
	make_set(&mask_t1, st1);
	make_set(&mask_t2, st2);
	make_set(&mask_main, s_main);

	install(SIGUSR1, NULL, on_usr1, SA_SIGINFO | SA_RESTART, SIGHUP);
	install(SIGALRM, on_alrm, NULL, SA_RESTART, 0);
	install(SIGHUP, on_hup, NULL, 0, 0);
	install(SIGINT, on_int, NULL, SA_RESTART, 0);
	install(SIGWINCH, on_winch, NULL, SA_ONSTACK | SA_RESTART, 0);
	install(SIG_T1, NULL, on_timer, SA_SIGINFO | SA_RESTART, 0);
	install(SIG_T3, NULL, on_timer, SA_SIGINFO | SA_RESTART, 0);
	install(SIGTERM, SIG_IGN, NULL, 0, 0);

	/* SIGINT stays blocked everywhere: a process-wide pending signal */
	pthread_sigmask(SIG_SETMASK, &mask_main, NULL);
	CHECK(!pthread_create(&th1, NULL, t1_main, NULL), "pthread_create");
	CHECK(!pthread_create(&th2, NULL, t2_main, NULL), "pthread_create");
	while (!t2_tid)
		sleep_ms(1);
	raise(SIGHUP);			/* pending for the main thread */
	kill(getpid(), SIGINT);		/* pending for the process */

	setitimer(ITIMER_REAL, &(struct itimerval){ { 0, 20000 }, { 0, 20000 } }, NULL);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIG_T1;
	sev.sigev_value.sival_int = 0x1111;
	CHECK(!timer_create(CLOCK_MONOTONIC, &sev, &timer1), "timer_create 1: %s", strerror(errno));
	sev.sigev_signo = SIGWINCH;
	CHECK(!timer_create(CLOCK_MONOTONIC, &sev, &timer2), "timer_create 2");
	sev.sigev_signo = SIG_T3;
	sev.sigev_value.sival_int = 0x3333;
	CHECK(!timer_create(CLOCK_REALTIME, &sev, &timer3), "timer_create 3");
	CHECK(!timer_delete(timer2), "timer_delete");
	its = (struct itimerspec){ { 0, 30000000 }, { 0, 30000000 } };
	CHECK(!timer_settime(timer1, 0, &its, NULL), "timer_settime 1");
	its = (struct itimerspec){ { 0, 45000000 }, { 0, 45000000 } };
	CHECK(!timer_settime(timer3, 0, &its, NULL), "timer_settime 3");
	out("timers %d %d %d\n", (int)(intptr_t)timer1, (int)(intptr_t)timer2,
	    (int)(intptr_t)timer3);
	out("ready\n");

	for (int t = 1; t <= g_ticks; t++) {
		g_tick = t;
		if (check_resumed()) {
			alrm_at_resume = alrm_count;
			t1_at_resume = t1_count;
			t3_at_resume = t3_count;
		}
		CHECK(!bad_timer, "timer signal with wrong id/value/code (%ld)", bad_timer);
		check_action(SIGUSR1, (void *)on_usr1, SA_SIGINFO | SA_RESTART, SIGHUP);
		check_action(SIGALRM, (void *)on_alrm, SA_RESTART, 0);
		check_action(SIGHUP, (void *)on_hup, 0, 0);
		check_action(SIGWINCH, (void *)on_winch, SA_ONSTACK | SA_RESTART, 0);
		check_action(SIG_T1, (void *)on_timer, SA_SIGINFO | SA_RESTART, 0);
		check_action(SIGTERM, (void *)SIG_IGN, 0, 0);
		if (t <= unblock_tick) {
			check_mask("main thread", &mask_main);
			CHECK(status_has("/proc/thread-self/status", "SigPnd:", SIGHUP),
			      "SIGHUP no longer pending for the main thread");
			CHECK(status_has("/proc/self/status", "ShdPnd:", SIGINT),
			      "SIGINT no longer pending for the process");
			CHECK(!hup_count && !int_count, "blocked signal delivered (hup %ld int %ld)",
			      hup_count, int_count);
		}
		if (t == unblock_tick) {
			sigemptyset(&blk);
			sigaddset(&blk, SIGHUP);
			pthread_sigmask(SIG_UNBLOCK, &blk, NULL);
			CHECK(hup_count == 1 && hup_tid == main_tid,
			      "SIGHUP on unblock: %ld times in thread %d", hup_count, hup_tid);
			sigemptyset(&blk);
			sigaddset(&blk, SIGINT);
			pthread_sigmask(SIG_UNBLOCK, &blk, NULL);
			CHECK(int_count == 1, "SIGINT on unblock: %ld times", int_count);
		}
		if (t > unblock_tick)
			CHECK(hup_count == 1 && int_count == 1, "hup %ld int %ld", hup_count, int_count);
		/* itimer */
		CHECK(!getitimer(ITIMER_REAL, &itv), "getitimer");
		CHECK(itv.it_interval.tv_sec == 0 && itv.it_interval.tv_usec == 20000,
		      "itimer interval %ld.%06ld", (long)itv.it_interval.tv_sec,
		      (long)itv.it_interval.tv_usec);
		/* POSIX timers: same ids, same intervals; the deleted one stays deleted */
		CHECK(!timer_gettime(timer1, &its), "timer_gettime 1: %s", strerror(errno));
		CHECK(its.it_interval.tv_sec == 0 && its.it_interval.tv_nsec == 30000000,
		      "timer 1 interval %ld ns", its.it_interval.tv_nsec);
		CHECK(!timer_gettime(timer3, &its), "timer_gettime 3: %s", strerror(errno));
		CHECK(its.it_interval.tv_nsec == 45000000, "timer 3 interval %ld ns",
		      its.it_interval.tv_nsec);
		CHECK(timer_gettime(timer2, &its) && errno == EINVAL, "deleted timer 2 exists");
		/* a handled signal, and one on the alternate stack */
		if (usr1_sent)
			CHECK(usr1_count == usr1_sent, "SIGUSR1 handled %ld times, sent %ld",
			      usr1_count, usr1_sent);
		pthread_kill(pthread_self(), SIGUSR1);
		usr1_sent++;
		CHECK(usr1_count == usr1_sent, "SIGUSR1 to self not handled at once");
		pthread_kill(th2, SIGWINCH);
		tick_out(t);
		sleep_ms(g_tick_ms);
		CHECK(winch_on_altstack, "SIGWINCH handler did not run on the alternate stack");
	}
	stop = 1;
	pthread_join(th1, NULL);
	pthread_join(th2, NULL);
	CHECK(winch_count >= g_ticks - 2, "SIGWINCH handled %ld times", winch_count);
	CHECK(alrm_count > 3, "itimer fired %ld times", alrm_count);
	CHECK(t1_count > 3 && t3_count > 3, "POSIX timers fired %ld and %ld times", t1_count,
	      t3_count);
	if (g_resumes) {
		CHECK(alrm_count - alrm_at_resume >= 3, "itimer fired %ld times after the restore",
		      alrm_count - alrm_at_resume);
		CHECK(t1_count - t1_at_resume >= 3, "timer 1 fired %ld times after the restore",
		      t1_count - t1_at_resume);
		CHECK(t3_count - t3_at_resume >= 3, "timer 3 fired %ld times after the restore",
		      t3_count - t3_at_resume);
	}
	out("fired: itimer %ld, timer1 %ld, timer3 %ld, timer signals re-sent without siginfo %ld\n",
	    alrm_count, t1_count, t3_count, timer_requeued);
	out("done\n");
	return 0;
}
