/* SPDX-License-Identifier: MIT */
/*
 * inotify: the watches from fdinfo ("inotify wd:W ino:I sdev:D mask:M ...
 * f_handle:H"). A watch names an inode, not a path: the inode is opened
 * from its file handle (open_by_handle_at, which needs CAP_DAC_READ_SEARCH)
 * relative to a mount of its filesystem, and the path the kernel gives the
 * result is kept if it still leads to that inode. Without the capability,
 * or for a filesystem without file handles, the checkpoint fails.
 *
 * Events already queued are not saved (they cannot be read without being
 * consumed). Watch descriptors above CKPT_INOTIFY_MAX_WD are refused:
 * restore reaches each number by adding and removing a scratch watch.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fds.h"

struct watch {
	unsigned wd, mask, sdev;
	unsigned long long ino;
	struct file_handle *fh;
};

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* One "inotify wd:..." line; the handle goes into fh (MAX_HANDLE_SZ bytes). */
static int parse_watch(const char *line, struct watch *w)
{
	unsigned bytes, type;
	int pos = 0;

	if (sscanf(line, "inotify wd:%x ino:%llx sdev:%x mask:%x ignored_mask:%*x %n", &w->wd,
		   &w->ino, &w->sdev, &w->mask, &pos) < 4 || !pos)
		return -EINVAL;
	line += pos;
	if (sscanf(line, "fhandle-bytes:%x fhandle-type:%x f_handle:%n", &bytes, &type, &pos) < 2 ||
	    bytes > MAX_HANDLE_SZ)
		return -ENOENT;
	line += pos;
	w->fh->handle_bytes = bytes;
	w->fh->handle_type = type;
	for (unsigned i = 0; i < bytes; i++) {
		int hi = hexval(line[2 * i]), lo = hi < 0 ? -1 : hexval(line[2 * i + 1]);

		if (lo < 0)
			return -EINVAL;
		w->fh->f_handle[i] = hi << 4 | lo;
	}
	return 0;
}

/* mountinfo escapes blanks and backslashes as \ooo */
static void unescape(const char *s, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < len; i++) {
		if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3') {
			out[o++] = (s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0');
			i += 3;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = 0;
}

/* Opens the handle through one mount; 0 and the path if it leads to the inode. */
static int try_mount(const char *mnt, const struct watch *w, char *path, size_t len)
{
	char link[64];
	struct stat st;
	ssize_t n;
	int mfd, fd;

	mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -errno;
	fd = open_by_handle_at(mfd, w->fh, O_PATH | O_CLOEXEC);
	close(mfd);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	path[n] = 0;
	if (lstat(path, &st) || st.st_ino != w->ino ||
	    st.st_dev != makedev(w->sdev >> 20, w->sdev & 0xfffff))
		return -ESTALE;
	return 0;
}

static int watch_path(struct ckpt_capture *c, const struct watch *w, char *path, size_t len)
{
	const char *mi = ckpt_mountinfo(c);
	char want[32], mnt[4096];
	int ret = -ENOENT;

	if (!mi)
		return -EIO;
	snprintf(want, sizeof(want), "%u:%u", w->sdev >> 20, w->sdev & 0xfffff);
	for (const char *line = mi; *line; line = strchr(line, '\n') + 1) {
		const char *dev, *mp, *end;
		int pos = 0;

		if (!strchr(line, '\n'))
			break;
		/* id parent major:minor root mount-point ... */
		sscanf(line, "%*d %*d %n", &pos);
		dev = line + pos;
		if (!pos || strncmp(dev, want, strlen(want)) || dev[strlen(want)] != ' ')
			continue;
		mp = strchr(strchr(dev, ' ') + 1, ' ');
		if (!mp)
			continue;
		end = strpbrk(++mp, " \n");
		unescape(mp, end - mp, mnt, sizeof(mnt));
		ret = try_mount(mnt, w, path, len);
		if (!ret || ret == -EPERM)
			break;
	}
	return ret;
}

static int add_watch(struct ckpt_capture *c, struct ckpt_fd *f, struct ckpt_fd_inotify *in,
		     const struct watch *w)
{
	struct ckpt_inotify_watch *out, *ws = (struct ckpt_inotify_watch *)(in + 1);
	char path[4096];
	uint32_t i;
	int ret;

	if (!w->wd || w->wd > CKPT_INOTIFY_MAX_WD) {
		ckpt_fail(c, "fd %d: inotify watch descriptor %u is above %d, not supported", f->fd,
			  w->wd, CKPT_INOTIFY_MAX_WD);
		return -ENOTSUP;
	}
	ret = watch_path(c, w, path, sizeof(path));
	if (ret == -EPERM) {
		ckpt_fail(c, "fd %d: finding the path of inotify watch %u needs "
			  "CAP_DAC_READ_SEARCH (open_by_handle_at)", f->fd, w->wd);
		return ret;
	}
	if (ret) {
		ckpt_fail(c, "fd %d: cannot find the path of inotify watch %u (inode %llu): %s",
			  f->fd, w->wd, w->ino, strerror(-ret));
		return ret;
	}
	out = ckpt_fd_data(c, f, sizeof(*out));
	if (!out)
		return -ENOSPC;
	/* keep them sorted by wd */
	for (i = in->nr; i && (uint32_t)ws[i - 1].wd > w->wd; i--)
		ws[i] = ws[i - 1];
	out = &ws[i];
	memset(out, 0, sizeof(*out));
	out->wd = w->wd;
	out->mask = w->mask;
	out->path_str = ckpt_str_add(c, path);
	out->dev = makedev(w->sdev >> 20, w->sdev & 0xfffff);
	out->ino = w->ino;
	in->nr++;
	return 0;
}

int ckpt_save_inotify(struct ckpt_capture *c, struct ckpt_fd *f)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
	struct watch w = { .fh = &h.fh };
	const char *info = ckpt_fdinfo(c, f);
	struct ckpt_fd_inotify *in;

	if (!info)
		return -EIO;
	in = ckpt_fd_data(c, f, sizeof(*in));
	if (!in)
		return -ENOSPC;
	for (const char *line = info; *line; line = strchr(line, '\n') + 1) {
		int ret;

		if (!strchr(line, '\n'))
			break;
		if (strncmp(line, "inotify ", 8))
			continue;
		ret = parse_watch(line, &w);
		if (ret == -ENOENT) {
			ckpt_fail(c, "fd %d: inotify watch on a filesystem without file handles, "
				  "its path cannot be found", f->fd);
			return -ENOTSUP;
		}
		if (ret) {
			ckpt_fail(c, "fd %d: cannot parse inotify fdinfo line", f->fd);
			return ret;
		}
		ret = add_watch(c, f, in, &w);
		if (ret)
			return ret;
	}
	return 0;
}
