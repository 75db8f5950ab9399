/* SPDX-License-Identifier: MIT */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "hash.h"

uint64_t ckpt_hash(const void *buf, size_t len)
{
	return XXH3_64bits(buf, len);
}

uint64_t ckpt_hash_2(const void *a, size_t alen, const void *b, size_t blen)
{
	XXH3_state_t st;	/* on the stack: no malloc in the writer child */

	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, a, alen);
	if (blen)
		XXH3_64bits_update(&st, b, blen);
	return XXH3_64bits_digest(&st);
}
