/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

volatile int ckpt_dontfork_used;

/*
 * Memory that fork() leaves out of the child (MADV_DONTFORK, VmFlags
 * "dc": QEMU's guest RAM and ROMs) or hands it zeroed (MADV_WIPEONFORK,
 * "wf") would be missing or empty in the writer's copy-on-write
 * snapshot. While threads are stopped the mark is lifted (MADV_DOFORK,
 * MADV_KEEPONFORK) around the fork and put back after it; the regions
 * keep it as a flag, and the restorer marks them again.
 * The VmFlags come from smaps, read here in pieces into a static buffer
 * (no malloc in the pause). smaps walks every page table, tens of ms per
 * GiB, so it is read only once the program asked for either advice
 * through libc (src/interpose/madvise.c); the writer checks that no
 * region is missing from its snapshot, for calls that bypass libc.
 */
#define MARKED_MAX 512

static struct marked {
	uint64_t start, end;
	int lift, mark;			/* madvise advice around the fork */
} marked[MARKED_MAX];
static uint32_t nr_marked;
static char smaps_buf[65536];

/* The region flag for an advice, set on every captured region inside [start, end). */
static void flag_regions(struct ckpt_capture *c, uint64_t start, uint64_t end, uint32_t flag)
{
	for (uint32_t i = 0; i < c->nr_regions; i++)
		if (c->regions[i].r.start >= start && c->regions[i].r.end <= end)
			c->regions[i].r.flags |= flag;
}

static int note_vma(struct ckpt_capture *c, uint64_t start, uint64_t end, const char *vmflags)
{
	static const struct { const char *vmflag; int lift, mark; uint32_t flag; } kinds[] = {
		{ " dc", MADV_DOFORK, MADV_DONTFORK, CKPT_REGF_DONTFORK },
		{ " wf", MADV_KEEPONFORK, MADV_WIPEONFORK, CKPT_REGF_WIPEONFORK },
	};

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (!strstr(vmflags, kinds[k].vmflag))
			continue;
		if (nr_marked == MARKED_MAX) {
			ckpt_fail(c, "more than %d regions marked MADV_DONTFORK or MADV_WIPEONFORK",
				  MARKED_MAX);
			return -1;
		}
		marked[nr_marked++] = (struct marked){ start, end, kinds[k].lift, kinds[k].mark };
		flag_regions(c, start, end, kinds[k].flag);
	}
	return 0;
}

int ckpt_dontfork_lift(struct ckpt_capture *c)
{
	uint64_t start = 0, end = 0;
	size_t len = 0;
	ssize_t n;
	int fd, ret = 0;

	nr_marked = 0;
	if (!ckpt_dontfork_used)
		return 0;
	fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ckpt_fail(c, "open /proc/self/smaps: %s", strerror(errno));
		return -1;
	}
	while (!ret && (n = read(fd, smaps_buf + len, sizeof(smaps_buf) - 1 - len)) > 0) {
		char *line = smaps_buf, *nl;

		len += n;
		smaps_buf[len] = 0;
		while (!ret && (nl = strchr(line, '\n'))) {
			char *dash;
			uint64_t s;

			*nl = 0;
			s = strtoull(line, &dash, 16);
			if (dash != line && *dash == '-') {
				start = s;
				end = strtoull(dash + 1, NULL, 16);
			} else if (!strncmp(line, "VmFlags:", 8) && end > start &&
				   !(ckpt_scratch_contains(start, end) || ckpt_tree_contains(start, end))) {
				ret = note_vma(c, start, end, line);
			}
			line = nl + 1;
		}
		len = smaps_buf + len - line;
		memmove(smaps_buf, line, len);
		if (len == sizeof(smaps_buf) - 1)
			len = 0;	/* a line longer than the buffer: drop it */
	}
	close(fd);
	for (uint32_t i = 0; i < nr_marked; i++)
		madvise((void *)(uintptr_t)marked[i].start, marked[i].end - marked[i].start,
			marked[i].lift);
	return ret;
}

void ckpt_dontfork_restore(void)
{
	for (uint32_t i = 0; i < nr_marked; i++)
		madvise((void *)(uintptr_t)marked[i].start, marked[i].end - marked[i].start,
			marked[i].mark);
	nr_marked = 0;
}
