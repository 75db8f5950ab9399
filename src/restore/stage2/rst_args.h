/* SPDX-License-Identifier: MIT */
/*
 * What stage 1 of ckpt-restore (ordinary C) hands to stage 2 (the
 * freestanding restorer blob). Everything is validated and every file is
 * opened by stage 1; stage 2 only executes the plan. All pointers point
 * into the hole, the one range that both the old and the new address
 * space leave free.
 */
#ifndef CKPT_RST_ARGS_H
#define CKPT_RST_ARGS_H

#include <stdint.h>
#include <linux/prctl.h>

#include "ckpt/image.h"

#define RST_VDSO_PARTS	3	/* [vvar], [vvar_vclock], [vdso] */
#define RST_THREAD_STACK 8192

struct rst_vma {
	uint64_t start, end;
	uint64_t pgoff;
	uint32_t prot;
	uint32_t kind;			/* enum ckpt_region_kind */
	uint32_t flags;			/* CKPT_REGF_* */
	int32_t fd;			/* file or memfd to map, -1 for anonymous */
	uint32_t first_run, nr_runs;
};

struct rst_run {
	uint64_t vaddr, npages, data_off;
	int32_t fd;			/* the image (or decompressed copy) holding the data */
	uint32_t pad;
};

struct rst_thread {
	int32_t tid;
	int32_t leader;
	uint64_t fs_base;
	uint64_t stack;			/* bottom of its bootstrap stack in the hole */
	struct ckpt_jmp ctx;
};

struct rst_args {
	uint64_t hole_start, hole_len;
	uint64_t vdso_cur[RST_VDSO_PARTS][2];	/* where the kernel put ours; 0 = absent */
	uint64_t vdso_want[RST_VDSO_PARTS];	/* where the image had them; 0 = absent */
	uint64_t vdso_len[RST_VDSO_PARTS];	/* filled in by the restorer */
	uint64_t vdso_tmp;			/* staging area inside the hole */
	int32_t image_fd;
	int32_t log_fd;
	int32_t exe_fd;
	int32_t map_pages;		/* map stored pages from the image instead of reading */
	uint32_t nr_vmas, nr_runs, nr_threads, nr_close;
	uint32_t pad;
	struct rst_vma *vmas;
	struct rst_run *runs;
	struct rst_thread *threads;
	int32_t *close_fds;
	struct prctl_mm_map mm;
	uint64_t resume_addr;		/* where the library's struct ckpt_resume lives */
	struct ckpt_resume resume;
};

/* The blob's entry point, at offset 0: switches to stack and never returns. */
typedef void (*rst_entry_fn)(struct rst_args *args, uint64_t stack_top);

#endif
