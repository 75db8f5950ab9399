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
 * Memory marked MADV_DONTFORK (VmFlags "dc": QEMU's guest RAM and ROMs)
 * would be missing from the writer's copy-on-write snapshot, and the
 * writer could even map its own buffers there. While threads are stopped
 * the mark is lifted (MADV_DOFORK) around the fork and put back after it.
 * The VmFlags come from smaps, read here in pieces into a static buffer
 * (no malloc in the pause). smaps walks every page table, tens of ms per
 * GiB, so it is read only once the program asked for MADV_DONTFORK
 * through libc (src/interpose/madvise.c); the writer checks that no
 * region is missing from its snapshot, for calls that bypass libc.
 */
#define DONTFORK_MAX 512
static struct { uint64_t start, end; } dontfork[DONTFORK_MAX];
static uint32_t nr_dontfork;
static char smaps_buf[65536];

int ckpt_dontfork_lift(struct ckpt_capture *c)
{
	uint64_t start = 0, end = 0;
	size_t len = 0;
	ssize_t n;
	int fd;

	nr_dontfork = 0;
	if (!ckpt_dontfork_used)
		return 0;
	fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ckpt_fail(c, "open /proc/self/smaps: %s", strerror(errno));
		return -1;
	}
	while ((n = read(fd, smaps_buf + len, sizeof(smaps_buf) - 1 - len)) > 0) {
		char *line = smaps_buf, *nl;

		len += n;
		smaps_buf[len] = 0;
		while ((nl = strchr(line, '\n'))) {
			char *dash;
			uint64_t s;

			*nl = 0;
			s = strtoull(line, &dash, 16);
			if (dash != line && *dash == '-') {
				start = s;
				end = strtoull(dash + 1, NULL, 16);
			} else if (!strncmp(line, "VmFlags:", 8) && strstr(line, " dc") &&
				   end > start && !ckpt_scratch_contains(start, end)) {
				if (nr_dontfork == DONTFORK_MAX) {
					ckpt_fail(c, "more than %d MADV_DONTFORK regions", DONTFORK_MAX);
					close(fd);
					return -1;
				}
				dontfork[nr_dontfork].start = start;
				dontfork[nr_dontfork++].end = end;
			}
			line = nl + 1;
		}
		len = smaps_buf + len - line;
		memmove(smaps_buf, line, len);
		if (len == sizeof(smaps_buf) - 1)
			len = 0;	/* a line longer than the buffer: drop it */
	}
	close(fd);
	for (uint32_t i = 0; i < nr_dontfork; i++)
		madvise((void *)(uintptr_t)dontfork[i].start,
			dontfork[i].end - dontfork[i].start, MADV_DOFORK);
	return 0;
}

void ckpt_dontfork_restore(void)
{
	for (uint32_t i = 0; i < nr_dontfork; i++)
		madvise((void *)(uintptr_t)dontfork[i].start,
			dontfork[i].end - dontfork[i].start, MADV_DONTFORK);
	nr_dontfork = 0;
}
