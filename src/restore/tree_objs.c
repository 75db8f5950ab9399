/* SPDX-License-Identifier: MIT */
/*
 * What the processes of a tree share, built once by the top ckpt-restore
 * before any of them exists, in helper fds (at or above fd_base) that
 * every process inherits:
 *
 *   fd objects  a pipe, FIFO, socket, memfd or deleted file that entries of
 *               two or more images name (same kind, dev and ino), a unix
 *               socket pair whose ends are in two processes, and every TCP
 *               or UDP socket (a connection's ends may be in two). The kind's
 *               own code (fd_*.c) builds it from the entry that carries its
 *               data (a pipe: the reading side's, with the queued bytes; a
 *               split pair: each end's queue from its own image). Each
 *               process's rst_restore_fds starts with these objects, so its
 *               entries open them again or share them as entries of one
 *               process do, and nothing is "not in the process"
 *   memory      MAP_SHARED anonymous memory or a memfd that regions of two or
 *               more images map (or a memfd that one maps and another holds
 *               open): one object, shared anonymous memory again where
 *               /proc/self/map_files lets us open it (else a memfd), filled
 *               from each image's pages (all captured at the same instant).
 *               files.c hands it to stage 2, which maps it MAP_SHARED
 *   open files  a file a child shares with its parent since fork
 *               (CKPT_FDX_INHERITED: one open file, one offset): opened once,
 *               from the oldest process's entry; each process's entry is a
 *               duplicate of it
 *
 * A standard stream saved as a pipe (CKPT_FDX_STDIO) uses the pipe only if
 * the tree holds both its ends (else it is ckpt-restore's stream), and so
 * counts as a holder only then.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "errmsg.h"
#include "log.h"
#include "tree.h"

static int same_region(const struct ckpt_region *r, uint32_t kind, uint64_t dev, uint64_t ino)
{
	return r->kind == kind && r->dev == dev && r->ino == ino;
}

static int has_region(const struct ckpt_image *img, uint32_t kind, uint64_t dev, uint64_t ino)
{
	for (uint32_t i = 0; i < img->nr_regions; i++)
		if (same_region(&img->regions[i], kind, dev, ino))
			return 1;
	return 0;
}

static int has_fd(const struct ckpt_image *img, uint32_t kind, uint64_t dev, uint64_t ino)
{
	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct ckpt_fd *f = &img->fds[i];

		if (f->kind == kind && f->dev == dev && f->ino == ino)
			return 1;
	}
	return 0;
}

/* ---- shared memory ---- */

static uint32_t shm_holders(const struct rst_tree *t, const struct ckpt_region *r)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < t->nr_imgs; k++)
		if (has_region(t->imgs[k], r->kind, r->dev, r->ino) ||
		    (r->kind == CKPT_REG_MEMFD && has_fd(t->imgs[k], CKPT_FD_MEMFD, r->dev, r->ino)))
			n++;
	return n;
}

/* Shared anonymous memory (what the processes had), or a memfd where we may not open it. */
static int shanon_fd(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char path[96];
	int fd;

	if (p != MAP_FAILED) {
		snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)p,
			 (unsigned long)p + size);
		fd = open(path, O_RDWR | O_CLOEXEC);
		munmap(p, size);
		if (fd >= 0)
			return fd;
	}
	fd = memfd_create("ckpt-shared", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, size)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int memfd_fd(const struct ckpt_image *img, const struct ckpt_region *r, uint64_t size)
{
	char name[256];
	int fd;

	rst_memfd_name(ckpt_image_str(img, r->name_str), name, sizeof(name));
	fd = memfd_create(name, MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, size)) {
		close(fd);
		return -1;
	}
	return fd;
}

struct span {
	uint64_t off, end;
};

