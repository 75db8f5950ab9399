/* SPDX-License-Identifier: MIT */
/*
 * The restored process is a child of ckpt-restore created with clone3
 * and set_tid, so it has the image's pid. ckpt-restore stays as its
 * parent: it reports errors from before the point of no return with
 * their exit codes, then forwards termination signals and exits with
 * the program's own status, like any launcher.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
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

static void install_forwarding(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
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
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int rst_spawn(struct ckpt_image *img, int *status_fd, int *exit_code)
{
	struct clone_args ca;
	pid_t want = img->proc->pid, pid;
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC)) {
		pr_err("pipe: %s", strerror(errno));
		*exit_code = CKPT_EXIT_FAIL;
		return -1;
	}
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&want;
	ca.set_tid_size = 1;
	fflush(NULL);
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		close(pfd[0]);
		*status_fd = pfd[1];
		return 0;
	}
	close(pfd[1]);
	if (pid < 0) {
		if (errno == EEXIST)
			pr_err("pid %d is in use by another process", want);
		else if (errno == EPERM)
			pr_err("cannot create a process with pid %d: %s (restoring a pid needs "
			       "root or CAP_CHECKPOINT_RESTORE)", want, strerror(errno));
		else
			pr_err("clone3 with pid %d: %s", want, strerror(errno));
		*exit_code = CKPT_EXIT_ENV;
		close(pfd[0]);
		return -1;
	}
	child_pid = pid;
	install_forwarding();
	*exit_code = wait_child(pid, pfd[0]);
	return 1;
}
