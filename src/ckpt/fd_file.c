/* SPDX-License-Identifier: MIT */
/*
 * Files that exist only while open: memfds, and regular files that were
 * deleted (or made with O_TMPFILE and never linked). Their contents go
 * into the image, read while the application is stopped through a
 * descriptor of our own (/proc/self/fd/N reopened read-only, so that the
 * application's offset does not move), data extent by data extent
 * (SEEK_DATA/SEEK_HOLE): holes cost nothing. The ranges of a memfd that a
 * shared mapping of it covers are not stored twice: the mapping's pages are
 * in the image already, and restore gives the fd and the mapping one memfd.
 * Only the first entry of each file carries the contents.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fds.h"

static int maps_file(const struct ckpt_fd *f, const struct ckpt_region *r)
{
	return r->kind == CKPT_REG_MEMFD && (r->flags & CKPT_REGF_SHARED) && r->dev == f->dev &&
	       r->ino == f->ino;
}

/* The end of the run of bytes from off on that shared mappings cover (off if none). */
static uint64_t covered_end(struct ckpt_capture *c, const struct ckpt_fd *f, uint64_t off)
{
	int moved = 1;

	while (moved) {
		moved = 0;
		for (uint32_t i = 0; i < c->nr_regions; i++) {
			const struct ckpt_region *r = &c->regions[i].r;
			uint64_t end = r->pgoff + (r->end - r->start);

			if (maps_file(f, r) && r->pgoff <= off && off < end) {
				off = end;
				moved = 1;
			}
		}
	}
	return off;
}

/* The first byte after off, up to end, that a shared mapping covers. */
static uint64_t uncovered_end(struct ckpt_capture *c, const struct ckpt_fd *f, uint64_t off,
			      uint64_t end)
{
	for (uint32_t i = 0; i < c->nr_regions; i++) {
		const struct ckpt_region *r = &c->regions[i].r;

		if (maps_file(f, r) && r->pgoff > off && r->pgoff < end)
			end = r->pgoff;
	}
	return end;
}

static int store_extent(struct ckpt_capture *c, struct ckpt_fd *f, struct ckpt_fd_file *hdr,
			int rfd, uint64_t off, uint64_t len)
{
	struct ckpt_fd_extent *ext = ckpt_fd_data(c, f, sizeof(*ext) + ((len + 7) & ~7ull));
	char *buf = (char *)(ext + 1);

	if (!ext)
		return -ENOSPC;
	ext->off = off;
	ext->len = len;
	for (uint64_t got = 0; got < len;) {
		ssize_t n = pread(rfd, buf + got, len - got, off + got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ckpt_fail(c, "fd %d: reading its contents at %llu: %s", f->fd,
				  (unsigned long long)(off + got), n ? strerror(errno) : "end of file");
			return -EIO;
		}
		got += n;
	}
	hdr->nr_extents++;
	return 0;
}

/* Stores [start, end) but what shared mappings cover. */
static int store_range(struct ckpt_capture *c, struct ckpt_fd *f, struct ckpt_fd_file *hdr,
		       int rfd, uint64_t start, uint64_t end)
{
	while (start < end) {
		uint64_t stop;
		int ret;

		start = covered_end(c, f, start);
		if (start >= end)
			break;
		stop = uncovered_end(c, f, start, end);
		ret = store_extent(c, f, hdr, rfd, start, stop - start);
		if (ret)
			return ret;
		start = stop;
	}
	return 0;
}

static int store_contents(struct ckpt_capture *c, struct ckpt_fd *f, struct ckpt_fd_file *hdr,
			  int rfd)
{
	for (uint64_t off = 0; off < hdr->size;) {
		off_t data = lseek(rfd, off, SEEK_DATA), hole;
		int ret;

		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0)	/* no SEEK_DATA here: all of it */
			return store_range(c, f, hdr, rfd, off, hdr->size);
		hole = lseek(rfd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > hdr->size)
			hole = hdr->size;
		ret = store_range(c, f, hdr, rfd, data, hole);
		if (ret)
			return ret;
		off = hole;
	}
	return 0;
}

int ckpt_save_file(struct ckpt_capture *c, struct ckpt_fd *f)
{
	struct ckpt_fd_file *hdr;
	char link[64];
	int rfd, ret;

	if (ckpt_fd_first(c, f) != f)
		return 0;
	hdr = ckpt_fd_data(c, f, sizeof(*hdr));
	if (!hdr)
		return -ENOSPC;
	hdr->size = f->size;
	if (f->kind == CKPT_FD_MEMFD) {
		int seals = fcntl(f->fd, F_GET_SEALS);

		hdr->seals = seals < 0 ? 0 : seals;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", f->fd);
	rfd = open(link, O_RDONLY | O_CLOEXEC);
	if (rfd < 0) {
		ckpt_fail(c, "fd %d: cannot open %s again to read its contents: %s", f->fd,
			  c->strings + f->path_str, strerror(errno));
		return -errno;
	}
	ret = store_contents(c, f, hdr, rfd);
	close(rfd);
	return ret;
}
