/* SPDX-License-Identifier: MIT */
/*
 * The writer child: it runs in the copy-on-write snapshot that fork()
 * made of the stopped application, so it reads memory as it was at the
 * checkpoint while the application already runs on. It stores only
 * what restore cannot recreate: pages that were touched (pagemap says
 * present or swapped), are not all zeros, and, for file mappings, were
 * modified (private copy). Single-threaded and malloc-free: the heap
 * lock may have been held by a stopped thread when fork() happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <asm/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt.h"
#include "image_write.h"
#include "io.h"
#include "log.h"

#define PM_PRESENT	(1ull << 63)
#define PM_SWAP		(1ull << 62)
#define PM_FILE		(1ull << 61)
#define PM_CHUNK	4096			/* pagemap entries read at once */
#define RUN_MAX_PAGES	16384			/* 64 MiB: progress granularity */
#define ZRUN_MAX_PAGES	256			/* 1 MiB: one zstd frame */
#define PROGRESS_BYTES	(64ull << 20)

struct write_ctx {
	struct ckpt_capture *c;
	struct ckpt_writer w;
	int pagemap;
	struct ckpt_array runs;		/* struct ckpt_run */
	struct ckpt_array srcs;		/* compression: where each run's pages are */
	int dir;
	struct increment inc;
	uint64_t done, total, next_report;
	char path[4096];
};

static int page_is_zero(const void *p)
{
	const uint64_t *q = p;

	for (size_t i = 0; i < CKPT_PAGE_SIZE / 8; i += 4)
		if (q[i] | q[i + 1] | q[i + 2] | q[i + 3])
			return 0;
	return 1;
}

static int read_pagemap(int fd, uint64_t addr, size_t n, uint64_t *out)
{
	return ckpt_pread_all(fd, out, n * 8, (addr / CKPT_PAGE_SIZE) * 8) ? -EIO : 0;
}

static int page_wanted(const struct cap_region *cr, uint64_t pm)
{
	const struct ckpt_region *r = &cr->r;

	if (cr->copy)
		return !!(pm & (PM_PRESENT | PM_SWAP));
	if (cr->all_pages)
		return 1;	/* pages not yet touched are data too (read from the file) */
	if (r->kind == CKPT_REG_FILE)
		return (pm & PM_SWAP) || ((pm & PM_PRESENT) && !(pm & PM_FILE));
	return !!(pm & (PM_PRESENT | PM_SWAP));
}

static int region_stored(const struct cap_region *cr)
{
	switch (cr->r.kind) {
	case CKPT_REG_VDSO:
	case CKPT_REG_VVAR:
	case CKPT_REG_VVAR_VCLOCK:
		return 0;
	case CKPT_REG_FILE:
		return !(cr->r.flags & CKPT_REGF_SHARED);
	default:
		return 1;
	}
}

static void report_progress(struct write_ctx *x)
{
	if (x->done < x->next_report)
		return;
	x->next_report = x->done + PROGRESS_BYTES;
	pr_info("checkpoint %u: %" PRIu64 " of %" PRIu64 " MiB written", x->c->seq,
		x->done >> 20, x->total >> 20);
	ckpt_status_write(x->c->seq, x->c->nonce, "writing", x->path, x->done, x->total, NULL);
}

/* Emits the run [first, first + n) pages of src, which map to vaddr. */
static int flush_run(struct write_ctx *x, const char *src, uint64_t vaddr, uint64_t n)
{
	struct ckpt_run *run;
	int ret;

	if (!n)
		return 0;
	run = ckpt_array_push(&x->runs);
	if (!run)
		return -ENOMEM;
	if (ckpt_cfg.compress) {
		/* compressed later, in parallel: remember where the pages are */
		const void **where = ckpt_array_push(&x->srcs);

		if (!where)
			return -ENOMEM;
		*where = src;
		memset(run, 0, sizeof(*run));	/* stored_hash, pad: 0 until compressed */
		run->npages = n;
		run->vaddr = vaddr;
		x->done += n * CKPT_PAGE_SIZE;
		return 0;
	}
	ret = ckpt_writer_pages(&x->w, src, n, run);
	if (ret)
		return ret;
	run->vaddr = vaddr;
	x->done += n * CKPT_PAGE_SIZE;
	report_progress(x);
	return 0;
}

