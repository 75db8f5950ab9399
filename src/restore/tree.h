/* SPDX-License-Identifier: MIT */
/*
 * A process tree being restored: what the top ckpt-restore learns from the
 * root image and its members' images, and builds for them. Every restored
 * process is a fork of the top and so inherits all of it (read only).
 */
#ifndef CKPT_RESTORE_TREE_H
#define CKPT_RESTORE_TREE_H

#include <sys/types.h>

#include "fds.h"

struct rst_tree_proc {
	pid_t pid, ppid, pgid, sid;
	uint32_t state;			/* CKPT_TREE_LIVE, CKPT_TREE_ZOMBIE */
	int wait_status;		/* ZOMBIE: what waitpid() reports */
	/* LIVE only */
	struct ckpt_image *img;
	struct rst_chain *chain;
	char *path;			/* the image file */
	int top_fd;			/* status socket: the top's end */
	int own_fd;			/* and the process's end */
};

struct rst_shm {			/* memory that several processes of the tree map */
	uint32_t kind;			/* CKPT_REG_SHANON, CKPT_REG_MEMFD */
	uint64_t dev, ino;
	int fd;
};

struct rst_tree_file {			/* one open file of several processes (FDX_INHERITED) */
	const struct ckpt_fd *src;	/* the entry that opens it: the oldest process's */
	int fd;
};

struct rst_tree {
	struct rst_opts *opts;
	struct rst_tree_proc *procs;	/* [0]: the root, then the root image's tree entries */
	uint32_t nr_procs;
	struct ckpt_image **imgs;	/* the live processes' images, in procs order */
	struct rst_chain **chains;	/* and their chains */
	uint32_t nr_imgs;
	int fd_base;			/* the top's own fds are all at or above it */
	struct rst_fdobj *objs;		/* fd objects of several processes, built by the top */
	uint32_t nr_objs;
	struct rst_shm *shm;
	uint32_t nr_shm;
	struct rst_tree_file *files;
	uint32_t nr_files;
	int in_ns;			/* in a pid namespace of our own */
	pid_t top_pgid;			/* ckpt-restore's group, for groups outside the tree */
};

/* tree.c: fd moved to a number at or above fd_base (the old one closed), or -1 */
int rst_tree_high(const struct rst_tree *t, int fd);

/* tree_objs.c: builds objs, shm and files in the top; 0 or CKPT_EXIT_* with err */
int rst_tree_build(struct rst_tree *t, char *err, size_t len);
/* the open file the top made for f of img's process and others (FDX_INHERITED), or -1 */
int rst_tree_file_fd(const struct rst_tree *t, const struct ckpt_image *img,
		     const struct ckpt_fd *f);

/* tree_spawn.c */
int rst_tree_sockets(struct rst_tree *t, char *err, size_t len);
/* in the new process idx, which has its pid: its stage 1; never returns */
__attribute__((noreturn)) void rst_tree_run(const struct rst_tree *t, uint32_t idx);
/* in the top: the collective point of no return, then the root's exit status */
int rst_tree_wait(struct rst_tree *t, pid_t child, int in_ns);

#endif
