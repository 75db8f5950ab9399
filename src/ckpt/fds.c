/* SPDX-License-Identifier: MIT */
/*
 * Open file descriptors. Each one is classified by what it refers to; an
 * fd that shares its open file with an earlier one (dup, fork, SCM_RIGHTS)
 * is recorded as a duplicate of it, checked with kcmp(KCMP_FILE). Then each
 * kind saves what it needs beyond struct ckpt_fd (fd_*.c) into the fd data
 * area, which the writer stores as CKPT_SEC_FDDATA. Standard streams (fds
 * 0-2 on a terminal, pipe or socket) are taken from whoever runs
 * ckpt-restore. Any other kind makes the checkpoint fail with a message
 * naming the fd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fds.h"
#include "log.h"

#define FDDATA_MAX	(16u << 20)	/* scratch reserved for fd state, touched as used */
#define FDINFO_MAX	(1u << 20)	/* one fdinfo file (an epoll's targets) */
#define HUGETLBFS_MAGIC	0x958458f6

static const char *const reopenable_devices[] = {
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
};

static const struct {
	const char *name;
	uint32_t kind;
} anon_kinds[] = {
	{ "anon_inode:[eventfd]", CKPT_FD_EVENTFD },
	{ "anon_inode:[timerfd]", CKPT_FD_TIMERFD },
	{ "anon_inode:[signalfd]", CKPT_FD_SIGNALFD },
	{ "anon_inode:[eventpoll]", CKPT_FD_EPOLL },
	{ "anon_inode:inotify", CKPT_FD_INOTIFY },
};

static int (*const save_kind[CKPT_FD_MAX])(struct ckpt_capture *, struct ckpt_fd *) = {
	[CKPT_FD_PIPE] = ckpt_save_pipe,
	[CKPT_FD_FIFO] = ckpt_save_pipe,
	[CKPT_FD_UNIX] = ckpt_save_unix,
	[CKPT_FD_EVENTFD] = ckpt_save_eventfd,
	[CKPT_FD_TIMERFD] = ckpt_save_timerfd,
	[CKPT_FD_SIGNALFD] = ckpt_save_signalfd,
	[CKPT_FD_EPOLL] = ckpt_save_epoll,
	[CKPT_FD_INOTIFY] = ckpt_save_inotify,
	[CKPT_FD_REG] = ckpt_save_locks,
	[CKPT_FD_MEMFD] = ckpt_save_file,
	[CKPT_FD_DELETED] = ckpt_save_file,
	[CKPT_FD_INET] = ckpt_save_inet,
};

static char *fdinfo_buf, *mountinfo_buf;
static dev_t ctty;			/* st_rdev of the controlling terminal, 0 if none */

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

void *ckpt_fd_data_room(struct ckpt_capture *c, struct ckpt_fd *f, size_t *room)
{
	if (!c->fddata)
		c->fddata = ckpt_scratch_alloc(FDDATA_MAX);
	if (!c->fddata) {
		*room = 0;
		return NULL;
	}
	if (!f->data_len) {
		c->fddata_len = (c->fddata_len + 7) & ~7ull;
		f->data_off = c->fddata_len;
	}
	*room = FDDATA_MAX - c->fddata_len;
	return c->fddata + c->fddata_len;
}

void ckpt_fd_data_commit(struct ckpt_capture *c, struct ckpt_fd *f, size_t len)
{
	c->fddata_len += len;
	f->data_len += len;
}

void *ckpt_fd_data(struct ckpt_capture *c, struct ckpt_fd *f, size_t len)
{
	size_t room;
	void *p = ckpt_fd_data_room(c, f, &room);

	if (!p || len > room) {
		ckpt_fail(c, "fd %d: its state needs more than the %u MiB kept for fd data",
			  f->fd, FDDATA_MAX >> 20);
		return NULL;
	}
	memset(p, 0, len);
	ckpt_fd_data_commit(c, f, len);
	return p;
}

