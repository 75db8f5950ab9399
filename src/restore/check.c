/* SPDX-License-Identifier: MIT */
/*
 * Before anything is touched: do the binaries and mapped files still
 * match, does this kernel's vDSO have the image's layout, does this CPU
 * have the image's register state features, are the pid and tids free?
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "errmsg.h"
#include "restore.h"

static int same_file(const struct stat *st, uint64_t size, int64_t sec, int64_t nsec)
{
	return (uint64_t)st->st_size == size && st->st_mtim.tv_sec == sec &&
	       st->st_mtim.tv_nsec == nsec;
}

static int check_files(struct ckpt_image *img, char *err, size_t len)
{
	const struct ckpt_proc *p = img->proc;
	const char *exe = ckpt_image_str(img, p->exe_str);
	struct stat st;

	if (stat(exe, &st))
		return ckpt_errmsg(err, len, CKPT_EXIT_FILES, "program %s: %s", exe, strerror(errno));
	if (!same_file(&st, p->exe_size, p->exe_mtime_sec, p->exe_mtime_nsec))
		return ckpt_errmsg(err, len, CKPT_EXIT_FILES,
			    "program %s changed since the checkpoint (size or mtime differ)", exe);
	for (uint32_t i = 0; i < img->nr_regions; i++) {
		const struct ckpt_region *r = &img->regions[i];
		const char *path = ckpt_image_str(img, r->name_str);

		if (r->kind != CKPT_REG_FILE)
			continue;
		if (stat(path, &st))
			return ckpt_errmsg(err, len, CKPT_EXIT_FILES, "mapped file %s: %s", path,
				    strerror(errno));
		if (!(r->flags & CKPT_REGF_FILE_WRITABLE) &&
		    !same_file(&st, r->file_size, r->mtime_sec, r->mtime_nsec))
			return ckpt_errmsg(err, len, CKPT_EXIT_FILES,
				    "mapped file %s changed since the checkpoint (size or mtime differ)",
				    path);
	}
	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct ckpt_fd *f = &img->fds[i];
		const char *path = ckpt_image_str(img, f->path_str);

		if (rst_fd_by_path(f) && stat(path, &st))
			return ckpt_errmsg(err, len, CKPT_EXIT_FILES, "fd %d: %s: %s", f->fd, path,
				    strerror(errno));
	}
	if (stat(ckpt_image_str(img, p->cwd_str), &st))
		return ckpt_errmsg(err, len, CKPT_EXIT_FILES, "working directory %s: %s",
			    ckpt_image_str(img, p->cwd_str), strerror(errno));
	return CKPT_EXIT_OK;
}

int rst_current_vdso(uint64_t cur[3][2])
{
	static const char *const names[3] = { "[vvar]", "[vvar_vclock]", "[vdso]" };
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	memset(cur, 0, sizeof(uint64_t) * 6);
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		char name[64] = "";

		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %63s", &s, &e, name) < 2)
			continue;
		for (int i = 0; i < 3; i++) {
			if (strcmp(name, names[i]))
				continue;
			cur[i][0] = s;
			cur[i][1] = e;
		}
	}
	fclose(f);
	return 0;
}

static int check_vdso(struct ckpt_image *img, char *err, size_t len)
{
	static const uint32_t kinds[3] = { CKPT_REG_VVAR, CKPT_REG_VVAR_VCLOCK, CKPT_REG_VDSO };
	uint64_t cur[3][2];

	if (rst_current_vdso(cur))
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "cannot read /proc/self/maps");
	for (int k = 0; k < 3; k++) {
		uint64_t want = 0;

		for (uint32_t i = 0; i < img->nr_regions; i++)
			if (img->regions[i].kind == kinds[k])
				want = img->regions[i].end - img->regions[i].start;
		if (want && want != cur[k][1] - cur[k][0])
			return ckpt_errmsg(err, len, CKPT_EXIT_ENV,
				    "this kernel's vDSO differs from the image's (%s is %llu bytes, "
				    "was %llu): restore on the kernel that took the checkpoint",
				    ckpt_region_kind_name(kinds[k]),
				    (unsigned long long)(cur[k][1] - cur[k][0]),
				    (unsigned long long)want);
	}
	return CKPT_EXIT_OK;
}

static uint64_t read_xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

int rst_id_in_use(pid_t id)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", (int)id);
	return access(path, F_OK) == 0;
}

/* Returns the first of the image's pid and tids that a process of ours already uses, or 0. */
int rst_ids_in_use(const struct ckpt_image *img)
{
	if (rst_id_in_use(img->proc->pid))
		return img->proc->pid;
	for (uint32_t i = 0; i < img->nr_threads; i++)
		if (rst_id_in_use(img->threads[i].tid))
			return img->threads[i].tid;
	return 0;
}

int rst_check(struct ckpt_image *img, char *err, size_t len)
{
	int ret = check_files(img, err, len);

	if (!ret)
		ret = check_vdso(img, err, len);
	if (!ret && (img->proc->xcr0 & ~read_xcr0()))
		ret = ckpt_errmsg(err, len, CKPT_EXIT_ENV,
			   "this CPU lacks register state features the image uses (XCR0 %#llx vs %#llx)",
			   (unsigned long long)img->proc->xcr0, (unsigned long long)read_xcr0());
	return ret;
}
