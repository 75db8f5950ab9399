/* SPDX-License-Identifier: MIT */
/*
 * Plugins keep state that lives outside the process (KVM vCPUs, verbs
 * queue pairs, GPU memory). A plugin is linked into libckpt.so and
 * registers itself from a constructor with ckpt_plugin_register().
 *
 * Order at checkpoint:  pre_stop (application threads still running:
 * drain, quiesce) -> threads stopped -> save (serialize into the image)
 * -> fork of the writer -> threads released -> resume.
 * Order at restart: memory and threads are back, threads still held ->
 * restart (rebuild from the saved bytes) -> threads released.
 *
 * Hooks return 0 or a negative errno; a failing pre_stop or save aborts
 * the checkpoint with the plugin's message, a failing restart aborts the
 * restored process. Every hook is optional.
 */
#ifndef CKPT_PLUGIN_H
#define CKPT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

struct ckpt_blob;

struct ckpt_plugin {
	const char *name;		/* at most 15 characters */
	uint32_t version;
	int (*pre_stop)(void);
	int (*save)(struct ckpt_blob *out);
	void (*resume)(void);
	int (*restart)(const void *data, size_t len, uint32_t version);
	/* claims an fd or mapping the core does not know; 1 = mine */
	int (*owns_path)(const char *path);
};

/* Appends bytes to the plugin's section; callable only from save(). */
int ckpt_blob_append(struct ckpt_blob *out, const void *buf, size_t len);

/* Sets the reason a checkpoint fails; shown to the user and to ckpt-ctl. */
void ckpt_plugin_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void ckpt_plugin_register(const struct ckpt_plugin *p);

#endif
