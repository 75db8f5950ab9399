/* SPDX-License-Identifier: MIT */
/*
 * MAP_SHARED memory is not copied on write by fork, so the writer child
 * would see the application's later stores. Shared anonymous memory and
 * memfd mappings are therefore copied while the application is stopped
 * (only resident pages); the child writes the copy. Shared file mappings
 * are not copied: their contents live in the file, which is mapped again
 * at restore.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "ckpt.h"
#include "log.h"

static void memfd_size(struct ckpt_region *r)
{
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/map_files/%" PRIx64 "-%" PRIx64, r->start, r->end);
	if (!stat(path, &st))
		r->file_size = st.st_size;
	else
		r->file_size = r->pgoff + (r->end - r->start);
}

/*
 * Which pages of a shared mapping hold data: SEEK_DATA/SEEK_HOLE on the
 * object itself (through /proc/self/map_files, which needs privilege)
 * also finds pages that are swapped out; mincore, the fallback, only
 * sees resident ones.
 */
static int data_pages(const struct ckpt_region *r, unsigned char *vec)
{
	size_t len = r->end - r->start, pages = len / CKPT_PAGE_SIZE;
	char path[96];
	off_t pos;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/map_files/%" PRIx64 "-%" PRIx64, r->start, r->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mincore((void *)(uintptr_t)r->start, len, vec);
	memset(vec, 0, pages);
	for (pos = r->pgoff; pos < (off_t)(r->pgoff + len);) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0 || data >= (off_t)(r->pgoff + len))
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > (off_t)(r->pgoff + len))
			hole = r->pgoff + len;
		for (off_t p = data & ~(off_t)(CKPT_PAGE_SIZE - 1); p < hole; p += CKPT_PAGE_SIZE)
			vec[(p - r->pgoff) / CKPT_PAGE_SIZE] = 1;
		pos = hole;
	}
	close(fd);
	return 0;
}

static int copy_region(struct ckpt_capture *c, struct cap_region *cr, unsigned char *vec)
{
	struct ckpt_region *r = &cr->r;
	size_t len = r->end - r->start, pages = len / CKPT_PAGE_SIZE;
	char *copy;

	if (!(r->prot & PROT_READ) && mprotect((void *)(uintptr_t)r->start, len,
					       r->prot | PROT_READ)) {
		ckpt_fail(c, "cannot read shared memory at %#" PRIx64 ": %s", r->start,
			  strerror(errno));
		return -errno;
	}
	if (data_pages(r, vec)) {
		ckpt_fail(c, "cannot find the data of shared memory at %#" PRIx64 ": %s", r->start,
			  strerror(errno));
		return -errno;
	}
	copy = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (copy == MAP_FAILED) {
		ckpt_fail(c, "no memory to copy %zu bytes of shared memory", len);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pages; i++)
		if (vec[i] & 1)
			memcpy(copy + i * CKPT_PAGE_SIZE,
			       (char *)(uintptr_t)r->start + i * CKPT_PAGE_SIZE, CKPT_PAGE_SIZE);
	if (!(r->prot & PROT_READ))
		mprotect((void *)(uintptr_t)r->start, len, r->prot);
	cr->copy = copy;
	if (r->kind == CKPT_REG_MEMFD)
		memfd_size(r);
	return 0;
}

int ckpt_copy_shared(struct ckpt_capture *c)
{
	size_t max_pages = 0;
	unsigned char *vec;

	for (uint32_t i = 0; i < c->nr_regions; i++) {
		struct ckpt_region *r = &c->regions[i].r;

		if (r->kind == CKPT_REG_SHANON || r->kind == CKPT_REG_MEMFD) {
			size_t p = (r->end - r->start) / CKPT_PAGE_SIZE;

			if (p > max_pages)
				max_pages = p;
		}
	}
	if (!max_pages)
		return 0;
	vec = mmap(NULL, max_pages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vec == MAP_FAILED)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->nr_regions; i++) {
		struct cap_region *cr = &c->regions[i];
		int ret;

		if (cr->r.kind != CKPT_REG_SHANON && cr->r.kind != CKPT_REG_MEMFD)
			continue;
		ret = copy_region(c, cr, vec);
		if (ret) {
			munmap(vec, max_pages);
			return ret;
		}
	}
	munmap(vec, max_pages);
	return 0;
}

void ckpt_free_shared(struct ckpt_capture *c)
{
	for (uint32_t i = 0; i < c->nr_regions; i++) {
		struct cap_region *cr = &c->regions[i];

		if (cr->copy)
			munmap(cr->copy, cr->r.end - cr->r.start);
		cr->copy = NULL;
	}
}
