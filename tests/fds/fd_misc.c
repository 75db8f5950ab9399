/* SPDX-License-Identifier: MIT */
/*
 * Duplicates and the simple kinds (DIR from the command line):
 *   7  dup of stdout (a pipe): writes go to ckpt-restore's stdout after a restore
 *   8  DIR/f, offset 3; 9 = dup of 8 (one offset)
 *   10 O_PATH of DIR; 11 O_PATH of DIR/f, FD_CLOEXEC
 *   12 /dev/zero; 13 /dev/urandom, O_NONBLOCK
 */
#include "fdtest.h"

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "/tmp");
	char path[4096], buf[16];

	snprintf(path, sizeof(path), "%s/f", dir);
	CHECK(dup2(1, 7) == 7, "dup2");
	at(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), 8);
	CHECK(write(8, "abcdef", 6) == 6 && lseek(8, 3, SEEK_SET) == 3, "write");
	CHECK(dup2(8, 9) == 9, "dup2");
	at(open(dir, O_PATH | O_DIRECTORY), 10);
	at(open(path, O_PATH | O_CLOEXEC), 11);
	at(open("/dev/zero", O_RDONLY), 12);
	at(open("/dev/urandom", O_RDONLY | O_NONBLOCK), 13);
	wait_verify();
	CHECK(write(7, "via fd 7\n", 9) == 9, "write to 7: %s", strerror(errno));
	CHECK(lseek(8, 0, SEEK_CUR) == 3 && read(9, buf, 3) == 3 && !memcmp(buf, "def", 3),
	      "fd 9 does not continue at fd 8's offset");
	CHECK(lseek(8, 0, SEEK_CUR) == 6, "fd 8 does not share fd 9's offset");
	CHECK((fcntl(10, F_GETFL) & O_PATH) && (fcntl(11, F_GETFL) & O_PATH), "O_PATH lost");
	CHECK(fcntl(11, F_GETFD) == FD_CLOEXEC, "fd 11: FD_CLOEXEC lost");
	CHECK(!faccessat(10, "f", R_OK, 0), "fd 10 is not %s", dir);
	CHECK(read(12, buf, 4) == 4 && !buf[0] && !buf[3], "fd 12: not zeros");
	check_flags(13, O_RDONLY | O_NONBLOCK, 0);
	CHECK(read(13, buf, 16) == 16, "fd 13: no random bytes");
	say("ok");
	return 0;
}
