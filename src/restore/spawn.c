/* SPDX-License-Identifier: MIT */
/*
 * The restored process is a child of ckpt-restore created with clone3
 * and set_tid, so it has the image's pid. Where that pid is taken, or we
 * may not choose pids (not root), it is created in a new pid namespace
 * (and a user namespace when not root), under a small init of ours,
 * with /proc mounted for that namespace so that the program and libckpt
 * see their own pids there.
 *
 * ckpt-restore stays as the parent: it reports errors from before the
 * point of no return with their exit codes, then forwards termination
 * signals and exits with the program's status, like any launcher.
 * A tree (tree_spawn.c) is started the same way: this creates its root,
 * which creates the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "log.h"
#include "restore.h"

static volatile pid_t child_pid;

static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (child_pid > 0 && si->si_code <= 0)	/* sent by a process, not by the tty */
		kill(child_pid, sig);
}

void rst_forward_signals(pid_t pid)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa;

	child_pid = pid;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

int rst_exit_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

static int wait_child(pid_t pid, int status_fd)
{
	char ready = 0;
	int status;
	ssize_t n;

	do
		n = read(status_fd, &ready, 1);
	while (n < 0 && errno == EINTR);
	close(status_fd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return CKPT_EXIT_FAIL;
	if (n != 1) {
		/* failed before the point of no return: the child said why */
		if (WIFEXITED(status))
			return WEXITSTATUS(status) ? WEXITSTATUS(status) : CKPT_EXIT_FAIL;
		pr_err("restored process died of signal %d while being set up",
		       WTERMSIG(status));
		return CKPT_EXIT_FAIL;
	}
	return rst_exit_status(status);
}

pid_t rst_clone_pid(pid_t want)
{
	struct clone_args ca;

	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&want;
	ca.set_tid_size = 1;
	fflush(NULL);
	return syscall(SYS_clone3, &ca, sizeof(ca));
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static int enter_namespaces(void)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	char map[64];
	int flags = CLONE_NEWPID | CLONE_NEWNS | (uid ? CLONE_NEWUSER : 0);

	if (unshare(flags)) {
		pr_err("cannot create a pid namespace: %s", strerror(errno));
		return -1;
	}
	if (!uid)
		return 0;
	/* map ourselves to ourselves: the program keeps our uid and gains nothing */
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (write_file("/proc/self/setgroups", "deny") || write_file("/proc/self/uid_map", map))
		goto fail;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	if (write_file("/proc/self/gid_map", map))
		goto fail;
	return 0;
fail:
	pr_err("cannot set up the user namespace: %s", strerror(errno));
	return -1;
}

/*
 * pid 1 of the new namespace: mounts its /proc, starts the program with
 * its old pid, reaps orphans, and leaves with the program's status. It
 * keeps none of our descriptors: init_close, or every one above 2 when
 * init_close is -1.
 */
static int run_init(pid_t want, int init_close)
{
	int status, code = CKPT_EXIT_FAIL;
	pid_t pid, w;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		pr_err("cannot mount /proc for the new pid namespace: %s", strerror(errno));
		_exit(CKPT_EXIT_ENV);
	}
	pid = rst_clone_pid(want);
	if (pid == 0)
		return 0;
	if (init_close >= 0)
		close(init_close);
	else
		syscall(SYS_close_range, 3u, ~0u, 0u);
	if (pid < 0) {
		pr_err("clone3 with pid %d in the new namespace: %s", want, strerror(errno));
		_exit(CKPT_EXIT_ENV);
	}
	while ((w = wait(&status)) != -1 || errno == EINTR)
		if (w == pid)
			code = rst_exit_status(status);
	_exit(code);
}

pid_t rst_spawn_pid(pid_t want, int busy, const struct rst_opts *opts, int init_close,
		    int *in_ns, int *exit_code)
{
	int use_ns = opts->pidns == RST_PIDNS_ALWAYS;
	pid_t pid = -1;

	*in_ns = 0;
	if (busy && opts->pidns == RST_PIDNS_NEVER) {
		pr_err("id %d is in use by another process (is the original still running?)",
		       busy);
		*exit_code = CKPT_EXIT_ENV;
		return -1;
	}
	if (!use_ns && !busy) {
		pid = rst_clone_pid(want);
		/*
		 * EEXIST: the pid still names a process group or session (a
		 * child of the original may outlive it); EPERM: not root.
		 */
		if (pid < 0 && (errno == EPERM || errno == EEXIST) &&
		    opts->pidns == RST_PIDNS_AUTO)
			use_ns = 1;
	} else if (busy) {
		use_ns = 1;
	}
	if (use_ns) {
		pr_debug("restoring pid %d in a new pid namespace", want);
		if (enter_namespaces()) {
			*exit_code = CKPT_EXIT_ENV;
			return -1;
		}
		*in_ns = 1;
		fflush(NULL);
		pid = want == 1 ? rst_clone_pid(1) : fork();
		if (pid == 0 && want != 1 && run_init(want, init_close) != 0)
			_exit(CKPT_EXIT_FAIL);
	}
	if (pid < 0) {
		pr_err("cannot create a process with pid %d: %s", want, strerror(errno));
		*exit_code = CKPT_EXIT_ENV;
	}
	return pid;
}

int rst_spawn(struct ckpt_image *img, const struct rst_opts *opts, int *status_fd,
	      int *exit_code)
{
	int pfd[2], in_ns;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC)) {
		pr_err("pipe: %s", strerror(errno));
		*exit_code = CKPT_EXIT_FAIL;
		return -1;
	}
	pid = rst_spawn_pid(img->proc->pid, rst_ids_in_use(img), opts, pfd[1], &in_ns, exit_code);
	if (pid == 0) {
		close(pfd[0]);
		*status_fd = pfd[1];
		return 0;
	}
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		return -1;
	}
	rst_forward_signals(pid);
	*exit_code = wait_child(pid, pfd[0]);
	return 1;
}
