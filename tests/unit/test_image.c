/* SPDX-License-Identifier: MIT */
/*
 * Image format: images are written with the writer into a temporary
 * directory, then opened with the reader. Malformed images are made by
 * changing the described content before it is written, so every hash is
 * right and the reader's checks after the checksum stage are reached.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include <cmocka.h>

#include "ckpt/exitcodes.h"
#include "hash.h"
#include "image_read.h"
#include "image_write.h"

#define PID		4242
#define REGION0		0x10000ull		/* anon, 4 pages, run of 2 at its start */
#define REGION1		0x7ff000000000ull	/* stack, 2 pages, run of 1 at its end */

#define OMIT_PROC	0x1
#define OMIT_STRINGS	0x2
#define EXTRA_UNKNOWN	0x4

struct spec {
	struct ckpt_proc proc;
	uint32_t proc_size;
	struct ckpt_thread threads[2];
	uint32_t nr_threads;
	struct ckpt_region regions[2];
	uint32_t nr_regions;
	struct ckpt_run runs[2];
	struct ckpt_fd fds[3];
	uint32_t nr_fds;
	struct ckpt_timer timer;
	char strings[128];
	uint32_t strings_len;
	uint32_t flags;
};

static char tmpdir[] = "/tmp/ckpt-unit-XXXXXX";
static int dir_fd = -1;
static unsigned char pages[3][CKPT_PAGE_SIZE];
static const char plugin_data[] = "plugin bytes";

static uint32_t str_add(struct spec *s, const char *str)
{
	uint32_t off = s->strings_len;

	strcpy(s->strings + off, str);
	s->strings_len += strlen(str) + 1;
	return off;
}

static void default_spec(struct spec *s)
{
	struct ckpt_region *r;

	memset(s, 0, sizeof(*s));
	s->proc_size = sizeof(s->proc);
	str_add(s, "");
	s->proc.pid = PID;
	s->proc.ppid = 1;
	s->proc.nr_threads = 1;
	s->proc.exe_str = str_add(s, "/usr/bin/app");
	s->proc.cwd_str = str_add(s, "/home/app");
	strcpy(s->proc.comm, "app");

	s->nr_threads = 1;
	s->threads[0].tid = PID;
	s->threads[0].flags = CKPT_THREAD_LEADER | CKPT_THREAD_COORD;
	s->threads[0].gregs[REG_RIP] = 0x401000;
	s->threads[0].gregs[REG_RSP] = REGION1 + 0x1f00;
	strcpy(s->threads[0].comm, "app");

	s->nr_regions = 2;
	r = &s->regions[0];
	r->start = REGION0;
	r->end = REGION0 + 4 * CKPT_PAGE_SIZE;
	r->prot = 3;
	r->kind = CKPT_REG_ANON;
	r->name_str = 0;
	r->first_run = 0;
	r->nr_runs = 1;
	r->bytes_stored = 2 * CKPT_PAGE_SIZE;
	r = &s->regions[1];
	r->start = REGION1;
	r->end = REGION1 + 2 * CKPT_PAGE_SIZE;
	r->prot = 3;
	r->kind = CKPT_REG_STACK;
	r->name_str = str_add(s, "[stack]");
	r->first_run = 1;
	r->nr_runs = 1;
	r->bytes_stored = CKPT_PAGE_SIZE;

	s->nr_fds = 3;
	for (int i = 0; i < 3; i++) {
		s->fds[i].fd = i;
		s->fds[i].kind = CKPT_FD_STDIO;
	}
	s->fds[2].fd = 5;
	s->fds[2].kind = CKPT_FD_REG;
	s->fds[2].pos = 77;
	s->fds[2].path_str = str_add(s, "/var/log/app.log");

	s->timer.id = 1;
	s->timer.signo = 14;
	s->timer.value_sec = 3;
}

typedef void (*mutate_fn)(struct spec *s);

