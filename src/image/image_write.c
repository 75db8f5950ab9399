/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "image_write.h"
#include "io.h"

/* 0 or -errno */
static int pwrite_errno(int fd, const void *buf, size_t len, uint64_t off)
{
	return ckpt_pwrite_all(fd, buf, len, off) ? -errno : 0;
}

int ckpt_writer_open(struct ckpt_writer *w, int dir_fd, const char *final_name, int durable)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->dir_fd = dir_fd;
	w->durable = durable;
	if (snprintf(w->final_name, sizeof(w->final_name), "%s", final_name) >=
	    (int)sizeof(w->final_name) ||
	    snprintf(w->tmp_name, sizeof(w->tmp_name), ".%s.tmp", final_name) >=
	    (int)sizeof(w->tmp_name))
		return -ENAMETOOLONG;
	unlinkat(dir_fd, w->tmp_name, 0);
	w->fd = openat(dir_fd, w->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0)
		return -errno;
	w->off = CKPT_PAGE_SIZE;
	w->pages_start = w->off;
	return 0;
}

int ckpt_writer_pages(struct ckpt_writer *w, const void *addr, uint64_t npages,
		      struct ckpt_run *run)
{
	size_t len = npages * CKPT_PAGE_SIZE;
	int ret;

	run->vaddr = (uint64_t)(uintptr_t)addr;
	run->npages = npages;
	run->data_off = w->off;
	run->hash = ckpt_hash(addr, len);
	run->stored_len = len;
	run->stored_hash = 0;
	run->flags = 0;
	run->pad = 0;
	ret = pwrite_errno(w->fd, addr, len, w->off);
	if (ret)
		return ret;
	w->off += len;
	return 0;
}

int ckpt_writer_append_file(struct ckpt_writer *w, int src_fd, uint64_t *at)
{
	off64_t in = 0, out = w->off;

	*at = w->off;
	for (;;) {
		ssize_t n = copy_file_range(src_fd, &in, w->fd, &out, 1 << 30, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
	}
	w->off = out;
	return 0;
}

static int add_section(struct ckpt_writer *w, uint32_t type, uint64_t off, uint64_t size,
		       uint64_t hash)
{
	struct ckpt_section *s;

	if (w->nr_secs >= CKPT_WRITER_MAX_SECTIONS)
		return -E2BIG;
	s = &w->secs[w->nr_secs++];
	s->type = type;
	s->index = 0;
	for (uint32_t i = 0; i + 1 < w->nr_secs; i++)
		if (w->secs[i].type == type)
			s->index++;
	s->offset = off;
	s->size = size;
	s->hash = hash;
	return 0;
}

int ckpt_writer_end_pages(struct ckpt_writer *w)
{
	return add_section(w, CKPT_SEC_PAGES, w->pages_start, w->off - w->pages_start, 0);
}

int ckpt_writer_section2(struct ckpt_writer *w, uint32_t type, const void *a, size_t alen,
			 const void *b, size_t blen)
{
	uint64_t off = (w->off + 7) & ~7ull;
	int ret;

	ret = pwrite_errno(w->fd, a, alen, off);
	if (!ret && blen)
		ret = pwrite_errno(w->fd, b, blen, off + alen);
	if (ret)
		return ret;
	w->off = off + alen + blen;
	return add_section(w, type, off, alen + blen, ckpt_hash_2(a, alen, b, blen));
}

int ckpt_writer_section(struct ckpt_writer *w, uint32_t type, const void *buf, size_t len)
{
	return ckpt_writer_section2(w, type, buf, len, NULL, 0);
}

int ckpt_writer_finish(struct ckpt_writer *w, struct ckpt_header *hdr)
{
	uint64_t off = (w->off + 7) & ~7ull;
	size_t tsize = w->nr_secs * sizeof(struct ckpt_section);
	int ret;

	memcpy(hdr->magic, CKPT_MAGIC, CKPT_MAGIC_LEN);
	hdr->version = CKPT_IMAGE_VERSION;
	hdr->arch = CKPT_ARCH_X86_64;
	hdr->page_size = CKPT_PAGE_SIZE;
	hdr->header_size = sizeof(*hdr);
	hdr->sections_off = off;
	hdr->nr_sections = w->nr_secs;
	hdr->file_size = off + tsize;
	hdr->table_hash = ckpt_hash(w->secs, tsize);
	hdr->header_hash = 0;
	hdr->header_hash = ckpt_hash(hdr, sizeof(*hdr));

	ret = pwrite_errno(w->fd, w->secs, tsize, off);
	if (!ret)
		ret = pwrite_errno(w->fd, hdr, sizeof(*hdr), 0);
	if (!ret && ftruncate(w->fd, hdr->file_size))
		ret = -errno;
	if (!ret && w->durable && fsync(w->fd))
		ret = -errno;
	if (!ret && close(w->fd))
		ret = -errno;
	w->fd = -1;
	if (!ret && renameat(w->dir_fd, w->tmp_name, w->dir_fd, w->final_name))
		ret = -errno;
	if (!ret && w->durable && fsync(w->dir_fd))
		ret = -errno;
	if (ret)
		ckpt_writer_abort(w);
	return ret;
}

void ckpt_writer_abort(struct ckpt_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	unlinkat(w->dir_fd, w->tmp_name, 0);
}
