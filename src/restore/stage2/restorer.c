/* SPDX-License-Identifier: MIT */
/*
 * Stage 2 of ckpt-restore: runs from the hole, without libc, after stage 1
 * has validated the image and opened every file. It removes the old
 * address space, puts the vDSO where the image expects it, maps and fills
 * every region, restores the mm fields, recreates the threads with their
 * old TIDs and jumps into each one's saved context inside libckpt.
 */
#include <asm/prctl.h>
#include <linux/mman.h>
#include <linux/sched.h>
#include <stddef.h>
#include <stdint.h>

#include "rst.h"
#include "syscall.h"

#define TASK_SIZE	0x7ffffffff000ull
#define MAP_SHARED_	0x01
#define MAP_PRIVATE_	0x02
#define MAP_FIXED_	0x10
#define MAP_ANON_	0x20
#define MAP_GROWSDOWN_	0x0100
#define MAP_NORESERVE_	0x4000
#define MREMAP_MAYMOVE_	1
#define MREMAP_FIXED_	2
#define MADV_DONTFORK_	10
#define MADV_HUGEPAGE_	14
#define MADV_WIPEONFORK_ 18

static void unmap_range(struct rst_args *a, uint64_t start, uint64_t end)
{
	long ret;

	if (start >= end)
		return;
	ret = sys2(NR_munmap, start, end - start);
	if (ret)
		rst_die(a, "munmap of the old address space", start, ret);
}

/* Everything but the hole and our vDSO parts goes. */
static void unmap_old(struct rst_args *a)
{
	uint64_t keep[RST_VDSO_PARTS + 1][2];
	uint64_t from = 0;
	int n = 0;

	keep[n][0] = a->hole_start;
	keep[n++][1] = a->hole_start + a->hole_len;
	for (int i = 0; i < RST_VDSO_PARTS; i++) {
		if (!a->vdso_cur[i][0])
			continue;
		keep[n][0] = a->vdso_cur[i][0];
		keep[n++][1] = a->vdso_cur[i][1];
	}
	/* sort by start: at most four entries */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && keep[j][0] < keep[j - 1][0]; j--) {
			uint64_t s = keep[j][0], e = keep[j][1];

			keep[j][0] = keep[j - 1][0];
			keep[j][1] = keep[j - 1][1];
			keep[j - 1][0] = s;
			keep[j - 1][1] = e;
		}
	for (int i = 0; i < n; i++) {
		unmap_range(a, from, keep[i][0]);
		from = keep[i][1];
	}
	unmap_range(a, from, TASK_SIZE);
}

static void move_part(struct rst_args *a, uint64_t from, uint64_t len, uint64_t to)
{
	long ret = sys5(NR_mremap, from, len, len, MREMAP_MAYMOVE_ | MREMAP_FIXED_, to);

	if (ret < 0 && ret > -4096)
		rst_die(a, "mremap of the vDSO", to, ret);
}

/*
 * The restored libc calls the vDSO at the addresses it saw at startup, so
 * [vvar], [vvar_vclock] and [vdso] move, together, to the image's
 * addresses. Through a staging area in the hole, in case old and new
 * places overlap.
 */
static void move_vdso(struct rst_args *a)
{
	uint64_t tmp = a->vdso_tmp;

	for (int i = 0; i < RST_VDSO_PARTS; i++) {
		uint64_t len = a->vdso_cur[i][1] - a->vdso_cur[i][0];

		if (!a->vdso_cur[i][0])
			continue;
		if (!a->vdso_want[i]) {
			unmap_range(a, a->vdso_cur[i][0], a->vdso_cur[i][1]);
			continue;
		}
		move_part(a, a->vdso_cur[i][0], len, tmp);
		a->vdso_cur[i][0] = tmp;
		a->vdso_len[i] = len;
		tmp += len;
	}
	for (int i = 0; i < RST_VDSO_PARTS; i++) {
		if (a->vdso_want[i] && a->vdso_cur[i][0])
			move_part(a, a->vdso_cur[i][0], a->vdso_len[i], a->vdso_want[i]);
	}
}

static void fill_runs(struct rst_args *a, const struct rst_vma *v)
{
	for (uint32_t i = v->first_run; i < v->first_run + v->nr_runs; i++) {
		const struct rst_run *r = &a->runs[i];
		uint64_t len = r->npages * CKPT_PAGE_SIZE, done = 0;

		while (done < len) {
			long n = sys4(NR_pread64, r->fd, r->vaddr + done, len - done,
				      r->data_off + done);

			if (n == -4)	/* EINTR */
				continue;
			if (n <= 0)
				rst_die(a, "reading page data", r->vaddr + done, n ? n : -5);
			done += n;
		}
	}
}

/*
 * Private memory that is not a stack, heap or huge-page region keeps its
 * stored pages in the image file: they are mapped copy-on-write and read
 * by the kernel when first touched, so the program runs before its
 * memory is read. Stacks and the heap are read (they are small, and
 * [stack]/[heap] must stay anonymous VMAs), as is huge-page memory (file
 * pages would not be huge) and shared memory (a private file mapping
 * would not be shared).
 */
static int map_from_image(const struct rst_args *a, const struct rst_vma *v)
{
	if (!a->map_pages ||
	    (v->flags & (CKPT_REGF_SHARED | CKPT_REGF_HUGEPAGE | CKPT_REGF_WIPEONFORK)))
		return 0;
	return v->kind == CKPT_REG_ANON || v->kind == CKPT_REG_FILE;
}

