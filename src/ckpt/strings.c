/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "ckpt.h"

/* Adds s to the image's string table; returns its offset (0 = "" on overflow). */
uint32_t ckpt_str_add(struct ckpt_capture *c, const char *s)
{
	size_t len = strlen(s) + 1;
	uint32_t off = c->strings_len;

	if (len > c->strings_cap - c->strings_len)
		return 0;
	memcpy(c->strings + off, s, len);
	c->strings_len += len;
	return off;
}
