/* SPDX-License-Identifier: MIT */
/*
 * Opening an image: an image is untrusted input, so every size, offset,
 * count and reference is checked here, once, before anyone uses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "ckpt/exitcodes.h"
#include "errmsg.h"
#include "hash.h"
#include "image_read.h"
#include "io.h"

#define MAX_SECTIONS	4096
#define TASK_SIZE_MAX	0x800000000000ull

const char *ckpt_section_name(uint32_t type)
{
	static const char *const names[CKPT_SEC_MAX] = {
		[CKPT_SEC_PROC] = "proc", [CKPT_SEC_THREADS] = "threads",
		[CKPT_SEC_REGIONS] = "regions", [CKPT_SEC_RUNS] = "runs",
		[CKPT_SEC_FDS] = "fds", [CKPT_SEC_TIMERS] = "timers",
		[CKPT_SEC_STRINGS] = "strings", [CKPT_SEC_PLUGIN] = "plugin",
		[CKPT_SEC_PAGES] = "pages", [CKPT_SEC_FDDATA] = "fddata",
		[CKPT_SEC_PARENT] = "parent", [CKPT_SEC_INHERIT] = "inherit",
		[CKPT_SEC_PAGEHASH] = "pagehash", [CKPT_SEC_TREE] = "tree",
	};

	return type < CKPT_SEC_MAX && names[type] ? names[type] : "unknown";
}

const char *ckpt_region_kind_name(uint32_t kind)
{
	static const char *const names[CKPT_REG_MAX] = {
		[CKPT_REG_ANON] = "anon", [CKPT_REG_HEAP] = "heap",
		[CKPT_REG_STACK] = "stack", [CKPT_REG_FILE] = "file",
		[CKPT_REG_SHANON] = "shared-anon", [CKPT_REG_MEMFD] = "memfd",
		[CKPT_REG_VDSO] = "vdso", [CKPT_REG_VVAR] = "vvar",
		[CKPT_REG_VVAR_VCLOCK] = "vvar_vclock",
	};

	return kind < CKPT_REG_MAX && names[kind] ? names[kind] : "unknown";
}

const char *ckpt_fd_kind_name(uint32_t kind)
{
	static const char *const names[CKPT_FD_MAX] = {
		[CKPT_FD_REG] = "file", [CKPT_FD_DIR] = "dir",
		[CKPT_FD_CHR] = "chardev", [CKPT_FD_STDIO] = "stdio",
		[CKPT_FD_PIPE] = "pipe", [CKPT_FD_FIFO] = "fifo",
		[CKPT_FD_UNIX] = "unix", [CKPT_FD_EVENTFD] = "eventfd",
		[CKPT_FD_TIMERFD] = "timerfd", [CKPT_FD_SIGNALFD] = "signalfd",
		[CKPT_FD_EPOLL] = "epoll", [CKPT_FD_INOTIFY] = "inotify",
		[CKPT_FD_MEMFD] = "memfd", [CKPT_FD_DELETED] = "deleted",
		[CKPT_FD_TTY] = "tty",
		[CKPT_FD_INET] = "inet",
	};

	return kind < CKPT_FD_MAX && names[kind] ? names[kind] : "unknown";
}

const char *ckpt_image_str(const struct ckpt_image *img, uint32_t off)
{
	if (!img->strings || off >= img->strings_size)
		return "";
	return img->strings + off;
}

static int check_header(struct ckpt_image *img, char *err, size_t len)
{
	struct ckpt_header *h = &img->hdr;
	struct ckpt_header tmp;

	memset(h, 0, sizeof(*h));
	if (img->size < CKPT_MAGIC_LEN || ckpt_pread_all(img->fd, h, CKPT_MAGIC_LEN, 0) ||
	    memcmp(h->magic, CKPT_MAGIC, CKPT_MAGIC_LEN))
		return ckpt_errmsg(err, len, CKPT_EXIT_FOREIGN, "not a ckpt image (bad magic)");
	if (img->size < sizeof(*h) || ckpt_pread_all(img->fd, h, sizeof(*h), 0))
		return ckpt_errmsg(err, len, CKPT_EXIT_TRUNCATED, "image is %llu bytes, shorter than a header",
			    (unsigned long long)img->size);
	tmp = *h;
	tmp.header_hash = 0;
	if (h->header_size != sizeof(*h) ||
	    ckpt_hash(&tmp, sizeof(tmp)) != h->header_hash) {
		if (h->version > CKPT_IMAGE_VERSION && h->version < 0x10000)
			return ckpt_errmsg(err, len, CKPT_EXIT_VERSION,
				    "image format version %u is newer than this ckpt (reads version %u)",
				    h->version, CKPT_IMAGE_VERSION);
		return ckpt_errmsg(err, len, CKPT_EXIT_CORRUPT, "header checksum mismatch");
	}
	if (h->version != CKPT_IMAGE_VERSION)
		return ckpt_errmsg(err, len, CKPT_EXIT_VERSION,
			    "image format version %u is not supported (this ckpt reads version %u)",
			    h->version, CKPT_IMAGE_VERSION);
	if (h->arch != CKPT_ARCH_X86_64)
		return ckpt_errmsg(err, len, CKPT_EXIT_ARCH, "image is for machine type %u, not x86_64",
			    h->arch);
	if (h->page_size != CKPT_PAGE_SIZE || h->page_size != (uint32_t)sysconf(_SC_PAGESIZE))
		return ckpt_errmsg(err, len, CKPT_EXIT_ARCH, "image page size %u differs from this system's",
			    h->page_size);
	if (img->size < h->file_size)
		return ckpt_errmsg(err, len, CKPT_EXIT_TRUNCATED,
			    "image truncated: %llu of %llu bytes present",
			    (unsigned long long)img->size, (unsigned long long)h->file_size);
	if (img->size > h->file_size)
		return ckpt_errmsg(err, len, CKPT_EXIT_CORRUPT, "image has %llu trailing bytes",
			    (unsigned long long)(img->size - h->file_size));
	if (!h->nr_sections || h->nr_sections > MAX_SECTIONS ||
	    h->sections_off > h->file_size ||
	    (uint64_t)h->nr_sections * sizeof(struct ckpt_section) > h->file_size - h->sections_off)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "section table out of bounds");
	if (h->flags & ~CKPT_HDR_TREE_MEMBER)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "unknown header flags %#x", h->flags);
	return CKPT_EXIT_OK;
}

static int load_sections(struct ckpt_image *img, char *err, size_t len)
{
	size_t tsize = img->hdr.nr_sections * sizeof(struct ckpt_section);
	uint32_t nr_plugins = 0;

	img->secs = malloc(tsize);
	if (!img->secs || ckpt_pread_all(img->fd, img->secs, tsize, img->hdr.sections_off))
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "cannot read section table");
	if (ckpt_hash(img->secs, tsize) != img->hdr.table_hash)
		return ckpt_errmsg(err, len, CKPT_EXIT_CORRUPT, "section table checksum mismatch");

	for (uint32_t i = 0; i < img->hdr.nr_sections; i++) {
		struct ckpt_section *s = &img->secs[i];

		if (s->type == 0 || s->type >= CKPT_SEC_MAX)
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "section %u has unknown type %u",
				    i, s->type);
		if (s->offset > img->hdr.file_size || s->size > img->hdr.file_size - s->offset)
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "section %s out of bounds",
				    ckpt_section_name(s->type));
		if (s->type == CKPT_SEC_PLUGIN)
			nr_plugins++;
	}

	img->plugins = calloc(nr_plugins + 1, sizeof(*img->plugins));
	img->plugin_bufs = calloc(nr_plugins + 1, sizeof(void *));
	if (!img->plugins || !img->plugin_bufs)
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");

	for (uint32_t i = 0; i < img->hdr.nr_sections; i++) {
		struct ckpt_section *s = &img->secs[i];
		void *buf;

		if (s->type == CKPT_SEC_PAGES)
			continue;
		if (s->size > (1ull << 32))
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "section %s is %llu bytes",
				    ckpt_section_name(s->type), (unsigned long long)s->size);
		if (s->type != CKPT_SEC_PLUGIN && img->meta[s->type])
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "duplicate %s section",
				    ckpt_section_name(s->type));
		buf = malloc(s->size ? s->size : 1);
		if (!buf)
			return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory for section %s",
				    ckpt_section_name(s->type));
		if (s->type == CKPT_SEC_PLUGIN)
			img->plugin_bufs[img->nr_plugins] = buf;
		else
			img->meta[s->type] = buf;
		if (ckpt_pread_all(img->fd, buf, s->size, s->offset))
			return ckpt_errmsg(err, len, CKPT_EXIT_TRUNCATED, "cannot read section %s",
				    ckpt_section_name(s->type));
		if (ckpt_hash(buf, s->size) != s->hash)
			return ckpt_errmsg(err, len, CKPT_EXIT_CORRUPT, "section %s checksum mismatch",
				    ckpt_section_name(s->type));
		if (s->type == CKPT_SEC_PLUGIN) {
			struct ckpt_plugin_hdr *ph = buf;

			if (s->size < sizeof(*ph) || ph->size != s->size - sizeof(*ph) ||
			    memchr(ph->name, 0, sizeof(ph->name)) == NULL)
				return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "malformed plugin section");
			img->plugins[img->nr_plugins].hdr = ph;
			img->plugins[img->nr_plugins].data = ph + 1;
			img->nr_plugins++;
		} else {
			img->meta_size[s->type] = s->size;
		}
	}
	return CKPT_EXIT_OK;
}

/* Binds a section to a typed array, checking that it holds whole elements. */
static int bind_array(struct ckpt_image *img, int type, size_t elem, void **arr,
		      uint32_t *nr, int required, char *err, size_t len)
{
	uint64_t size = img->meta_size[type];

	if (!img->meta[type]) {
		if (required)
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "image has no %s section",
				    ckpt_section_name(type));
		*arr = NULL;
		*nr = 0;
		return CKPT_EXIT_OK;
	}
	if (size % elem || size / elem > (1u << 24))
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "section %s has a bad size (%llu)",
			    ckpt_section_name(type), (unsigned long long)size);
	*arr = img->meta[type];
	*nr = size / elem;
	return CKPT_EXIT_OK;
}

