/* SPDX-License-Identifier: MIT */
/*
 * Files that regions map: libraries and other files are opened again by
 * path (and checked once more, now that they are open); memfds are
 * created anew and filled from the image. One fd per file, shared by all
 * regions that map it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "restore.h"

static int find_same(struct rst_ctx *x, uint32_t upto, const struct ckpt_region *r, int rw)
{
	for (uint32_t i = 0; i < upto; i++) {
		const struct ckpt_region *o = &x->img->regions[i];
		int orw = (o->flags & CKPT_REGF_SHARED) && (o->prot & PROT_WRITE);

		/* a memfd is one object however it is mapped; files are opened per access mode */
		if (x->region_fd[i] >= 0 && o->kind == r->kind && o->dev == r->dev &&
		    o->ino == r->ino && (orw == rw || r->kind == CKPT_REG_MEMFD))
			return x->region_fd[i];
	}
	return -1;
}

static int open_file(struct rst_ctx *x, const struct ckpt_region *r, int rw)
{
	const char *path = ckpt_image_str(x->img, r->name_str);
	struct stat st;
	int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);

	if (fd < 0) {
		snprintf(x->err, sizeof(x->err), "mapped file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || (!(r->flags & CKPT_REGF_FILE_WRITABLE) &&
			       ((uint64_t)st.st_size != r->file_size ||
				st.st_mtim.tv_sec != r->mtime_sec ||
				st.st_mtim.tv_nsec != r->mtime_nsec))) {
		snprintf(x->err, sizeof(x->err), "mapped file %s changed since the checkpoint", path);
		close(fd);
		return -1;
	}
	return rst_high_fd(x, fd);
}

/* "/memfd:NAME (deleted)" -> NAME */
static void memfd_name(const char *path, char *out, size_t len)
{
	const char *s = path + 7;
	size_t n = strlen(s);

	if (n >= 10 && !strcmp(s + n - 10, " (deleted)"))
		n -= 10;
	snprintf(out, len, "%.*s", (int)n, s);
}

static int fill_memfd(struct rst_ctx *x, int fd, const struct ckpt_region *r)
{
	uint32_t reg = r - x->img->regions;

	for (uint32_t i = 0; i < x->chain->count[reg]; i++) {
		const struct rst_run *run = &x->chain->runs[x->chain->first[reg] + i];
		size_t len = run->npages * CKPT_PAGE_SIZE;
		void *buf = malloc(len);
		int ret;

		if (!buf)
			return CKPT_EXIT_FAIL;
		ret = rst_chain_read(x->chain, run, buf, x->err, sizeof(x->err));
		if (!ret && pwrite(fd, buf, len, r->pgoff + (run->vaddr - r->start)) != (ssize_t)len) {
			snprintf(x->err, sizeof(x->err), "writing memfd contents: %s", strerror(errno));
			ret = CKPT_EXIT_FAIL;
		}
		free(buf);
		if (ret)
			return ret;
	}
	return 0;
}

static int create_memfd(struct rst_ctx *x, const struct ckpt_region *r)
{
	char name[256];
	int fd;

	memfd_name(ckpt_image_str(x->img, r->name_str), name, sizeof(name));
	fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, r->file_size)) {
		snprintf(x->err, sizeof(x->err), "memfd %s: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return rst_high_fd(x, fd);
}

int rst_open_mapped_files(struct rst_ctx *x)
{
	for (uint32_t i = 0; i < x->img->nr_regions; i++)
		x->region_fd[i] = -1;
	for (uint32_t i = 0; i < x->img->nr_regions; i++) {
		const struct ckpt_region *r = &x->img->regions[i];
		int rw = (r->flags & CKPT_REGF_SHARED) && (r->prot & PROT_WRITE);
		int fd;

		if (r->kind != CKPT_REG_FILE && r->kind != CKPT_REG_MEMFD)
			continue;
		fd = find_same(x, i, r, rw);
		if (fd < 0)
			fd = r->kind == CKPT_REG_FILE ? open_file(x, r, rw) : create_memfd(x, r);
		if (fd < 0)
			return CKPT_EXIT_FILES;
		x->region_fd[i] = fd;
		if (r->kind == CKPT_REG_MEMFD && fill_memfd(x, fd, r))
			return CKPT_EXIT_CORRUPT;
	}
	return CKPT_EXIT_OK;
}
