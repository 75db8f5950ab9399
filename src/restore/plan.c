/* SPDX-License-Identifier: MIT */
/*
 * The hole: one range, free in the image's address space and in ours,
 * that holds the restorer blob, its arguments and the bootstrap stacks.
 * The restorer runs from there while everything around it is replaced;
 * the restored library unmaps it at the end (ckpt_resume.hole_*).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "log.h"
#include "restore.h"

#define MIN_ADDR	0x10000ull
#define MAX_ADDR	0x7ffffffff000ull
#define STAGE2_STACK	(64u << 10)
#define VDSO_STAGING	(256u << 10)

extern const char ckpt_restorer_blob[], ckpt_restorer_blob_end[];

static uint64_t page_up(uint64_t v)
{
	return (v + CKPT_PAGE_SIZE - 1) & ~(uint64_t)(CKPT_PAGE_SIZE - 1);
}

static int try_hole(uint64_t addr, uint64_t size)
{
	void *p;

	if (addr < MIN_ADDR || addr + size > MAX_ADDR)
		return 0;
	p = mmap((void *)(uintptr_t)addr, size, PROT_READ | PROT_WRITE | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	if ((uint64_t)(uintptr_t)p != addr) {
		munmap(p, size);
		return 0;
	}
	return 1;
}

/* Tries each gap between the image's regions, high addresses first. */
static uint64_t find_hole(const struct ckpt_image *img, uint64_t size)
{
	for (int64_t i = img->nr_regions; i >= 0; i--) {
		uint64_t lo = i ? img->regions[i - 1].end : MIN_ADDR;
		uint64_t hi = i < (int64_t)img->nr_regions ? img->regions[i].start : MAX_ADDR;

		/* one guard page on each side, so nothing grows into us */
		lo += CKPT_PAGE_SIZE;
		if (hi < lo + size + CKPT_PAGE_SIZE)
			continue;
		hi -= CKPT_PAGE_SIZE;
		for (uint64_t step = 0; step < 64; step++) {
			uint64_t at = hi - size - step * (size + (16ull << 20));

			if (at < lo || at > hi)
				break;
			if (try_hole(at, size))
				return at;
		}
		if (try_hole(lo, size))
			return lo;
	}
	return 0;
}

struct layout {
	uint64_t blob, args, auxv, vmas, runs, threads, close_fds, stacks, stage2_stack, vdso, size;
};

static void compute_layout(const struct rst_ctx *x, struct layout *l)
{
	const struct ckpt_image *img = x->img;
	uint64_t off = 0;

	l->blob = off;
	off = page_up(off + (ckpt_restorer_blob_end - ckpt_restorer_blob));
	l->args = off;
	off = page_up(off + sizeof(struct rst_args));
	l->auxv = off;
	off = page_up(off + sizeof(img->proc->auxv));
	l->vmas = off;
	off = page_up(off + img->nr_regions * sizeof(struct rst_vma));
	l->runs = off;
	off = page_up(off + x->chain->nr_runs * sizeof(struct rst_run));
	l->threads = off;
	off = page_up(off + img->nr_threads * sizeof(struct rst_thread));
	l->close_fds = off;
	off = page_up(off + (x->nr_close + 1) * sizeof(int32_t));
	l->stacks = off;
	off += (uint64_t)img->nr_threads * RST_THREAD_STACK;
	l->stage2_stack = off;
	off += STAGE2_STACK;
	l->vdso = off;
	off += VDSO_STAGING;
	l->size = page_up(off);
}

static void fill_vmas(const struct rst_ctx *x, struct rst_args *a, char *base,
		      const struct layout *l)
{
	const struct ckpt_image *img = x->img;

	a->vmas = (struct rst_vma *)(base + l->vmas);
	a->runs = (struct rst_run *)(base + l->runs);
	a->nr_vmas = img->nr_regions;
	a->nr_runs = x->chain->nr_runs;
	for (uint32_t i = 0; i < img->nr_regions; i++) {
		const struct ckpt_region *r = &img->regions[i];
		struct rst_vma *v = &a->vmas[i];

		v->start = r->start;
		v->end = r->end;
		v->pgoff = r->pgoff;
		v->prot = r->prot;
		v->kind = r->kind;
		v->flags = r->flags;
		v->fd = x->region_fd[i];
		v->first_run = x->chain->first[i];
		v->nr_runs = x->chain->count[i];
	}
	for (uint32_t i = 0; i < x->chain->nr_runs; i++) {
		a->runs[i] = x->chain->runs[i];
		a->runs[i].fd = rst_chain_fd(x->chain, &x->chain->runs[i]);
	}
}