static void write_pages(struct ckpt_writer *w, struct spec *s)
{
	assert_int_equal(ckpt_writer_pages(w, pages[0], 2, &s->runs[0]), 0);
	assert_int_equal(ckpt_writer_pages(w, pages[2], 1, &s->runs[1]), 0);
	s->runs[0].vaddr = REGION0;
	s->runs[1].vaddr = REGION1 + CKPT_PAGE_SIZE;
	assert_int_equal(ckpt_writer_end_pages(w), 0);
}

static void write_sections(struct ckpt_writer *w, const struct spec *s)
{
	struct ckpt_plugin_hdr ph = { .name = "demo", .version = 7, .size = sizeof(plugin_data) };

	if (!(s->flags & OMIT_PROC))
		assert_int_equal(ckpt_writer_section(w, CKPT_SEC_PROC, &s->proc, s->proc_size), 0);
	assert_int_equal(ckpt_writer_section(w, CKPT_SEC_THREADS, s->threads,
					     s->nr_threads * sizeof(s->threads[0])), 0);
	assert_int_equal(ckpt_writer_section(w, CKPT_SEC_REGIONS, s->regions,
					     s->nr_regions * sizeof(s->regions[0])), 0);
	assert_int_equal(ckpt_writer_section(w, CKPT_SEC_RUNS, s->runs, sizeof(s->runs)), 0);
	assert_int_equal(ckpt_writer_section(w, CKPT_SEC_FDS, s->fds,
					     s->nr_fds * sizeof(s->fds[0])), 0);
	assert_int_equal(ckpt_writer_section(w, CKPT_SEC_TIMERS, &s->timer, sizeof(s->timer)), 0);
	assert_int_equal(ckpt_writer_section2(w, CKPT_SEC_PLUGIN, &ph, sizeof(ph), plugin_data,
					      sizeof(plugin_data)), 0);
	if (!(s->flags & OMIT_STRINGS))
		assert_int_equal(ckpt_writer_section(w, CKPT_SEC_STRINGS, s->strings,
						     s->strings_len), 0);
	if (s->flags & EXTRA_UNKNOWN)
		assert_int_equal(ckpt_writer_section(w, CKPT_SEC_MAX + 3, "x", 1), 0);
}

/* Writes the default image, changed by mutate after the page runs are known. */
static void write_image(const char *name, mutate_fn mutate)
{
	struct ckpt_header hdr = { .pid = PID, .seq = 9, .created_ns = 1700000000123456789ull,
				   .pause_ns = 2500000, .comm = "app" };
	struct ckpt_writer w;
	struct spec s;

	default_spec(&s);
	assert_int_equal(ckpt_writer_open(&w, dir_fd, name, 0), 0);
	write_pages(&w, &s);
	if (mutate)
		mutate(&s);
	write_sections(&w, &s);
	assert_int_equal(ckpt_writer_finish(&w, &hdr), 0);
}

static char *path_of(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static int open_code(const char *name)
{
	struct ckpt_image img;
	char err[256] = "";
	int ret = ckpt_image_open(path_of(name), &img, err, sizeof(err));

	if (ret)
		assert_true(err[0]);
	ckpt_image_close(&img);
	return ret;
}

static void *read_file(const char *name, size_t *len)
{
	int fd = openat(dir_fd, name, O_RDONLY);
	struct stat st;
	void *buf;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc(st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, st.st_size, 0), st.st_size);
	close(fd);
	*len = st.st_size;
	return buf;
}

static void write_file(const char *name, const void *buf, size_t len)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void patch_header(const char *name, void (*patch)(struct ckpt_header *h))
{
	struct ckpt_header h;
	int fd = openat(dir_fd, name, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &h, sizeof(h), 0), sizeof(h));
	patch(&h);
	h.header_hash = 0;
	h.header_hash = ckpt_hash(&h, sizeof(h));
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), sizeof(h));
	close(fd);
}

