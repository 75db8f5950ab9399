/* SPDX-License-Identifier: MIT */
/* Internal interface of libckpt.so. */
#ifndef CKPT_LIB_H
#define CKPT_LIB_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ckpt/ctl.h"
#include "ckpt/image.h"
#include "ckpt/plugin.h"

#define CKPT_MAX_THREADS	1024
#define CKPT_MAX_REGIONS	16384
#define CKPT_MAX_FDS		4096
#define CKPT_MAX_TIMERS		256
#define CKPT_MAX_PLUGINS	8
#define CKPT_CHILD_MAGIC	0x636b7075	/* a forwarded exit of our writer */
#define CKPT_TREE_MAGIC		0x636b7472	/* value << 32 | token: join the root's checkpoint */
#define CKPT_RESTART_PLUGIN_FAILED 70	/* exit status of a restored process whose plugins failed */

struct ckpt_config {
	int trigger_sig;		/* CKPT_SIGNAL, default SIGUSR2 */
	int stop_sig;			/* CKPT_STOP_SIGNAL, default SIGRTMAX - 1 */
	unsigned interval;		/* CKPT_INTERVAL seconds, 0 = off */
	int durable;			/* fsync + rename (CKPT_NO_FSYNC=1 turns off) */
	int incremental;		/* CKPT_INCREMENTAL: images after the first store changes only */
	int compress;			/* CKPT_COMPRESS=zstd[:LEVEL] */
	int compress_level;
	int compress_threads;		/* CKPT_COMPRESS_THREADS, default: CPUs online */
	int tree;			/* CKPT_TREE=0: leave children out */
	char dir[4096];			/* CKPT_DIR, absolute */
	char run_dir[128];		/* /tmp/ckpt-UID: status files for ckpt-ctl */
	char name[64];			/* program name used in image names */
	pid_t pid;			/* the application's, also seen by the writer child */
};

/* One region of the address space as captured in the pause. */
struct cap_region {
	struct ckpt_region r;
	void *copy;			/* shared memory copied in the pause, or NULL */
	int all_pages;			/* every page is data, touched or not: private memory
					   mapped from our own image or from a deleted file */
};

struct thread_slot {
	struct ckpt_thread t;
};
_Static_assert(sizeof(struct thread_slot) == sizeof(struct ckpt_thread),
	       "slots are written as the image's thread table");

/* Everything captured while the application is stopped. */
struct ckpt_capture {
	uint32_t seq;
	uint32_t nonce;			/* request id from ckpt-ctl, 0 if none */
	uint64_t t_start;		/* CLOCK_MONOTONIC ns when threads began to stop */
	uint64_t created_ns;		/* CLOCK_REALTIME ns, the same instant */
	uint64_t pause_ns;
	uint64_t stop_ns, capture_ns;	/* pause milestones, for the log */
	struct ckpt_proc proc;
	struct cap_region *regions;
	uint32_t nr_regions;
	struct ckpt_fd *fds;
	uint32_t nr_fds;
	char *fddata;			/* CKPT_SEC_FDDATA, see fds.h */
	uint64_t fddata_len;
	struct ckpt_timer *timers;
	uint32_t nr_timers;
	char *strings;
	uint32_t strings_len, strings_cap;
	struct ckpt_blob *blobs[CKPT_MAX_PLUGINS];
	char parent_name[256];		/* previous image, for an incremental one; "" = full */
	uint32_t parent_depth;
	const char *dir;		/* where the image goes: CKPT_DIR, or the tree root's */
	int tree;			/* part of a tree checkpoint (tree.c) */
	char error[256];
};

extern struct ckpt_config ckpt_cfg;
extern struct thread_slot ckpt_slots[CKPT_MAX_THREADS];
extern volatile int ckpt_nr_slots;
extern struct ckpt_resume ckpt_resume_info;

/* restart.c: the images this process was restored from, if their pages are mapped */
int ckpt_is_restored_image(uint64_t dev, uint64_t ino);

/* array.c: growable arrays over mmap (no malloc) */
struct ckpt_array {
	void *p;
	size_t n, cap, elem;
};
void *ckpt_array_push(struct ckpt_array *a);
void *ckpt_array_last(struct ckpt_array *a);
void ckpt_array_free(struct ckpt_array *a);

/* dontfork.c: MADV_DONTFORK and MADV_WIPEONFORK lifted around the writer's fork */
extern volatile int ckpt_dontfork_used;	/* DONTFORK or WIPEONFORK seen by the madvise wrapper */
int ckpt_dontfork_lift(struct ckpt_capture *c);
void ckpt_dontfork_restore(void);

/* increment.c: incremental images, by page hashes */
struct ckpt_writer;
struct increment {
	int on;				/* hash pages (CKPT_INCREMENTAL) */
	int has_parent;
	struct ckpt_parent parent;
	const struct ckpt_pagehash *old;	/* the parent's hashes, mapped */
	size_t nr_old, pos;
	void *map;
	size_t map_len;
	struct ckpt_array inherit;	/* struct ckpt_range */
	struct ckpt_array hashes;	/* struct ckpt_pagehash */
};
void ckpt_incr_begin(struct increment *inc, const struct ckpt_capture *c);
int ckpt_incr_page(struct increment *inc, uint64_t vaddr, const void *page);
uint64_t ckpt_incr_inherited_bytes(const struct increment *inc);
int ckpt_incr_sections(struct increment *inc, struct ckpt_writer *w);
uint32_t ckpt_incr_depth(const struct increment *inc);
void ckpt_incr_end(struct increment *inc);

/* config.c */
int ckpt_config_load(struct ckpt_config *cfg);

