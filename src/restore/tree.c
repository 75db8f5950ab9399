/* SPDX-License-Identifier: MIT */
/*
 * ckpt-restore ROOT.img where the root image lists a process tree
 * (CKPT_SEC_TREE): the top ckpt-restore's part. Each live member's image,
 * named by the root image and in its directory, is opened, must be the
 * very file written with the root (its header hash) and is loaded and
 * checked like the root's; every error comes before anything is created.
 * Then the top builds what the processes share (tree_objs.c), creates the
 * root as it would a single process (spawn.c), and the processes create
 * one another (tree_spawn.c). Every descriptor the processes inherit from
 * the top sits at or above one fd_base, above every fd number of the tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "errmsg.h"
#include "log.h"
#include "tree.h"

int rst_tree_high(const struct rst_tree *t, int fd)
{
	return rst_move_fd(fd, t->fd_base);
}

int rst_tree_fd_base(const struct rst_tree *t)
{
	return t->fd_base;
}

int rst_tree_shm_fd(const struct rst_tree *t, uint32_t kind, uint64_t dev, uint64_t ino)
{
	for (uint32_t i = 0; t && ino && i < t->nr_shm; i++)
		if (t->shm[i].kind == kind && t->shm[i].dev == dev && t->shm[i].ino == ino)
			return t->shm[i].fd;
	return -1;
}

/* A status that exit() or a fatal signal's default action can give. */
static int valid_wait_status(int st)
{
	int sig = st & 0x7f;

	if (!sig)
		return !(st & ~0xff00);
	if (st & ~0xff)
		return 0;
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:	/* ignored */
	case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:	/* they stop it */
		return 0;
	default:
		return sig <= 64;
	}
}

static int load_member(struct rst_tree_proc *p, const struct ckpt_tree_proc *e,
		       const char *dir, const struct rst_opts *opts, char *err, size_t len)
{
	char why[512];
	int ret;

	p->img = calloc(1, sizeof(*p->img));
	p->chain = calloc(1, sizeof(*p->chain));
	p->path = malloc(strlen(dir) + sizeof(e->image) + 2);
	if (!p->img || !p->chain || !p->path)
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
	sprintf(p->path, "%s/%s", dir, e->image);
	ret = ckpt_image_open(p->path, p->img, why, sizeof(why));
	if (ret && p->img->fd < 0)	/* the message names the file */
		return ckpt_errmsg(err, len, ret, "pid %d of the tree: %s", e->pid, why);
	if (ret)
		return ckpt_errmsg(err, len, ret, "%s (pid %d of the tree): %s", p->path, e->pid,
				   why);
	if (p->img->hdr.header_hash != e->header_hash)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "%s is not the image of pid %d "
				   "that the root image lists (its header hash differs)", p->path,
				   e->pid);
	if (p->img->proc->pid != e->pid)
		return ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "%s holds pid %d, the root image "
				   "lists it as pid %d", p->path, p->img->proc->pid, e->pid);
	ret = rst_chain_load(p->img, p->path, p->chain, opts->verify, why, sizeof(why));
	if (!ret)
		ret = rst_check(p->img, why, sizeof(why));
	if (ret)
		return ckpt_errmsg(err, len, ret, "%s (pid %d of the tree): %s", p->path, e->pid,
				   why);
	return CKPT_EXIT_OK;
}

static int load(struct rst_tree *t, struct ckpt_image *root, struct rst_chain *chain,
		const char *path, char *err, size_t len)
{
	char *copy = strdup(path);
	const char *dir = copy ? dirname(copy) : ".";
	int ret = CKPT_EXIT_OK;

	t->nr_procs = 1 + root->nr_tree;
	t->procs = calloc(t->nr_procs, sizeof(*t->procs));
	t->imgs = calloc(t->nr_procs, sizeof(*t->imgs));
	t->chains = calloc(t->nr_procs, sizeof(*t->chains));
	if (!copy || !t->procs || !t->imgs || !t->chains) {
		free(copy);
		return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "out of memory");
	}
	t->procs[0] = (struct rst_tree_proc){
		.pid = root->proc->pid, .ppid = root->proc->ppid, .pgid = root->proc->pgid,
		.sid = root->proc->sid, .state = CKPT_TREE_LIVE, .img = root, .chain = chain,
		.path = (char *)path, .top_fd = -1, .own_fd = -1,
	};
	t->chains[t->nr_imgs] = chain;
	t->imgs[t->nr_imgs++] = root;
	for (uint32_t i = 0; !ret && i < root->nr_tree; i++) {
		const struct ckpt_tree_proc *e = &root->tree[i];
		struct rst_tree_proc *p = &t->procs[i + 1];

		*p = (struct rst_tree_proc){
			.pid = e->pid, .ppid = e->ppid, .pgid = e->pgid, .sid = e->sid,
			.state = e->state, .wait_status = e->wait_status, .top_fd = -1,
			.own_fd = -1,
		};
		if (e->state == CKPT_TREE_ZOMBIE) {
			if (!valid_wait_status(e->wait_status))
				ret = ckpt_errmsg(err, len, CKPT_EXIT_INVALID, "tree: zombie pid %d "
						  "has an impossible wait status %#x", e->pid,
						  e->wait_status);
			continue;
		}
		ret = load_member(p, e, dir, t->opts, err, len);
		if (!ret) {
			t->chains[t->nr_imgs] = p->chain;
			t->imgs[t->nr_imgs++] = p->img;
		}
	}
	free(copy);
	return ret;
}