static void test_valid_roundtrip(void **state)
{
	struct ckpt_image img;
	unsigned char buf[2 * CKPT_PAGE_SIZE];
	char err[256];

	write_image("valid.ckpt", NULL);
	assert_int_equal(ckpt_image_open(path_of("valid.ckpt"), &img, err, sizeof(err)), 0);
	assert_int_equal(img.hdr.version, CKPT_IMAGE_VERSION);
	assert_int_equal(img.hdr.pid, PID);
	assert_int_equal(img.hdr.seq, 9);
	assert_int_equal(img.hdr.created_ns, 1700000000123456789ull);
	assert_int_equal(img.hdr.pause_ns, 2500000);
	assert_string_equal(img.hdr.comm, "app");
	assert_int_equal(img.proc->pid, PID);
	assert_string_equal(ckpt_image_str(&img, img.proc->exe_str), "/usr/bin/app");
	assert_string_equal(ckpt_image_str(&img, img.proc->cwd_str), "/home/app");
	assert_int_equal(img.nr_threads, 1);
	assert_int_equal(img.threads[0].tid, PID);
	assert_int_equal(img.threads[0].gregs[REG_RIP], 0x401000);
	assert_int_equal(img.nr_regions, 2);
	assert_int_equal(img.regions[1].start, REGION1);
	assert_int_equal(img.regions[1].kind, CKPT_REG_STACK);
	assert_string_equal(ckpt_image_str(&img, img.regions[1].name_str), "[stack]");
	assert_int_equal(img.nr_runs, 2);
	assert_int_equal(img.nr_fds, 3);
	assert_int_equal(img.fds[2].fd, 5);
	assert_int_equal(img.fds[2].pos, 77);
	assert_string_equal(ckpt_image_str(&img, img.fds[2].path_str), "/var/log/app.log");
	assert_int_equal(img.nr_timers, 1);
	assert_int_equal(img.timers[0].value_sec, 3);
	assert_int_equal(img.nr_plugins, 1);
	assert_string_equal(img.plugins[0].hdr->name, "demo");
	assert_int_equal(img.plugins[0].hdr->version, 7);
	assert_memory_equal(img.plugins[0].data, plugin_data, sizeof(plugin_data));

	assert_int_equal(ckpt_image_read_run(&img, &img.runs[0], buf, err, sizeof(err)), 0);
	assert_memory_equal(buf, pages[0], 2 * CKPT_PAGE_SIZE);
	assert_int_equal(ckpt_image_read_run(&img, &img.runs[1], buf, err, sizeof(err)), 0);
	assert_memory_equal(buf, pages[2], CKPT_PAGE_SIZE);
	assert_int_equal(ckpt_image_verify_pages(&img, 0, err, sizeof(err)), 0);
	ckpt_image_close(&img);
}

static void test_missing(void **state)
{
	assert_int_equal(open_code("does-not-exist.ckpt"), CKPT_EXIT_NOENT);
}

static void test_foreign(void **state)
{
	static unsigned char junk[65536];

	srand(1);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = rand();
	write_file("empty.ckpt", "", 0);
	assert_int_equal(open_code("empty.ckpt"), CKPT_EXIT_FOREIGN);
	write_file("random.ckpt", junk, sizeof(junk));
	assert_int_equal(open_code("random.ckpt"), CKPT_EXIT_FOREIGN);
	/* the right magic on random bytes: caught by the header checksum */
	memcpy(junk, CKPT_MAGIC, CKPT_MAGIC_LEN);
	memset(junk + CKPT_MAGIC_LEN, 0, 4);	/* version 0: not "newer" */
	write_file("random-magic.ckpt", junk, sizeof(junk));
	assert_int_equal(open_code("random-magic.ckpt"), CKPT_EXIT_CORRUPT);
}

