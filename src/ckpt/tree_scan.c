/* SPDX-License-Identifier: MIT */
/*
 * The descendants of this process, from /proc: every task's "children"
 * file, breadth first, so parents come before their children. Each is
 * live (it runs libckpt: it has a thread named ckpt-coord) or a zombie;
 * our own image writers and their workers (named ckpt-writer) are not
 * part of the tree. No allocation: this also runs while threads are
 * stopped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt.h"

struct proc_stat {
	char comm[32];
	char state;
	int32_t ppid, pgid, sid;
	int32_t exit_code;
};

/* /proc/PID/stat: comm, state, ppid, pgrp, session and exit_code (field 52). */
static int read_stat(pid_t pid, struct proc_stat *st)
{
	char path[64], buf[1024], *open_paren, *s;
	long long v[53] = { 0 };

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (ckpt_read_file(path, buf, sizeof(buf)) <= 0)
		return -ESRCH;
	open_paren = strchr(buf, '(');
	s = strrchr(buf, ')');
	if (!open_paren || !s || s[1] != ' ')
		return -EIO;
	snprintf(st->comm, sizeof(st->comm), "%.*s", (int)(s - open_paren - 1), open_paren + 1);
	st->state = s[2];
	s += 3;
	for (int field = 4; field <= 52 && *s; field++) {
		v[field] = strtoll(s, &s, 10);
		while (*s == ' ')
			s++;
	}
	st->ppid = v[4];
	st->pgid = v[5];
	st->sid = v[6];
	st->exit_code = v[52];
	return 0;
}

/* Calls fn(arg, n) for every number in directory path's entries; stops at fn's non-zero. */
static int each_entry(const char *path, int (*fn)(void *, long), void *arg)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	while (!ret) {
		long got = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		if (got <= 0)
			break;
		for (long off = 0; off < got && !ret;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);

			off += d->d_reclen;
			if (d->d_name[0] >= '0' && d->d_name[0] <= '9')
				ret = fn(arg, atol(d->d_name));
		}
	}
	close(fd);
	return ret;
}

struct task_ctx {
	pid_t pid;
	struct ckpt_tree_proc *out;
	uint32_t max, *nr;
	int found;
};

static int is_coordinator(void *arg, long tid)
{
	struct task_ctx *t = arg;
	char path[64], comm[32];

	snprintf(path, sizeof(path), "/proc/%d/task/%ld/comm", (int)t->pid, tid);
	return ckpt_read_file(path, comm, sizeof(comm)) > 0 && !strcmp(comm, "ckpt-coord\n");
}

static int known(const struct task_ctx *t, pid_t pid)
{
	for (uint32_t i = 0; i < *t->nr; i++)
		if (t->out[i].pid == pid)
			return 1;
	return 0;
}

/* The children listed by one task of t->pid, appended to the list. */
static int task_children(void *arg, long tid)
{
	struct task_ctx *t = arg;
	char path[64], buf[4096], *s = buf;

	snprintf(path, sizeof(path), "/proc/%d/task/%ld/children", (int)t->pid, tid);
	if (ckpt_read_file(path, buf, sizeof(buf)) < 0)
		return 0;	/* the task exited meanwhile */
	while (*s) {
		pid_t child = strtol(s, &s, 10);

		while (*s == ' ')
			s++;
		if (child <= 0 || known(t, child))
			continue;
		if (*t->nr >= t->max)
			return -E2BIG;
		t->out[(*t->nr)++].pid = child;
	}
	return 0;
}

/* Whether process pid exists and has not exited (a zombie has). */
int ckpt_tree_alive(pid_t pid)
{
	struct proc_stat st;

	return !read_stat(pid, &st) && st.state != 'Z' && st.state != 'X';
}

/* Whether process pid runs libckpt (has our coordinator thread). */
int ckpt_runs_libckpt(pid_t pid)
{
	struct task_ctx t = { .pid = pid };
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	return each_entry(path, is_coordinator, &t) > 0;
}

/* Fills entry e (pid set) from /proc; 1 if it is to be left out (one of our writers). */
static int describe(struct ckpt_tree_proc *e, char *err, size_t errlen)
{
	struct proc_stat st;

	if (read_stat(e->pid, &st))
		return 1;	/* gone: the caller's second scan sees the change */
	if (!strcmp(st.comm, "ckpt-writer"))
		return 1;
	e->ppid = st.ppid;
	e->pgid = st.pgid;
	e->sid = st.sid;
	if (st.state == 'Z') {
		e->state = CKPT_TREE_ZOMBIE;
		e->wait_status = st.exit_code;
		return 0;
	}
	if (st.state == 'T' || st.state == 't') {
		snprintf(err, errlen, "process %d (%s) of the tree is stopped; continue it (SIGCONT) "
			 "first", (int)e->pid, st.comm);
		return -EBUSY;
	}
	e->state = CKPT_TREE_LIVE;
	if (ckpt_runs_libckpt(e->pid))
		return 0;
	snprintf(err, errlen, "process %d (%s) of the tree does not run libckpt.so (started "
		 "without LD_PRELOAD, statically linked or set-user-ID?)", (int)e->pid, st.comm);
	return -ENOTSUP;
}

int ckpt_tree_scan(struct ckpt_tree_proc *out, uint32_t max, uint32_t *nr, char *err,
		   size_t errlen)
{
	uint32_t done = 0;
	struct task_ctx t = { .pid = getpid(), .out = out, .max = max, .nr = nr };
	int ret;

	*nr = 0;
	ret = each_entry("/proc/self/task", task_children, &t);
	while (!ret && done < *nr) {
		struct ckpt_tree_proc *e = &out[done];

		memset((char *)e + sizeof(e->pid), 0, sizeof(*e) - sizeof(e->pid));
		ret = describe(e, err, errlen);
		if (ret == 1) {
			/* left out: drop it, keep the order */
			memmove(e, e + 1, (*nr - done - 1) * sizeof(*e));
			(*nr)--;
			ret = 0;
			continue;
		}
		if (!ret && e->state == CKPT_TREE_LIVE) {
			char path[64];

			t.pid = e->pid;
			snprintf(path, sizeof(path), "/proc/%d/task", (int)e->pid);
			ret = each_entry(path, task_children, &t);
		}
		done++;
	}
	if (ret == -E2BIG)
		snprintf(err, errlen, "the tree has more than %u processes", max);
	else if (ret < 0 && !err[0])
		snprintf(err, errlen, "cannot list the process tree: %s", strerror(-ret));
	return ret;
}

/* Whether two scans found the same processes in the same states. */
int ckpt_tree_same(const struct ckpt_tree_proc *a, uint32_t na, const struct ckpt_tree_proc *b,
		   uint32_t nb)
{
	if (na != nb)
		return 0;
	for (uint32_t i = 0; i < na; i++)
		if (a[i].pid != b[i].pid || a[i].state != b[i].state ||
		    a[i].pgid != b[i].pgid || a[i].sid != b[i].sid)
			return 0;
	return 1;
}
