/* SPDX-License-Identifier: MIT */
/*
 * Incremental images: an image may inherit pages from its parent, which
 * may inherit from its own, up to CKPT_MAX_CHAIN images. Each parent is
 * opened and validated like the image itself, must be the very file the
 * child was made from (its header hash), and is verified with it. Then
 * every region's pages are resolved, newest image first, into one list
 * of runs that say which file holds each page.
 */
#include <errno.h>
#include <stdarg.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "errmsg.h"
#include "io.h"
#include "restore.h"

_Static_assert(offsetof(struct ckpt_run, vaddr) == 0 && offsetof(struct ckpt_run, npages) == 8 &&
	       offsetof(struct ckpt_range, vaddr) == 0 && offsetof(struct ckpt_range, npages) == 8,
	       "range_after reads runs as ranges");

static int open_parent(struct rst_chain *ch, const char *dir, char *err, size_t len)
{
	const struct ckpt_image *child = ch->imgs[ch->n - 1];
	struct ckpt_image *p;
	char path[4096 + 256], why[512];
	int ret;

	if (ch->n >= CKPT_MAX_CHAIN)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "chain of incremental images is too long");
	p = calloc(1, sizeof(*p));
	if (!p)
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
	ch->imgs[ch->n++] = p;
	snprintf(path, sizeof(path), "%s/%s", dir, child->parent->name);
	ret = ckpt_image_open(path, p, why, sizeof(why));
	if (ret)
		return ckpt_errmsg(err, len, ret, "parent image: %s", why);
	if (p->hdr.header_hash != child->parent->header_hash)
		return ckpt_errmsg(err, len, CKPT_EXIT_FILES,
			    "parent image %s is not the one this image was made from", path);
	if ((p->parent ? p->parent->depth : 0) + 1 != child->parent->depth)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "parent image %s has the wrong depth", path);
	return CKPT_EXIT_OK;
}

/*
 * First of n sorted ranges that ends after addr. The ranges are structs of
 * `stride` bytes that start with vaddr and npages (ckpt_run, ckpt_range).
 */
static uint32_t range_after(const void *base, uint32_t n, size_t stride, uint64_t addr)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		struct ckpt_range r;	/* the leading vaddr and npages of either struct */

		memcpy(&r, (const char *)base + mid * stride, sizeof(r));
		if (r.vaddr + r.npages * CKPT_PAGE_SIZE <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int emit(struct rst_chain *ch, uint64_t vaddr, uint64_t end, int fd, uint64_t off)
{
	struct rst_run *r;

	if (ch->nr_runs == ch->cap_runs) {
		uint32_t ncap = ch->cap_runs ? ch->cap_runs * 2 : 1024;
		void *p = realloc(ch->runs, ncap * sizeof(*ch->runs));

		if (!p)
			return -ENOMEM;
		ch->runs = p;
		ch->cap_runs = ncap;
	}
	r = &ch->runs[ch->nr_runs++];
	memset(r, 0, sizeof(*r));
	r->vaddr = vaddr;
	r->npages = (end - vaddr) / CKPT_PAGE_SIZE;
	r->data_off = off;
	r->fd = fd;	/* index in the chain until plan.c turns it into an fd */
	return 0;
}

/* Which file holds each page of [start, end) in image k of the chain. */
static int resolve(struct rst_chain *ch, uint32_t k, uint64_t start, uint64_t end)
{
	const struct ckpt_image *img = ch->imgs[k];
	uint64_t a = start;

	while (a < end) {
		uint32_t ri = range_after(img->runs, img->nr_runs, sizeof(*img->runs), a);
		uint32_t ii = range_after(img->inherit, img->nr_inherit, sizeof(*img->inherit), a);
		const struct ckpt_run *run = ri < img->nr_runs ? &img->runs[ri] : NULL;
		const struct ckpt_range *inh = ii < img->nr_inherit ? &img->inherit[ii] : NULL;
		uint64_t run_start = run ? run->vaddr : end, inh_start = inh ? inh->vaddr : end;
		uint64_t next;
		int ret;

		if (run && run_start <= a) {
			next = run->vaddr + run->npages * CKPT_PAGE_SIZE;
			next = next < end ? next : end;
			ret = emit(ch, a, next, run->flags & CKPT_RUN_ZSTD ? k | CHAIN_IN_MEMFD : k,
				   run->data_off + (a - run->vaddr));
		} else if (inh && inh_start <= a && k + 1 < ch->n) {
			next = inh->vaddr + inh->npages * CKPT_PAGE_SIZE;
			next = next < end ? next : end;
			next = next < run_start ? next : run_start;
			ret = resolve(ch, k + 1, a, next);
		} else {
			/* zero: stored nowhere */
			next = run_start < inh_start ? run_start : inh_start;
			next = next > a ? (next < end ? next : end) : end;
			ret = 0;
		}
		if (ret)
			return ret;
		a = next;
	}
	return 0;
}

/* Reads a resolved run's pages (checked by rst_chain_load when verifying). */
int rst_chain_read(const struct rst_chain *ch, const struct rst_run *run, void *buf, char *err,
		   size_t len)
{
	size_t want = run->npages * CKPT_PAGE_SIZE, got = 0;
	int fd = rst_chain_fd(ch, run);

	while (got < want) {
		ssize_t n = pread(fd, (char *)buf + got, want - got, run->data_off + got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ckpt_errmsg(err, len, CKPT_EXIT_TRUNCATED, "cannot read pages at %#llx",
				    (unsigned long long)run->vaddr);
		got += n;
	}
	return CKPT_EXIT_OK;
}

/*
 * Compressed runs cannot be mapped or read by the restorer: decompress
 * (and so check) them into a memfd, which then stands in for the image.
 */
static int decompress_image(struct rst_chain *ch, uint32_t k, char *err, size_t len)
{
	struct ckpt_image *img = ch->imgs[k];
	uint64_t off = 0;
	int fd = -1, ret = CKPT_EXIT_OK;

	for (uint32_t i = 0; i < img->nr_runs && !ret; i++) {
		struct ckpt_run *run = &img->runs[i];
		size_t bytes = run->npages * CKPT_PAGE_SIZE;
		void *buf;

		if (!(run->flags & CKPT_RUN_ZSTD))
			continue;
		if (fd < 0) {
			fd = memfd_create("ckpt-pages", MFD_CLOEXEC);
			if (fd < 0)
				return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "memfd: %s", strerror(errno));
			ch->memfd[k] = fd;
		}
		buf = malloc(bytes);
		if (!buf)
			return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
		ret = ckpt_image_read_run(img, run, buf, err, len);
		if (!ret && ckpt_pwrite_all(fd, buf, bytes, off))
			ret = ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "writing decompressed pages: %s",
				   strerror(errno));
		free(buf);
		run->data_off = off;	/* now an offset in the memfd */
		off += bytes;
	}
	return ret;
}

