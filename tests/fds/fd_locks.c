/* SPDX-License-Identifier: MIT */
/*
 * File locks (DIR from the command line):
 *   10 DIR/posix, O_RDWR: POSIX write lock on bytes 10-19, read lock from 100 to the end
 *   11 DIR/ofd, O_RDWR: OFD write lock on bytes 5-9
 *   12 DIR/flock, O_RDONLY: flock(LOCK_EX); 13 = dup of 12
 *   14 DIR/posix again, O_RDONLY, no lock of its own (its reopen must not drop fd 10's)
 * Checked from a forked child (F_GETLK must see each conflict) and, for the flock, from
 * another open of the file (LOCK_EX|LOCK_NB must fail with EWOULDBLOCK).
 */
#include <sys/file.h>
#include <sys/wait.h>

#include "fdtest.h"

static void setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	CHECK(!fcntl(fd, cmd, &fl), "fd %d: lock %lld+%lld: %s", fd, (long long)start,
	      (long long)len, strerror(errno));
}

/* In the child: the lock that conflicts with type at off, as F_GETLK reports it. */
static void expect(const char *path, short type, off_t off, short want, off_t start, off_t len,
		   pid_t pid)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = off, .l_len = 1 };
	int fd = open(path, O_RDWR);

	CHECK(fd >= 0 && !fcntl(fd, F_GETLK, &fl), "F_GETLK %s: %s", path, strerror(errno));
	CHECK(fl.l_type == want, "%s at %lld: lock type %d, want %d", path, (long long)off,
	      fl.l_type, want);
	if (want != F_UNLCK)
		CHECK(fl.l_start == start && fl.l_len == len && fl.l_pid == pid,
		      "%s at %lld: lock %lld+%lld pid %d, want %lld+%lld pid %d", path,
		      (long long)off, (long long)fl.l_start, (long long)fl.l_len, fl.l_pid,
		      (long long)start, (long long)len, pid);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "/tmp");
	char posix[4096], ofd[4096], fl[4096];
	pid_t me, child;
	int st, fd;

	snprintf(posix, sizeof(posix), "%s/posix", dir);
	snprintf(ofd, sizeof(ofd), "%s/ofd", dir);
	snprintf(fl, sizeof(fl), "%s/flock", dir);
	at(open(posix, O_RDWR | O_CREAT, 0600), 10);
	at(open(ofd, O_RDWR | O_CREAT, 0600), 11);
	at(open(fl, O_RDONLY | O_CREAT, 0600), 12);
	CHECK(dup2(12, 13) == 13, "dup2");
	at(open(posix, O_RDONLY), 14);
	setlk(10, F_SETLK, F_WRLCK, 10, 10);
	setlk(10, F_SETLK, F_RDLCK, 100, 0);
	setlk(11, F_OFD_SETLK, F_WRLCK, 5, 5);
	CHECK(!flock(12, LOCK_EX | LOCK_NB), "flock: %s", strerror(errno));
	wait_verify();
	me = getpid();
	child = fork();
	CHECK(child >= 0, "fork: %s", strerror(errno));
	if (!child) {
		expect(posix, F_WRLCK, 15, F_WRLCK, 10, 10, me);
		expect(posix, F_RDLCK, 19, F_WRLCK, 10, 10, me);
		expect(posix, F_WRLCK, 1000, F_RDLCK, 100, 0, me);
		expect(posix, F_RDLCK, 1000, F_UNLCK, 0, 0, 0);
		expect(posix, F_WRLCK, 50, F_UNLCK, 0, 0, 0);
		expect(ofd, F_RDLCK, 7, F_WRLCK, 5, 5, -1);
		expect(ofd, F_WRLCK, 10, F_UNLCK, 0, 0, 0);
		_exit(0);
	}
	CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && !WEXITSTATUS(st),
	      "the child's checks failed");
	fd = open(fl, O_RDONLY);
	CHECK(fd >= 0, "open %s: %s", fl, strerror(errno));
	CHECK(flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK,
	      "flock of another open of %s: %s", fl, errno ? strerror(errno) : "taken");
	close(fd);
	CHECK(!flock(13, LOCK_EX | LOCK_NB), "fd 13 (dup of 12) does not hold the flock: %s",
	      strerror(errno));
	say("ok");
	return 0;
}