/* Writes every image's pages of the object; a range already written is not written again. */
static int fill_shm(struct rst_tree *t, const struct ckpt_region *r0, int fd, char *err,
		    size_t len)
{
	struct span *done;
	uint32_t nr = 0, cap = 0;
	int ret = CKPT_EXIT_OK;

	for (uint32_t k = 0; k < t->nr_imgs; k++)
		cap += t->imgs[k]->nr_regions;
	done = calloc(cap + 1, sizeof(*done));
	if (!done)
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
	for (uint32_t k = 0; k < t->nr_imgs && !ret; k++) {
		const struct ckpt_image *img = t->imgs[k];

		for (uint32_t i = 0; i < img->nr_regions && !ret; i++) {
			const struct ckpt_region *r = &img->regions[i];
			struct span s = { r->pgoff, r->pgoff + (r->end - r->start) };
			int covered = 0;

			if (!same_region(r, r0->kind, r0->dev, r0->ino))
				continue;
			for (uint32_t j = 0; j < nr && !covered; j++)
				covered = done[j].off <= s.off && s.end <= done[j].end;
			if (covered)
				continue;
			ret = rst_region_fill(t->chains[k], i, fd, err, len);
			done[nr++] = s;
		}
	}
	free(done);
	return ret;
}

static int make_shm(struct rst_tree *t, const struct ckpt_image *img0,
		    const struct ckpt_region *r0, char *err, size_t len)
{
	struct rst_shm *m = &t->shm[t->nr_shm];
	uint64_t size = r0->kind == CKPT_REG_MEMFD ? r0->file_size : 0;
	int fd, ret;

	for (uint32_t k = 0; k < t->nr_imgs; k++) {
		const struct ckpt_image *img = t->imgs[k];

		for (uint32_t i = 0; i < img->nr_regions; i++) {
			const struct ckpt_region *r = &img->regions[i];

			if (same_region(r, r0->kind, r0->dev, r0->ino) &&
			    r->pgoff + (r->end - r->start) > size)
				size = r->pgoff + (r->end - r->start);
		}
	}
	fd = r0->kind == CKPT_REG_SHANON ? shanon_fd(size) : memfd_fd(img0, r0, size);
	fd = rst_tree_high(t, fd);
	if (fd < 0)
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "shared memory %s of %llu bytes: %s",
				   ckpt_image_str(img0, r0->name_str), (unsigned long long)size,
				   strerror(errno));
	*m = (struct rst_shm){ .kind = r0->kind, .dev = r0->dev, .ino = r0->ino, .fd = fd };
	t->nr_shm++;
	ret = fill_shm(t, r0, fd, err, len);
	pr_debug("shared memory %s (%llu bytes) made once for the tree",
		 ckpt_image_str(img0, r0->name_str), (unsigned long long)size);
	return ret;
}

static int build_shm(struct rst_tree *t, char *err, size_t len)
{
	uint32_t cap = 0;

	for (uint32_t k = 0; k < t->nr_imgs; k++)
		cap += t->imgs[k]->nr_regions;
	t->shm = calloc(cap + 1, sizeof(*t->shm));
	if (!t->shm)
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
	for (uint32_t k = 0; k < t->nr_imgs; k++) {
		const struct ckpt_image *img = t->imgs[k];

		for (uint32_t i = 0; i < img->nr_regions; i++) {
			const struct ckpt_region *r = &img->regions[i];
			int ret;

			/* an object without an inode cannot be matched across images */
			if ((r->kind != CKPT_REG_SHANON && r->kind != CKPT_REG_MEMFD) || !r->ino ||
			    rst_tree_shm_fd(t, r->kind, r->dev, r->ino) >= 0 ||
			    shm_holders(t, r) < 2)
				continue;
			ret = make_shm(t, img, r, err, len);
			if (ret)
				return ret;
		}
	}
	return CKPT_EXIT_OK;
}

/* ---- fd objects ---- */

static int kind_shared(uint32_t kind)
{
	switch (kind) {
	case CKPT_FD_PIPE:
	case CKPT_FD_FIFO:
	case CKPT_FD_UNIX:
	case CKPT_FD_MEMFD:
	case CKPT_FD_DELETED:
	case CKPT_FD_INET:
		return 1;
	default:
		return 0;
	}
}