static int check_str(const struct ckpt_image *img, uint32_t off)
{
	return off < img->strings_size;
}

/* Every run lies in the page data, referenced by a region or not. */
static int check_runs(struct ckpt_image *img, uint64_t data_end, char *err, size_t len)
{
	for (uint32_t i = 0; i < img->nr_runs; i++) {
		const struct ckpt_run *run = &img->runs[i];
		int zstd = run->flags & CKPT_RUN_ZSTD;

		if (!run->npages || run->npages > (1u << 20) || run->vaddr & (CKPT_PAGE_SIZE - 1) ||
		    run->flags & ~CKPT_RUN_ZSTD || run->data_off < CKPT_PAGE_SIZE ||
		    (!zstd && run->data_off & (CKPT_PAGE_SIZE - 1)) ||
		    (!zstd && run->stored_len != run->npages * CKPT_PAGE_SIZE) ||
		    (!zstd && run->stored_hash) || run->pad ||
		    !run->stored_len || run->data_off > data_end ||
		    run->stored_len > data_end - run->data_off)
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "page run %u is out of bounds", i);
	}
	return CKPT_EXIT_OK;
}

static int check_regions(struct ckpt_image *img, char *err, size_t len)
{
	uint64_t prev_end = 0;

	for (uint32_t i = 0; i < img->nr_regions; i++) {
		const struct ckpt_region *r = &img->regions[i];

		if (r->start >= r->end || r->end > TASK_SIZE_MAX ||
		    (r->start | r->end) & (CKPT_PAGE_SIZE - 1) || r->start < prev_end)
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID,
				    "region %u [%#llx-%#llx) is malformed or overlaps", i,
				    (unsigned long long)r->start, (unsigned long long)r->end);
		if (r->kind == 0 || r->kind >= CKPT_REG_MAX || !check_str(img, r->name_str) ||
		    r->prot & ~7u || r->pgoff & (CKPT_PAGE_SIZE - 1))
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "region %u has bad fields", i);
		if (r->first_run > img->nr_runs || r->nr_runs > img->nr_runs - r->first_run)
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "region %u has bad run references", i);
		for (uint32_t j = r->first_run; j < r->first_run + r->nr_runs; j++) {
			const struct ckpt_run *run = &img->runs[j];

			if (run->vaddr < r->start || run->vaddr >= r->end ||
			    run->npages > (r->end - run->vaddr) / CKPT_PAGE_SIZE)
				return ckpt_errmsg(err, len, CKPT_EXIT_INVALID,
					    "page run %u of region %u is out of bounds", j, i);
		}
		prev_end = r->end;
	}
	return CKPT_EXIT_OK;
}

