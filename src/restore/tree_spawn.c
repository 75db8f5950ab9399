/* SPDX-License-Identifier: MIT */
/*
 * The processes of a tree and their relations. The top creates the root
 * (spawn.c); each process then creates its own children early in its
 * stage 1, before it touches its descriptors, so that they inherit the
 * top's: standard streams, the objects built for the tree, the status
 * sockets. A child gets its old pid with clone3 set_tid (inside the pid
 * namespace when one is used). Sessions and groups: a session leader
 * calls setsid() itself; a child whose group is its own or one a process
 * of the tree leads is put there by its parent and by itself (as a shell
 * does); a group or session outside the tree stays the one inherited
 * from ckpt-restore. The root starts its own session or group if it led
 * one. A zombie is a child that takes its group and session, then exits
 * with the saved status (a signal's default action, without a core
 * dump); its parent waits for it without reaping it and discards the
 * SIGCHLD, so that the program finds exactly the zombie it had.
 *
 * The point of no return is collective. Each live process has a socket
 * pair to the top and keeps only its own end, so that end of file means
 * it is gone. It sends 'S' when it exists, 'R' when its stage 1 is done
 * (then waits for 'G'), or 'E' and its exit code after printing why it
 * failed ("pid N (comm): ..."). The top sends 'G' to all once all are
 * ready. On a failure it kills the tree: the namespace's init, or every
 * process that said 'S', until every socket is at end of file (so that
 * one being created meanwhile is not missed), and exits with the failing
 * process's code.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "errmsg.h"
#include "log.h"
#include "tree.h"

#define ST_STARTED	'S'
#define ST_READY	'R'
#define ST_ERROR	'E'	/* followed by the exit code */
#define ST_GO		'G'

static int send_status(int fd, const char *msg, size_t n)
{
	ssize_t r;

	do
		r = send(fd, msg, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r == (ssize_t)n ? 0 : -1;
}

static const char *comm_of(const struct rst_tree_proc *p)
{
	return p->img ? p->img->proc->comm : "zombie";
}

int rst_tree_sockets(struct rst_tree *t, char *err, size_t len)
{
	for (uint32_t i = 0; i < t->nr_procs; i++) {
		struct rst_tree_proc *p = &t->procs[i];
		int sv[2];

		if (p->state != CKPT_TREE_LIVE)
			continue;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "socketpair: %s", strerror(errno));
		p->top_fd = rst_tree_high(t, sv[0]);
		p->own_fd = rst_tree_high(t, sv[1]);
		if (p->top_fd < 0 || p->own_fd < 0)
			return ckpt_errmsg(err, len, CKPT_EXIT_FAIL, "cannot move descriptors: %s",
					   strerror(errno));
	}
	return CKPT_EXIT_OK;
}

/* ---- in the restored processes ---- */

