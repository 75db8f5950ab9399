/* SPDX-License-Identifier: MIT */
/*
 * fd_imgpatch: changes the fd part of a ckpt image in place and fixes every
 * checksum that covers it (section, table, header), so that a test reaches
 * the reader's checks of the fd state behind them.
 *
 *   fd_imgpatch FILE fd FD FIELD VALUE         kind, xflags, dup_of, data_off, data_len
 *   fd_imgpatch FILE data FD OFF SIZE VALUE    SIZE (1, 2, 4, 8) little-endian bytes at
 *                                              byte OFF of fd FD's CKPT_SEC_FDDATA bytes
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "ckpt/image.h"

static int die(const char *msg)
{
	fprintf(stderr, "fd_imgpatch: %s%s%s\n", msg, errno ? ": " : "", errno ? strerror(errno) : "");
	exit(1);
}

static void *load(int fd, uint64_t off, uint64_t len)
{
	void *buf = malloc(len ? len : 1);

	if (!buf || pread(fd, buf, len, off) != (ssize_t)len)
		die("read");
	return buf;
}

static void store(int fd, const void *buf, uint64_t len, uint64_t off)
{
	if (pwrite(fd, buf, len, off) != (ssize_t)len)
		die("write");
}

static struct ckpt_section *find(struct ckpt_section *secs, uint32_t nr, uint32_t type)
{
	for (uint32_t i = 0; i < nr; i++)
		if (secs[i].type == type)
			return &secs[i];
	errno = 0;
	die("no such section");
	return NULL;
}

static int set_field(struct ckpt_fd *f, const char *field, long long v)
{
	if (!strcmp(field, "kind"))
		f->kind = v;
	else if (!strcmp(field, "xflags"))
		f->xflags = v;
	else if (!strcmp(field, "dup_of"))
		f->dup_of = v;
	else if (!strcmp(field, "data_off"))
		f->data_off = v;
	else if (!strcmp(field, "data_len"))
		f->data_len = v;
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct ckpt_section *secs, *sfds, *sdata;
	struct ckpt_fd *fds, *f = NULL;
	struct ckpt_header h;
	char *data;
	int fd;

	if (argc < 6 || (strcmp(argv[2], "fd") && strcmp(argv[2], "data")) ||
	    (!strcmp(argv[2], "data") && argc < 7)) {
		fprintf(stderr, "usage: fd_imgpatch FILE fd FD FIELD VALUE | data FD OFF SIZE VALUE\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0)
		die(argv[1]);
	if (pread(fd, &h, sizeof(h), 0) != sizeof(h))
		die("header");
	secs = load(fd, h.sections_off, h.nr_sections * sizeof(*secs));
	sfds = find(secs, h.nr_sections, CKPT_SEC_FDS);
	fds = load(fd, sfds->offset, sfds->size);
	for (uint64_t i = 0; i < sfds->size / sizeof(*fds); i++)
		if (fds[i].fd == atoi(argv[3]))
			f = &fds[i];
	errno = 0;
	if (!f)
		die("no such fd");
	if (!strcmp(argv[2], "fd")) {
		if (set_field(f, argv[4], strtoll(argv[5], NULL, 0)))
			die("unknown field");
		store(fd, fds, sfds->size, sfds->offset);
		sfds->hash = XXH3_64bits(fds, sfds->size);
	} else {
		uint64_t off = strtoull(argv[4], NULL, 0), v = strtoull(argv[6], NULL, 0);
		size_t size = atoi(argv[5]);

		sdata = find(secs, h.nr_sections, CKPT_SEC_FDDATA);
		data = load(fd, sdata->offset, sdata->size);
		if (size > 8 || f->data_off + off + size > sdata->size)
			die("out of the fd's data");
		memcpy(data + f->data_off + off, &v, size);
		store(fd, data, sdata->size, sdata->offset);
		sdata->hash = XXH3_64bits(data, sdata->size);
	}
	store(fd, secs, h.nr_sections * sizeof(*secs), h.sections_off);
	h.table_hash = XXH3_64bits(secs, h.nr_sections * sizeof(*secs));
	h.header_hash = 0;
	h.header_hash = XXH3_64bits(&h, sizeof(h));
	store(fd, &h, sizeof(h), 0);
	return 0;
}