const char *ckpt_fdinfo(struct ckpt_capture *c, const struct ckpt_fd *f)
{
	char path[64];
	ssize_t n;

	if (!fdinfo_buf)
		fdinfo_buf = ckpt_scratch_alloc(FDINFO_MAX);
	if (!fdinfo_buf) {
		ckpt_fail(c, "fd %d: no memory to read its fdinfo", f->fd);
		return NULL;
	}
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", f->fd);
	n = ckpt_read_file(path, fdinfo_buf, FDINFO_MAX);
	if (n < 0 || n >= FDINFO_MAX - 1) {
		ckpt_fail(c, "fd %d: cannot read %s%s", f->fd, path,
			  n < 0 ? "" : ": too long");
		return NULL;
	}
	return fdinfo_buf;
}

const char *ckpt_mountinfo(struct ckpt_capture *c)
{
	ssize_t n;

	if (mountinfo_buf)
		return mountinfo_buf;
	mountinfo_buf = ckpt_scratch_alloc(FDINFO_MAX);
	if (!mountinfo_buf) {
		ckpt_fail(c, "no memory to read /proc/self/mountinfo");
		return NULL;
	}
	n = ckpt_read_file("/proc/self/mountinfo", mountinfo_buf, FDINFO_MAX);
	if (n < 0 || n >= FDINFO_MAX - 1) {
		ckpt_fail(c, "cannot read /proc/self/mountinfo%s", n < 0 ? "" : ": too long");
		mountinfo_buf = NULL;
		return NULL;
	}
	return mountinfo_buf;
}

const char *ckpt_fdinfo_field(const char *info, const char *key)
{
	size_t len = strlen(key);

	for (const char *line = info; line && *line; line = strchr(line, '\n'), line += !!line) {
		if (strncmp(line, key, len) || line[len] != ':')
			continue;
		line += len + 1;
		while (*line == ' ' || *line == '\t')
			line++;
		return line;
	}
	return NULL;
}

struct ckpt_fd *ckpt_fd_first(struct ckpt_capture *c, const struct ckpt_fd *f)
{
	for (uint32_t i = 0; i < c->nr_fds; i++) {
		struct ckpt_fd *o = &c->fds[i];

		if (!(o->xflags & CKPT_FDX_DUP) && o->kind == f->kind && o->dev == f->dev &&
		    o->ino == f->ino)
			return o;
	}
	return NULL;
}

struct ckpt_fd *ckpt_fd_lookup(struct ckpt_capture *c, int fd)
{
	for (uint32_t i = 0; i < c->nr_fds; i++)
		if (c->fds[i].fd == fd)
			return &c->fds[i];
	return NULL;
}

