/* SPDX-License-Identifier: MIT */
/* Growable arrays over mmap, for the writer child, where malloc is off limits. */
#include <string.h>
#include <sys/mman.h>

#include "ckpt.h"

void *ckpt_array_push(struct ckpt_array *a)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 4096;
		void *p = a->p ? mremap(a->p, a->cap * a->elem, ncap * a->elem, MREMAP_MAYMOVE) :
				 mmap(NULL, ncap * a->elem, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return NULL;
		a->p = p;
		a->cap = ncap;
	}
	return (char *)a->p + a->n++ * a->elem;
}

void *ckpt_array_last(struct ckpt_array *a)
{
	return a->n ? (char *)a->p + (a->n - 1) * a->elem : NULL;
}

void ckpt_array_free(struct ckpt_array *a)
{
	if (a->p)
		munmap(a->p, a->cap * a->elem);
	memset(a, 0, sizeof(*a));
}