/* The fd that holds a resolved run's pages. */
int rst_chain_fd(const struct rst_chain *ch, const struct rst_run *run)
{
	return run->fd & CHAIN_IN_MEMFD ? ch->memfd[run->fd & ~CHAIN_IN_MEMFD] :
	       ch->imgs[run->fd]->fd;
}

int rst_chain_load(struct ckpt_image *img, const char *path, struct rst_chain *ch, int verify,
		   char *err, size_t len)
{
	char *copy = strdup(path);
	const char *dir = copy ? dirname(copy) : ".";
	int ret = CKPT_EXIT_OK;

	memset(ch, 0, sizeof(*ch));
	ch->imgs[0] = img;
	ch->n = 1;
	while (!ret && ch->imgs[ch->n - 1]->parent)
		ret = open_parent(ch, dir, err, len);
	free(copy);
	for (uint32_t k = 0; k < CKPT_MAX_CHAIN; k++)
		ch->memfd[k] = -1;
	for (uint32_t k = 0; !ret && k < ch->n; k++)
		ret = decompress_image(ch, k, err, len);
	for (uint32_t k = 0; !ret && verify && k < ch->n; k++)
		/* compressed runs were checked while decompressed */
		ret = ckpt_image_verify_pages(ch->imgs[k], CKPT_RUN_ZSTD, err, len);
	if (ret)
		return ret;
	ch->first = calloc(img->nr_regions + 1, sizeof(uint32_t));
	ch->count = calloc(img->nr_regions + 1, sizeof(uint32_t));
	if (!ch->first || !ch->count)
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
	for (uint32_t i = 0; i < img->nr_regions; i++) {
		const struct ckpt_region *r = &img->regions[i];

		ch->first[i] = ch->nr_runs;
		if (ch->n == 1) {
			/* a full image: its own runs, in the order it lists them */
			for (uint32_t j = r->first_run; j < r->first_run + r->nr_runs; j++) {
				const struct ckpt_run *run = &img->runs[j];

				if (emit(ch, run->vaddr, run->vaddr + run->npages * CKPT_PAGE_SIZE,
					 run->flags & CKPT_RUN_ZSTD ? CHAIN_IN_MEMFD : 0, run->data_off))
					return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
			}
		} else if (resolve(ch, 0, r->start, r->end)) {
			return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
		}
		ch->count[i] = ch->nr_runs - ch->first[i];
	}
	return CKPT_EXIT_OK;
}
