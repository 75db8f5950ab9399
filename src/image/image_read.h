/* SPDX-License-Identifier: MIT */
#ifndef CKPT_IMAGE_READ_H
#define CKPT_IMAGE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/image.h"

struct ckpt_plugin_blob {
	const struct ckpt_plugin_hdr *hdr;
	const void *data;
};

/*
 * An image opened and validated: every section is read into memory and
 * checked (hash, sizes, offsets, string references, run bounds) before
 * any field is used. Page data stays in the file.
 */
struct ckpt_image {
	int fd;
	uint64_t size;
	struct ckpt_header hdr;
	struct ckpt_section *secs;
	void *meta[CKPT_SEC_MAX];	/* first section of each type, in memory */
	uint64_t meta_size[CKPT_SEC_MAX];
	struct ckpt_proc *proc;
	struct ckpt_thread *threads;
	uint32_t nr_threads;
	struct ckpt_region *regions;
	uint32_t nr_regions;
	struct ckpt_run *runs;
	uint32_t nr_runs;
	struct ckpt_fd *fds;
	uint32_t nr_fds;
	struct ckpt_timer *timers;
	uint32_t nr_timers;
	struct ckpt_parent *parent;	/* NULL for a full image */
	struct ckpt_range *inherit;
	uint32_t nr_inherit;
	struct ckpt_pagehash *pagehash;
	uint32_t nr_pagehash;
	struct ckpt_tree_proc *tree;	/* the other processes of its tree; root image only */
	uint32_t nr_tree;
	const char *strings;
	uint64_t strings_size;
	struct ckpt_plugin_blob *plugins;
	uint32_t nr_plugins;
	void **plugin_bufs;
};

/* Returns CKPT_EXIT_OK or one of enum ckpt_exit; err receives a one-line reason. */
int ckpt_image_open(const char *path, struct ckpt_image *img, char *err, size_t errlen);
int ckpt_image_open_fd(int fd, struct ckpt_image *img, char *err, size_t errlen);
void ckpt_image_close(struct ckpt_image *img);

/* A string from CKPT_SEC_STRINGS; validated at open, so never NULL. */
const char *ckpt_image_str(const struct ckpt_image *img, uint32_t off);

/* The kind-specific bytes of an fd (validated at open); NULL if it has none. */
const void *ckpt_image_fd_data(const struct ckpt_image *img, const struct ckpt_fd *f);

/* Reads and checks one run's page data into buf (run->npages pages). */
int ckpt_image_read_run(const struct ckpt_image *img, const struct ckpt_run *run,
			void *buf, char *err, size_t errlen);

/* Checks the hash of every page run but those with a flag in skip (reads their data). */
int ckpt_image_verify_pages(const struct ckpt_image *img, uint32_t skip, char *err,
			    size_t errlen);

const char *ckpt_section_name(uint32_t type);
const char *ckpt_region_kind_name(uint32_t kind);
const char *ckpt_fd_kind_name(uint32_t kind);

#endif
