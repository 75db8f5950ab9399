/* SPDX-License-Identifier: MIT */
/*
 * Files that regions map: libraries and other files are opened again by
 * path (and checked once more, now that they are open); memfds are
 * created anew and filled from the image. One fd per file, shared by all
 * regions that map it. In a tree, shared anonymous memory and memfds that
 * other processes map too were made and filled once by the top
 * (tree_objs.c): the regions take that fd, and stage 2 maps it.
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
#include "errmsg.h"
#include "io.h"
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
void rst_memfd_name(const char *path, char *out, size_t len)
{
	const char *s = path + 7;
	size_t n = strlen(s);

	if (n >= 10 && !strcmp(s + n - 10, " (deleted)"))
		n -= 10;
	snprintf(out, len, "%.*s", (int)n, s);
}

int rst_region_fill(const struct rst_chain *ch, uint32_t reg, int fd, char *err, size_t len)
{
	const struct ckpt_region *r = &ch->imgs[0]->regions[reg];

	for (uint32_t i = 0; i < ch->count[reg]; i++) {
		const struct rst_run *run = &ch->runs[ch->first[reg] + i];
		size_t bytes = run->npages * CKPT_PAGE_SIZE;
		void *buf = malloc(bytes);
		int ret;

		if (!buf)
			return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
		ret = rst_chain_read(ch, run, buf, err, len);
		if (!ret && ckpt_pwrite_all(fd, buf, bytes, r->pgoff + (run->vaddr - r->start)))
			ret = ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "writing memfd contents: %s",
					  strerror(errno));
		free(buf);
		if (ret)
			return ret;
	}
	return 0;
}

static int fill_memfd(struct rst_ctx *x, int fd, const struct ckpt_region *r)
{
	return rst_region_fill(x->chain, r - x->img->regions, fd, x->err, sizeof(x->err));
}

static int create_memfd(struct rst_ctx *x, const struct ckpt_region *r)
{
	char name[256];
	int fd;

	rst_memfd_name(ckpt_image_str(x->img, r->name_str), name, sizeof(name));
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
		int fd = rst_tree_shm_fd(x->tree, r->kind, r->dev, r->ino);

		if (fd >= 0 && (r->kind == CKPT_REG_SHANON || r->kind == CKPT_REG_MEMFD)) {
			x->region_fd[i] = fd;	/* made and filled for the whole tree */
			continue;
		}
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
