/* SPDX-License-Identifier: MIT */
/*
 * Threads: 8 workers with their own counter, __thread variable, name,
 * and gettid()/pthread_self() checked on every step; an error-checking
 * mutex and a recursive mutex held by one thread across the checkpoint
 * and unlocked after it (must succeed); a robust mutex whose owner exits
 * after the restore (the next locker must get EOWNERDEAD: the kernel
 * walks the restored robust list); a condition-variable ping-pong
 * between two threads; a thread joined after it finished after the
 * restore (CLONE_CHILD_CLEARTID); pthread_kill() to a thread whose
 * handler must run in that thread.
 *
 * The "late" events happen at tick 3/4 of ticks (after the checkpoint,
 * which the harness takes in the first third).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common.h"

#define NW 8

struct worker {
	int id;
	pthread_t self;
	volatile pid_t tid;
	volatile long count;
	long count_at_resume;
};

static struct worker workers[NW];
static __thread long tls_val;
static __thread int tls_id = -1;
static volatile int stop;
static int late_tick;

static pthread_mutex_t m_errchk, m_rec, m_robust;
static volatile int errchk_locked, rec_locked, robust_locked;
static volatile int errchk_unlocked, rec_unlocked;

static pthread_mutex_t pp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pp_cond = PTHREAD_COND_INITIALIZER;
static int pp_turn;
static long pp_count[2];

static volatile pid_t kill_tid;
static volatile long kill_handled;
static volatile pid_t kill_handled_tid;

static void wait_tick(int t)
{
	while (g_tick < t && !stop)
		sleep_ms(5);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	w->tid = gettid();
	w->self = pthread_self();
	tls_id = w->id;
	tls_val = 7 * w->count + w->id;
	snprintf(name, sizeof(name), "worker-%d", w->id);
	pthread_setname_np(pthread_self(), name);
	while (!stop) {
		CHECK(gettid() == w->tid, "worker %d: gettid %d, was %d", w->id, gettid(), w->tid);
		CHECK(pthread_equal(pthread_self(), w->self), "worker %d: pthread_self changed",
		      w->id);
		CHECK(tls_id == w->id, "worker %d: tls_id %d", w->id, tls_id);
		CHECK(tls_val == 7 * w->count + w->id, "worker %d: tls_val %ld, count %ld", w->id,
		      tls_val, w->count);
		w->count++;
		tls_val = 7 * w->count + w->id;
		sleep_ms(10);
	}
	return (void *)w->count;
}

static void *errchk_main(void *arg)
{
	int r;

	(void)arg;
	r = pthread_mutex_lock(&m_errchk);
	CHECK(r == 0, "errorcheck lock: %s", strerror(r));
	r = pthread_mutex_lock(&m_errchk);
	CHECK(r == EDEADLK, "errorcheck relock: %d, want EDEADLK", r);
	errchk_locked = 1;
	wait_tick(late_tick);
	r = pthread_mutex_unlock(&m_errchk);
	CHECK(r == 0, "errorcheck unlock by owner after restore: %s", strerror(r));
	r = pthread_mutex_unlock(&m_errchk);
	CHECK(r == EPERM, "errorcheck second unlock: %d, want EPERM", r);
	errchk_unlocked = 1;
	return NULL;
}

static void *rec_main(void *arg)
{
	int r;

	(void)arg;
	for (int i = 0; i < 3; i++) {
		r = pthread_mutex_lock(&m_rec);
		CHECK(r == 0, "recursive lock %d: %s", i, strerror(r));
	}
	rec_locked = 1;
	wait_tick(late_tick);
	for (int i = 0; i < 3; i++) {
		r = pthread_mutex_unlock(&m_rec);
		CHECK(r == 0, "recursive unlock %d: %s", i, strerror(r));
	}
	r = pthread_mutex_unlock(&m_rec);
	CHECK(r == EPERM, "recursive unlock of unlocked: %d, want EPERM", r);
	rec_unlocked = 1;
	return NULL;
}

/* Locks the robust mutex and exits holding it, after the restore. */
static void *robust_main(void *arg)
{
	int r;

	(void)arg;
	r = pthread_mutex_lock(&m_robust);
	CHECK(r == 0, "robust lock: %s", strerror(r));
	robust_locked = 1;
	wait_tick(late_tick);
	return (void *)0x5eed;
}

