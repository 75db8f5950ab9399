/* SPDX-License-Identifier: MIT */
/*
 * Pipes and FIFOs with bytes in flight.
 *   fd_pipe pipe         both ends here: 10 (read, O_NONBLOCK), 11 (write, FD_CLOEXEC),
 *                        12 = dup of 10; capacity 128 KiB, 100000 bytes queued;
 *                        13/14 an empty pipe
 *   fd_pipe full         a 64 KiB pipe filled up (10 read, 11 write, O_NONBLOCK)
 *   fd_pipe fifo PATH    a FIFO made at PATH, read end 10, write end 11 (O_APPEND), 5000 bytes
 *   fd_pipe ext-read N   fd N (moved to 20) is the read end of a pipe whose writer is the
 *                        test runner, which wrote "hello from outside\n" into it
 *   fd_pipe ext-write N  fd N (moved to 20) is the write end; the runner holds the read end
 * After a restore the ends whose peer was outside have no peer: reading gives end of file
 * after the queued bytes, writing EPIPE.
 */
#include "fdtest.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

static pid_t first_ppid;

static void fill_pattern(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(seed + i * 7 + i / 251);
}

static void check_queued(int rfd, size_t len, unsigned seed)
{
	char *want = malloc(len), *got = malloc(len + 1);
	size_t have = 0;
	int queued = -1;

	CHECK(!ioctl(rfd, FIONREAD, &queued) && queued == (int)len,
	      "fd %d: %d bytes queued, want %zu", rfd, queued, len);
	fill_pattern(want, len, seed);
	while (have < len) {
		ssize_t n = read(rfd, got + have, len + 1 - have);

		CHECK(n > 0, "fd %d: read after %zu bytes: %zd (%s)", rfd, have, n, strerror(errno));
		have += n;
	}
	CHECK(have == len && !memcmp(want, got, len), "fd %d: queued bytes differ", rfd);
	free(want);
	free(got);
}

static void queue(int wfd, size_t len, unsigned seed)
{
	char *buf = malloc(len);

	fill_pattern(buf, len, seed);
	CHECK(write(wfd, buf, len) == (ssize_t)len, "write %zu: %s", len, strerror(errno));
	free(buf);
}

static void pipe_setup(void)
{
	int p[2], q[2];

	CHECK(!pipe(p) && !pipe(q), "pipe: %s", strerror(errno));
	at(p[0], 10);
	at(p[1], 11);
	at(q[0], 13);
	at(q[1], 14);
	CHECK(fcntl(11, F_SETPIPE_SZ, 128 << 10) >= 0, "F_SETPIPE_SZ: %s", strerror(errno));
	fcntl(10, F_SETFL, O_NONBLOCK);
	fcntl(11, F_SETFD, FD_CLOEXEC);
	CHECK(dup2(10, 12) == 12, "dup2");
	queue(11, 100000, 1);
}

static void pipe_verify(void)
{
	char c;

	check_flags(10, O_RDONLY | O_NONBLOCK, 0);
	check_flags(11, O_WRONLY, FD_CLOEXEC);
	check_flags(12, O_RDONLY | O_NONBLOCK, 0);
	check_flags(13, O_RDONLY, 0);
	check_flags(14, O_WRONLY, 0);
	CHECK(fcntl(10, F_GETPIPE_SZ) == 128 << 10, "capacity %d", fcntl(10, F_GETPIPE_SZ));
	check_queued(10, 100000, 1);
	CHECK(read(10, &c, 1) < 0 && errno == EAGAIN, "read of an empty pipe: %s", strerror(errno));
	/* 12 shares 10's open file: the flag set through one shows through the other */
	fcntl(12, F_SETFL, 0);
	check_flags(10, O_RDONLY, 0);
	CHECK(write(11, "z", 1) == 1 && read(12, &c, 1) == 1 && c == 'z', "11 -> 12");
	CHECK(write(14, "y", 1) == 1 && read(13, &c, 1) == 1 && c == 'y', "14 -> 13");
	close(11);
	CHECK(read(10, &c, 1) == 0, "no end of file after closing the write end");
}

static void full_setup(void)
{
	int p[2];

	CHECK(!pipe2(p, O_NONBLOCK), "pipe2");
	at(p[0], 10);
	at(p[1], 11);
	queue(11, 65536, 2);
	CHECK(write(11, "x", 1) < 0 && errno == EAGAIN, "pipe not full");
}

static void full_verify(void)
{
	check_flags(11, O_WRONLY | O_NONBLOCK, 0);
	CHECK(write(11, "x", 1) < 0 && errno == EAGAIN, "pipe no longer full");
	check_queued(10, 65536, 2);
}

static void fifo_setup(const char *path)
{
	unlink(path);
	CHECK(!mkfifo(path, 0600), "mkfifo %s: %s", path, strerror(errno));
	at(open(path, O_RDONLY | O_NONBLOCK), 10);
	at(open(path, O_WRONLY | O_APPEND), 11);
	queue(11, 5000, 3);
}

static void fifo_verify(const char *path)
{
	struct stat a, b;

	check_flags(10, O_RDONLY | O_NONBLOCK, 0);
	check_flags(11, O_WRONLY | O_APPEND, 0);
	CHECK(!fstat(10, &a) && !stat(path, &b) && a.st_ino == b.st_ino, "fd 10 is not %s", path);
	check_queued(10, 5000, 3);
	CHECK(write(11, "q", 1) == 1, "write");
	check_queued(10, 1, 'q');
}

static void ext_read_verify(void)
{
	static const char want[] = "hello from outside\n";
	char buf[64];
	ssize_t n;

	fcntl(20, F_SETFL, O_NONBLOCK);
	n = read(20, buf, sizeof(buf));
	CHECK(n == sizeof(want) - 1 && !memcmp(buf, want, n), "read %zd bytes", n);
	n = read(20, buf, 1);
	if (getppid() == first_ppid)
		CHECK(n < 0 && errno == EAGAIN, "original: read %zd, want EAGAIN", n);
	else
		CHECK(n == 0, "restored: read %zd (%s), want end of file", n, strerror(errno));
}

static void ext_write_verify(void)
{
	ssize_t n = write(20, "w", 1);

	if (getppid() == first_ppid)
		CHECK(n == 1, "original: write: %s", strerror(errno));
	else
		CHECK(n < 0 && errno == EPIPE, "restored: write %zd (%s), want EPIPE", n,
		      strerror(errno));
}

int main(int argc, char **argv)
{
	const char *mode = arg(argc, argv, 1, "pipe");

	first_ppid = getppid();
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "pipe"))
		pipe_setup();
	else if (!strcmp(mode, "full"))
		full_setup();
	else if (!strcmp(mode, "fifo"))
		fifo_setup(arg(argc, argv, 2, "/tmp/fd_pipe.fifo"));
	else if (!strncmp(mode, "ext-", 4))
		at(atoi(arg(argc, argv, 2, "-1")), 20);
	else
		FAIL("unknown mode %s", mode);
	wait_verify();
	if (!strcmp(mode, "pipe"))
		pipe_verify();
	else if (!strcmp(mode, "full"))
		full_verify();
	else if (!strcmp(mode, "fifo"))
		fifo_verify(arg(argc, argv, 2, "/tmp/fd_pipe.fifo"));
	else if (!strcmp(mode, "ext-read"))
		ext_read_verify();
	else
		ext_write_verify();
	say("ok");
	return 0;
}
