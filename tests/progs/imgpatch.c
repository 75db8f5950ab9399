/* SPDX-License-Identifier: MIT */
/*
 * imgpatch: change fields of a ckpt image in place and fix the checksums
 * that cover them, so that a test reaches the check behind the checksum.
 *
 *   imgpatch FILE hdr FIELD VALUE       version, arch, page_size, nr_sections,
 *                                       sections_off, file_size, pid, flags
 *   imgpatch FILE sec INDEX FIELD VALUE type, offset, size (table hash fixed)
 *   imgpatch FILE fd FD FIELD VALUE     fd FD's kind, xflags, dup_of, data_off or data_len
 *   imgpatch FILE data FD OFF SIZE VALUE
 *                                       SIZE (1, 2, 4, 8) little-endian bytes at byte OFF
 *                                       of fd FD's CKPT_SEC_FDDATA bytes
 *   imgpatch FILE rehash                recompute the table and header hashes
 *   imgpatch FILE show                  print the header and the section table
 *
 * The header hash is XXH3-64 of struct ckpt_header with header_hash = 0;
 * the table hash is XXH3-64 of the section table, a section's hash that of
 * its bytes (include/ckpt/image.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "ckpt/image.h"

static int usage(void)
{
	fprintf(stderr, "usage: imgpatch FILE hdr FIELD VALUE | sec INDEX FIELD VALUE | "
		"fd FD FIELD VALUE | data FD OFF SIZE VALUE | rehash | show\n");
	return 2;
}

static int rw(int fd, void *buf, size_t len, off_t off, int write)
{
	ssize_t n = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);

	if (n != (ssize_t)len) {
		fprintf(stderr, "imgpatch: %s at %lld: %s\n", write ? "write" : "read",
			(long long)off, n < 0 ? strerror(errno) : "short");
		return -1;
	}
	return 0;
}

static int set_hdr(struct ckpt_header *h, const char *field, unsigned long long v)
{
	if (!strcmp(field, "version"))
		h->version = v;
	else if (!strcmp(field, "arch"))
		h->arch = v;
	else if (!strcmp(field, "page_size"))
		h->page_size = v;
	else if (!strcmp(field, "nr_sections"))
		h->nr_sections = v;
	else if (!strcmp(field, "sections_off"))
		h->sections_off = v;
	else if (!strcmp(field, "file_size"))
		h->file_size = v;
	else if (!strcmp(field, "pid"))
		h->pid = v;
	else if (!strcmp(field, "flags"))
		h->flags = v;
	else
		return -1;
	return 0;
}

static int set_fd(struct ckpt_fd *f, const char *field, long long v)
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

/* The bytes of the first section of a type, read; NULL if none. */
static void *load(int fd, struct ckpt_section *secs, uint32_t nr, uint32_t type,
		  struct ckpt_section **sec)
{
	void *buf;

	for (*sec = secs; *sec < secs + nr && (*sec)->type != type; (*sec)++)
		;
	if (*sec == secs + nr) {
		fprintf(stderr, "imgpatch: no section of type %u\n", type);
		return NULL;
	}
	buf = malloc((*sec)->size ? (*sec)->size : 1);
	return buf && !rw(fd, buf, (*sec)->size, (*sec)->offset, 0) ? buf : NULL;
}

/* argv: fd FD FIELD VALUE, or data FD OFF SIZE VALUE; the changed section is rehashed. */
static int patch_fd(int fd, struct ckpt_section *secs, uint32_t nr, char **argv)
{
	struct ckpt_section *sfds, *sec;
	struct ckpt_fd *fds = load(fd, secs, nr, CKPT_SEC_FDS, &sfds), *f = NULL;
	char *buf;

	if (!fds)
		return -1;
	for (uint64_t i = 0; i < sfds->size / sizeof(*fds); i++)
		if (fds[i].fd == atoi(argv[1]))
			f = &fds[i];
	if (!f) {
		fprintf(stderr, "imgpatch: no fd %s\n", argv[1]);
		return -1;
	}
	if (!strcmp(argv[0], "fd")) {
		if (set_fd(f, argv[2], strtoll(argv[3], NULL, 0)))
			return -1;
		sec = sfds;
		buf = (char *)fds;
	} else {
		uint64_t off = strtoull(argv[2], NULL, 0), v = strtoull(argv[4], NULL, 0);
		size_t size = atoi(argv[3]);

		buf = load(fd, secs, nr, CKPT_SEC_FDDATA, &sec);
		if (!buf || size > 8 || f->data_off + off + size > sec->size)
			return -1;
		memcpy(buf + f->data_off + off, &v, size);
	}
	sec->hash = XXH3_64bits(buf, sec->size);
	return rw(fd, buf, sec->size, sec->offset, 1);
}

int main(int argc, char **argv)
{
	struct ckpt_header h;
	struct ckpt_section *secs = NULL;
	size_t tsize;
	int fd;

	if (argc < 3)
		return usage();
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "imgpatch: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (rw(fd, &h, sizeof(h), 0, 0))
		return 1;
	tsize = (size_t)h.nr_sections * sizeof(*secs);
	if (h.nr_sections && h.nr_sections < 4096) {
		secs = malloc(tsize);
		if (!secs || rw(fd, secs, tsize, h.sections_off, 0))
			return 1;
	}
	if (!strcmp(argv[2], "show")) {
		printf("version %u arch %u page_size %u header_size %u file_size %llu "
		       "sections_off %llu nr_sections %u pid %d seq %u\n", h.version, h.arch,
		       h.page_size, h.header_size, (unsigned long long)h.file_size,
		       (unsigned long long)h.sections_off, h.nr_sections, h.pid, h.seq);
		for (uint32_t i = 0; secs && i < h.nr_sections; i++)
			printf("section %u type %u index %u offset %llu size %llu\n", i, secs[i].type,
			       secs[i].index, (unsigned long long)secs[i].offset,
			       (unsigned long long)secs[i].size);
		return 0;
	}
	if (!strcmp(argv[2], "hdr") && argc == 5) {
		if (set_hdr(&h, argv[3], strtoull(argv[4], NULL, 0)))
			return usage();
	} else if (!strcmp(argv[2], "sec") && argc == 6 && secs) {
		uint32_t i = strtoul(argv[3], NULL, 0);
		unsigned long long v = strtoull(argv[5], NULL, 0);

		if (i >= h.nr_sections)
			return usage();
		if (!strcmp(argv[4], "type"))
			secs[i].type = v;
		else if (!strcmp(argv[4], "offset"))
			secs[i].offset = v;
		else if (!strcmp(argv[4], "size"))
			secs[i].size = v;
		else
			return usage();
		if (rw(fd, secs, tsize, h.sections_off, 1))
			return 1;
		h.table_hash = XXH3_64bits(secs, tsize);
	} else if (((!strcmp(argv[2], "fd") && argc == 6) || (!strcmp(argv[2], "data") && argc == 7))
		   && secs) {
		if (patch_fd(fd, secs, h.nr_sections, argv + 2) ||
		    rw(fd, secs, tsize, h.sections_off, 1))
			return 1;
		h.table_hash = XXH3_64bits(secs, tsize);
	} else if (!strcmp(argv[2], "rehash") && secs) {
		h.table_hash = XXH3_64bits(secs, tsize);
	} else {
		return usage();
	}
	h.header_hash = 0;
	h.header_hash = XXH3_64bits(&h, sizeof(h));
	if (rw(fd, &h, sizeof(h), 0, 1))
		return 1;
	close(fd);
	return 0;
}
