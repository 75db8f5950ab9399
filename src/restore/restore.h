/* SPDX-License-Identifier: MIT */
/* Stage 1 of ckpt-restore: ordinary C, everything that can fail with a clear message. */
#ifndef CKPT_RESTORE_H
#define CKPT_RESTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image_read.h"
#include "stage2/rst_args.h"

enum rst_pidns {
	RST_PIDNS_AUTO,		/* own pid namespace only when the pid is taken or we lack rights */
	RST_PIDNS_ALWAYS,
	RST_PIDNS_NEVER,
};

struct rst_opts {
	int pidns;			/* enum rst_pidns */
	int verify;			/* check every page run's hash before restoring */
	int eager;			/* read all memory now instead of mapping the image */
	int log_level;
	uint64_t start_ns;
};

/* An image and the parents it inherits pages from, resolved into runs. */
struct rst_chain {
	struct ckpt_image *imgs[CKPT_MAX_CHAIN];	/* [0]: the image itself */
	uint32_t n;
	int memfd[CKPT_MAX_CHAIN];	/* decompressed pages of imgs[k], or -1 */
	struct rst_run *runs;		/* fd: index into imgs[], | CHAIN_IN_MEMFD */
	uint32_t nr_runs, cap_runs;
	uint32_t *first, *count;	/* per region of imgs[0] */
};

struct rst_tree;

struct rst_ctx {
	struct ckpt_image *img;
	/* the other processes' images when restoring a tree (objects they share with us) */
	struct ckpt_image **others;
	uint32_t nr_others;
	const struct rst_tree *tree;	/* NULL when restoring one process */
	uint32_t tree_self;		/* our index in tree->procs */
	struct rst_chain *chain;
	struct rst_opts *opts;
	int fd_base;			/* helper fds live at or above this number */
	int status_fd;			/* tells the parent (tree: the top) we reached the point
					   of no return */
	int *region_fd;			/* per region: fd to map, or -1 */
	int exe_fd;
	int close_fds[64 + 16384];
	uint32_t nr_close;
	char err[512];
};

/* check.c: is this machine able to take the image? Returns a CKPT_EXIT_* code. */
int rst_check(struct ckpt_image *img, char *err, size_t len);
int rst_current_vdso(uint64_t cur[3][2]);
int rst_ids_in_use(const struct ckpt_image *img);
int rst_id_in_use(pid_t id);

/* spawn.c: forks the process-to-be with the image's pid. Returns 0 in the child. */
int rst_spawn(struct ckpt_image *img, const struct rst_opts *opts, int *status_fd,
	      int *exit_code);
/*
 * Creates a process with pid want, in a new pid namespace if busy (an id in
 * use) or opts ask for one, then *in_ns is 1. Returns 0 in the new process,
 * its pid (or the namespace init's) in ours, -1 with *exit_code. The init
 * closes init_close, or every fd above 2 if it is -1.
 */
pid_t rst_spawn_pid(pid_t want, int busy, const struct rst_opts *opts, int init_close,
		    int *in_ns, int *exit_code);
void rst_forward_signals(pid_t pid);
pid_t rst_clone_pid(pid_t want);	/* fork with that pid (clone3 set_tid) */
int rst_exit_status(int status);	/* a wait status as a shell would report it */

/* chain.c */
#define CHAIN_IN_MEMFD	0x100
int rst_chain_fd(const struct rst_chain *ch, const struct rst_run *run);
int rst_chain_load(struct ckpt_image *img, const char *path, struct rst_chain *ch, int verify,
		   char *err, size_t len);
int rst_chain_read(const struct rst_chain *ch, const struct rst_run *run, void *buf, char *err,
		   size_t len);

/* fds.c */
int rst_restore_fds(struct rst_ctx *x);
/* fd moved to a number at or above base (the old one closed); -1 on failure */
int rst_move_fd(int fd, int base);
int rst_high_fd(struct rst_ctx *x, int fd);
int rst_fd_by_path(const struct ckpt_fd *f);	/* reopened by its path (check.c stats it) */
void rst_close_others(struct rst_ctx *x);

/* files.c: files and memfds that regions map */
int rst_open_mapped_files(struct rst_ctx *x);
void rst_memfd_name(const char *path, char *out, size_t len);	/* "/memfd:NAME (deleted)" */
/* writes the stored pages of region reg of ch's image into fd at the region's offset */
int rst_region_fill(const struct rst_chain *ch, uint32_t reg, int fd, char *err, size_t len);

/*
 * tree.c, tree_objs.c, tree_spawn.c: a process tree (the root image's
 * CKPT_SEC_TREE). In the top ckpt-restore, rst_tree_restore does it all and
 * returns the exit code; in each restored process stage 1 calls the rest.
 */
int rst_tree_restore(struct ckpt_image *root, struct rst_chain *chain, const char *path,
		     struct rst_opts *opts);
/* shared memory made once for the whole tree: its fd, or -1 */
int rst_tree_shm_fd(const struct rst_tree *t, uint32_t kind, uint64_t dev, uint64_t ino);
int rst_tree_fd_base(const struct rst_tree *t);
/* creates our children (and zombies), then keeps only our own status socket */
int rst_tree_children(struct rst_ctx *x);
/* ready: waits for the top's go; returns only when it comes */
void rst_tree_ready(struct rst_ctx *x);

/* plan.c: the hole and the restorer's arguments */
struct rst_launch {
	rst_entry_fn entry;
	struct rst_args *args;
	uint64_t stack_top;
};
int rst_plan(struct rst_ctx *x, struct rst_launch *out);

/* stage1.c */
int rst_stage1(struct rst_ctx *x);

#endif