static void test_truncated(void **state)
{
	const struct ckpt_header *h;
	size_t len;
	char *buf;
	int fd;

	write_image("trunc.ckpt", NULL);
	buf = read_file("trunc.ckpt", &len);
	h = (const struct ckpt_header *)buf;
	assert_true(h->sections_off > 2 * CKPT_PAGE_SIZE);

	/* header only, mid-data, mid-metadata, mid-table */
	write_file("t.ckpt", buf, CKPT_PAGE_SIZE);
	assert_int_equal(open_code("t.ckpt"), CKPT_EXIT_TRUNCATED);
	write_file("t.ckpt", buf, CKPT_PAGE_SIZE + 100);
	assert_int_equal(open_code("t.ckpt"), CKPT_EXIT_TRUNCATED);
	write_file("t.ckpt", buf, h->sections_off - 16);
	assert_int_equal(open_code("t.ckpt"), CKPT_EXIT_TRUNCATED);
	write_file("t.ckpt", buf, len - 10);
	assert_int_equal(open_code("t.ckpt"), CKPT_EXIT_TRUNCATED);

	/* Every shorter length: too short for the magic, or truncated. */
	write_file("t.ckpt", buf, len);
	fd = openat(dir_fd, "t.ckpt", O_WRONLY);
	assert_true(fd >= 0);
	for (size_t l = len; l-- > 0;) {
		int want = l < CKPT_MAGIC_LEN ? CKPT_EXIT_FOREIGN : CKPT_EXIT_TRUNCATED;

		assert_int_equal(ftruncate(fd, l), 0);
		if (open_code("t.ckpt") != want)
			fail_msg("truncated to %zu bytes: got %d, want %d", l, open_code("t.ckpt"),
				 want);
	}
	close(fd);

	/* and longer than it says */
	write_file("t.ckpt", buf, len);
	fd = openat(dir_fd, "t.ckpt", O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "", 1), 1);
	close(fd);
	assert_int_equal(open_code("t.ckpt"), CKPT_EXIT_CORRUPT);
	free(buf);
}

static int flip_code(int fd, char *buf, size_t off, unsigned char mask)
{
	int ret;

	buf[off] ^= mask;
	assert_int_equal(pwrite(fd, buf + off, 1, off), 1);
	ret = open_code("flip.ckpt");
	buf[off] ^= mask;
	assert_int_equal(pwrite(fd, buf + off, 1, off), 1);
	return ret;
}

static void flip_range(int fd, char *buf, uint64_t start, uint64_t end)
{
	static const unsigned char masks[] = { 0x01, 0x80, 0xff };

	for (uint64_t off = start; off < end; off++)
		for (size_t m = 0; m < sizeof(masks); m++)
			if (!flip_code(fd, buf, off, masks[m]))
				fail_msg("byte %llu ^ %#x not detected", (unsigned long long)off,
					 masks[m]);
}

/*
 * Every byte the reader uses is covered by a hash: the header, the section
 * table and every metadata section. (The header page's padding and the
 * alignment gaps between sections are never read.)
 */
static void test_flip_metadata(void **state)
{
	const struct ckpt_header *h;
	const struct ckpt_section *secs;
	size_t len;
	char *buf;
	int fd;

	write_image("flip.ckpt", NULL);
	buf = read_file("flip.ckpt", &len);
	h = (const struct ckpt_header *)buf;
	secs = (const struct ckpt_section *)(buf + h->sections_off);
	fd = openat(dir_fd, "flip.ckpt", O_WRONLY);
	assert_true(fd >= 0);

	flip_range(fd, buf, 0, sizeof(*h));
	flip_range(fd, buf, h->sections_off, len);
	for (uint32_t i = 0; i < h->nr_sections; i++)
		if (secs[i].type != CKPT_SEC_PAGES)
			flip_range(fd, buf, secs[i].offset, secs[i].offset + secs[i].size);
	assert_int_equal(open_code("flip.ckpt"), 0);
	close(fd);
	free(buf);
}

/* Page data is checked per run, when it is read. */
static void test_flip_pages(void **state)
{
	struct ckpt_image img;
	char err[256], *buf;
	size_t len;
	int fd;

	write_image("pages.ckpt", NULL);
	buf = read_file("pages.ckpt", &len);
	fd = openat(dir_fd, "pages.ckpt", O_WRONLY);
	assert_true(fd >= 0);
	for (size_t off = CKPT_PAGE_SIZE; off < 4 * CKPT_PAGE_SIZE; off += 509) {
		buf[off] ^= 0x10;
		assert_int_equal(pwrite(fd, buf + off, 1, off), 1);
		assert_int_equal(ckpt_image_open(path_of("pages.ckpt"), &img, err, sizeof(err)), 0);
		assert_int_equal(ckpt_image_verify_pages(&img, 0, err, sizeof(err)), CKPT_EXIT_CORRUPT);
		ckpt_image_close(&img);
		buf[off] ^= 0x10;
		assert_int_equal(pwrite(fd, buf + off, 1, off), 1);
	}
	close(fd);
	free(buf);
}

