/* SPDX-License-Identifier: MIT */
/*
 * Scratch memory for one checkpoint: region tables, strings, fd tables
 * and copies of shared memory live here, outside the image. malloc is
 * off limits while application threads are stopped (one may hold the
 * heap lock), so this is a bump allocator over one reserved mapping.
 */
#include <errno.h>
#include <sys/mman.h>

#include "ckpt.h"

static char *scratch_base;
static size_t scratch_size, scratch_used;

int ckpt_scratch_init(size_t size)
{
	scratch_base = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (scratch_base == MAP_FAILED) {
		scratch_base = NULL;
		return -errno;
	}
	scratch_size = size;
	scratch_used = 0;
	return 0;
}

void *ckpt_scratch_alloc(size_t size)
{
	void *p;

	size = (size + 63) & ~(size_t)63;
	if (!scratch_base || size > scratch_size - scratch_used)
		return NULL;
	p = scratch_base + scratch_used;
	scratch_used += size;
	return p;
}

int ckpt_scratch_contains(uint64_t start, uint64_t end)
{
	uint64_t b = (uint64_t)(uintptr_t)scratch_base;

	return scratch_base && start >= b && end <= b + scratch_size;
}

void ckpt_scratch_release(void)
{
	if (scratch_base)
		munmap(scratch_base, scratch_size);
	scratch_base = NULL;
}
