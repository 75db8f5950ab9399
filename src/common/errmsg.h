/* SPDX-License-Identifier: MIT */
#ifndef CKPT_ERRMSG_H
#define CKPT_ERRMSG_H

#include <stddef.h>

/* Formats a one-line reason into err and returns code (an enum ckpt_exit). */
int ckpt_errmsg(char *err, size_t len, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