static const struct rst_tree_proc *find_proc(const struct rst_tree *t, pid_t pid)
{
	for (uint32_t i = 0; i < t->nr_procs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

/*
 * The group c goes into: one of its own, or one that a process of the tree
 * leads; a group outside the tree is ckpt-restore's (unless a namespace of
 * ours hides that). 0: the one it inherits. None for a session leader.
 */
static pid_t group_of(const struct rst_tree *t, const struct rst_tree_proc *c)
{
	if (c->sid == c->pid)
		return 0;
	if (c->pgid == c->pid || find_proc(t, c->pgid))
		return c->pgid;
	return t->in_ns ? 0 : t->top_pgid;
}

/* In a new child, first: its own session, or its group (its parent sets it too). */
static void own_relations(const struct rst_tree *t, const struct rst_tree_proc *c)
{
	pid_t pgid = group_of(t, c);

	if (c->sid == c->pid) {
		if (setsid() < 0)
			pr_warn("pid %d: cannot start its session again: %s", c->pid,
				strerror(errno));
	} else if (pgid && getpgrp() != pgid) {
		setpgid(0, pgid);	/* the group may not exist yet: the parent reports */
	}
}

/* In the parent: the child's group as it was, where that can be done. */
static void check_group(const struct rst_tree *t, const struct rst_tree_proc *me,
			const struct rst_tree_proc *c)
{
	pid_t pgid = group_of(t, c);

	if (c->sid != c->pid && c->sid != me->sid)
		pr_warn("pid %d: its session %d is not restored: it is in its parent's", c->pid,
			c->sid);
	if (!pgid || getpgid(c->pid) == pgid)
		return;
	if (setpgid(c->pid, pgid) && getpgid(c->pid) != pgid)
		pr_warn("pid %d: cannot put it in process group %d%s: %s", c->pid, pgid,
			pgid == c->pgid ? " again" : " (ckpt-restore's, its own was outside the tree)",
			strerror(errno));
}

/*
 * The root: its own session or group if it led one. A new group takes the
 * terminal's foreground from ckpt-restore's if that had it (SIGTTOU is
 * blocked, so tcsetpgrp is allowed from what is now a background group).
 */
static void root_relations(const struct rst_tree_proc *p)
{
	pid_t old = getpgrp();
	int fg;

	if (p->sid == p->pid) {
		if (setsid() < 0)
			pr_warn("pid %d: cannot start its session again: %s", p->pid,
				strerror(errno));
		return;
	}
	if (p->pgid != p->pid)
		return;
	fg = old > 0 && isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == old;
	if (setpgid(0, 0)) {
		pr_warn("pid %d: cannot start its process group again: %s", p->pid,
			strerror(errno));
		return;
	}
	if (fg && tcsetpgrp(STDIN_FILENO, p->pid))
		pr_debug("cannot give the terminal to process group %d: %s", p->pid,
			 strerror(errno));
}

static int clone_fail(struct rst_ctx *x, const struct rst_tree_proc *c)
{
	int err = errno;

	snprintf(x->err, sizeof(x->err), "cannot create its %s pid %d: %s",
		 c->state == CKPT_TREE_ZOMBIE ? "zombie child" : "child", c->pid,
		 err == EEXIST ? "the pid is in use" : strerror(err));
	return err == EEXIST || err == EPERM ? CKPT_EXIT_ENV : CKPT_EXIT_FAIL;
}

/* Ends as a process with wait status st would: exit(code), or a signal's default action. */
__attribute__((noreturn)) static void die_as(int st)
{
	if (WIFSIGNALED(st)) {
		struct { uint64_t handler, flags, restorer, mask; } dfl = { 0, 0, 0, 0 };
		struct rlimit no_core = { 0, 0 };
		int sig = WTERMSIG(st);
		uint64_t set = 1ull << (sig - 1);

		setrlimit(RLIMIT_CORE, &no_core);
		prctl(PR_SET_DUMPABLE, 0);	/* no core for a core_pattern pipe either */
		/* raw calls: glibc refuses its own signals (32, 33), which kill all the same */
		syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(set));
		syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, sizeof(set));
		kill(getpid(), sig);
	}
	_exit(WEXITSTATUS(st));
}

static int make_zombie(struct rst_ctx *x, const struct rst_tree_proc *me,
		       const struct rst_tree_proc *z)
{
	static const struct timespec zero;
	pid_t pid = rst_clone_pid(z->pid);
	sigset_t chld;
	siginfo_t si;

	if (pid == 0) {
		own_relations(x->tree, z);
		die_as(z->wait_status);
	}
	if (pid < 0)
		return clone_fail(x, z);
	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, pid, &si, WEXITED | WNOWAIT))
		if (errno != EINTR) {
			snprintf(x->err, sizeof(x->err), "waiting for its zombie child pid %d: %s",
				 z->pid, strerror(errno));
			return CKPT_EXIT_FAIL;
		}
	/* signals are blocked: the SIGCHLD its exit sent is pending; the program must not see it */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (sigtimedwait(&chld, NULL, &zero) < 0 && errno == EINTR)
		;
	check_group(x->tree, me, z);
	if (WIFSIGNALED(z->wait_status) ? si.si_code == CLD_EXITED ||
	    si.si_status != WTERMSIG(z->wait_status) : si.si_code != CLD_EXITED ||
	    si.si_status != WEXITSTATUS(z->wait_status))
		pr_warn("pid %d: its zombie child pid %d could not get its status %#x back",
			me->pid, z->pid, z->wait_status);
	else if (WCOREDUMP(z->wait_status))
		pr_debug("zombie pid %d: its status no longer says that it dumped core", z->pid);
	return CKPT_EXIT_OK;
}