/* Finishes after the restore; main joins it. */
static void *late_main(void *arg)
{
	(void)arg;
	wait_tick(late_tick);
	return (void *)0x1234;
}

static void *pingpong_main(void *arg)
{
	int me = (int)(intptr_t)arg;

	pthread_mutex_lock(&pp_lock);
	while (!stop) {
		while (pp_turn != me && !stop)
			pthread_cond_wait(&pp_cond, &pp_lock);
		if (stop)
			break;
		pp_count[me]++;
		CHECK(pp_count[0] - pp_count[1] == (me == 0 ? 1 : 0),
		      "ping-pong out of step: %ld vs %ld", pp_count[0], pp_count[1]);
		pp_turn = !me;
		pthread_cond_broadcast(&pp_cond);
		pthread_mutex_unlock(&pp_lock);
		sleep_ms(3);
		pthread_mutex_lock(&pp_lock);
	}
	pthread_mutex_unlock(&pp_lock);
	return NULL;
}

static void usr1_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if ((si->si_code != SI_TKILL && si->si_code != SI_USER) || si->si_pid != getpid())
		FAIL("SIGUSR1 with si_code %d from %d", si->si_code, si->si_pid);
	kill_handled_tid = gettid();
	kill_handled++;
}

static void *killee_main(void *arg)
{
	(void)arg;
	kill_tid = gettid();
	while (!stop)
		sleep_ms(20);
	return NULL;
}

static void init_mutex(pthread_mutex_t *m, int type, int robust)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, type);
	if (robust)
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int r = pthread_create(t, NULL, fn, arg);

	CHECK(r == 0, "pthread_create: %s", strerror(r));
}

static int timed_join(pthread_t t, void **ret, int secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	return pthread_timedjoin_np(t, ret, &ts);
}