static void set_version_2(struct ckpt_header *h)
{
	h->version = 2;
}

static void set_version_0(struct ckpt_header *h)
{
	h->version = 0;
}

static void set_arch_i386(struct ckpt_header *h)
{
	h->arch = 3;	/* EM_386 */
}

static void set_page_size_64k(struct ckpt_header *h)
{
	h->page_size = 65536;
}

static void test_version_arch(void **state)
{
	write_image("v2.ckpt", NULL);
	patch_header("v2.ckpt", set_version_2);
	assert_int_equal(open_code("v2.ckpt"), CKPT_EXIT_VERSION);
	write_image("v0.ckpt", NULL);
	patch_header("v0.ckpt", set_version_0);
	assert_int_equal(open_code("v0.ckpt"), CKPT_EXIT_VERSION);
	write_image("arch.ckpt", NULL);
	patch_header("arch.ckpt", set_arch_i386);
	assert_int_equal(open_code("arch.ckpt"), CKPT_EXIT_ARCH);
	write_image("psize.ckpt", NULL);
	patch_header("psize.ckpt", set_page_size_64k);
	assert_int_equal(open_code("psize.ckpt"), CKPT_EXIT_ARCH);
}

static void run_outside_file(struct spec *s)
{
	s->runs[0].data_off = 1ull << 40;
}

static void run_into_metadata(struct spec *s)
{
	s->runs[1].data_off += CKPT_PAGE_SIZE;	/* past the end of the page data */
}

static void run_outside_region(struct spec *s)
{
	s->runs[1].vaddr = REGION1 + 2 * CKPT_PAGE_SIZE;
}

static void run_too_long(struct spec *s)
{
	s->runs[0].npages = 5;
}

static void run_index_out_of_range(struct spec *s)
{
	s->regions[1].first_run = 2;
}

static void regions_overlap(struct spec *s)
{
	s->regions[1] = s->regions[0];
	s->regions[1].start += CKPT_PAGE_SIZE;
	s->regions[1].end += CKPT_PAGE_SIZE;
	s->regions[1].nr_runs = 0;
}

static void regions_unsorted(struct spec *s)
{
	struct ckpt_region r = s->regions[0];

	s->regions[0] = s->regions[1];
	s->regions[1] = r;
}

static void region_unaligned(struct spec *s)
{
	s->regions[0].end -= 100;
}

static void region_bad_kind(struct spec *s)
{
	s->regions[0].kind = CKPT_REG_MAX;
}

static void exe_str_out_of_range(struct spec *s)
{
	s->proc.exe_str = s->strings_len;
}

static void region_name_out_of_range(struct spec *s)
{
	s->regions[1].name_str = 100000;
}

static void fd_path_out_of_range(struct spec *s)
{
	s->fds[2].path_str = s->strings_len + 10;
}

static void strings_unterminated(struct spec *s)
{
	s->strings[s->strings_len++] = 'x';
}

static void thread_count_mismatch(struct spec *s)
{
	s->proc.nr_threads = 2;
}

static void duplicate_tid(struct spec *s)
{
	s->threads[1] = s->threads[0];
	s->nr_threads = 2;
	s->proc.nr_threads = 2;
}

static void no_leader(struct spec *s)
{
	s->threads[0].tid = PID + 1;
}

static void duplicate_fd(struct spec *s)
{
	s->fds[2].fd = 1;
}

static void negative_fd(struct spec *s)
{
	s->fds[0].fd = -1;
}

static void proc_short(struct spec *s)
{
	s->proc_size = sizeof(s->proc) - 8;
}

static void proc_missing(struct spec *s)
{
	s->flags |= OMIT_PROC;
}

static void strings_missing(struct spec *s)
{
	s->flags |= OMIT_STRINGS;
}

static void unknown_section(struct spec *s)
{
	s->flags |= EXTRA_UNKNOWN;
}

