/* SPDX-License-Identifier: MIT */
/*
 * madvise(MADV_DONTFORK) takes memory out of fork()'s copy, and
 * MADV_WIPEONFORK empties it there, and so in the writer's snapshot. Noting that the program uses it lets a
 * checkpoint look for such memory (an expensive smaps walk) only when
 * there can be some: src/ckpt/dontfork.c.
 */
#include <sys/mman.h>

#include "ckpt.h"
#include "real.h"

CKPT_EXPORT int madvise(void *addr, size_t len, int advice)
{
	if (advice == MADV_DONTFORK || advice == MADV_WIPEONFORK)
		ckpt_dontfork_used = 1;
	return REAL(madvise)(addr, len, advice);
}