static int built(const struct rst_tree *t, const struct ckpt_fd *f)
{
	for (uint32_t i = 0; i < t->nr_objs; i++) {
		const struct rst_fdobj *o = &t->objs[i];

		if (o->kind == f->kind && o->dev == f->dev && o->ino == f->ino)
			return 1;
	}
	return 0;
}

/*
 * A socket pair end (in image k) whose peer is in another process of the
 * tree: 1, 0 if the peer is not in the tree, or -CKPT_EXIT_INVALID if the
 * two entries do not describe one pair.
 */
static int split_pair(const struct rst_tree *t, uint32_t k, const struct ckpt_fd *f,
		      char *err, size_t len)
{
	const struct ckpt_fd_unix *u = ckpt_image_fd_data(t->imgs[k], f);

	if (f->kind != CKPT_FD_UNIX || !u || u->state != CKPT_UNIX_PAIR || !u->peer_ino ||
	    !(f->xflags & CKPT_FDX_PEER_GONE))
		return 0;
	for (uint32_t j = 0; j < t->nr_imgs; j++) {
		const struct ckpt_image *img = t->imgs[j];

		for (uint32_t i = 0; j != k && i < img->nr_fds; i++) {
			const struct ckpt_fd *p = &img->fds[i];
			const struct ckpt_fd_unix *pu;

			if (p->kind != CKPT_FD_UNIX || p->ino != u->peer_ino ||
			    (p->xflags & CKPT_FDX_DUP))
				continue;
			pu = ckpt_image_fd_data(img, p);
			if (!pu || pu->state != CKPT_UNIX_PAIR || pu->type != u->type ||
			    pu->peer_ino != f->ino)
				return -ckpt_errmsg(err, len, CKPT_EXIT_INVALID,
						    "pid %d fd %d and pid %d fd %d are not the two "
						    "ends of one unix socket pair",
						    t->imgs[k]->proc->pid, f->fd, img->proc->pid, p->fd);
			return 1;
		}
	}
	return 0;
}

/* The entry that carries the object's data, preferring the one with queued bytes. */
static const struct ckpt_fd *source(const struct rst_tree *t, const struct ckpt_fd *f0,
				    uint32_t *k_out)
{
	const struct ckpt_fd *best = NULL;
	int best_score = -1;

	for (uint32_t k = 0; k < t->nr_imgs; k++) {
		const struct ckpt_image *img = t->imgs[k];

		for (uint32_t i = 0; i < img->nr_fds; i++) {
			const struct ckpt_fd *f = &img->fds[i];
			const void *d = ckpt_image_fd_data(img, f);
			int score = 0;

			if (f->kind != f0->kind || f->dev != f0->dev || f->ino != f0->ino ||
			    (f->xflags & CKPT_FDX_DUP) || !d)
				continue;
			if (f->kind == CKPT_FD_PIPE || f->kind == CKPT_FD_FIFO)
				score = ((const struct ckpt_fd_pipe *)d)->queued ? 2 :
					(f->flags & O_ACCMODE) == O_RDONLY;
			else if (f->kind == CKPT_FD_UNIX)
				score = ((const struct ckpt_fd_unix *)d)->nr_msgs != 0;
			if (score > best_score) {
				best = f;
				best_score = score;
				*k_out = k;
			}
		}
	}
	return best;
}

/* x and s for entries of image k (strings, data and peers are looked up from there). */
static void on_image(struct rst_tree *t, struct rst_ctx *x, struct rst_fds *s, uint32_t k)
{
	uint32_t n = 0;

	x->img = t->imgs[k];
	x->chain = t->chains[k];
	for (uint32_t j = 0; j < t->nr_imgs; j++)
		if (j != k)
			x->others[n++] = t->imgs[j];
	x->nr_others = n;
	x->err[0] = 0;
	*s = (struct rst_fds){ .x = x, .saved_stdio = { -1, -1, -1 }, .objs = t->objs,
			       .nr_objs = t->nr_objs };
}

