/* SPDX-License-Identifier: MIT */
/*
 * The address space, from /proc/self/maps, read in one pass into scratch
 * memory (reading it with malloc would change what it describes).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

#define MAPS_MAX	(16u << 20)

static char *read_maps(size_t *len)
{
	char *buf = ckpt_scratch_alloc(MAPS_MAX);
	ssize_t n = buf ? ckpt_read_file("/proc/self/maps", buf, MAPS_MAX) : -1;

	if (n < 0)
		return NULL;
	*len = n;
	return buf;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static int classify_special(struct ckpt_region *r, const char *name)
{
	static const struct { const char *name; uint32_t kind; } special[] = {
		{ "[heap]", CKPT_REG_HEAP }, { "[stack]", CKPT_REG_STACK },
		{ "[vdso]", CKPT_REG_VDSO }, { "[vvar]", CKPT_REG_VVAR },
		{ "[vvar_vclock]", CKPT_REG_VVAR_VCLOCK },
	};

	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		if (strcmp(name, special[i].name))
			continue;
		r->kind = special[i].kind;
		if (r->kind == CKPT_REG_STACK)
			r->flags |= CKPT_REGF_GROWSDOWN;
		return 0;
	}
	if (!strncmp(name, "[anon:", 6)) {
		r->kind = (r->flags & CKPT_REGF_SHARED) ? CKPT_REG_SHANON : CKPT_REG_ANON;
		return 0;
	}
	if (!strncmp(name, "[anon_shmem:", 12)) {
		r->kind = CKPT_REG_SHANON;
		return 0;
	}
	return -1;
}

/*
 * A private mapping of a file deleted since (a library replaced by an
 * upgrade): the file cannot be mapped again, so every page goes into the
 * image, as anonymous memory. Pages past the end of the file cannot be
 * read (SIGBUS) and are refused.
 */
static int deleted_private(struct ckpt_capture *c, struct cap_region *cr, const char *name)
{
	struct ckpt_region *r = &cr->r;
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/map_files/%" PRIx64 "-%" PRIx64, r->start, r->end);
	if (!stat(path, &st) &&
	    r->pgoff + (r->end - r->start) > (((uint64_t)st.st_size + CKPT_PAGE_SIZE - 1) &
					      ~(uint64_t)(CKPT_PAGE_SIZE - 1))) {
		ckpt_fail(c, "mapping at %#" PRIx64 " of deleted file %s reaches past its end, not "
			  "supported", r->start, name);
		return -ENOTSUP;
	}
	r->kind = CKPT_REG_ANON;
	r->name_str = 0;
	r->pgoff = 0;
	cr->all_pages = 1;
	return 0;
}

static int classify_file(struct ckpt_capture *c, struct cap_region *cr, const char *name,
			 dev_t dev, ino_t ino)
{
	struct ckpt_region *r = &cr->r;
	struct stat st;

	if (!(r->flags & CKPT_REGF_SHARED) && ckpt_is_restored_image(dev, ino)) {
		/* anonymous memory whose pages still come from our own image */
		r->kind = CKPT_REG_ANON;
		r->name_str = 0;
		r->pgoff = 0;
		cr->all_pages = 1;
		return 0;
	}

	if (!strncmp(name, "/memfd:", 7) && ends_with(name, " (deleted)")) {
		r->kind = CKPT_REG_MEMFD;
		r->dev = dev;
		r->ino = ino;
		return 0;
	}
	if (!strcmp(name, "/dev/zero (deleted)") && (r->flags & CKPT_REGF_SHARED)) {
		r->kind = CKPT_REG_SHANON;
		return 0;
	}
	if (!strncmp(name, "/SYSV", 5)) {
		ckpt_fail(c, "SysV shared memory at %#" PRIx64 " (%s) is not supported yet",
			  r->start, name);
		return -ENOTSUP;
	}
	if (ends_with(name, " (deleted)") && (r->flags & CKPT_REGF_SHARED)) {
		/*
		 * A shared mapping of a deleted file (sem_open's, after sem_unlink) is
		 * memory only its mappers reach: saved and restored as shared memory.
		 */
		r->kind = CKPT_REG_SHANON;
		return 0;
	}
	if (ends_with(name, " (deleted)"))
		return deleted_private(c, cr, name);
	if (name[0] != '/' || stat(name, &st)) {
		ckpt_fail(c, "mapping at %#" PRIx64 " of %s is not supported", r->start, name);
		return -ENOTSUP;
	}
	if (st.st_ino != ino || st.st_dev != dev) {
		ckpt_fail(c, "mapped file %s was replaced while mapped", name);
		return -ESTALE;
	}
	if (!S_ISREG(st.st_mode)) {
		ckpt_fail(c, "mapping at %#" PRIx64 " of device %s is not supported", r->start,
			  name);
		return -ENOTSUP;
	}
	r->kind = CKPT_REG_FILE;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->file_size = st.st_size;
	r->mtime_sec = st.st_mtim.tv_sec;
	r->mtime_nsec = st.st_mtim.tv_nsec;
	if ((r->flags & CKPT_REGF_SHARED) && (r->prot & PROT_WRITE))
		r->flags |= CKPT_REGF_FILE_WRITABLE;
	return 0;
}