static int check_threads(struct ckpt_image *img, char *err, size_t len)
{
	int leaders = 0;

	if (!img->nr_threads || img->nr_threads != img->proc->nr_threads)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "thread count mismatch (%u vs %u)",
			    img->nr_threads, img->proc->nr_threads);
	for (uint32_t i = 0; i < img->nr_threads; i++) {
		const struct ckpt_thread *t = &img->threads[i];

		if (t->tid <= 0 || t->tid > (1 << 22))
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "thread %u has tid %d", i, t->tid);
		for (uint32_t j = 0; j < i; j++)
			if (img->threads[j].tid == t->tid)
				return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "duplicate tid %d", t->tid);
		if (t->tid == img->proc->pid)
			leaders++;
	}
	if (leaders != 1)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "no thread with the process id %d",
			    img->proc->pid);
	return CKPT_EXIT_OK;
}

const void *ckpt_image_fd_data(const struct ckpt_image *img, const struct ckpt_fd *f)
{
	if (!f->data_len)
		return NULL;
	return (const char *)img->meta[CKPT_SEC_FDDATA] + f->data_off;
}

static const struct ckpt_fd *fd_entry(const struct ckpt_image *img, int fd)
{
	for (uint32_t i = 0; i < img->nr_fds; i++)
		if (img->fds[i].fd == fd)
			return &img->fds[i];
	return NULL;
}

/* Is f the first entry (not a duplicate) of its object: same kind, dev and ino? */
static int first_of_object(const struct ckpt_image *img, uint32_t i)
{
	const struct ckpt_fd *f = &img->fds[i];

	for (uint32_t j = 0; j < i; j++) {
		const struct ckpt_fd *o = &img->fds[j];

		if (!(o->xflags & CKPT_FDX_DUP) && o->kind == f->kind && o->dev == f->dev &&
		    o->ino == f->ino)
			return 0;
	}
	return 1;
}

/* Walks records of (uint32_t length, bytes, padding to 4); 0 if they fill len exactly. */
static int check_records(const char *p, uint64_t len, uint32_t nr, uint64_t total)
{
	uint64_t off = 0, sum = 0;

	for (uint32_t i = 0; i < nr; i++) {
		uint32_t n;

		if (len - off < 4)
			return -1;
		memcpy(&n, p + off, 4);
		off += 4;
		if (n > len - off)
			return -1;
		off += n;
		sum += n;
		off += (4 - off % 4) % 4;
		if (off > len)
			return -1;
	}
	return off == len && sum == total ? 0 : -1;
}

static int check_fd_pipe(const struct ckpt_image *img, uint32_t i, const void *d)
{
	const struct ckpt_fd *f = &img->fds[i];
	const struct ckpt_fd_pipe *p = d;

	if (!first_of_object(img, i))
		return f->data_len ? -1 : 0;
	return f->data_len < sizeof(*p) || p->queued != f->data_len - sizeof(*p) ||
	       p->capacity < CKPT_PAGE_SIZE || p->capacity > (1u << 31) ||
	       p->queued > p->capacity ? -1 : 0;
}

