/* SPDX-License-Identifier: MIT */
/* Exit codes shared by every ckpt command; listed in each --help and in docs/usage.md. */
#ifndef CKPT_EXITCODES_H
#define CKPT_EXITCODES_H

enum ckpt_exit {
	CKPT_EXIT_OK = 0,
	CKPT_EXIT_FAIL = 1,		/* a system call failed; the message names it */
	CKPT_EXIT_USAGE = 2,		/* bad command line */
	CKPT_EXIT_NOENT = 3,		/* image missing or unreadable */
	CKPT_EXIT_FOREIGN = 4,		/* not a ckpt image (bad magic) */
	CKPT_EXIT_VERSION = 5,		/* image from a newer (or unknown) format version */
	CKPT_EXIT_ARCH = 6,		/* image for another architecture or page size */
	CKPT_EXIT_TRUNCATED = 7,	/* image shorter than its header says */
	CKPT_EXIT_CORRUPT = 8,		/* a checksum does not match */
	CKPT_EXIT_INVALID = 9,		/* a size, offset or count is out of range */
	CKPT_EXIT_FILES = 10,		/* a binary or mapped file changed or vanished */
	CKPT_EXIT_ENV = 11,		/* cannot restore here: pid busy, other kernel, permission */
	CKPT_EXIT_NOPROC = 12,		/* ckpt-ctl: no such process, or it does not run libckpt */
	CKPT_EXIT_PERM = 13,		/* ckpt-ctl: not allowed to checkpoint that process */
	CKPT_EXIT_CKPT = 14,		/* ckpt-ctl: the checkpoint failed; the message says why */
	CKPT_EXIT_TIMEOUT = 15,		/* ckpt-ctl: no image within the time limit */
};

#endif
