/* SPDX-License-Identifier: MIT */
/*
 * Incremental images (CKPT_INCREMENTAL=1). The writer hashes every
 * non-zero page it saves (XXH3-64) and stores the hashes in the image;
 * the next writer compares each page with its parent's hash and stores
 * only pages that differ, listing the others as inherited. Comparing
 * hashes needs no write tracking in the application (no faults, no
 * work in the pause); it costs the writer one read of resident memory.
 * A chain ends at CKPT_MAX_CHAIN images, when the next one is full.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "hash.h"
#include "image_write.h"
#include "log.h"

/* Maps the parent image and finds its page hashes; 0 on success. */
static int load_parent(struct increment *inc, const struct ckpt_capture *c)
{
	char path[4096 + 256];
	struct ckpt_header h, tmp;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", ckpt_cfg.dir, c->parent_name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || pread(fd, &h, sizeof(h), 0) != sizeof(h))
		goto fail;
	tmp = h;
	tmp.header_hash = 0;
	if (memcmp(h.magic, CKPT_MAGIC, CKPT_MAGIC_LEN) || h.version != CKPT_IMAGE_VERSION ||
	    ckpt_hash(&tmp, sizeof(tmp)) != h.header_hash || h.file_size != (uint64_t)st.st_size)
		goto fail;
	inc->map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (inc->map == MAP_FAILED) {
		inc->map = NULL;
		goto fail;
	}
	inc->map_len = st.st_size;
	close(fd);
	for (uint32_t i = 0; i < h.nr_sections; i++) {
		const struct ckpt_section *s = (const void *)((const char *)inc->map + h.sections_off +
							      i * sizeof(*s));

		if (s->type != CKPT_SEC_PAGEHASH || s->offset > h.file_size ||
		    s->size > h.file_size - s->offset || s->size % sizeof(struct ckpt_pagehash) ||
		    ckpt_hash((const char *)inc->map + s->offset, s->size) != s->hash)
			continue;
		inc->old = (const void *)((const char *)inc->map + s->offset);
		inc->nr_old = s->size / sizeof(struct ckpt_pagehash);
		snprintf(inc->parent.name, sizeof(inc->parent.name), "%s", c->parent_name);
		inc->parent.header_hash = h.header_hash;
		inc->parent.depth = c->parent_depth + 1;
		inc->has_parent = 1;
		return 0;
	}
	pr_info("checkpoint %u: %s has no page hashes: writing a full image", c->seq, path);
	return -ENOENT;
fail:
	if (fd >= 0)
		close(fd);
	pr_info("checkpoint %u: parent %s unusable: writing a full image", c->seq, path);
	return -ENOENT;
}

void ckpt_incr_begin(struct increment *inc, const struct ckpt_capture *c)
{
	memset(inc, 0, sizeof(*inc));
	inc->on = ckpt_cfg.incremental;
	inc->inherit.elem = sizeof(struct ckpt_range);
	inc->hashes.elem = sizeof(struct ckpt_pagehash);
	if (inc->on && c->parent_name[0] && c->parent_depth + 1 < CKPT_MAX_CHAIN)
		load_parent(inc, c);
}

static int parent_has(struct increment *inc, uint64_t vaddr, uint64_t h)
{
	while (inc->pos < inc->nr_old && inc->old[inc->pos].vaddr < vaddr)
		inc->pos++;
	return inc->pos < inc->nr_old && inc->old[inc->pos].vaddr == vaddr &&
	       inc->old[inc->pos].hash == h;
}

/*
 * Records the hash of the non-zero page at vaddr (pages come in address
 * order). Returns 1 if the parent holds the same page, 0 if it must be
 * written, -ENOMEM.
 */
int ckpt_incr_page(struct increment *inc, uint64_t vaddr, const void *page)
{
	struct ckpt_pagehash *ph;
	struct ckpt_range *last;
	uint64_t h;

	if (!inc->on)
		return 0;
	h = ckpt_hash(page, CKPT_PAGE_SIZE);
	ph = ckpt_array_push(&inc->hashes);
	if (!ph)
		return -ENOMEM;
	ph->vaddr = vaddr;
	ph->hash = h;
	if (!inc->has_parent || !parent_has(inc, vaddr, h))
		return 0;
	last = ckpt_array_last(&inc->inherit);
	if (last && last->vaddr + last->npages * CKPT_PAGE_SIZE == vaddr) {
		last->npages++;
		return 1;
	}
	last = ckpt_array_push(&inc->inherit);
	if (!last)
		return -ENOMEM;
	last->vaddr = vaddr;
	last->npages = 1;
	return 1;
}

uint64_t ckpt_incr_inherited_bytes(const struct increment *inc)
{
	uint64_t pages = 0;

	for (size_t i = 0; i < inc->inherit.n; i++)
		pages += ((const struct ckpt_range *)inc->inherit.p)[i].npages;
	return pages * CKPT_PAGE_SIZE;
}

int ckpt_incr_sections(struct increment *inc, struct ckpt_writer *w)
{
	int ret = 0;

	if (!inc->on)
		return 0;
	if (inc->has_parent)
		ret = ckpt_writer_section(w, CKPT_SEC_PARENT, &inc->parent, sizeof(inc->parent));
	if (!ret && inc->inherit.n)
		ret = ckpt_writer_section(w, CKPT_SEC_INHERIT, inc->inherit.p,
					  inc->inherit.n * inc->inherit.elem);
	if (!ret)
		ret = ckpt_writer_section(w, CKPT_SEC_PAGEHASH, inc->hashes.p,
					  inc->hashes.n * inc->hashes.elem);
	return ret;
}

uint32_t ckpt_incr_depth(const struct increment *inc)
{
	return inc->has_parent ? inc->parent.depth : 0;
}

void ckpt_incr_end(struct increment *inc)
{
	if (inc->map)
		munmap(inc->map, inc->map_len);
	ckpt_array_free(&inc->inherit);
	ckpt_array_free(&inc->hashes);
}