/* A named unix socket's name and state (not PAIR); its records are checked by the caller. */
static int check_unix_name(const struct ckpt_fd *f, const struct ckpt_fd_unix *u,
			   const struct ckpt_unix_name *n)
{
	int stream = u->type != SOCK_DGRAM;

	if (u->peer_ino || (f->xflags & CKPT_FDX_PEER_GONE) || u->state >= CKPT_UNIX_STATE_MAX ||
	    !n->len || n->len > sizeof(n->name) || n->pad ||
	    (n->mode && ((n->mode & S_IFMT) != S_IFSOCK || (n->mode & ~(S_IFMT | 07777)))))
		return -1;
	/* a path: absolute, no 0 inside, room for the terminating 0 */
	if (n->name[0] && (n->name[0] != '/' || n->len >= sizeof(n->name) ||
			   memchr(n->name, 0, n->len)))
		return -1;
	if (!n->name[0] && n->mode)
		return -1;
	switch (u->state) {
	case CKPT_UNIX_LISTEN:
		return stream && !u->nr_msgs && n->backlog <= INT32_MAX ? 0 : -1;
	case CKPT_UNIX_BOUND:
		return (stream && u->nr_msgs) || n->backlog || n->pending ? -1 : 0;
	case CKPT_UNIX_RESET:
		return stream && !u->nr_msgs && !n->backlog && !n->pending ? 0 : -1;
	default:
		return -1;
	}
}

static int check_fd_unix(const struct ckpt_image *img, uint32_t i, const void *d)
{
	const struct ckpt_fd *f = &img->fds[i];
	const struct ckpt_fd_unix *u = d, *pu;
	const struct ckpt_fd *peer = NULL;
	size_t head = sizeof(*u);

	if (f->data_len < sizeof(*u) ||
	    (u->type != SOCK_STREAM && u->type != SOCK_DGRAM && u->type != SOCK_SEQPACKET) ||
	    u->shutdown & ~(CKPT_UNIX_SHUT_RD | CKPT_UNIX_SHUT_WR) ||
	    u->state >= CKPT_UNIX_STATE_MAX)
		return -1;
	if (u->state != CKPT_UNIX_PAIR) {
		head += sizeof(struct ckpt_unix_name);
		if (f->data_len < head ||
		    check_unix_name(f, u, (const struct ckpt_unix_name *)(u + 1)))
			return -1;
	}
	if (check_records((const char *)u + head, f->data_len - head, u->nr_msgs, u->queued))
		return -1;
	if (u->state != CKPT_UNIX_PAIR)
		return 0;
	if (f->xflags & CKPT_FDX_PEER_GONE)
		return 0;	/* the peer, if any, is in another process of a tree */
	for (uint32_t j = 0; j < img->nr_fds; j++) {
		const struct ckpt_fd *o = &img->fds[j];

		if (j != i && o->kind == CKPT_FD_UNIX && !(o->xflags & CKPT_FDX_DUP) &&
		    o->ino == u->peer_ino)
			peer = o;
	}
	if (!peer || peer->data_len < sizeof(*pu) || peer->data_off % 8)
		return -1;
	pu = ckpt_image_fd_data(img, peer);
	return pu->peer_ino == f->ino && pu->type == u->type && pu->state == CKPT_UNIX_PAIR &&
	       !(peer->xflags & CKPT_FDX_PEER_GONE) ? 0 : -1;
}

static int check_fd_timerfd(const struct ckpt_fd *f, const struct ckpt_fd_timerfd *t)
{
	if (f->data_len != sizeof(*t))
		return -1;
	switch (t->clockid) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_BOOTTIME:
	case CLOCK_REALTIME_ALARM:
	case CLOCK_BOOTTIME_ALARM:
		break;
	default:
		return -1;
	}
	return t->settime_flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) ||
	       t->value_sec < 0 || t->value_nsec < 0 || t->value_nsec >= 1000000000 ||
	       t->interval_sec < 0 || t->interval_nsec < 0 || t->interval_nsec >= 1000000000
	       ? -1 : 0;
}

static int check_fd_epoll(const struct ckpt_image *img, const struct ckpt_fd *f,
			  const struct ckpt_fd_epoll *e)
{
	const struct ckpt_epoll_tfd *t = (const void *)(e + 1);

	if (f->data_len < sizeof(*e) ||
	    e->nr != (f->data_len - sizeof(*e)) / sizeof(*t) ||
	    (f->data_len - sizeof(*e)) % sizeof(*t))
		return -1;
	for (uint32_t k = 0; k < e->nr; k++) {
		const struct ckpt_fd *target = fd_entry(img, t[k].tfd);

		if (!target || target->kind == CKPT_FD_EPOLL)
			return -1;
	}
	return 0;
}

static int check_fd_inotify(const struct ckpt_image *img, const struct ckpt_fd *f,
			    const struct ckpt_fd_inotify *in)
{
	const struct ckpt_inotify_watch *w = (const void *)(in + 1);

	if (f->data_len < sizeof(*in) ||
	    in->nr != (f->data_len - sizeof(*in)) / sizeof(*w) ||
	    (f->data_len - sizeof(*in)) % sizeof(*w))
		return -1;
	for (uint32_t k = 0; k < in->nr; k++) {
		if (w[k].wd <= (k ? w[k - 1].wd : 0) || w[k].wd > CKPT_INOTIFY_MAX_WD ||
		    !check_str(img, w[k].path_str))
			return -1;
	}
	return 0;
}