static void check_task_exists(pid_t tid, const char *name)
{
	char path[64], comm[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
	f = fopen(path, "re");
	CHECK(f, "thread %d (%s) does not exist", (int)tid, name);
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	comm[strcspn(comm, "\n")] = 0;
	CHECK(!strcmp(comm, name), "thread %d is named '%s', want '%s'", (int)tid, comm, name);
}

int main(int argc, char **argv)
{
	pthread_t t_err, t_rec, t_rob, t_late, t_pp[2], t_kill;
	struct sigaction sa;
	long kills_sent = 0, kills_at_resume = -1;
	pid_t main_tid;
	void *ret;
	int r;

	common_init(argc, argv);
	late_tick = g_ticks * 3 / 4;
	main_tid = gettid();
	tls_id = 100;
	init_mutex(&m_errchk, PTHREAD_MUTEX_ERRORCHECK, 0);
	init_mutex(&m_rec, PTHREAD_MUTEX_RECURSIVE, 0);
	init_mutex(&m_robust, PTHREAD_MUTEX_NORMAL, 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = usr1_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);

	for (int i = 0; i < NW; i++) {
		workers[i].id = i;
		start(&workers[i].self, worker_main, &workers[i]);
	}
	start(&t_err, errchk_main, NULL);
	start(&t_rec, rec_main, NULL);
	start(&t_rob, robust_main, NULL);
	start(&t_late, late_main, NULL);
	start(&t_pp[0], pingpong_main, (void *)0);
	start(&t_pp[1], pingpong_main, (void *)1);
	start(&t_kill, killee_main, NULL);
	while (!errchk_locked || !rec_locked || !robust_locked || !kill_tid)
		sleep_ms(1);
	for (int i = 0; i < NW; i++)
		while (!workers[i].tid)
			sleep_ms(1);
	out("ready\n");

	for (int t = 1; t <= g_ticks; t++) {
		g_tick = t;
		if (check_resumed()) {
			for (int i = 0; i < NW; i++)
				workers[i].count_at_resume = workers[i].count;
			kills_at_resume = kill_handled;
		}
		CHECK(gettid() == main_tid, "main tid %d, was %d", gettid(), main_tid);
		CHECK(tls_id == 100, "main tls_id %d", tls_id);
		for (int i = 0; i < NW; i++) {
			char name[16];

			snprintf(name, sizeof(name), "worker-%d", i);
			check_task_exists(workers[i].tid, name);
		}
		/* the held mutexes are still held until the late tick */
		if (t < late_tick) {
			r = pthread_mutex_trylock(&m_errchk);
			CHECK(r == EBUSY, "errorcheck trylock while held: %d", r);
			r = pthread_mutex_trylock(&m_rec);
			CHECK(r == EBUSY, "recursive trylock while held: %d", r);
			r = pthread_mutex_trylock(&m_robust);
			CHECK(r == EBUSY, "robust trylock while held: %d", r);
		}
		if (t == late_tick + 2) {
			struct timespec ts;

			r = timed_join(t_err, NULL, 3);
			CHECK(r == 0, "join errorcheck thread: %s", strerror(r));
			r = timed_join(t_rec, NULL, 3);
			CHECK(r == 0, "join recursive thread: %s", strerror(r));
			CHECK(errchk_unlocked && rec_unlocked, "mutex threads did not finish");
			r = pthread_mutex_trylock(&m_errchk);
			CHECK(r == 0, "errorcheck trylock after unlock: %s", strerror(r));
			pthread_mutex_unlock(&m_errchk);
			r = pthread_mutex_trylock(&m_rec);
			CHECK(r == 0, "recursive trylock after unlock: %s", strerror(r));
			pthread_mutex_unlock(&m_rec);
			/* joining a thread that exited after the restore */
			r = timed_join(t_late, &ret, 3);
			CHECK(r == 0, "join of thread finished after restore: %s", strerror(r));
			CHECK(ret == (void *)0x1234, "late thread returned %p", ret);
			r = timed_join(t_rob, &ret, 3);
			CHECK(r == 0, "join robust thread: %s", strerror(r));
			CHECK(ret == (void *)0x5eed, "robust thread returned %p", ret);
			/* its owner died holding it: the kernel must mark it */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 3;
			r = pthread_mutex_timedlock(&m_robust, &ts);
			CHECK(r == EOWNERDEAD, "robust mutex after owner died: %s, want EOWNERDEAD",
			      strerror(r));
			r = pthread_mutex_consistent(&m_robust);
			CHECK(r == 0, "pthread_mutex_consistent: %s", strerror(r));
			r = pthread_mutex_unlock(&m_robust);
			CHECK(r == 0, "robust unlock: %s", strerror(r));
		}
		/* ping-pong: the two counts stay in step */
		pthread_mutex_lock(&pp_lock);
		CHECK(pp_count[0] - pp_count[1] == 0 || pp_count[0] - pp_count[1] == 1,
		      "ping-pong counts %ld %ld", pp_count[0], pp_count[1]);
		pthread_mutex_unlock(&pp_lock);
		/* pthread_kill: the previous one was handled, by the right thread */
		if (kills_sent) {
			for (int i = 0; i < 100 && kill_handled < kills_sent; i++)
				sleep_ms(10);
			CHECK(kill_handled == kills_sent, "SIGUSR1 handled %ld times, sent %ld",
			      kill_handled, kills_sent);
			CHECK(kill_handled_tid == kill_tid, "SIGUSR1 handled in thread %d, not %d",
			      kill_handled_tid, kill_tid);
		}
		r = pthread_kill(t_kill, SIGUSR1);
		CHECK(r == 0, "pthread_kill: %s", strerror(r));
		kills_sent++;
		tick_out(t);
		sleep_ms(g_tick_ms);
	}

	pthread_mutex_lock(&pp_lock);
	stop = 1;
	pthread_cond_broadcast(&pp_cond);
	pthread_mutex_unlock(&pp_lock);
	for (int i = 0; i < NW; i++) {
		r = timed_join(workers[i].self, &ret, 5);
		CHECK(r == 0, "join worker %d: %s", i, strerror(r));
		CHECK((long)ret == workers[i].count, "worker %d returned %ld", i, (long)ret);
		if (g_resumes)
			CHECK(workers[i].count > workers[i].count_at_resume,
			      "worker %d made no progress after the restore", i);
	}
	for (int i = 0; i < 2; i++) {
		r = timed_join(t_pp[i], NULL, 5);
		CHECK(r == 0, "join ping-pong %d: %s", i, strerror(r));
	}
	r = timed_join(t_kill, NULL, 5);
	CHECK(r == 0, "join killee: %s", strerror(r));
	if (g_resumes)
		CHECK(kill_handled > kills_at_resume, "no SIGUSR1 handled after the restore");
	out("done\n");
	return 0;
}
