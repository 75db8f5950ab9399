/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fd test programs (run by run.py). A program sets up the
 * state of one fd kind, prints "ready", then waits for a line on its
 * standard input ("ping" is answered "pong"): "verify" makes it check that
 * the state is still exactly what it set up (in the original after a
 * checkpoint, or in the restored process) and print "ok", or "FAIL <what>"
 * and exit 1. Output is written with write(2), one call per line.
 */
#ifndef FDTEST_H
#define FDTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__attribute__((format(printf, 1, 2), unused)) static void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	while (write(1, buf, n) < 0 && errno == EINTR)
		;
}

#define FAIL(...) do { \
	say("FAIL " __VA_ARGS__); \
	exit(1); \
} while (0)

#define CHECK(cond, ...) do { if (!(cond)) FAIL(__VA_ARGS__); } while (0)

/* The fd's F_GETFL and F_GETFD bits, as set up. */
__attribute__((unused)) static void check_flags(int fd, int fl, int fdfl)
{
	int got = fcntl(fd, F_GETFL), gotfd = fcntl(fd, F_GETFD);
	int mask = O_ACCMODE | O_APPEND | O_NONBLOCK;

	CHECK(got >= 0, "fd %d is not open", fd);
	CHECK((got & mask) == (fl & mask), "fd %d: flags %#o, want %#o", fd, got & mask, fl & mask);
	CHECK(gotfd == fdfl, "fd %d: fd flags %d, want %d", fd, gotfd, fdfl);
}

/* Moves fd to number want (closing what was there), keeping FD_CLOEXEC. */
__attribute__((unused)) static int at(int fd, int want)
{
	if (fd == want)
		return fd;
	if (fd < 0 || dup3(fd, want, (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? O_CLOEXEC : 0) != want)
		FAIL("dup3 to %d: %s", want, strerror(errno));
	close(fd);
	return want;
}

__attribute__((unused)) static const char *arg(int argc, char **argv, int i, const char *def)
{
	return i < argc ? argv[i] : def;
}

__attribute__((unused)) static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* "ready", then commands from stdin: "ping" is answered "pong"; returns on "verify". */
__attribute__((unused)) static void wait_verify(void)
{
	char line[64];
	size_t n = 0;

	say("ready");
	for (;;) {
		ssize_t r = read(0, line + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			FAIL("stdin closed before the command");
		if (line[n] != '\n' && n < sizeof(line) - 1) {
			n++;
			continue;
		}
		line[n] = 0;
		n = 0;
		if (!strcmp(line, "verify"))
			return;
		CHECK(!strcmp(line, "ping"), "unknown command %s", line);
		say("pong");
	}
}

#endif