static int check_fd_file(const struct ckpt_image *img, uint32_t i, const void *d)
{
	const struct ckpt_fd *f = &img->fds[i];
	const struct ckpt_fd_file *h = d;
	const char *p = (const char *)(h + 1);
	uint64_t left, next = 0;

	if (!first_of_object(img, i))
		return f->data_len ? -1 : 0;
	if (f->data_len < sizeof(*h))
		return -1;
	left = f->data_len - sizeof(*h);
	for (uint32_t k = 0; k < h->nr_extents; k++) {
		struct ckpt_fd_extent e;
		uint64_t padded;

		if (left < sizeof(e))
			return -1;
		memcpy(&e, p, sizeof(e));
		p += sizeof(e);
		left -= sizeof(e);
		padded = (e.len + 7) & ~7ull;
		if (!e.len || e.off < next || e.off > h->size || e.len > h->size - e.off ||
		    padded < e.len || padded > left)
			return -1;
		next = e.off + e.len;
		p += padded;
		left -= padded;
	}
	return left ? -1 : 0;
}

static int check_fd_locks(const struct ckpt_fd *f, const struct ckpt_fd_lock *l)
{
	if (!f->data_len)
		return 0;
	if ((f->xflags & CKPT_FDX_DUP) || (f->flags & O_PATH) || f->data_len % sizeof(*l))
		return -1;
	for (uint64_t k = 0; k < f->data_len / sizeof(*l); k++) {
		if (!l[k].kind || l[k].kind >= CKPT_LOCK_MAX || l[k].write > 1 || l[k].start < 0 ||
		    (l[k].end != -1 && (l[k].end < l[k].start || l[k].end == INT64_MAX)))
			return -1;
		if (l[k].kind == CKPT_LOCK_FLOCK && (l[k].start || l[k].end != -1))
			return -1;
		if (l[k].kind == CKPT_LOCK_POSIX || l[k].kind == CKPT_LOCK_OFD) {
			/* the lock needs the access it locks for */
			int acc = f->flags & O_ACCMODE;

			if (acc != O_RDWR && acc != (l[k].write ? O_WRONLY : O_RDONLY))
				return -1;
		}
	}
	return 0;
}

static int check_inet_addr(const struct ckpt_fd_inet *in, const struct ckpt_inet_addr *a)
{
	if (a->pad || (in->family == AF_INET && a->scope_id))
		return -1;
	for (int k = in->family == AF_INET ? 4 : 16; k < 16; k++)
		if (a->addr[k])
			return -1;
	return 0;
}

/* Bytes of zeros after len bytes at p, up to the next multiple of 8. */
static int zero_pad(const char *p, uint64_t len)
{
	for (uint64_t k = len; k % 8; k++)
		if (p[k])
			return -1;
	return 0;
}

/* An ESTABLISHED connection's struct ckpt_inet_conn and queues, after the ckpt_fd_inet. */
static int check_inet_conn(const struct ckpt_fd *f, const struct ckpt_fd_inet *in)
{
	const struct ckpt_inet_conn *cn = (const void *)(in + 1);
	const char *q = (const char *)(cn + 1);
	uint64_t left, rpad, spad;

	switch (in->tcp_state) {
	case 1:		/* TCP_ESTABLISHED */
	case 4:		/* TCP_FIN_WAIT1 */
	case 5:		/* TCP_FIN_WAIT2 */
	case 8:		/* TCP_CLOSE_WAIT */
	case 9:		/* TCP_LAST_ACK */
	case 11:	/* TCP_CLOSING */
		break;
	default:
		return -1;
	}
	if (f->data_len < sizeof(*in) + sizeof(*cn) || !in->local.port || !in->peer.port)
		return -1;
	left = f->data_len - sizeof(*in) - sizeof(*cn);
	if (cn->recv_len > left || cn->send_len > left)
		return -1;
	rpad = (cn->recv_len + 7) & ~7ull;
	spad = (cn->send_len + 7) & ~7ull;
	if (rpad + spad != left || zero_pad(q, cn->recv_len) || zero_pad(q + rpad, cn->send_len))
		return -1;
	if (cn->flags & ~CKPT_INET_SNDQ_UNREAD ||
	    ((cn->flags & CKPT_INET_SNDQ_UNREAD) && (cn->send_len || !cn->unacked)) ||
	    cn->send_len > cn->write_off || cn->unacked > cn->write_off ||
	    cn->read_off > UINT64_MAX - cn->recv_len)
		return -1;
	return cn->sndbuf > 0 && cn->rcvbuf > 0 && cn->peek_off >= -1 && cn->linger >= -1 &&
	       cn->keepidle > 0 && cn->keepintvl > 0 && cn->keepcnt > 0 && cn->cork <= 1 ? 0 : -1;
}