static void test_invalid(void **state)
{
	static const struct {
		const char *name;
		mutate_fn fn;
	} cases[] = {
		{ "run outside the file", run_outside_file },
		{ "run into the metadata", run_into_metadata },
		{ "run outside its region", run_outside_region },
		{ "run longer than its region", run_too_long },
		{ "run index out of range", run_index_out_of_range },
		{ "overlapping regions", regions_overlap },
		{ "unsorted regions", regions_unsorted },
		{ "unaligned region", region_unaligned },
		{ "bad region kind", region_bad_kind },
		{ "exe string out of range", exe_str_out_of_range },
		{ "region name out of range", region_name_out_of_range },
		{ "fd path out of range", fd_path_out_of_range },
		{ "string table unterminated", strings_unterminated },
		{ "thread count mismatch", thread_count_mismatch },
		{ "duplicate tid", duplicate_tid },
		{ "no leader thread", no_leader },
		{ "duplicate fd", duplicate_fd },
		{ "negative fd", negative_fd },
		{ "proc section too short", proc_short },
		{ "proc section missing", proc_missing },
		{ "strings section missing", strings_missing },
		{ "unknown section type", unknown_section },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ckpt_image img;
		char err[256] = "";
		int ret;

		write_image("invalid.ckpt", cases[i].fn);
		ret = ckpt_image_open(path_of("invalid.ckpt"), &img, err, sizeof(err));
		ckpt_image_close(&img);
		if (ret != CKPT_EXIT_INVALID)
			fail_msg("%s: got %d (%s), want %d", cases[i].name, ret, err,
				 CKPT_EXIT_INVALID);
	}
}

static void test_writer_mode(void **state)
{
	mode_t old = umask(0);
	struct stat st;

	write_image("mode.ckpt", NULL);
	umask(old);
	assert_int_equal(fstatat(dir_fd, "mode.ckpt", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_writer_abort(void **state)
{
	struct spec s;
	struct ckpt_writer w;
	char *before, *after;
	size_t len_before, len_after;

	write_image("keep.ckpt", NULL);
	before = read_file("keep.ckpt", &len_before);

	default_spec(&s);
	assert_int_equal(ckpt_writer_open(&w, dir_fd, "keep.ckpt", 0), 0);
	write_pages(&w, &s);
	assert_int_equal(ckpt_writer_section(&w, CKPT_SEC_PROC, &s.proc, sizeof(s.proc)), 0);
	assert_int_equal(faccessat(dir_fd, ".keep.ckpt.tmp", F_OK, 0), 0);
	ckpt_writer_abort(&w);

	assert_int_equal(faccessat(dir_fd, ".keep.ckpt.tmp", F_OK, 0), -1);
	assert_int_equal(errno, ENOENT);
	after = read_file("keep.ckpt", &len_after);
	assert_int_equal(len_after, len_before);
	assert_memory_equal(after, before, len_before);
	assert_int_equal(open_code("keep.ckpt"), 0);
	free(before);
	free(after);

	/* A new image has no final name until finish. */
	assert_int_equal(ckpt_writer_open(&w, dir_fd, "new.ckpt", 0), 0);
	assert_int_equal(faccessat(dir_fd, "new.ckpt", F_OK, 0), -1);
	ckpt_writer_abort(&w);
	assert_int_equal(faccessat(dir_fd, "new.ckpt", F_OK, 0), -1);
	assert_int_equal(faccessat(dir_fd, ".new.ckpt.tmp", F_OK, 0), -1);
}

static int setup(void **state)
{
	for (int i = 0; i < 3; i++)
		for (size_t j = 0; j < CKPT_PAGE_SIZE; j++)
			pages[i][j] = (unsigned char)(i * 31 + j * 7);
	if (!mkdtemp(tmpdir))
		return -1;
	dir_fd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	return dir_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	DIR *d = fdopendir(dir_fd);
	struct dirent *de;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dir_fd, de->d_name, 0);
	closedir(d);
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_roundtrip),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_foreign),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_flip_metadata),
		cmocka_unit_test(test_flip_pages),
		cmocka_unit_test(test_version_arch),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_writer_mode),
		cmocka_unit_test(test_writer_abort),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