/* ctx.S: like setjmp; returns 0 when saving, 1 when resumed by ckpt-restore */
int ckpt_ctx_save(struct ckpt_jmp *ctx) __attribute__((returns_twice));

/* scratch.c: per-checkpoint memory that is not part of the image */
int ckpt_scratch_init(size_t size);
void *ckpt_scratch_alloc(size_t size);
void ckpt_scratch_release(void);
int ckpt_scratch_contains(uint64_t start, uint64_t end);

/* strings.c */
uint32_t ckpt_str_add(struct ckpt_capture *c, const char *s);

/* threads.c */
int ckpt_stop_threads(struct ckpt_capture *c);
void ckpt_release_threads(void);
void ckpt_stop_handler(int sig, siginfo_t *si, void *uc);
void ckpt_thread_capture(struct thread_slot *s, void *uc);
void ckpt_thread_restore_kernel_state(const struct thread_slot *s);
struct thread_slot *ckpt_slot_claim(void);
void ckpt_thread_restarted(struct thread_slot *self);
void ckpt_wait_restarted(int others);
void ckpt_release_restarted(void);

/* maps.c */
int ckpt_capture_regions(struct ckpt_capture *c);

/* shmem.c */
int ckpt_copy_shared(struct ckpt_capture *c);
void ckpt_free_shared(struct ckpt_capture *c);

/* proc.c */
int ckpt_capture_proc(struct ckpt_capture *c);

/* fds.c */
int ckpt_capture_fds(struct ckpt_capture *c);

/* pending.c: process-wide pending signals with their siginfo */
void ckpt_capture_pending(struct ckpt_capture *c);
void ckpt_requeue_pending(void);
void ckpt_capture_thread_pending(int slot, uint64_t mask);
void ckpt_requeue_thread_pending(int slot);

/* timers.c */
int ckpt_capture_timers(struct ckpt_capture *c);
void ckpt_restore_timers(const struct ckpt_timer *t, uint32_t nr);

/* compress.c: in the writer child */
int ckpt_compress_runs(struct ckpt_writer *w, int dir_fd, struct ckpt_run *runs,
		       const void *const *srcs, size_t n);

/* writer.c: runs in the forked child */
int ckpt_writer_freeze_tls(struct ckpt_capture *c);
/* depth: 0 for a full image, else the length of its chain */
int ckpt_write_image(struct ckpt_capture *c, char *path, size_t pathlen, uint32_t *depth);

/* status.c: progress and result for ckpt-ctl */
void ckpt_status_write(uint32_t seq, uint32_t nonce, const char *state, const char *path,
		       uint64_t done, uint64_t total, const char *error);

/* plugin.c */
int ckpt_plugins_pre_stop(struct ckpt_capture *c);
int ckpt_plugins_save(struct ckpt_capture *c);
void ckpt_plugins_resume(void);
int ckpt_plugins_restart(int image_fd);
int ckpt_plugins_own(const char *path);
int ckpt_plugin_blob(struct ckpt_capture *c, uint32_t i, struct ckpt_plugin_hdr *hdr,
		     const void **data);
void ckpt_plugin_take_error(char *buf, size_t len);

/* tree_scan.c: this process's descendants, parents first */
int ckpt_tree_scan(struct ckpt_tree_proc *out, uint32_t max, uint32_t *nr, char *err,
		   size_t errlen);
int ckpt_tree_same(const struct ckpt_tree_proc *a, uint32_t na, const struct ckpt_tree_proc *b,
		   uint32_t nb);
int ckpt_runs_libckpt(pid_t pid);
int ckpt_tree_alive(pid_t pid);

/* tree.c: a checkpoint of a process tree, see there for the phases */
int ckpt_tree_begin(struct ckpt_capture *c);
int ckpt_tree_join(struct ckpt_capture *c, pid_t root, uint32_t token);
int ckpt_tree_members_stopped(struct ckpt_capture *c);
int ckpt_tree_stopped(struct ckpt_capture *c, int ret);
int ckpt_tree_captured(struct ckpt_capture *c, int ret);
void ckpt_tree_writer_started(pid_t pid);
void ckpt_tree_abort(void);
void ckpt_tree_end(void);
void ckpt_tree_restarted(void);
int ckpt_tree_is_member(void);
int ckpt_tree_contains(uint64_t start, uint64_t end);
void ckpt_tree_written(const struct ckpt_header *hdr, const char *error);
const struct ckpt_tree_proc *ckpt_tree_collect(uint32_t *nr, char *err, size_t errlen);
void ckpt_tree_finish(int ok);

/* checkpoint.c */
void ckpt_handle_trigger(siginfo_t *si);
void ckpt_periodic(void);

/* coord.c: the coordinator thread */
int ckpt_start_coordinator(void);
void ckpt_trigger_handler(int sig, siginfo_t *si, void *uc);
void ckpt_checkpoint_restarted(void);
void ckpt_fail(struct ckpt_capture *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* restart.c: runs in the restored process */
void ckpt_coordinator_restarted(struct ckpt_capture *c, struct thread_slot *self);

/* interpose: the application's view of our signals */
int ckpt_is_own_signal(int sig);
int ckpt_app_handler(int sig, siginfo_t *si, void *uc);
int ckpt_app_handler_installed(int sig);
int ckpt_install_handlers(void);

/* util.c */
uint64_t ckpt_now_ns(void);
uint64_t ckpt_mono_ns(void);
void ckpt_futex_wait(volatile int *addr, int val);
void ckpt_futex_wake(volatile int *addr);
ssize_t ckpt_read_file(const char *path, char *buf, size_t len);
uint64_t ckpt_status_field(const char *status, const char *key, int base);

#endif
