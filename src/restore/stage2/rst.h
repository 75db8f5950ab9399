/* SPDX-License-Identifier: MIT */
#ifndef CKPT_RST_H
#define CKPT_RST_H

#include <stdint.h>

#include "rst_args.h"

/* Exit status when the restorer fails after the old address space is gone. */
#define CKPT_RST_EXIT	1

struct clone_args;

void rst_die(const struct rst_args *a, const char *what, uint64_t addr, long err)
	__attribute__((noreturn));
long rst_clone_thread(struct clone_args *ca, unsigned long size, const struct ckpt_jmp *ctx);
void rst_jump(const struct ckpt_jmp *ctx) __attribute__((noreturn));
void rst_main(struct rst_args *a) __attribute__((noreturn));

#endif