static int write_region(struct write_ctx *x, struct cap_region *cr)
{
	struct ckpt_region *r = &cr->r;
	const char *src = cr->copy ? cr->copy : (const char *)(uintptr_t)r->start;
	uint64_t npages = (r->end - r->start) / CKPT_PAGE_SIZE;
	uint64_t pm[PM_CHUNK], run_start = 0, run_len = 0;
	/* compressed runs are smaller, so that the workers share the work evenly */
	uint64_t max_run = ckpt_cfg.compress ? ZRUN_MAX_PAGES : RUN_MAX_PAGES;
	int ret;

	r->first_run = x->runs.n;
	if (!region_stored(cr))
		goto out;
	if (!(r->prot & PROT_READ) && !cr->copy &&
	    mprotect((void *)(uintptr_t)r->start, r->end - r->start, r->prot | PROT_READ))
		return -errno;
	for (uint64_t base = 0; base < npages; base += PM_CHUNK) {
		uint64_t n = npages - base < PM_CHUNK ? npages - base : PM_CHUNK;

		ret = read_pagemap(x->pagemap, (uint64_t)(uintptr_t)src + base * CKPT_PAGE_SIZE,
				   n, pm);
		if (ret)
			return ret;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t pg = base + i;
			int keep = page_wanted(cr, pm[i]);

			if (keep) {
				const char *page = src + pg * CKPT_PAGE_SIZE;

				r->bytes_present += CKPT_PAGE_SIZE;
				keep = !page_is_zero(page);
				if (keep) {
					ret = ckpt_incr_page(&x->inc, r->start + pg * CKPT_PAGE_SIZE,
							     page);
					if (ret < 0)
						return ret;
					keep = !ret;	/* 1: the parent has it */
				}
			}
			if (keep && run_len && run_start + run_len == pg && run_len < max_run) {
				run_len++;
				continue;
			}
			ret = flush_run(x, src + run_start * CKPT_PAGE_SIZE,
					r->start + run_start * CKPT_PAGE_SIZE, run_len);
			if (ret)
				return ret;
			run_len = keep;
			run_start = pg;
		}
	}
	ret = flush_run(x, src + run_start * CKPT_PAGE_SIZE, r->start + run_start * CKPT_PAGE_SIZE,
			run_len);
	if (ret)
		return ret;
out:
	r->nr_runs = x->runs.n - r->first_run;
	for (uint32_t i = r->first_run; i < x->runs.n; i++)
		r->bytes_stored += ((struct ckpt_run *)x->runs.p)[i].npages * CKPT_PAGE_SIZE;
	return 0;
}

/*
 * The writer runs on a stack of its own, but its thread pointer is still
 * the coordinator's, and libc writes there (errno): copy the region that
 * holds it before the first system call that could fail, and save the copy.
 */
int ckpt_writer_freeze_tls(struct ckpt_capture *c)
{
	uint64_t fs, pm[PM_CHUNK];
	int pagemap;

	if (syscall(SYS_arch_prctl, ARCH_GET_FS, &fs))
		return -EIO;
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap < 0)
		return -EIO;
	for (uint32_t i = 0; i < c->nr_regions; i++) {
		struct cap_region *cr = &c->regions[i];
		uint64_t len = cr->r.end - cr->r.start;
		char *copy;

		if (fs < cr->r.start || fs >= cr->r.end || cr->copy)
			continue;
		copy = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (copy == MAP_FAILED)
			break;
		for (uint64_t base = 0; base < len / CKPT_PAGE_SIZE; base += PM_CHUNK) {
			uint64_t n = len / CKPT_PAGE_SIZE - base;

			n = n < PM_CHUNK ? n : PM_CHUNK;
			if (read_pagemap(pagemap, cr->r.start + base * CKPT_PAGE_SIZE, n, pm))
				break;
			for (uint64_t k = 0; k < n; k++)
				if (pm[k] & (PM_PRESENT | PM_SWAP))
					memcpy(copy + (base + k) * CKPT_PAGE_SIZE,
					       (char *)(uintptr_t)cr->r.start +
					       (base + k) * CKPT_PAGE_SIZE, CKPT_PAGE_SIZE);
		}
		cr->copy = copy;
	}
	close(pagemap);
	return 0;
}

static struct cap_region *region_at(struct ckpt_capture *c, uint64_t start)
{
	for (uint32_t i = 0; i < c->nr_regions; i++)
		if (c->regions[i].r.start == start)
			return &c->regions[i];
	return NULL;
}

/*
 * VmFlags that maps does not show, from smaps: read here in the child
 * (fork keeps them) because smaps walks page tables, too slow for the
 * pause. hg: MADV_HUGEPAGE, kept at restore so huge pages stay huge.
 */
