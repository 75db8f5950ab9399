/* SPDX-License-Identifier: MIT */
#ifndef CKPT_IO_H
#define CKPT_IO_H

#include <stddef.h>
#include <stdint.h>

/*
 * All len bytes, retrying after EINTR and short transfers: 0, or -1 with
 * errno set (EIO at end of file). The p* forms work at file offset off.
 */
int ckpt_write_all(int fd, const void *buf, size_t len);
int ckpt_read_all(int fd, void *buf, size_t len);
int ckpt_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
int ckpt_pread_all(int fd, void *buf, size_t len, uint64_t off);

#endif