/* The first pid or tid of the tree that is taken (a process or a process group), or 0. */
static int ids_in_use(const struct rst_tree *t)
{
	for (uint32_t i = 0; i < t->nr_procs; i++) {
		const struct rst_tree_proc *p = &t->procs[i];
		int busy = p->img ? rst_ids_in_use(p->img) : rst_id_in_use(p->pid);

		if (busy)
			return busy;
		/* a group whose leader is gone keeps its number */
		if (!kill(-p->pid, 0) || errno == EPERM)
			return p->pid;
	}
	return 0;
}

static int compute_fd_base(const struct rst_tree *t)
{
	int m = 2;

	for (uint32_t k = 0; k < t->nr_imgs; k++)
		for (uint32_t i = 0; i < t->imgs[k]->nr_fds; i++)
			if (t->imgs[k]->fds[i].fd > m)
				m = t->imgs[k]->fds[i].fd;
	return m + 16;
}

/* Every image and decompressed copy above fd_base, where no restored fd lands. */
static int move_images(struct rst_tree *t, char *err, size_t len)
{
	for (uint32_t i = 0; i < t->nr_procs; i++) {
		struct rst_chain *ch = t->procs[i].chain;

		for (uint32_t k = 0; ch && k < ch->n; k++) {
			ch->imgs[k]->fd = rst_tree_high(t, ch->imgs[k]->fd);
			ch->memfd[k] = rst_tree_high(t, ch->memfd[k]);
			if (ch->imgs[k]->fd < 0)
				return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "cannot move descriptors: "
						   "%s", strerror(errno));
		}
	}
	return CKPT_EXIT_OK;
}

/* Once the root exists the top needs only the status sockets' ends of its own. */
static void close_in_top(struct rst_tree *t)
{
	for (uint32_t i = 0; i < t->nr_procs; i++) {
		struct rst_chain *ch = t->procs[i].chain;

		if (t->procs[i].own_fd >= 0)
			close(t->procs[i].own_fd);
		for (uint32_t k = 0; ch && k < ch->n; k++) {
			if (ch->imgs[k]->fd >= 0)
				close(ch->imgs[k]->fd);
			if (ch->memfd[k] >= 0)
				close(ch->memfd[k]);
		}
	}
	for (uint32_t i = 0; i < t->nr_objs; i++)
		for (int k = 0; k < 2; k++)
			if (t->objs[i].fd[k] >= 0)
				close(t->objs[i].fd[k]);
	for (uint32_t i = 0; i < t->nr_shm; i++)
		close(t->shm[i].fd);
	for (uint32_t i = 0; i < t->nr_files; i++)
		close(t->files[i].fd);
}

int rst_tree_restore(struct ckpt_image *root, struct rst_chain *chain, const char *path,
		     struct rst_opts *opts)
{
	struct rst_tree *t = calloc(1, sizeof(*t));
	char err[1024];
	int ret, code;
	pid_t pid;

	if (!t) {
		pr_err("out of memory");
		return CKPT_EXIT_FAIL;
	}
	t->opts = opts;
	ret = load(t, root, chain, path, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		return ret;
	}
	pr_debug("tree of %u processes (%u live), root pid %d", t->nr_procs, t->nr_imgs,
		 root->proc->pid);
	t->fd_base = compute_fd_base(t);
	ret = move_images(t, err, sizeof(err));
	if (!ret)
		ret = rst_tree_build(t, err, sizeof(err));
	if (!ret)
		ret = rst_tree_sockets(t, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		return ret;
	}
	t->top_pgid = getpgrp();
	/* in_ns is set before the namespace's processes are forked: they see it */
	pid = rst_spawn_pid(root->proc->pid, ids_in_use(t), opts, -1, &t->in_ns, &code);
	if (pid == 0)
		rst_tree_run(t, 0);
	close_in_top(t);
	if (pid < 0)
		return code;
	rst_forward_signals(pid);
	return rst_tree_wait(t, pid, t->in_ns);
}
