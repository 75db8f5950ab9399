/* SPDX-License-Identifier: MIT */
#ifndef CKPT_HASH_H
#define CKPT_HASH_H

#include <stddef.h>
#include <stdint.h>

/* XXH3-64 from libxxhash: checksums of image sections and page runs. */
uint64_t ckpt_hash(const void *buf, size_t len);
/* The hash of a followed by b, as if they were one buffer. */
uint64_t ckpt_hash_2(const void *a, size_t alen, const void *b, size_t blen);

#endif
