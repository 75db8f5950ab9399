/* SPDX-License-Identifier: MIT */
/*
 * Compressed images (CKPT_COMPRESS=zstd[:LEVEL], CKPT_COMPRESS_THREADS).
 * Runs are compressed by worker processes forked from the writer, so
 * they share its snapshot and need neither threads nor malloc (a stopped
 * thread may have held the heap lock when the writer was forked): each
 * compresses its share into a temporary file of its own with a static
 * zstd context, and the writer appends those files to the image and
 * records where each run landed. One zstd frame per run.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "ckpt.h"
#include "hash.h"
#include "image_write.h"
#include "io.h"
#include "log.h"

#define MAX_WORKERS	64

struct zresult {
	uint64_t off, len, hash, stored_hash;
	int32_t worker;
	int32_t pad;
};

static void worker(int id, int fd, const struct ckpt_run *runs, const void *const *srcs,
		   size_t n, struct zresult *res, int level)
{
	size_t ws_size = ZSTD_estimateCCtxSize(level), max_len = 0;
	void *ws = mmap(NULL, ws_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ZSTD_CCtx *cctx;
	uint64_t off = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		if (res[i].worker == id && runs[i].npages * CKPT_PAGE_SIZE > max_len)
			max_len = runs[i].npages * CKPT_PAGE_SIZE;
	out = mmap(NULL, ZSTD_compressBound(max_len) + 1, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ws == MAP_FAILED || out == MAP_FAILED)
		_exit(1);
	cctx = ZSTD_initStaticCCtx(ws, ws_size);
	if (!cctx)
		_exit(1);
	for (size_t i = 0; i < n; i++) {
		size_t len = runs[i].npages * CKPT_PAGE_SIZE, clen;

		if (res[i].worker != id)
			continue;
		clen = ZSTD_compressCCtx(cctx, out, ZSTD_compressBound(max_len), srcs[i], len, level);
		if (ZSTD_isError(clen) || ckpt_write_all(fd, out, clen))
			_exit(1);
		res[i].off = off;
		res[i].len = clen;
		res[i].hash = ckpt_hash(srcs[i], len);
		res[i].stored_hash = ckpt_hash(out, clen);
		off += clen;
	}
	_exit(0);
}

static int temp_file(int dir_fd)
{
	int fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	return fd >= 0 ? fd : open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

/* Spreads runs over workers, largest share to the least loaded. */
static void assign(const struct ckpt_run *runs, size_t n, struct zresult *res, int k)
{
	uint64_t load[MAX_WORKERS] = { 0 };

	for (size_t i = 0; i < n; i++) {
		int best = 0;

		for (int w = 1; w < k; w++)
			if (load[w] < load[best])
				best = w;
		res[i].worker = best;
		load[best] += runs[i].npages;
	}
}

int ckpt_compress_runs(struct ckpt_writer *w, int dir_fd, struct ckpt_run *runs,
		       const void *const *srcs, size_t n)
{
	int k = ckpt_cfg.compress_threads, fds[MAX_WORKERS], ret = 0;
	pid_t pids[MAX_WORKERS];
	struct zresult *res;

	if (!n)
		return 0;
	k = k < 1 ? 1 : k > MAX_WORKERS ? MAX_WORKERS : k;
	res = mmap(NULL, n * sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		   -1, 0);
	if (res == MAP_FAILED)
		return -ENOMEM;
	assign(runs, n, res, k);
	for (int i = 0; i < k; i++) {
		fds[i] = temp_file(dir_fd);
		if (fds[i] < 0) {
			k = i;
			ret = -errno;
			goto out;
		}
		/* raw clone: no atfork handlers in the writer's helpers */
		pids[i] = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0);
		if (pids[i] == 0)
			worker(i, fds[i], runs, srcs, n, res, ckpt_cfg.compress_level);
		if (pids[i] < 0) {
			close(fds[i]);
			k = i;
			ret = -errno;
			goto out;
		}
	}
	for (int i = 0; i < k; i++) {
		int status;

		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			ret = ret ? ret : -EIO;
	}
	for (int i = 0; i < k && !ret; i++) {
		uint64_t base;

		ret = ckpt_writer_append_file(w, fds[i], &base);
		for (size_t r = 0; r < n && !ret; r++) {
			if (res[r].worker != i)
				continue;
			runs[r].data_off = base + res[r].off;
			runs[r].stored_len = res[r].len;
			runs[r].hash = res[r].hash;
			runs[r].stored_hash = res[r].stored_hash;
			runs[r].flags = CKPT_RUN_ZSTD;
		}
	}
out:
	for (int i = 0; i < k; i++)
		close(fds[i]);
	munmap(res, n * sizeof(*res));
	return ret;
}