/* tty_nr of /proc/self/stat */
static dev_t controlling_tty(void)
{
	char buf[1024], *p;
	int tty;

	if (ckpt_read_file("/proc/self/stat", buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %d", &tty) != 1)
		return 0;
	return tty;
}

static int classify_chr(struct ckpt_capture *c, struct ckpt_fd *f, const struct stat *st,
			const char *path)
{
	for (size_t i = 0; i < sizeof(reopenable_devices) / sizeof(reopenable_devices[0]); i++) {
		if (!strcmp(path, reopenable_devices[i])) {
			f->kind = CKPT_FD_CHR;
			return 0;
		}
	}
	if (!isatty(f->fd)) {
		ckpt_fail(c, "fd %d: %s is a device the core cannot save yet", f->fd, path);
		return -ENOTSUP;
	}
	if (!ctty || st->st_rdev != ctty) {
		ckpt_fail(c, "fd %d: %s is a terminal but not the controlling terminal; "
			  "only that one is re-attached at restore", f->fd, path);
		return -ENOTSUP;
	}
	f->kind = CKPT_FD_TTY;
	return 0;
}

static int classify_reg(struct ckpt_capture *c, struct ckpt_fd *f, const struct stat *st,
			const char *path)
{
	struct statfs sfs;

	if (st->st_nlink) {
		if (ends_with(path, " (deleted)") || path[0] != '/') {
			ckpt_fail(c, "fd %d: %s was unlinked but has other names, not supported",
				  f->fd, path);
			return -ENOTSUP;
		}
		f->kind = CKPT_FD_REG;
		return 0;
	}
	if (!fstatfs(f->fd, &sfs) && sfs.f_type == HUGETLBFS_MAGIC) {
		ckpt_fail(c, "fd %d: %s is a hugetlbfs file, not supported yet", f->fd, path);
		return -ENOTSUP;
	}
	f->kind = strncmp(path, "/memfd:", 7) ? CKPT_FD_DELETED : CKPT_FD_MEMFD;
	return 0;
}

static int inet_socket(int fd)
{
	int domain = 0;
	socklen_t len = sizeof(domain);

	return !getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) &&
	       (domain == AF_INET || domain == AF_INET6);
}

static int classify(struct ckpt_capture *c, struct ckpt_fd *f, const struct stat *st,
		    const char *path)
{
	if (ckpt_plugins_own(path))
		return 0;	/* kind 0: the plugin rebuilds it */
	if ((f->flags & O_PATH) && path[0] == '/' && st->st_nlink) {
		f->kind = S_ISDIR(st->st_mode) ? CKPT_FD_DIR : CKPT_FD_REG;
		return 0;	/* only a name: reopened by it, whatever the file is */
	}
	if (S_ISREG(st->st_mode))
		return classify_reg(c, f, st, path);
	if (S_ISDIR(st->st_mode) && path[0] == '/') {
		f->kind = CKPT_FD_DIR;
		return 0;
	}
	if (S_ISFIFO(st->st_mode) && (path[0] == '/' || !strncmp(path, "pipe:[", 6))) {
		f->kind = path[0] == '/' ? CKPT_FD_FIFO : CKPT_FD_PIPE;
		return 0;
	}
	if (S_ISSOCK(st->st_mode)) {
		f->kind = inet_socket(f->fd) ? CKPT_FD_INET : CKPT_FD_UNIX;
		return 0;	/* fd_unix.c, fd_inet.c refuse the sockets they cannot save */
	}
	if (S_ISCHR(st->st_mode))
		return classify_chr(c, f, st, path);
	for (size_t i = 0; i < sizeof(anon_kinds) / sizeof(anon_kinds[0]); i++) {
		if (!strcmp(path, anon_kinds[i].name)) {
			f->kind = anon_kinds[i].kind;
			return 0;
		}
	}
	ckpt_fail(c, "fd %d: %s is a kind of file the core cannot save yet", f->fd, path);
	return -ENOTSUP;
}

static int stdio_stream(const struct ckpt_fd *f, const struct stat *st)
{
	return f->fd <= 2 && (S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode) ||
			      (S_ISCHR(st->st_mode) && isatty(f->fd)));
}

/*
 * In a tree, a standard stream on a pipe may lead to another process of
 * the tree (a shell pipeline, a child's output read by its parent): it is
 * saved as a pipe, and ckpt-restore gives it its own stream instead only
 * when the pipe's other end is not restored with it.
 */
static int tree_stream(const struct ckpt_capture *c, const struct ckpt_fd *f,
		       const struct stat *st, const char *path)
{
	return c->tree && f->fd <= 2 && S_ISFIFO(st->st_mode) && !strncmp(path, "pipe:", 5);
}

/*
 * A tree member's file opened before a fork is one open file in parent
 * and child (one offset, one eventfd counter...). Pipes and sockets are
 * matched by their inode at restore; the other kinds need kcmp against
 * the parent's fd of the same number.
 */
static int inherited(const struct ckpt_fd *f)
{
	switch (f->kind) {
	case CKPT_FD_REG: case CKPT_FD_DIR: case CKPT_FD_MEMFD: case CKPT_FD_DELETED:
	case CKPT_FD_EVENTFD: case CKPT_FD_TIMERFD: case CKPT_FD_SIGNALFD:
	case CKPT_FD_INOTIFY: case CKPT_FD_EPOLL:
		break;
	default:
		return 0;
	}
	return ckpt_tree_is_member() &&
	       !syscall(SYS_kcmp, getpid(), getppid(), KCMP_FILE, f->fd, f->fd);
}

/* An earlier entry with the same open file (standard streams stay apart). */
static struct ckpt_fd *find_dup(struct ckpt_capture *c, const struct ckpt_fd *f)
{
	pid_t pid = getpid();

	for (uint32_t i = 0; i < c->nr_fds; i++) {
		struct ckpt_fd *o = &c->fds[i];

		if ((o->xflags & CKPT_FDX_DUP) || o->dev != f->dev || o->ino != f->ino ||
		    (o->mode & S_IFMT) != (f->mode & S_IFMT))
			continue;
		if (!syscall(SYS_kcmp, pid, pid, KCMP_FILE, o->fd, f->fd))
			return o;
	}
	return NULL;
}