static int build_obj(struct rst_tree *t, struct rst_ctx *x, uint32_t k,
		     const struct ckpt_fd *f, char *err, size_t len)
{
	struct rst_fds s;
	int ret;

	on_image(t, x, &s, k);
	ret = rst_fd_prebuild(&s, f);
	t->nr_objs = s.nr_objs;
	if (ret)
		return ckpt_errmsg(err, len, -ret, "pid %d (%.16s): %s", x->img->proc->pid,
				   x->img->proc->comm, x->err[0] ? x->err : "cannot build fd");
	pr_debug("%s %llu shared by processes of the tree: built once from pid %d fd %d",
		 ckpt_fd_kind_name(f->kind), (unsigned long long)f->ino, x->img->proc->pid, f->fd);
	return CKPT_EXIT_OK;
}

/* Does entry f use its object, or is it a standard stream whose pipe is not restored? */
static int uses_object(struct rst_tree *t, struct rst_ctx *x, const struct ckpt_fd *f)
{
	struct rst_fds s;

	if (!(f->xflags & CKPT_FDX_STDIO))
		return 1;
	on_image(t, x, &s, 0);
	return rst_pipe_ends(&s, f) == (RST_PIPE_READ | RST_PIPE_WRITE);
}

/* Images with an entry that uses f's object. */
static uint32_t fd_users(struct rst_tree *t, struct rst_ctx *x, const struct ckpt_fd *f0)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < t->nr_imgs; k++) {
		const struct ckpt_image *img = t->imgs[k];

		for (uint32_t i = 0; i < img->nr_fds; i++) {
			const struct ckpt_fd *f = &img->fds[i];

			if (f->kind == f0->kind && f->dev == f0->dev && f->ino == f0->ino &&
			    uses_object(t, x, f)) {
				n++;
				break;
			}
		}
	}
	return n;
}

/* Room for one entry per fd of the tree. */
static uint32_t tree_fds(const struct rst_tree *t)
{
	uint32_t n = 1;

	for (uint32_t k = 0; k < t->nr_imgs; k++)
		n += t->imgs[k]->nr_fds;
	return n;
}

static int build_fds(struct rst_tree *t, struct rst_ctx *x, char *err, size_t len)
{
	t->objs = calloc(tree_fds(t), sizeof(*t->objs));
	if (!t->objs)
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
	for (uint32_t k = 0; k < t->nr_imgs; k++) {
		const struct ckpt_image *img = t->imgs[k];

		for (uint32_t i = 0; i < img->nr_fds; i++) {
			const struct ckpt_fd *f = &img->fds[i], *src;
			uint32_t ks = k;
			int split, ret;

			if (!kind_shared(f->kind) || (f->xflags & CKPT_FDX_DUP) || built(t, f))
				continue;
			split = split_pair(t, k, f, err, len);
			if (split < 0)
				return -split;
			/*
			 * TCP and UDP sockets all: a connection's other end may be in
			 * another process, and fd_inet.c builds both ends at once
			 */
			if (!split && f->kind != CKPT_FD_INET && fd_users(t, x, f) < 2)
				continue;
			src = source(t, f, &ks);
			if (!src)
				return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "pid %d fd %d: no "
						   "image of the tree has the data of its %s",
						   img->proc->pid, f->fd, ckpt_fd_kind_name(f->kind));
			ret = build_obj(t, x, ks, src, err, len);
			if (ret)
				return ret;
		}
	}
	return CKPT_EXIT_OK;
}

/* ---- open files shared since fork ---- */

static const struct ckpt_image *image_of(const struct rst_tree *t, pid_t pid)
{
	for (uint32_t i = 0; i < t->nr_procs; i++)
		if (t->procs[i].pid == pid)
			return t->procs[i].img;
	return NULL;
}

static const struct ckpt_fd *entry_at(const struct ckpt_image *img, int32_t fd)
{
	for (uint32_t i = 0; img && i < img->nr_fds; i++)
		if (img->fds[i].fd == fd)
			return &img->fds[i];
	return NULL;
}

static uint32_t proc_index(const struct rst_tree *t, pid_t pid)
{
	for (uint32_t i = 0; i < t->nr_procs; i++)
		if (t->procs[i].pid == pid)
			return i;
	return 0;
}