static void fill_threads(const struct rst_ctx *x, struct rst_args *a, char *base,
			 const struct layout *l, uint64_t hole)
{
	a->threads = (struct rst_thread *)(base + l->threads);
	a->nr_threads = x->img->nr_threads;
	for (uint32_t i = 0; i < x->img->nr_threads; i++) {
		const struct ckpt_thread *t = &x->img->threads[i];
		struct rst_thread *rt = &a->threads[i];

		rt->tid = t->tid;
		rt->leader = t->tid == x->img->proc->pid;
		rt->fs_base = t->fs_base;
		rt->stack = hole + l->stacks + (uint64_t)i * RST_THREAD_STACK;
		rt->ctx = t->ctx;
	}
}

static void fill_mm(const struct ckpt_proc *p, struct rst_args *a)
{
	struct prctl_mm_map *mm = &a->mm;

	memset(mm, 0, sizeof(*mm));
	mm->start_code = p->start_code;
	mm->end_code = p->end_code;
	mm->start_data = p->start_data;
	mm->end_data = p->end_data;
	mm->start_brk = p->start_brk;
	mm->brk = p->brk;
	mm->start_stack = p->start_stack;
	mm->arg_start = p->arg_start;
	mm->arg_end = p->arg_end;
	mm->env_start = p->env_start;
	mm->env_end = p->env_end;
	mm->auxv_size = p->auxv_words * sizeof(uint64_t);
	mm->exe_fd = -1;
}

static void fill_vdso(const struct ckpt_image *img, struct rst_args *a)
{
	static const uint32_t kinds[RST_VDSO_PARTS] = {
		CKPT_REG_VVAR, CKPT_REG_VVAR_VCLOCK, CKPT_REG_VDSO
	};

	rst_current_vdso(a->vdso_cur);
	for (int k = 0; k < RST_VDSO_PARTS; k++)
		for (uint32_t i = 0; i < img->nr_regions; i++)
			if (img->regions[i].kind == kinds[k])
				a->vdso_want[k] = img->regions[i].start;
}

int rst_plan(struct rst_ctx *x, struct rst_launch *out)
{
	const struct ckpt_proc *p = x->img->proc;
	struct layout l;
	struct rst_args *a;
	uint64_t hole;
	char *base;

	compute_layout(x, &l);
	hole = find_hole(x->img, l.size);
	if (!hole) {
		snprintf(x->err, sizeof(x->err),
			 "no free range of %llu KiB for the restorer in the image's address space",
			 (unsigned long long)(l.size >> 10));
		return CKPT_EXIT_ENV;
	}
	base = (char *)(uintptr_t)hole;
	memcpy(base + l.blob, ckpt_restorer_blob, ckpt_restorer_blob_end - ckpt_restorer_blob);
	a = (struct rst_args *)(base + l.args);
	memset(a, 0, sizeof(*a));
	a->hole_start = hole;
	a->hole_len = l.size;
	a->vdso_tmp = hole + l.vdso;
	a->image_fd = x->img->fd;
	a->log_fd = 2;
	a->exe_fd = x->exe_fd;
	a->map_pages = !x->opts->eager;
	fill_vmas(x, a, base, &l);
	fill_threads(x, a, base, &l, hole);
	fill_mm(p, a);
	/* auxv is read by the kernel at prctl time, after our heap is gone */
	memcpy(base + l.auxv, p->auxv, sizeof(p->auxv));
	a->mm.auxv = (__u64 *)(uintptr_t)(hole + l.auxv);
	fill_vdso(x->img, a);
	a->close_fds = (int32_t *)(base + l.close_fds);
	memcpy(a->close_fds, x->close_fds, x->nr_close * sizeof(int32_t));
	a->nr_close = x->nr_close;
	a->resume_addr = p->lib_resume;
	a->resume.magic = CKPT_RESUME_MAGIC;
	a->resume.hole_start = hole;
	a->resume.hole_len = l.size;
	a->resume.image_fd = x->img->fd;
	a->resume.log_level = x->opts->log_level;
	a->resume.restore_start_ns = x->opts->start_ns;
	/* the files our memory is mapped from: the library saves those pages as its own */
	for (uint32_t k = 0; a->map_pages && k < 2 * x->chain->n; k++) {
		int fd = k % 2 ? x->chain->memfd[k / 2] : x->chain->imgs[k / 2]->fd;
		struct stat st;

		if (fd < 0 || fstat(fd, &st) || a->resume.nr_images >= 2 * CKPT_MAX_CHAIN)
			continue;
		a->resume.images[a->resume.nr_images].dev = st.st_dev;
		a->resume.images[a->resume.nr_images++].ino = st.st_ino;
	}
	pr_debug("restorer at %#llx (%llu KiB), %u regions, %u threads",
		 (unsigned long long)hole, (unsigned long long)(l.size >> 10), a->nr_vmas,
		 a->nr_threads);
	out->entry = (rst_entry_fn)(uintptr_t)(hole + l.blob);
	out->args = a;
	out->stack_top = hole + l.stage2_stack + STAGE2_STACK;
	return CKPT_EXIT_OK;
}