static int make_child(struct rst_ctx *x, const struct rst_tree_proc *me, uint32_t idx)
{
	const struct rst_tree_proc *c = &x->tree->procs[idx];
	pid_t pid = rst_clone_pid(c->pid);

	if (pid == 0)
		rst_tree_run(x->tree, idx);
	if (pid < 0)
		return clone_fail(x, c);
	check_group(x->tree, me, c);
	return CKPT_EXIT_OK;
}

int rst_tree_children(struct rst_ctx *x)
{
	const struct rst_tree *t = x->tree;
	const struct rst_tree_proc *me = &t->procs[x->tree_self];
	int ret = CKPT_EXIT_OK;

	for (uint32_t i = 1; i < t->nr_procs && !ret; i++) {
		const struct rst_tree_proc *c = &t->procs[i];

		if (c->ppid != me->pid)
			continue;
		ret = c->state == CKPT_TREE_ZOMBIE ? make_zombie(x, me, c) : make_child(x, me, i);
	}
	/* only our own end of our own socket: the top sees our end of file, and no one else's */
	for (uint32_t i = 0; i < t->nr_procs; i++) {
		if (t->procs[i].top_fd >= 0)
			close(t->procs[i].top_fd);
		if (i != x->tree_self && t->procs[i].own_fd >= 0)
			close(t->procs[i].own_fd);
	}
	return ret;
}

void rst_tree_ready(struct rst_ctx *x)
{
	char c = 0;
	ssize_t n;

	if (send_status(x->status_fd, (const char[]){ ST_READY }, 1))
		_exit(CKPT_EXIT_FAIL);
	do
		n = read(x->status_fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || c != ST_GO)
		_exit(CKPT_EXIT_FAIL);	/* the top gave up on the tree and says why */
}

void rst_tree_run(const struct rst_tree *t, uint32_t idx)
{
	const struct rst_tree_proc *p = &t->procs[idx];
	struct rst_ctx *x;
	sigset_t all;
	int ret = CKPT_EXIT_FAIL;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (idx)
		own_relations(t, p);
	else
		root_relations(p);
	send_status(p->own_fd, (const char[]){ ST_STARTED }, 1);
	x = calloc(1, sizeof(*x));
	if (x)
		x->others = calloc(t->nr_imgs, sizeof(*x->others));
	if (x && x->others) {
		x->img = p->img;
		x->chain = p->chain;
		x->opts = t->opts;
		x->status_fd = p->own_fd;
		x->exe_fd = -1;
		x->tree = t;
		x->tree_self = idx;
		for (uint32_t k = 0; k < t->nr_imgs; k++)
			if (t->imgs[k] != p->img)
				x->others[x->nr_others++] = t->imgs[k];
		ret = rst_stage1(x);
	}
	if (!ret)
		ret = CKPT_EXIT_FAIL;
	pr_err("pid %d (%.16s): %s", p->pid, comm_of(p),
	       x && x->err[0] ? x->err : "restore failed");
	send_status(p->own_fd, (const char[]){ ST_ERROR, (char)ret }, 2);
	_exit(ret);
}

/* ---- in the top ---- */

struct watch {
	int started, ready, failed, code_next, killed;
};

/*
 * Reads what process i said; returns its failure's exit code, or 0. Gone
 * before 'G' (even when ready) is a failure: nothing has run yet.
 */
