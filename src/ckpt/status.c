/* SPDX-License-Identifier: MIT */
/*
 * The status file, /tmp/ckpt-UID/PID.status, tells ckpt-ctl how a
 * checkpoint went: progress while the writer runs, then the image path
 * or the error. It is replaced atomically (write + rename), and lives in
 * a directory only the user can enter.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

static int run_dir_ok(void)
{
	struct stat st;

	if (mkdir(ckpt_cfg.run_dir, 0700) && errno != EEXIST)
		return 0;
	if (lstat(ckpt_cfg.run_dir, &st) || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077)) {
		pr_warn("%s is not a private directory of this user: no status for ckpt-ctl",
			ckpt_cfg.run_dir);
		return 0;
	}
	return 1;
}

void ckpt_status_write(uint32_t seq, uint32_t nonce, const char *state, const char *path,
		       uint64_t done, uint64_t total, const char *error)
{
	char tmp[256], final[256], buf[8192];
	int fd, n;

	if (!run_dir_ok())
		return;
	snprintf(final, sizeof(final), "%s/%d.status", ckpt_cfg.run_dir, (int)ckpt_cfg.pid);
	snprintf(tmp, sizeof(tmp), "%s/.%d.status.%d", ckpt_cfg.run_dir, (int)ckpt_cfg.pid,
		 (int)getpid());
	n = snprintf(buf, sizeof(buf),
		     "seq %u\nnonce %u\nstate %s\npath %s\ndone %" PRIu64 "\ntotal %" PRIu64
		     "\nerror %s\n", seq, nonce, state, path ? path : "", done, total,
		     error ? error : "");
	if (n < 0 || n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	if (write(fd, buf, n) != n) {
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, final))
		unlink(tmp);
}
