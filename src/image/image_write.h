/* SPDX-License-Identifier: MIT */
#ifndef CKPT_IMAGE_WRITE_H
#define CKPT_IMAGE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/image.h"

#define CKPT_WRITER_MAX_SECTIONS 64

/*
 * Writes one image to "<final>.tmp", then checksums, fsyncs and renames it
 * to its final name, so an existing image is never replaced by a partial
 * one. Uses no malloc: it runs in the forked writer child.
 */
struct ckpt_writer {
	int fd;
	int dir_fd;
	int durable;			/* fsync file and directory (default) */
	uint64_t off;			/* next write offset */
	uint64_t pages_start;
	struct ckpt_section secs[CKPT_WRITER_MAX_SECTIONS];
	uint32_t nr_secs;
	char tmp_name[256];
	char final_name[256];
};

/* Returns 0 or -errno. */
int ckpt_writer_open(struct ckpt_writer *w, int dir_fd, const char *final_name, int durable);
/* Appends npages pages from addr as one run; fills run->data_off and run->hash. */
int ckpt_writer_pages(struct ckpt_writer *w, const void *addr, uint64_t npages,
		      struct ckpt_run *run);
/* Closes the page-data section; must precede the first ckpt_writer_section. */
int ckpt_writer_end_pages(struct ckpt_writer *w);
/* Appends all of src_fd (from offset 0) to the page data; *at receives where it starts. */
int ckpt_writer_append_file(struct ckpt_writer *w, int src_fd, uint64_t *at);
int ckpt_writer_section(struct ckpt_writer *w, uint32_t type, const void *buf, size_t len);
/* Like ckpt_writer_section, from two pieces (a header and a body). */
int ckpt_writer_section2(struct ckpt_writer *w, uint32_t type, const void *a, size_t alen,
			 const void *b, size_t blen);
/* Writes the table and header, syncs and renames. hdr: caller's fields filled. */
int ckpt_writer_finish(struct ckpt_writer *w, struct ckpt_header *hdr);
void ckpt_writer_abort(struct ckpt_writer *w);

#endif