static int take_status(struct rst_tree *t, uint32_t i, struct pollfd *pf, struct watch *w,
		       int quiet)
{
	const struct rst_tree_proc *p = &t->procs[i];
	char buf[64];
	ssize_t n;

	do
		n = read(pf->fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		close(pf->fd);
		pf->fd = -1;
		if (w->failed)
			return 0;
		w->failed = CKPT_EXIT_FAIL;
		if (w->started && !quiet)
			pr_err("pid %d (%.16s) died while being set up", p->pid, comm_of(p));
		return w->failed;
	}
	for (ssize_t k = 0; k < n; k++) {
		if (w->code_next) {
			w->code_next = 0;
			w->failed = buf[k] > 0 ? buf[k] : CKPT_EXIT_FAIL;
		} else if (buf[k] == ST_STARTED) {
			w->started = 1;
		} else if (buf[k] == ST_READY) {
			w->ready = 1;
		} else if (buf[k] == ST_ERROR) {
			w->code_next = 1;
		}
	}
	return w->failed;
}

/* Every process that said it exists, until no socket is open any more. */
static void kill_tree(struct rst_tree *t, struct pollfd *pfd, struct watch *w, pid_t child,
		      int in_ns)
{
	if (in_ns) {
		kill(child, SIGKILL);	/* the namespace's init: the kernel kills the rest */
		return;
	}
	for (;;) {
		int open = 0;

		for (uint32_t i = 0; i < t->nr_procs; i++) {
			if (pfd[i].fd < 0)
				continue;
			open++;
			if (w[i].started && !w[i].killed && !w[i].failed) {
				kill(t->procs[i].pid, SIGKILL);
				w[i].killed = 1;
			}
		}
		if (!open)
			return;
		if (poll(pfd, t->nr_procs, -1) < 0 && errno != EINTR)
			return;
		for (uint32_t i = 0; i < t->nr_procs; i++)
			if (pfd[i].fd >= 0 && pfd[i].revents)
				take_status(t, i, &pfd[i], &w[i], 1);
	}
}

int rst_tree_wait(struct rst_tree *t, pid_t child, int in_ns)
{
	struct pollfd *pfd = calloc(t->nr_procs, sizeof(*pfd));
	struct watch *w = calloc(t->nr_procs, sizeof(*w));
	uint32_t live = 0, ready = 0;
	int code = 0, status = 0;

	if (!pfd || !w) {
		pr_err("out of memory");
		kill(child, SIGKILL);
		return CKPT_EXIT_FAIL;
	}
	for (uint32_t i = 0; i < t->nr_procs; i++) {
		pfd[i].fd = t->procs[i].top_fd;
		pfd[i].events = POLLIN;
		live += t->procs[i].state == CKPT_TREE_LIVE;
	}
	while (ready < live && !code) {
		if (poll(pfd, t->nr_procs, -1) < 0) {
			if (errno == EINTR)
				continue;
			pr_err("poll: %s", strerror(errno));
			code = CKPT_EXIT_FAIL;
			break;
		}
		ready = 0;
		for (uint32_t i = 0; i < t->nr_procs; i++) {
			if (pfd[i].fd >= 0 && pfd[i].revents && !code)
				code = take_status(t, i, &pfd[i], &w[i], 0);
			ready += w[i].ready;
		}
	}
	if (code && !w[0].started && pfd[0].fd < 0) {
		/* the root never ran (or the namespace's init failed): nothing else exists */
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status))
			return WEXITSTATUS(status);
		pr_err("pid %d (%.16s) died while being set up", t->procs[0].pid,
		       comm_of(&t->procs[0]));
		return code;
	}
	if (code) {
		kill_tree(t, pfd, w, child, in_ns);
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			;
		return code;
	}
	/* every process is ready: let them all go */
	for (uint32_t i = 0; i < t->nr_procs; i++) {
		if (pfd[i].fd < 0)
			continue;	/* a zombie */
		if (send_status(pfd[i].fd, (const char[]){ ST_GO }, 1))
			pr_warn("pid %d (%.16s) died at the point of no return", t->procs[i].pid,
				comm_of(&t->procs[i]));
		close(pfd[i].fd);
	}
	pr_debug("%u processes restored", live);
	free(pfd);
	free(w);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return CKPT_EXIT_FAIL;
	return rst_exit_status(status);
}
