/* SPDX-License-Identifier: MIT */
/*
 * Stage 1 in the process-to-be (already carrying the image's pid):
 * process attributes, file descriptors and mapped files, then the jump
 * into the restorer. Every failure here still has libc and a clear
 * message; after the jump there is no way back. A process of a tree first
 * creates its children (which so inherit what the top prepared), and
 * jumps only when the top says that every process of the tree is ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "log.h"
#include "restore.h"

#define RSEQ_FLAG_UNREGISTER	1
#define RSEQ_SIG_GLIBC		0x53053053

extern __attribute__((weak)) const ptrdiff_t __rseq_offset;
extern __attribute__((weak)) const unsigned int __rseq_size;

static void restore_rlimits(const struct ckpt_proc *p)
{
	for (int i = 0; i < CKPT_NR_RLIMITS && i < RLIM_NLIMITS; i++) {
		struct rlimit rl = { p->rlim[i].cur, p->rlim[i].max };

		if (!rl.rlim_cur && !rl.rlim_max)
			continue;
		if (setrlimit(i, &rl))
			pr_warn("cannot restore resource limit %d: %s", i, strerror(errno));
	}
}

/* libc registered rseq for this thread; the area is about to disappear. */
static void unregister_rseq(void)
{
	if (&__rseq_size == NULL || &__rseq_offset == NULL || !__rseq_size)
		return;
	syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset, 32,
		RSEQ_FLAG_UNREGISTER, RSEQ_SIG_GLIBC);
}

static int max_app_fd(const struct ckpt_image *img)
{
	int m = 2;

	for (uint32_t i = 0; i < img->nr_fds; i++)
		if (img->fds[i].fd > m)
			m = img->fds[i].fd;
	return m;
}

static void add_close(struct rst_ctx *x, int fd)
{
	if (fd < 0 || x->nr_close >= sizeof(x->close_fds) / sizeof(x->close_fds[0]))
		return;
	for (uint32_t i = 0; i < x->nr_close; i++)
		if (x->close_fds[i] == fd)
			return;
	x->close_fds[x->nr_close++] = fd;
}

static int open_exe(struct rst_ctx *x)
{
	const char *exe = ckpt_image_str(x->img, x->img->proc->exe_str);

	x->exe_fd = rst_high_fd(x, open(exe, O_RDONLY | O_CLOEXEC));
	if (x->exe_fd < 0) {
		snprintf(x->err, sizeof(x->err), "program %s: %s", exe, strerror(errno));
		return CKPT_EXIT_FILES;
	}
	return CKPT_EXIT_OK;
}

int rst_stage1(struct rst_ctx *x)
{
	const struct ckpt_proc *p = x->img->proc;
	struct rst_launch go;
	sigset_t all;
	int ret;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	x->fd_base = x->tree ? rst_tree_fd_base(x->tree) : max_app_fd(x->img) + 16;
	if (x->tree) {
		ret = rst_tree_children(x);
		if (ret)
			return ret;
	}
	for (uint32_t k = 0; k < x->chain->n; k++) {
		x->chain->imgs[k]->fd = rst_high_fd(x, x->chain->imgs[k]->fd);
		x->chain->memfd[k] = rst_high_fd(x, x->chain->memfd[k]);
	}
	x->status_fd = rst_high_fd(x, x->status_fd);
	if (x->img->fd < 0 || x->status_fd < 0) {
		snprintf(x->err, sizeof(x->err), "cannot move descriptors: %s", strerror(errno));
		return CKPT_EXIT_FAIL;
	}
	umask(p->umask);
	if (personality(p->personality) < 0)
		pr_warn("cannot restore personality %#x: %s", p->personality, strerror(errno));
	/* per thread, and inherited: every thread the restorer creates gets it */
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		pr_warn("cannot restore no_new_privs: %s", strerror(errno));
	if (chdir(ckpt_image_str(x->img, p->cwd_str))) {
		snprintf(x->err, sizeof(x->err), "working directory %s: %s",
			 ckpt_image_str(x->img, p->cwd_str), strerror(errno));
		return CKPT_EXIT_FILES;
	}
	restore_rlimits(p);
	x->region_fd = calloc(x->img->nr_regions + 1, sizeof(int));
	if (!x->region_fd)
		return CKPT_EXIT_FAIL;
	ret = rst_open_mapped_files(x);
	if (!ret)
		ret = open_exe(x);
	if (!ret)
		ret = rst_restore_fds(x);
	if (ret)
		return ret;
	rst_close_others(x);
	for (uint32_t i = 0; i < x->img->nr_regions; i++)
		add_close(x, x->region_fd[i]);
	add_close(x, x->exe_fd);
	for (uint32_t k = 0; k < x->chain->n; k++) {
		if (k)
			add_close(x, x->chain->imgs[k]->fd);
		add_close(x, x->chain->memfd[k]);
	}
	add_close(x, x->status_fd);
	ret = rst_plan(x, &go);
	if (ret)
		return ret;
	/*
	 * the point of no return: tell the parent, then replace ourselves
	 * (in a tree, once the top says that every process is ready)
	 */
	if (x->tree) {
		rst_tree_ready(x);
	} else if (write(x->status_fd, "R", 1) != 1) {
		snprintf(x->err, sizeof(x->err), "lost contact with ckpt-restore");
		return CKPT_EXIT_FAIL;
	}
	unregister_rseq();
	go.entry(go.args, go.stack_top);
	return CKPT_EXIT_FAIL;	/* not reached */
}
