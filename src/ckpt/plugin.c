/* SPDX-License-Identifier: MIT */
/* The plugin registry and the hooks' calling order (include/ckpt/plugin.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

#define BLOB_MAX	(256u << 20)	/* reserved, not committed */

struct ckpt_blob {
	char *buf;
	size_t len;
};

static const struct ckpt_plugin *plugins[CKPT_MAX_PLUGINS];
static int nr_plugins;
static struct ckpt_blob blobs[CKPT_MAX_PLUGINS];
static char plugin_error[256];

void ckpt_plugin_register(const struct ckpt_plugin *p)
{
	if (nr_plugins >= CKPT_MAX_PLUGINS || strlen(p->name) >= 16) {
		pr_err("cannot register plugin %s", p->name);
		return;
	}
	plugins[nr_plugins++] = p;
}

void ckpt_plugin_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(plugin_error, sizeof(plugin_error), fmt, ap);
	va_end(ap);
}

void ckpt_plugin_take_error(char *buf, size_t len)
{
	snprintf(buf, len, "%s", plugin_error[0] ? plugin_error : "plugin failed");
	plugin_error[0] = 0;
}

int ckpt_blob_append(struct ckpt_blob *out, const void *buf, size_t len)
{
	if (len > BLOB_MAX - out->len)
		return -E2BIG;
	memcpy(out->buf + out->len, buf, len);
	out->len += len;
	return 0;
}

int ckpt_plugins_pre_stop(struct ckpt_capture *c)
{
	for (int i = 0; i < nr_plugins; i++) {
		int ret = plugins[i]->pre_stop ? plugins[i]->pre_stop() : 0;

		if (ret) {
			char msg[200];

			ckpt_plugin_take_error(msg, sizeof(msg));
			ckpt_fail(c, "plugin %s: %s", plugins[i]->name, msg);
			return ret;
		}
	}
	return 0;
}

int ckpt_plugins_save(struct ckpt_capture *c)
{
	for (int i = 0; i < nr_plugins; i++) {
		struct ckpt_blob *b = &blobs[i];
		int ret;

		if (!plugins[i]->save)
			continue;
		b->buf = mmap(NULL, BLOB_MAX, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (b->buf == MAP_FAILED) {
			b->buf = NULL;
			return -ENOMEM;
		}
		b->len = 0;
		c->blobs[i] = b;
		ret = plugins[i]->save(b);
		if (ret) {
			char msg[200];

			ckpt_plugin_take_error(msg, sizeof(msg));
			ckpt_fail(c, "plugin %s: %s", plugins[i]->name, msg);
			return ret;
		}
	}
	return 0;
}

/* Frees the blobs in the application once the writer child has its copy. */
void ckpt_plugins_resume(void)
{
	for (int i = 0; i < nr_plugins; i++) {
		if (blobs[i].buf)
			munmap(blobs[i].buf, BLOB_MAX);
		blobs[i].buf = NULL;
		if (plugins[i]->resume)
			plugins[i]->resume();
	}
}

int ckpt_plugin_blob(struct ckpt_capture *c, uint32_t i, struct ckpt_plugin_hdr *hdr,
		     const void **data)
{
	for (; i < (uint32_t)nr_plugins; i++) {
		if (!c->blobs[i])
			continue;
		memset(hdr, 0, sizeof(*hdr));
		snprintf(hdr->name, sizeof(hdr->name), "%s", plugins[i]->name);
		hdr->version = plugins[i]->version;
		hdr->size = c->blobs[i]->len;
		*data = c->blobs[i]->buf;
		return 1;
	}
	return 0;
}

int ckpt_plugins_own(const char *path)
{
	for (int i = 0; i < nr_plugins; i++)
		if (plugins[i]->owns_path && plugins[i]->owns_path(path))
			return 1;
	return 0;
}

/* Hands each plugin its section from the image (read without malloc). */
int ckpt_plugins_restart(int image_fd)
{
	struct ckpt_header hdr;
	struct ckpt_section sec;

	if (!nr_plugins || image_fd < 0)
		return 0;
	if (pread(image_fd, &hdr, sizeof(hdr), 0) != sizeof(hdr))
		return -EIO;
	for (uint32_t s = 0; s < hdr.nr_sections; s++) {
		struct ckpt_plugin_hdr ph;
		void *data;
		int ret = -ENOENT;

		if (pread(image_fd, &sec, sizeof(sec), hdr.sections_off + s * sizeof(sec)) !=
		    sizeof(sec))
			return -EIO;
		if (sec.type != CKPT_SEC_PLUGIN ||
		    pread(image_fd, &ph, sizeof(ph), sec.offset) != sizeof(ph))
			continue;
		data = mmap(NULL, ph.size + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
		if (data == MAP_FAILED)
			return -ENOMEM;
		if (pread(image_fd, data, ph.size, sec.offset + sizeof(ph)) != (ssize_t)ph.size) {
			munmap(data, ph.size + 1);
			return -EIO;
		}
		for (int i = 0; i < nr_plugins; i++) {
			if (strncmp(plugins[i]->name, ph.name, sizeof(ph.name)))
				continue;
			ret = plugins[i]->restart ? plugins[i]->restart(data, ph.size, ph.version) : 0;
		}
		munmap(data, ph.size + 1);
		if (ret == -ENOENT)
			pr_err("image has state of plugin %.16s, which this libckpt lacks", ph.name);
		if (ret)
			return ret;
	}
	return 0;
}