static int capture_fd(struct ckpt_capture *c, int fd)
{
	struct ckpt_fd *f = &c->fds[c->nr_fds];
	struct ckpt_fd *orig;
	char link[64], path[4096];
	struct stat st;
	ssize_t n;
	int stdio, ret;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0 || fstat(fd, &st))
		return 0;	/* closed meanwhile */
	path[n] = 0;
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->mode = st.st_mode;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->rdev = st.st_rdev;
	f->flags = fcntl(fd, F_GETFL);
	f->fdflags = fcntl(fd, F_GETFD);
	stdio = stdio_stream(f, &st);
	if (stdio && tree_stream(c, f, &st, path)) {
		stdio = 0;
		f->xflags |= CKPT_FDX_STDIO;
	}
	orig = stdio || (f->xflags & CKPT_FDX_STDIO) ? NULL : find_dup(c, f);
	if (stdio) {
		f->kind = CKPT_FD_STDIO;
	} else if (orig) {
		f->kind = orig->kind;
		f->xflags = CKPT_FDX_DUP;
		f->dup_of = orig->fd;
	} else {
		ret = classify(c, f, &st, path);
		if (ret || !f->kind)
			return ret;
	}
	switch (f->kind) {
	case CKPT_FD_REG:
	case CKPT_FD_DIR:
	case CKPT_FD_MEMFD:
	case CKPT_FD_DELETED:
		f->pos = f->flags & O_PATH ? 0 : lseek(fd, 0, SEEK_CUR);
		break;
	}
	if (!orig && inherited(f))
		f->xflags |= CKPT_FDX_INHERITED;
	f->path_str = ckpt_str_add(c, path);
	c->nr_fds++;
	return 0;
}

/* Insertion sort: the list comes nearly sorted, and glibc's qsort may malloc. */
static void sort_ints(int *a, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		int v = a[i];
		uint32_t j = i;

		for (; j && a[j - 1] > v; j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

/* The fd numbers, ascending; fds opened while saving are not among them. */
static int list_fds(struct ckpt_capture *c, int *list, uint32_t *nr)
{
	char buf[4096];
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*nr = 0;
	if (dfd < 0) {
		ckpt_fail(c, "cannot list /proc/self/fd");
		return -EIO;
	}
	for (;;) {
		long got = syscall(SYS_getdents64, dfd, buf, sizeof(buf));

		if (got <= 0)
			break;
		for (long off = 0; off < got; off += ((struct dirent64 *)(buf + off))->d_reclen) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int fd;

			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			fd = atoi(d->d_name);
			if (fd == dfd)
				continue;
			if (*nr >= CKPT_MAX_FDS) {
				close(dfd);
				ckpt_fail(c, "more than %d open files", CKPT_MAX_FDS);
				return -E2BIG;
			}
			list[(*nr)++] = fd;
		}
	}
	close(dfd);
	sort_ints(list, *nr);
	return 0;
}

int ckpt_capture_fds(struct ckpt_capture *c)
{
	int *list = ckpt_scratch_alloc(CKPT_MAX_FDS * sizeof(int));
	uint32_t nr;
	int ret;

	c->fds = ckpt_scratch_alloc(CKPT_MAX_FDS * sizeof(*c->fds));
	c->nr_fds = 0;
	fdinfo_buf = NULL;
	mountinfo_buf = NULL;
	if (!c->fds || !list) {
		ckpt_fail(c, "no memory for the fd table");
		return -ENOMEM;
	}
	ret = list_fds(c, list, &nr);
	ctty = controlling_tty();
	for (uint32_t i = 0; i < nr && !ret; i++)
		ret = capture_fd(c, list[i]);
	for (uint32_t i = 0; i < c->nr_fds && !ret; i++) {
		struct ckpt_fd *f = &c->fds[i];

		if (!(f->xflags & CKPT_FDX_DUP) && save_kind[f->kind])
			ret = save_kind[f->kind](c, f);
	}
	for (uint32_t i = 0; i < c->nr_fds; i++) {
		struct ckpt_fd *f = &c->fds[i];

		if (f->xflags & CKPT_FDX_DUP)
			f->xflags |= ckpt_fd_lookup(c, f->dup_of)->xflags & CKPT_FDX_PEER_GONE;
	}
	return ret;
}