static int check_fd_inet(const struct ckpt_fd *f, const struct ckpt_fd_inet *in)
{
	uint32_t opts = CKPT_INET_OPT_REUSEADDR | CKPT_INET_OPT_REUSEPORT |
			CKPT_INET_OPT_KEEPALIVE | CKPT_INET_OPT_BROADCAST;
	int tcp;

	if (f->data_len < sizeof(*in) || (in->family != AF_INET && in->family != AF_INET6))
		return -1;
	if (in->state != CKPT_INET_ESTABLISHED && f->data_len != sizeof(*in))
		return -1;
	if (in->type == SOCK_STREAM && in->protocol == IPPROTO_TCP)
		tcp = 1;
	else if (in->type == SOCK_DGRAM && in->protocol == IPPROTO_UDP)
		tcp = 0;
	else
		return -1;
	if (in->family == AF_INET6)
		opts |= CKPT_INET_OPT_V6ONLY;
	if (tcp)
		opts |= CKPT_INET_OPT_NODELAY;
	if (in->opts & ~opts || check_inet_addr(in, &in->local) || check_inet_addr(in, &in->peer) ||
	    (!tcp && in->tcp_state) || in->tcp_state > 12 /* TCP_NEW_SYN_RECV */)
		return -1;
	if (in->state != CKPT_INET_LISTEN && (in->backlog || in->pending))
		return -1;
	if (in->state != CKPT_INET_CONNECTED && in->state != CKPT_INET_RESET &&
	    in->state != CKPT_INET_ESTABLISHED &&
	    (in->peer.port || in->peer.scope_id || memcmp(in->peer.addr, (uint8_t[16]){ 0 }, 16)))
		return -1;
	switch (in->state) {
	case CKPT_INET_NEW:
		return in->local.port ? -1 : 0;
	case CKPT_INET_BOUND:
		return in->local.port ? 0 : -1;
	case CKPT_INET_LISTEN:
		return tcp && in->local.port && in->backlog <= INT32_MAX ? 0 : -1;
	case CKPT_INET_CONNECTED:
		return !tcp && in->local.port && in->peer.port ? 0 : -1;
	case CKPT_INET_RESET:
		return tcp ? 0 : -1;
	case CKPT_INET_ESTABLISHED:
		return tcp ? check_inet_conn(f, in) : -1;
	default:
		return -1;
	}
}

/* The bytes in CKPT_SEC_FDDATA that each kind keeps. */
static int check_fd_data(const struct ckpt_image *img, uint32_t i)
{
	const struct ckpt_fd *f = &img->fds[i];
	const void *d = ckpt_image_fd_data(img, f);

	if (f->data_len && f->data_off % 8)
		return -1;
	switch (f->kind) {
	case CKPT_FD_PIPE:
	case CKPT_FD_FIFO:
		return check_fd_pipe(img, i, d);
	case CKPT_FD_UNIX:
		return check_fd_unix(img, i, d);
	case CKPT_FD_EVENTFD:
		return f->data_len != sizeof(struct ckpt_fd_eventfd) ||
		       ((const struct ckpt_fd_eventfd *)d)->count == UINT64_MAX ||
		       ((const struct ckpt_fd_eventfd *)d)->semaphore > 1 ? -1 : 0;
	case CKPT_FD_TIMERFD:
		return check_fd_timerfd(f, d);
	case CKPT_FD_SIGNALFD:
		return f->data_len != sizeof(struct ckpt_fd_signalfd) ? -1 : 0;
	case CKPT_FD_EPOLL:
		return check_fd_epoll(img, f, d);
	case CKPT_FD_INOTIFY:
		return check_fd_inotify(img, f, d);
	case CKPT_FD_MEMFD:
	case CKPT_FD_DELETED:
		return check_fd_file(img, i, d);
	case CKPT_FD_INET:
		return check_fd_inet(f, d);
	case CKPT_FD_REG:
		return check_fd_locks(f, d);
	default:
		return f->data_len ? -1 : 0;
	}
}

/* Inherited ranges and page hashes: sorted, page aligned, inside the image's regions. */
static int check_incremental(struct ckpt_image *img, char *err, size_t len)
{
	const struct ckpt_parent *p = img->parent;
	uint64_t prev = 0;

	if (p && (!memchr(p->name, 0, sizeof(p->name)) || !p->name[0] || strchr(p->name, '/') ||
		  !p->depth || p->depth >= CKPT_MAX_CHAIN))
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "parent section is malformed");
	if (!p && img->nr_inherit)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "inherited pages but no parent");
	for (uint32_t i = 0; i < img->nr_inherit; i++) {
		const struct ckpt_range *r = &img->inherit[i];

		if (!r->npages || r->vaddr & (CKPT_PAGE_SIZE - 1) || r->vaddr < prev ||
		    r->vaddr >= TASK_SIZE_MAX || r->npages > (TASK_SIZE_MAX - r->vaddr) / CKPT_PAGE_SIZE)
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "inherited range %u is malformed", i);
		prev = r->vaddr + r->npages * CKPT_PAGE_SIZE;
	}
	prev = 0;
	for (uint32_t i = 0; i < img->nr_pagehash; i++) {
		if (img->pagehash[i].vaddr < prev || img->pagehash[i].vaddr & (CKPT_PAGE_SIZE - 1))
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "page hash %u is out of order", i);
		prev = img->pagehash[i].vaddr + 1;
	}
	return CKPT_EXIT_OK;
}

/*
 * Tree entries: distinct pids other than the root's, each parent the root
 * or an earlier entry, image names plain file names.
 */
static int check_tree(struct ckpt_image *img, char *err, size_t len)
{
	for (uint32_t i = 0; i < img->nr_tree; i++) {
		const struct ckpt_tree_proc *t = &img->tree[i];
		int parent_ok = t->ppid == img->proc->pid;

		for (uint32_t j = 0; j < i; j++) {
			if (img->tree[j].pid == t->pid)
				return ckpt_errmsg(err, len, CKPT_EXIT_INVALID,
						   "tree: pid %d appears twice", t->pid);
			if (img->tree[j].pid == t->ppid && img->tree[j].state == CKPT_TREE_LIVE)
				parent_ok = 1;
		}
		if (t->pid <= 0 || t->pid == img->proc->pid || !parent_ok || !t->state ||
		    t->state >= CKPT_TREE_STATE_MAX || !memchr(t->image, 0, sizeof(t->image)) ||
		    (t->state == CKPT_TREE_LIVE && (!t->image[0] || strchr(t->image, '/'))) ||
		    (t->state != CKPT_TREE_LIVE && t->image[0]))
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "tree entry %u (pid %d) is "
					   "malformed", i, t->pid);
	}
	return CKPT_EXIT_OK;
}