/*
 * The entry whose open file f is: through duplicates to their original, and
 * while that is inherited, to the parent's entry of the same number. *imgp
 * becomes the image that holds it. An inconsistent chain stops where it
 * breaks (that entry opens its own file).
 */
static const struct ckpt_fd *file_source(const struct rst_tree *t, const struct ckpt_image **imgp,
					 const struct ckpt_fd *f)
{
	const struct ckpt_image *img = *imgp;

	for (uint32_t depth = 0; depth <= t->nr_procs; depth++) {
		const struct ckpt_image *parent;
		const struct ckpt_fd *pf;

		if (f->xflags & CKPT_FDX_DUP) {
			pf = entry_at(img, f->dup_of);
			if (!pf)
				break;
			f = pf;
		}
		if (!(f->xflags & CKPT_FDX_INHERITED))
			break;
		parent = image_of(t, t->procs[proc_index(t, img->proc->pid)].ppid);
		pf = entry_at(parent, f->fd);
		if (!parent || !pf || pf->kind != f->kind)
			break;
		img = parent;
		f = pf;
	}
	*imgp = img;
	return f;
}

int rst_tree_file_fd(const struct rst_tree *t, const struct ckpt_image *img,
		     const struct ckpt_fd *f)
{
	const struct ckpt_fd *src;

	if (!t->nr_files || (f->xflags & CKPT_FDX_DUP))
		return -1;
	src = file_source(t, &img, f);
	for (uint32_t i = 0; i < t->nr_files; i++)
		if (t->files[i].src == src)
			return t->files[i].fd;
	return -1;
}

static int build_files(struct rst_tree *t, struct rst_ctx *x, char *err, size_t len)
{
	t->files = calloc(tree_fds(t), sizeof(*t->files));
	if (!t->files)
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
	for (uint32_t k = 0; k < t->nr_imgs; k++) {
		for (uint32_t i = 0; i < t->imgs[k]->nr_fds; i++) {
			const struct ckpt_image *img = t->imgs[k];
			const struct ckpt_fd *f = &img->fds[i], *src;
			struct rst_fds s;
			uint32_t ks = 0, n;
			int fd;

			if (!(f->xflags & CKPT_FDX_INHERITED))
				continue;
			src = file_source(t, &img, f);
			if (src == f)
				continue;
			if (src->kind == CKPT_FD_EPOLL) {
				/* its targets are fds of each process: each gets its own again */
				pr_warn("pid %d fd %d: epoll instance shared with its parent since fork "
					"is restored as a copy of its own", t->imgs[k]->proc->pid, f->fd);
				continue;
			}
			for (n = 0; n < t->nr_files && t->files[n].src != src; n++)
				;
			if (n < t->nr_files)
				continue;
			while (t->imgs[ks] != img)
				ks++;
			on_image(t, x, &s, ks);
			fd = rst_fd_open_kind(&s, src);
			t->nr_objs = s.nr_objs;
			if (fd < 0)
				return ckpt_errmsg(err, len, -fd, "pid %d (%.16s): %s", img->proc->pid,
						   img->proc->comm, x->err);
			t->files[t->nr_files++] = (struct rst_tree_file){ .src = src, .fd = fd };
			pr_debug("pid %d fd %d: one open file with its descendants' (inherited)",
				 img->proc->pid, src->fd);
		}
	}
	return CKPT_EXIT_OK;
}

int rst_tree_build(struct rst_tree *t, char *err, size_t len)
{
	struct rst_ctx *x = calloc(1, sizeof(*x));
	int ret;

	if (x)
		x->others = calloc(t->nr_imgs, sizeof(*x->others));
	if (!x || !x->others) {
		free(x);
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
	}
	x->opts = t->opts;
	x->tree = t;
	x->fd_base = t->fd_base;
	x->status_fd = -1;
	x->exe_fd = -1;
	/* memory first: a memfd's fds are the memfd its mappings use; then the objects files use */
	ret = build_shm(t, err, len);
	if (!ret)
		ret = build_fds(t, x, err, len);
	if (!ret)
		ret = build_files(t, x, err, len);
	free(x->others);
	free(x);
	return ret;
}