static int parse_line(struct ckpt_capture *c, char *line, struct cap_region *cr, int *skip)
{
	struct ckpt_region *r = &cr->r;
	unsigned long long start, end, off, ino;
	unsigned maj, min;
	char perms[8];
	int pos = 0;
	const char *name;

	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off, &maj,
		   &min, &ino, &pos) < 7)
		return -EINVAL;
	name = line + pos;
	memset(r, 0, sizeof(*r));
	r->start = start;
	r->end = end;
	r->pgoff = off;
	r->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	if (perms[3] == 's')
		r->flags |= CKPT_REGF_SHARED;
	*skip = !strcmp(name, "[vsyscall]") || ckpt_scratch_contains(start, end) ||
		ckpt_tree_contains(start, end);
	if (*skip)
		return 0;
	r->name_str = ckpt_str_add(c, name);
	if (!name[0]) {
		r->kind = (r->flags & CKPT_REGF_SHARED) ? CKPT_REG_SHANON : CKPT_REG_ANON;
		return 0;
	}
	if (name[0] == '[') {
		if (!classify_special(r, name))
			return 0;
		ckpt_fail(c, "unknown special mapping %s at %#llx", name, start);
		return -ENOTSUP;
	}
	if (ckpt_plugins_own(name)) {
		*skip = 1;	/* the plugin saves and rebuilds it */
		return 0;
	}
	if (!strcmp(name, "/dev/zero") && !(r->flags & CKPT_REGF_SHARED)) {
		r->kind = CKPT_REG_ANON;	/* a private /dev/zero mapping is anonymous memory */
		return 0;
	}
	return classify_file(c, cr, name, makedev(maj, min), ino);
}

/* Shared anonymous memory is one object per inode: a fork's parent and child map the same. */
static int parse_region(struct ckpt_capture *c, char *line, struct cap_region *cr, int *skip)
{
	unsigned long long start, end, off, ino;
	unsigned maj, min;
	char perms[8];
	int ret = parse_line(c, line, cr, skip);

	if (!ret && !*skip && cr->r.kind == CKPT_REG_SHANON &&
	    sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &start, &end, perms, &off, &maj, &min,
		   &ino) == 7) {
		cr->r.dev = makedev(maj, min);
		cr->r.ino = ino;
	}
	return ret;
}

int ckpt_capture_regions(struct ckpt_capture *c)
{
	size_t len;
	char *maps = read_maps(&len), *line, *next;

	if (!maps)
		return -ENOMEM;
	c->regions = ckpt_scratch_alloc(CKPT_MAX_REGIONS * sizeof(*c->regions));
	if (!c->regions)
		return -ENOMEM;
	c->nr_regions = 0;
	for (line = maps; line < maps + len && *line; line = next) {
		struct cap_region *cr;
		int skip, ret;

		next = strchr(line, '\n');
		if (!next)
			break;
		*next++ = 0;
		if (c->nr_regions >= CKPT_MAX_REGIONS) {
			ckpt_fail(c, "more than %d memory regions", CKPT_MAX_REGIONS);
			return -E2BIG;
		}
		cr = &c->regions[c->nr_regions];
		cr->copy = NULL;
		cr->all_pages = 0;
		ret = parse_region(c, line, cr, &skip);
		if (ret)
			return ret;
		if (!skip)
			c->nr_regions++;
	}
	return 0;
}
