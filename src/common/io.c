/* SPDX-License-Identifier: MIT */
/* Whole reads and writes on pipes and files. */
#include <errno.h>
#include <unistd.h>

#include "io.h"

enum op { READ, WRITE, PREAD, PWRITE };

static int transfer(enum op op, int fd, char *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n;

		switch (op) {
		case READ: n = read(fd, p, len); break;
		case WRITE: n = write(fd, p, len); break;
		case PREAD: n = pread(fd, p, len, off); break;
		default: n = pwrite(fd, p, len, off); break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = EIO;
			return -1;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int ckpt_write_all(int fd, const void *buf, size_t len)
{
	return transfer(WRITE, fd, (char *)buf, len, 0);
}

int ckpt_read_all(int fd, void *buf, size_t len)
{
	return transfer(READ, fd, buf, len, 0);
}

int ckpt_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	return transfer(PWRITE, fd, (char *)buf, len, off);
}

int ckpt_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	return transfer(PREAD, fd, buf, len, off);
}