static void map_runs(struct rst_args *a, const struct rst_vma *v)
{
	for (uint32_t i = v->first_run; i < v->first_run + v->nr_runs; i++) {
		const struct rst_run *r = &a->runs[i];
		long ret = sys6(NR_mmap, r->vaddr, r->npages * CKPT_PAGE_SIZE, v->prot,
				MAP_PRIVATE_ | MAP_FIXED_, r->fd, r->data_off);

		if (ret != (long)r->vaddr)
			rst_die(a, "mapping page data", r->vaddr, ret);
	}
}

/*
 * Memory whose contents stage 1 already wrote into the object it maps: a
 * memfd, or shared anonymous memory that processes of a tree share (made
 * once by the top ckpt-restore).
 */
static int filled_by_stage1(const struct rst_vma *v)
{
	return v->kind == CKPT_REG_MEMFD || (v->kind == CKPT_REG_SHANON && v->fd >= 0);
}

static void map_vma(struct rst_args *a, const struct rst_vma *v)
{
	uint64_t len = v->end - v->start;
	int shared = v->flags & CKPT_REGF_SHARED;
	int mapped = map_from_image(a, v);
	int filled = filled_by_stage1(v);
	long prot = v->prot | (v->nr_runs && !mapped && !filled ? PROT_WRITE | PROT_READ : 0);
	long flags = MAP_FIXED_ | (shared ? MAP_SHARED_ : MAP_PRIVATE_);
	long fd = -1, off = 0, ret;

	switch (v->kind) {
	case CKPT_REG_VDSO:
	case CKPT_REG_VVAR:
	case CKPT_REG_VVAR_VCLOCK:
		return;
	case CKPT_REG_FILE:
	case CKPT_REG_MEMFD:
		fd = v->fd;
		off = v->pgoff;
		break;
	case CKPT_REG_SHANON:
		if (v->fd >= 0) {
			fd = v->fd;
			off = v->pgoff;
		} else {
			flags |= MAP_ANON_ | MAP_NORESERVE_;
		}
		break;
	case CKPT_REG_STACK:
		flags |= MAP_ANON_ | MAP_GROWSDOWN_;
		break;
	default:
		flags |= MAP_ANON_ | MAP_NORESERVE_;
		break;
	}
	ret = sys6(NR_mmap, v->start, len, prot, flags, fd, off);
	if (ret != (long)v->start)
		rst_die(a, "mapping a region", v->start, ret);
	if (v->flags & CKPT_REGF_HUGEPAGE)
		sys3(NR_madvise, v->start, len, MADV_HUGEPAGE_);
	if (v->flags & CKPT_REGF_DONTFORK)
		sys3(NR_madvise, v->start, len, MADV_DONTFORK_);
	if (v->flags & CKPT_REGF_WIPEONFORK)
		sys3(NR_madvise, v->start, len, MADV_WIPEONFORK_);
	if (filled)
		return;
	if (mapped) {
		map_runs(a, v);
		return;
	}
	fill_runs(a, v);
	if (prot != v->prot) {
		ret = sys3(NR_mprotect, v->start, len, v->prot);
		if (ret)
			rst_die(a, "mprotect", v->start, ret);
	}
}

static void restore_mm(struct rst_args *a)
{
	long ret;

	a->mm.exe_fd = a->exe_fd;
	ret = sys5(NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &a->mm, sizeof(a->mm), 0);
	if (ret && a->exe_fd >= 0) {
		/* changing /proc/self/exe needs privileges we may lack: keep the rest */
		a->mm.exe_fd = -1;
		ret = sys5(NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &a->mm, sizeof(a->mm), 0);
	}
	if (ret)
		rst_die(a, "prctl(PR_SET_MM_MAP)", a->mm.start_brk, ret);
}

static void start_threads(struct rst_args *a)
{
	for (uint32_t i = 0; i < a->nr_threads; i++) {
		struct rst_thread *t = &a->threads[i];
		struct clone_args ca;
		int32_t tid = t->tid;
		long ret;

		if (t->leader)
			continue;
		__builtin_memset(&ca, 0, sizeof(ca));
		ca.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			   CLONE_SYSVSEM | CLONE_SETTLS;
		ca.tls = t->fs_base;
		ca.stack = t->stack;
		ca.stack_size = RST_THREAD_STACK;
		ca.set_tid = (uint64_t)(uintptr_t)&tid;
		ca.set_tid_size = 1;
		ret = rst_clone_thread(&ca, sizeof(ca), &t->ctx);
		if (ret < 0)
			rst_die(a, "clone3 of thread (tid in addr)", (uint64_t)tid, ret);
	}
}

void rst_main(struct rst_args *a)
{
	struct rst_thread *leader = 0;

	unmap_old(a);
	move_vdso(a);
	for (uint32_t i = 0; i < a->nr_vmas; i++)
		map_vma(a, &a->vmas[i]);
	restore_mm(a);
	*(struct ckpt_resume *)(uintptr_t)a->resume_addr = a->resume;
	for (uint32_t i = 0; i < a->nr_close; i++)
		sys1(NR_close, a->close_fds[i]);
	start_threads(a);
	for (uint32_t i = 0; i < a->nr_threads; i++)
		if (a->threads[i].leader)
			leader = &a->threads[i];
	sys2(NR_arch_prctl, ARCH_SET_FS, leader->fs_base);
	rst_jump(&leader->ctx);
}
