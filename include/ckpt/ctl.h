/* SPDX-License-Identifier: MIT */
/*
 * The request protocol between ckpt-ctl and libckpt: a signal queued
 * with the value CKPT_CTL_MAGIC << 32 | nonce, answered in the status
 * file CKPT_RUN_DIR_FMT/PID.status (see src/ckpt/status.c).
 */
#ifndef CKPT_CTL_H
#define CKPT_CTL_H

#define CKPT_CTL_MAGIC		0x636b7074u	/* "ckpt" */
#define CKPT_RUN_DIR_FMT	"/tmp/ckpt-%u"	/* per uid, 0700 */
#define CKPT_DEFAULT_SIGNAL	"USR2"

#endif
