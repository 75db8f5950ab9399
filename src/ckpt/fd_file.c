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
 *
 * Regular files opened by path keep the file locks held through them:
 * the "lock:" lines of /proc/self/fdinfo/N list the POSIX locks that this
 * process took through that open file, and the OFD locks and flock()s of
 * the open file itself (leases and delegations are not kept).
 */
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fds.h"
#include "io.h"

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
	if (ckpt_pread_all(rfd, buf, len, off)) {
		ckpt_fail(c, "fd %d: reading %llu bytes of its contents at %llu: %s", f->fd,
			  (unsigned long long)len, (unsigned long long)off,
			  errno == EIO ? "end of file" : strerror(errno));
		return -EIO;
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
	for (uint32_t i = 0; f->kind == CKPT_FD_DELETED && i < c->nr_regions; i++) {
		const struct ckpt_region *r = &c->regions[i].r;

		if (r->kind == CKPT_REG_SHANON && r->dev == f->dev && r->ino == f->ino) {
			ckpt_fail(c, "fd %d: deleted file %s is also mapped shared, not supported yet",
				  f->fd, c->strings + f->path_str);
			return -ENOTSUP;
		}
	}
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

static int lock_kind(const char *word)
{
	if (!strcmp(word, "POSIX"))
		return CKPT_LOCK_POSIX;
	if (!strcmp(word, "OFDLCK"))
		return CKPT_LOCK_OFD;
	if (!strcmp(word, "FLOCK"))
		return CKPT_LOCK_FLOCK;
	return 0;
}

/* One "lock:" line: "1: POSIX  ADVISORY  WRITE 1234 fe:00:5678 5 EOF". */
static int parse_lock(const char *line, struct ckpt_fd_lock *l)
{
	char kind[16], type[16], end[32];
	long long start;

	if (sscanf(line, "%*d: %15s %*s %15s %*d %*s %lld %31s", kind, type, &start, end) != 4)
		return -1;
	l->kind = lock_kind(kind);
	if (!l->kind)
		return 1;	/* a lease or delegation: not kept */
	if (strcmp(type, "READ") && strcmp(type, "WRITE"))
		return -1;
	l->write = !strcmp(type, "WRITE");
	l->start = start;
	l->end = strcmp(end, "EOF") ? strtoll(end, NULL, 10) : -1;
	if (l->start < 0 || (l->end != -1 && l->end < l->start))
		return -1;
	return 0;
}

int ckpt_save_locks(struct ckpt_capture *c, struct ckpt_fd *f)
{
	const char *info;

	if (f->flags & O_PATH)
		return 0;
	info = ckpt_fdinfo(c, f);
	if (!info)
		return -EIO;
	for (const char *line = info; *line; line = strchr(line, '\n'), line += !!line) {
		struct ckpt_fd_lock l = { 0 }, *out;
		int ret;

		if (!line || !*line)
			break;
		if (strncmp(line, "lock:", 5))
			continue;
		ret = parse_lock(line + 5, &l);
		if (ret > 0)
			continue;
		if (ret < 0) {
			ckpt_fail(c, "fd %d: cannot parse the lock of %s in its fdinfo", f->fd,
				  c->strings + f->path_str);
			return -EINVAL;
		}
		out = ckpt_fd_data(c, f, sizeof(*out));
		if (!out)
			return -ENOSPC;
		*out = l;
	}
	return 0;
}