static void read_vma_flags(struct ckpt_capture *c)
{
	size_t cap = 64u << 20, len = 0;
	char *buf = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct cap_region *cur = NULL;
	int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	char *line, *next;
	ssize_t n;

	if (buf == MAP_FAILED || fd < 0)
		goto out;
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += n;
	buf[len] = 0;
	for (line = buf; *line; line = next) {
		char *dash;
		uint64_t start;

		next = strchr(line, '\n');
		if (!next)
			break;
		*next++ = 0;
		start = strtoull(line, &dash, 16);
		if (dash != line && *dash == '-')	/* "start-end perms ..." */
			cur = region_at(c, start);
		else if (cur && !strncmp(line, "VmFlags:", 8)) {
			if (strstr(line, " hg"))
				cur->r.flags |= CKPT_REGF_HUGEPAGE;
			if (strstr(line, " dd"))
				cur->r.flags |= CKPT_REGF_DONTDUMP;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	if (buf != MAP_FAILED)
		munmap(buf, cap);
}

/*
 * Every region to save must be in this snapshot: memory marked
 * MADV_DONTFORK behind libc's back (a raw system call) would not be,
 * and would silently be saved as zeros.
 */
static int check_snapshot(struct ckpt_capture *c)
{
	size_t cap = 16u << 20;
	char *buf = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ssize_t n;
	int ret = 0;

	if (buf == MAP_FAILED)
		return -ENOMEM;
	n = ckpt_read_file("/proc/self/maps", buf, cap);
	for (uint32_t i = 0; n > 0 && i < c->nr_regions && !ret; i++) {
		const struct cap_region *cr = &c->regions[i];
		uint64_t need = cr->r.start;
		const char *line;

		if (!region_stored(cr) || cr->copy)
			continue;
		for (line = buf; line && *line && need < cr->r.end; line = strchr(line, '\n')) {
			char *dash;
			uint64_t s, e;

			if (*line == '\n')
				line++;
			s = strtoull(line, &dash, 16);
			e = strtoull(dash + 1, NULL, 16);
			if (s <= need && need < e)
				need = e;
		}
		if (need < cr->r.end) {
			pr_err("memory at %#" PRIx64 "-%#" PRIx64 " is missing from the snapshot "
			       "(MADV_DONTFORK through a raw system call?)", cr->r.start, cr->r.end);
			ret = -EFAULT;
		}
	}
	munmap(buf, cap);
	return ret;
}

/* Bytes that pagemap reports resident: the total shown in progress. */
static uint64_t count_present(struct write_ctx *x)
{
	uint64_t pm[PM_CHUNK], total = 0;

	for (uint32_t k = 0; k < x->c->nr_regions; k++) {
		struct cap_region *cr = &x->c->regions[k];
		const char *src = cr->copy ? cr->copy : (const char *)(uintptr_t)cr->r.start;
		uint64_t npages = (cr->r.end - cr->r.start) / CKPT_PAGE_SIZE;

		if (!region_stored(cr))
			continue;
		for (uint64_t base = 0; base < npages; base += PM_CHUNK) {
			uint64_t n = npages - base < PM_CHUNK ? npages - base : PM_CHUNK;

			if (read_pagemap(x->pagemap, (uint64_t)(uintptr_t)src + base * CKPT_PAGE_SIZE,
					 n, pm))
				return 0;
			for (uint64_t i = 0; i < n; i++)
				total += page_wanted(cr, pm[i]) * CKPT_PAGE_SIZE;
		}
	}
	return total;
}

static int open_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

/* The root of a tree: every member's image, once they are all complete. */
static int write_tree(struct write_ctx *x)
{
	const struct ckpt_tree_proc *t;
	uint32_t nr = 0;

	t = ckpt_tree_collect(&nr, x->c->error, sizeof(x->c->error));
	if (!t)
		return -ECANCELED;
	return ckpt_writer_section(&x->w, CKPT_SEC_TREE, t, nr * sizeof(*t));
}

static int write_metadata(struct write_ctx *x)
{
	struct ckpt_capture *c = x->c;
	struct ckpt_writer *w = &x->w;
	size_t rsize = c->nr_regions * sizeof(struct ckpt_region);
	struct ckpt_region *regions;
	int ret;

	regions = mmap(NULL, rsize ? rsize : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (regions == MAP_FAILED)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->nr_regions; i++)
		regions[i] = c->regions[i].r;
	ret = ckpt_writer_section(w, CKPT_SEC_PROC, &c->proc, sizeof(c->proc));
	if (!ret)
		ret = ckpt_writer_section(w, CKPT_SEC_STRINGS, c->strings, c->strings_len);
	if (!ret)
		ret = ckpt_writer_section(w, CKPT_SEC_THREADS, ckpt_slots,
					  ckpt_nr_slots * sizeof(struct thread_slot));
	if (!ret)
		ret = ckpt_writer_section(w, CKPT_SEC_REGIONS, regions, rsize);
	if (!ret)
		ret = ckpt_writer_section(w, CKPT_SEC_RUNS, x->runs.p,
					  x->runs.n * sizeof(struct ckpt_run));
	if (!ret)
		ret = ckpt_incr_sections(&x->inc, w);
	if (!ret)
		ret = ckpt_writer_section(w, CKPT_SEC_FDS, c->fds,
					  c->nr_fds * sizeof(struct ckpt_fd));
	if (!ret && c->fddata_len)
		ret = ckpt_writer_section(w, CKPT_SEC_FDDATA, c->fddata, c->fddata_len);
	if (!ret && c->nr_timers)
		ret = ckpt_writer_section(w, CKPT_SEC_TIMERS, c->timers,
					  c->nr_timers * sizeof(struct ckpt_timer));
	if (!ret && c->tree && !ckpt_tree_is_member())
		ret = write_tree(x);
	for (uint32_t i = 0; !ret; i++) {
		struct ckpt_plugin_hdr ph;
		const void *data;

		if (!ckpt_plugin_blob(c, i, &ph, &data))
			break;
		ret = ckpt_writer_section2(w, CKPT_SEC_PLUGIN, &ph, sizeof(ph), data, ph.size);
	}
	munmap(regions, rsize ? rsize : 1);
	return ret;
}

int ckpt_write_image(struct ckpt_capture *c, char *path, size_t pathlen, uint32_t *depth)
{
	struct write_ctx *x;
	struct ckpt_header hdr;
	char name[256];
	int dir, ret;

	x = mmap(NULL, sizeof(*x), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x == MAP_FAILED)
		return -ENOMEM;
	memset(x, 0, sizeof(*x));
	x->c = c;
	x->runs.elem = sizeof(struct ckpt_run);
	x->srcs.elem = sizeof(void *);
	dir = open_dir(c->dir);
	if (dir < 0) {
		snprintf(path, pathlen, "%s", c->dir);	/* what failed */
		return dir;
	}
	x->dir = dir;
	snprintf(name, sizeof(name), "ckpt_%s_%d_%u.img", ckpt_cfg.name, c->proc.pid, c->seq);
	snprintf(x->path, sizeof(x->path), "%s/%s", c->dir, name);
	snprintf(path, pathlen, "%s", x->path);
	x->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (x->pagemap < 0)
		return -errno;
	ret = ckpt_writer_open(&x->w, dir, name, ckpt_cfg.durable);
	if (ret)
		return ret;
	ret = check_snapshot(c);
	if (ret) {
		ckpt_writer_abort(&x->w);
		return ret;
	}
	read_vma_flags(c);
	ckpt_incr_begin(&x->inc, c);
	x->total = count_present(x);
	x->next_report = PROGRESS_BYTES;
	for (uint32_t i = 0; i < c->nr_regions && !ret; i++)
		ret = write_region(x, &c->regions[i]);
	if (!ret && ckpt_cfg.compress) {
		ret = ckpt_compress_runs(&x->w, x->dir, x->runs.p, x->srcs.p, x->runs.n);
		for (uint32_t i = 0; !ret && i < c->nr_regions; i++) {
			struct ckpt_region *r = &c->regions[i].r;

			r->bytes_stored = 0;
			for (uint32_t j = r->first_run; j < r->first_run + r->nr_runs; j++)
				r->bytes_stored += ((struct ckpt_run *)x->runs.p)[j].stored_len;
		}
	}
	if (!ret)
		ret = ckpt_writer_end_pages(&x->w);
	if (!ret)
		ret = write_metadata(x);
	if (ret) {
		ckpt_writer_abort(&x->w);
		ckpt_incr_end(&x->inc);
		return ret;
	}
	*depth = ckpt_incr_depth(&x->inc);
	memset(&hdr, 0, sizeof(hdr));
	hdr.created_ns = c->created_ns;
	hdr.pause_ns = c->pause_ns;
	hdr.pid = c->proc.pid;
	hdr.seq = c->seq;
	hdr.flags = ckpt_tree_is_member() ? CKPT_HDR_TREE_MEMBER : 0;
	memcpy(hdr.comm, c->proc.comm, sizeof(hdr.comm));
	ret = ckpt_writer_finish(&x->w, &hdr);
	if (!ret)
		ckpt_tree_written(&hdr, NULL);
	if (!ret && x->inc.has_parent)
		pr_info("checkpoint %u: %s (%" PRIu64 " MiB of data, %" PRIu64
			" MiB unchanged in %s)", c->seq, x->path, x->done >> 20,
			ckpt_incr_inherited_bytes(&x->inc) >> 20, x->inc.parent.name);
	else if (!ret)
		pr_info("checkpoint %u: %s (%" PRIu64 " MiB of data, %zu runs)", c->seq, x->path,
			x->done >> 20, x->runs.n);
	ckpt_incr_end(&x->inc);
	return ret;
}
