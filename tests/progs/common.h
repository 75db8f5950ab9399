/* SPDX-License-Identifier: MIT */
/*
 * Shared by the integration test programs. Each program keeps some kind
 * of state, prints "ready", then "tick N" for N = 1..ticks (one every
 * tick_ms), checks its invariants on every tick and prints "FAIL <what>"
 * and exits 1 as soon as one breaks; at the end it prints "done" and
 * exits 0.
 *
 * Restore detection: a restored process is a child of ckpt-restore, so
 * getppid() changes. At the top of each tick the program compares it
 * with the parent it saw last; when it changed it prints "resumed N",
 * N being the last tick it had printed. The harness uses this to check
 * that the restored program continues exactly where the image was taken
 * (the next tick must be N + 1).
 *
 * Options are KEY=VALUE words on the command line (ticks=40 tick_ms=50).
 * Output goes through write(2), one call per line, so lines from several
 * threads never mix and nothing sits in a stdio buffer at a checkpoint.
 */
#ifndef PROG_COMMON_H
#define PROG_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_argc;
static char **g_argv;
static int g_ticks = 40;
static int g_tick_ms = 50;
static volatile int g_tick;		/* current tick, for other threads */
static volatile int g_last_tick;	/* last tick printed */
static volatile int g_resumes;		/* restores seen */
static pid_t g_ppid;

__attribute__((unused)) static const char *opt_str(const char *key, const char *def)
{
	size_t n = strlen(key);

	for (int i = 1; i < g_argc; i++)
		if (!strncmp(g_argv[i], key, n) && g_argv[i][n] == '=')
			return g_argv[i] + n + 1;
	return def;
}

__attribute__((unused)) static long opt_int(const char *key, long def)
{
	const char *s = opt_str(key, NULL);

	return s ? strtol(s, NULL, 0) : def;
}

__attribute__((format(printf, 1, 2), unused)) static void out(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	for (int off = 0; off < n;) {
		ssize_t w = write(1, buf + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += w;
	}
}

/* Prints FAIL and exits at once, from any thread or signal handler. */
__attribute__((format(printf, 3, 4), noreturn, unused))
static void fail_at(const char *file, int line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out("FAIL %s (%s:%d, tick %d)\n", msg, file, line, g_tick);
	_exit(1);
}

#define FAIL(...) fail_at(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond, ...) do { if (!(cond)) FAIL(__VA_ARGS__); } while (0)

__attribute__((unused)) static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Sleeps the full time: a checkpoint interrupts nanosleep with EINTR. */
__attribute__((unused)) static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

__attribute__((unused)) static void common_init(int argc, char **argv)
{
	g_argc = argc;
	g_argv = argv;
	g_ticks = opt_int("ticks", 40);
	g_tick_ms = opt_int("tick_ms", 50);
	g_ppid = getppid();
}

/* Top of each tick: 1 when this is the first tick after a restore. */
__attribute__((unused)) static int check_resumed(void)
{
	pid_t p = getppid();

	if (p == g_ppid)
		return 0;
	g_ppid = p;
	g_resumes++;
	out("resumed %d\n", g_last_tick);
	return 1;
}

__attribute__((unused)) static void tick_out(int t)
{
	out("tick %d\n", t);
	g_last_tick = t;
}

/* xorshift64*: fast deterministic data */
__attribute__((unused)) static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

__attribute__((unused)) static uint64_t fnv1a(const void *p, size_t len)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

#endif