/* Kinds that CKPT_FDX_INHERITED may mark: objects not matched by their inode alone. */
static int inheritable_kind(uint32_t kind)
{
	switch (kind) {
	case CKPT_FD_REG: case CKPT_FD_DIR: case CKPT_FD_MEMFD: case CKPT_FD_DELETED:
	case CKPT_FD_EVENTFD: case CKPT_FD_TIMERFD: case CKPT_FD_SIGNALFD:
	case CKPT_FD_INOTIFY: case CKPT_FD_EPOLL:
		return 1;
	default:
		return 0;
	}
}

static int check_fds(struct ckpt_image *img, char *err, size_t len)
{
	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct ckpt_fd *f = &img->fds[i];

		if (f->fd < 0 || f->fd >= (1 << 20) || !f->kind || f->kind >= CKPT_FD_MAX ||
		    !check_str(img, f->path_str) ||
		    f->data_off > img->meta_size[CKPT_SEC_FDDATA] ||
		    f->data_len > img->meta_size[CKPT_SEC_FDDATA] - f->data_off ||
		    f->xflags & ~(CKPT_FDX_DUP | CKPT_FDX_PEER_GONE | CKPT_FDX_STDIO |
				  CKPT_FDX_INHERITED) ||
		    ((f->xflags & CKPT_FDX_INHERITED) && (!inheritable_kind(f->kind) ||
							 (f->xflags & CKPT_FDX_DUP))) ||
		    ((f->xflags & CKPT_FDX_STDIO) && (f->kind != CKPT_FD_PIPE || f->fd > 2)) ||
		    (f->kind == CKPT_FD_STDIO && f->fd > 2 && !(f->xflags & CKPT_FDX_DUP)))
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "fd entry %u is malformed", i);
		for (uint32_t j = 0; j < i; j++)
			if (img->fds[j].fd == f->fd)
				return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "fd %d appears twice", f->fd);
	}
	/* references to other entries, once every number is known to be unique */
	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct ckpt_fd *f = &img->fds[i];
		const struct ckpt_fd *orig = fd_entry(img, f->dup_of);

		if (f->xflags & CKPT_FDX_DUP) {
			if (!orig || orig >= f || orig->xflags & CKPT_FDX_DUP ||
			    orig->kind != f->kind || f->data_len)
				return ckpt_errmsg(err, len, CKPT_EXIT_INVALID,
					    "fd %d: bad duplicate of fd %d", f->fd, f->dup_of);
			continue;
		}
		if (check_fd_data(img, i))
			return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "fd %d: bad %s state", f->fd,
				    ckpt_fd_kind_name(f->kind));
	}
	return CKPT_EXIT_OK;
}

static uint64_t pages_end(const struct ckpt_image *img)
{
	for (uint32_t i = 0; i < img->hdr.nr_sections; i++)
		if (img->secs[i].type == CKPT_SEC_PAGES)
			return img->secs[i].offset + img->secs[i].size;
	return CKPT_PAGE_SIZE;
}

static int bind_all(struct ckpt_image *img, char *err, size_t len)
{
	uint32_t one = 0;
	int ret;

	ret = bind_array(img, CKPT_SEC_PROC, sizeof(struct ckpt_proc), (void **)&img->proc,
			 &one, 1, err, len);
	if (ret)
		return ret;
	if (one != 1)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "proc section has a bad size");
	ret = bind_array(img, CKPT_SEC_THREADS, sizeof(struct ckpt_thread),
			 (void **)&img->threads, &img->nr_threads, 1, err, len);
	if (!ret)
		ret = bind_array(img, CKPT_SEC_REGIONS, sizeof(struct ckpt_region),
				 (void **)&img->regions, &img->nr_regions, 1, err, len);
	if (!ret)
		ret = bind_array(img, CKPT_SEC_RUNS, sizeof(struct ckpt_run),
				 (void **)&img->runs, &img->nr_runs, 0, err, len);
	if (!ret)
		ret = bind_array(img, CKPT_SEC_FDS, sizeof(struct ckpt_fd),
				 (void **)&img->fds, &img->nr_fds, 0, err, len);
	if (!ret)
		ret = bind_array(img, CKPT_SEC_TIMERS, sizeof(struct ckpt_timer),
				 (void **)&img->timers, &img->nr_timers, 0, err, len);
	if (!ret)
		ret = bind_array(img, CKPT_SEC_PARENT, sizeof(struct ckpt_parent),
				 (void **)&img->parent, &one, 0, err, len);
	if (!ret && img->parent && one != 1)
		ret = ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "parent section has a bad size");
	if (!ret)
		ret = bind_array(img, CKPT_SEC_INHERIT, sizeof(struct ckpt_range),
				 (void **)&img->inherit, &img->nr_inherit, 0, err, len);
	if (!ret)
		ret = bind_array(img, CKPT_SEC_PAGEHASH, sizeof(struct ckpt_pagehash),
				 (void **)&img->pagehash, &img->nr_pagehash, 0, err, len);
	if (!ret)
		ret = bind_array(img, CKPT_SEC_TREE, sizeof(struct ckpt_tree_proc),
				 (void **)&img->tree, &img->nr_tree, 0, err, len);
	if (ret)
		return ret;
	img->strings = img->meta[CKPT_SEC_STRINGS];
	img->strings_size = img->meta_size[CKPT_SEC_STRINGS];
	if (!img->strings || !img->strings_size || img->strings[img->strings_size - 1])
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "string table missing or unterminated");
	if (!check_str(img, img->proc->exe_str) || !check_str(img, img->proc->cwd_str) ||
	    img->proc->auxv_words > CKPT_AUXV_WORDS || img->proc->pid <= 0)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "proc section has bad fields");
	ret = check_threads(img, err, len);
	if (!ret)
		ret = check_runs(img, pages_end(img), err, len);
	if (!ret)
		ret = check_regions(img, err, len);
	if (!ret)
		ret = check_fds(img, err, len);
	if (!ret)
		ret = check_incremental(img, err, len);
	if (!ret)
		ret = check_tree(img, err, len);
	return ret;
}

