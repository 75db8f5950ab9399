/* SPDX-License-Identifier: MIT */
/*
 * Deleted files that stay open (DIR from the command line):
 *   10 DIR/a, 10000 bytes, offset 1234, O_RDWR; 14 = dup of 10
 *   11 DIR/a opened again O_WRONLY|O_APPEND before the unlink (the same file)
 *   12 an O_TMPFILE file in DIR, mode 0640, 100 bytes, FD_CLOEXEC
 *   13 a sparse deleted file of 8 MiB with "end" in its last bytes
 * and mappings of deleted files that are no longer open:
 *   a private mapping of 1 MiB (DIR/p), one page written since (a library
 *   replaced while in use): every page must come back, the written one too
 *   a shared mapping of one page (DIR/s), written since (a POSIX semaphore
 *   after sem_unlink): its contents come back, and it is still writable
 */
#include "fdtest.h"

#include <sys/mman.h>
#include <sys/stat.h>

static void pattern(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(seed + i * 5 + i / 1021);
}

static void check_contents(int fd, size_t len, unsigned seed)
{
	char *want = malloc(len), *got = malloc(len + 1);

	pattern(want, len, seed);
	CHECK(pread(fd, got, len + 1, 0) == (ssize_t)len && !memcmp(want, got, len),
	      "fd %d: contents differ", fd);
	free(want);
	free(got);
}

/* DIR/NAME of len bytes in pattern seed, mapped with flags, then closed and deleted. */
static char *map_deleted(const char *dir, const char *name, size_t len, int flags,
			 unsigned seed)
{
	char path[4096], *buf = malloc(len), *m;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	pattern(buf, len, seed);
	CHECK(fd >= 0 && write(fd, buf, len) == (ssize_t)len, "%s: %s", path, strerror(errno));
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	CHECK(m != MAP_FAILED, "mmap %s: %s", path, strerror(errno));
	close(fd);
	unlink(path);
	free(buf);
	return m;
}

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "/tmp");
	char path[4096], buf[10000];
	struct stat a, b;

	snprintf(path, sizeof(path), "%s/a", dir);
	at(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), 10);
	pattern(buf, 10000, 1);
	CHECK(write(10, buf, 10000) == 10000, "write");
	lseek(10, 1234, SEEK_SET);
	at(open(path, O_WRONLY | O_APPEND), 11);
	CHECK(!unlink(path), "unlink");
	CHECK(dup2(10, 14) == 14, "dup2");
	at(open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0640), 12);
	fchmod(12, 0640);
	pattern(buf, 100, 2);
	CHECK(write(12, buf, 100) == 100, "write");
	snprintf(path, sizeof(path), "%s/sparse", dir);
	at(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), 13);
	CHECK(pwrite(13, "end", 3, (8 << 20) - 3) == 3, "pwrite");
	unlink(path);
	char *priv = map_deleted(dir, "p", 1 << 20, MAP_PRIVATE, 3);
	char *shared = map_deleted(dir, "s", 4096, MAP_SHARED, 4);
	char *want = malloc(1 << 20);

	priv[300000] = 'P';
	shared[100] = 'S';
	wait_verify();

	check_flags(10, O_RDWR, 0);
	check_flags(11, O_WRONLY | O_APPEND, 0);
	check_flags(12, O_RDWR, FD_CLOEXEC);
	CHECK(!fstat(10, &a) && !fstat(11, &b), "fstat");
	CHECK(a.st_nlink == 0 && a.st_ino == b.st_ino, "10 and 11 are not one deleted file");
	CHECK(lseek(10, 0, SEEK_CUR) == 1234, "fd 10: offset");
	check_contents(10, 10000, 1);
	CHECK(write(11, "+", 1) == 1 && pread(10, buf, 2, 9999) == 2 && buf[1] == '+',
	      "append through 11 not seen through 10");
	lseek(10, 77, SEEK_SET);
	CHECK(lseek(14, 0, SEEK_CUR) == 77, "14 does not share 10's offset");
	CHECK(!fstat(12, &a) && a.st_nlink == 0 && (a.st_mode & 07777) == 0640 && a.st_size == 100,
	      "fd 12: nlink %lu mode %o size %lld", (unsigned long)a.st_nlink, a.st_mode & 07777,
	      (long long)a.st_size);
	CHECK(lseek(12, 0, SEEK_CUR) == 100, "fd 12: offset");
	check_contents(12, 100, 2);
	CHECK(!fstat(13, &a) && a.st_size == 8 << 20 && a.st_nlink == 0, "fd 13: size");
	CHECK(pread(13, buf, 3, (8 << 20) - 3) == 3 && !memcmp(buf, "end", 3), "fd 13: contents");
	CHECK(pread(13, buf, 1, 4 << 20) == 1 && !buf[0], "fd 13: hole");
	pattern(want, 1 << 20, 3);
	want[300000] = 'P';
	CHECK(!memcmp(priv, want, 1 << 20), "private mapping of a deleted file: contents differ");
	pattern(want, 4096, 4);
	want[100] = 'S';
	CHECK(!memcmp(shared, want, 4096), "shared mapping of a deleted file: contents differ");
	shared[200] = 'T';
	CHECK(shared[200] == 'T', "shared mapping of a deleted file: not writable");
	say("ok");
	return 0;
}
