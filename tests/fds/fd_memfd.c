/* SPDX-License-Identifier: MIT */
/*
 * memfds:
 *   10 "plain": 1 MiB with data at 0 and at 512 KiB (the rest a hole), offset 100,
 *      seals F_SEAL_GROW|F_SEAL_SHRINK, O_APPEND
 *   11 "shared": 64 KiB, bytes 16-32 KiB also mapped MAP_SHARED; 12 = the same memfd
 *      opened again read-only (an open file of its own) at offset 7, FD_CLOEXEC
 * After a restore the fd and the mapping must still be one memfd.
 */
#include "fdtest.h"

#include <sys/mman.h>
#include <sys/stat.h>

#define SHARED_SIZE	(64 << 10)
#define MAP_OFF		(16 << 10)
#define MAP_LEN		(16 << 10)

static char *map;

/* The byte at file offset off + i */
static void pattern(char *buf, off_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(seed + (off + i) * 3 + (off + i) / 4093);
}

static void check_range(int fd, off_t off, size_t len, unsigned seed)
{
	char *want = malloc(len), *got = malloc(len);

	pattern(want, off, len, seed);
	CHECK(pread(fd, got, len, off) == (ssize_t)len, "fd %d: pread at %lld", fd, (long long)off);
	CHECK(!memcmp(want, got, len), "fd %d: contents at %lld differ", fd, (long long)off);
	free(want);
	free(got);
}

static void put(int fd, off_t off, size_t len, unsigned seed)
{
	char *buf = malloc(len);

	pattern(buf, off, len, seed);
	CHECK(pwrite(fd, buf, len, off) == (ssize_t)len, "pwrite: %s", strerror(errno));
	free(buf);
}

int main(void)
{
	char link[64], path[256], zero[4096] = { 0 }, buf[4096];
	struct stat a, b;
	ssize_t n;

	at(memfd_create("plain", MFD_ALLOW_SEALING), 10);
	CHECK(!ftruncate(10, 1 << 20), "ftruncate");
	put(10, 0, 10000, 1);
	put(10, 512 << 10, 5000, 2);
	CHECK(!fcntl(10, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK), "F_ADD_SEALS");
	lseek(10, 100, SEEK_SET);
	fcntl(10, F_SETFL, O_APPEND);
	at(memfd_create("shared", 0), 11);
	CHECK(!ftruncate(11, SHARED_SIZE), "ftruncate");
	put(11, 0, SHARED_SIZE, 3);
	map = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, 11, MAP_OFF);
	CHECK(map != MAP_FAILED, "mmap");
	map[5] = 'M';
	at(open("/proc/self/fd/11", O_RDONLY | O_CLOEXEC), 12);
	lseek(12, 7, SEEK_SET);
	wait_verify();

	check_flags(10, O_RDWR | O_APPEND, 0);
	snprintf(link, sizeof(link), "/proc/self/fd/10");
	n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = 0;
	CHECK(!strcmp(path, "/memfd:plain (deleted)"), "fd 10 is %s", path);
	CHECK(!fstat(10, &a) && a.st_size == 1 << 20, "fd 10: size");
	CHECK(lseek(10, 0, SEEK_CUR) == 100, "fd 10: offset");
	CHECK(fcntl(10, F_GET_SEALS) == (F_SEAL_GROW | F_SEAL_SHRINK), "fd 10: seals %#x",
	      fcntl(10, F_GET_SEALS));
	check_range(10, 0, 10000, 1);
	check_range(10, 512 << 10, 5000, 2);
	CHECK(pread(10, buf, sizeof(buf), 256 << 10) == sizeof(buf) && !memcmp(buf, zero, 4096),
	      "fd 10: hole not zero");
	CHECK(ftruncate(10, 2 << 20) < 0 && errno == EPERM, "fd 10: F_SEAL_GROW lost");

	check_flags(11, O_RDWR, 0);
	check_flags(12, O_RDONLY, FD_CLOEXEC);
	CHECK(!fstat(11, &a) && !fstat(12, &b) && a.st_ino == b.st_ino && a.st_size == SHARED_SIZE,
	      "11 and 12 are not one memfd");
	CHECK(lseek(12, 0, SEEK_CUR) == 7 && lseek(11, 0, SEEK_CUR) == 0, "offsets");
	check_range(11, 0, MAP_OFF, 3);
	check_range(11, MAP_OFF + MAP_LEN, SHARED_SIZE - MAP_OFF - MAP_LEN, 3);
	CHECK(pread(12, buf, 1, MAP_OFF + 5) == 1 && buf[0] == 'M', "store to the mapping not in fd");
	map[100] = 'Q';
	CHECK(pread(12, buf, 1, MAP_OFF + 100) == 1 && buf[0] == 'Q',
	      "fd and mapping are not one memfd any more (mapping -> fd)");
	CHECK(pwrite(11, "W", 1, MAP_OFF + 200) == 1 && map[200] == 'W',
	      "fd and mapping are not one memfd any more (fd -> mapping)");
	say("ok");
	return 0;
}