int ckpt_image_open_fd(int fd, struct ckpt_image *img, char *err, size_t errlen)
{
	struct stat st;
	int ret;

	memset(img, 0, sizeof(*img));
	img->fd = fd;
	if (fstat(fd, &st))
		return ckpt_errmsg(err, errlen, CKPT_EXIT_NOENT, "cannot stat image: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ckpt_errmsg(err, errlen, CKPT_EXIT_FOREIGN, "image is not a regular file");
	img->size = st.st_size;
	ret = check_header(img, err, errlen);
	if (!ret)
		ret = load_sections(img, err, errlen);
	if (!ret)
		ret = bind_all(img, err, errlen);
	return ret;
}

int ckpt_image_open(const char *path, struct ckpt_image *img, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		memset(img, 0, sizeof(*img));
		img->fd = -1;
		return ckpt_errmsg(err, errlen, CKPT_EXIT_NOENT, "cannot open image %s: %s", path,
			    strerror(errno));
	}
	return ckpt_image_open_fd(fd, img, err, errlen);
}

static int read_zstd(const struct ckpt_image *img, const struct ckpt_run *run, void *buf,
		     char *err, size_t errlen)
{
	size_t len = run->npages * CKPT_PAGE_SIZE, got;
	void *packed = malloc(run->stored_len);
	int ret = CKPT_EXIT_OK;

	if (!packed)
		return ckpt_errmsg(err, errlen, CKPT_EXIT_FAIL, "out of memory");
	if (ckpt_pread_all(img->fd, packed, run->stored_len, run->data_off)) {
		ret = ckpt_errmsg(err, errlen, CKPT_EXIT_TRUNCATED, "cannot read pages at %#llx",
			   (unsigned long long)run->vaddr);
	} else if (ckpt_hash(packed, run->stored_len) != run->stored_hash) {
		/* also catches changes that would decompress to the same pages */
		ret = ckpt_errmsg(err, errlen, CKPT_EXIT_CORRUPT,
				  "compressed pages at %#llx checksum mismatch",
				  (unsigned long long)run->vaddr);
	} else {
		got = ZSTD_decompress(buf, len, packed, run->stored_len);
		if (ZSTD_isError(got) || got != len)
			ret = ckpt_errmsg(err, errlen, CKPT_EXIT_CORRUPT,
				   "compressed pages at %#llx do not decompress: %s",
				   (unsigned long long)run->vaddr,
				   ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
	}
	free(packed);
	return ret;
}

int ckpt_image_read_run(const struct ckpt_image *img, const struct ckpt_run *run,
			void *buf, char *err, size_t errlen)
{
	size_t len = run->npages * CKPT_PAGE_SIZE;
	int ret;

	if (run->flags & CKPT_RUN_ZSTD) {
		ret = read_zstd(img, run, buf, err, errlen);
		if (ret)
			return ret;
	} else if (ckpt_pread_all(img->fd, buf, len, run->data_off)) {
		return ckpt_errmsg(err, errlen, CKPT_EXIT_TRUNCATED, "cannot read pages at %#llx",
			    (unsigned long long)run->vaddr);
	}
	if (ckpt_hash(buf, len) != run->hash)
		return ckpt_errmsg(err, errlen, CKPT_EXIT_CORRUPT,
			    "page data for %#llx (%llu pages) checksum mismatch",
			    (unsigned long long)run->vaddr, (unsigned long long)run->npages);
	return CKPT_EXIT_OK;
}

int ckpt_image_verify_pages(const struct ckpt_image *img, uint32_t skip, char *err,
			    size_t errlen)
{
	size_t cap = 0;
	void *buf = NULL;
	int ret = CKPT_EXIT_OK;

	for (uint32_t i = 0; i < img->nr_runs && !ret; i++) {
		size_t len = img->runs[i].npages * CKPT_PAGE_SIZE;

		if (img->runs[i].flags & skip)
			continue;
		if (len > cap) {
			free(buf);
			buf = malloc(len);
			cap = len;
			if (!buf)
				return ckpt_errmsg(err, errlen, CKPT_EXIT_FAIL, "out of memory");
		}
		ret = ckpt_image_read_run(img, &img->runs[i], buf, err, errlen);
	}
	free(buf);
	return ret;
}

void ckpt_image_close(struct ckpt_image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	for (int i = 0; i < CKPT_SEC_MAX; i++)
		free(img->meta[i]);
	/* <=: a buffer whose section failed its checks was stored but not counted */
	for (uint32_t i = 0; img->plugin_bufs && i <= img->nr_plugins; i++)
		free(img->plugin_bufs[i]);
	free(img->plugin_bufs);
	free(img->plugins);
	free(img->secs);
	memset(img, 0, sizeof(*img));
	img->fd = -1;
}
