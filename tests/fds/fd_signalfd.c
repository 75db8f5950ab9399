/* SPDX-License-Identifier: MIT */
/*
 * signalfds: 10 for SIGUSR1 and SIGRTMIN+2 (O_NONBLOCK), 11 for SIGTERM (FD_CLOEXEC).
 * The signals are blocked; SIGUSR1 is pending at the checkpoint.
 */
#include "fdtest.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

static int next_signal(int fd)
{
	struct signalfd_siginfo si;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	CHECK(poll(&p, 1, 5000) == 1, "fd %d: no signal", fd);
	CHECK(read(fd, &si, sizeof(si)) == sizeof(si), "fd %d: read: %s", fd, strerror(errno));
	return si.ssi_signo;
}

int main(void)
{
	sigset_t a, b, all;
	struct signalfd_siginfo si;

	sigemptyset(&a);
	sigaddset(&a, SIGUSR1);
	sigaddset(&a, SIGRTMIN + 2);
	sigemptyset(&b);
	sigaddset(&b, SIGTERM);
	sigemptyset(&all);
	sigaddset(&all, SIGUSR1);
	sigaddset(&all, SIGRTMIN + 2);
	sigaddset(&all, SIGTERM);
	sigprocmask(SIG_BLOCK, &all, NULL);
	at(signalfd(-1, &a, SFD_NONBLOCK), 10);
	at(signalfd(-1, &b, SFD_CLOEXEC), 11);
	raise(SIGUSR1);
	wait_verify();
	check_flags(10, O_RDWR | O_NONBLOCK, 0);
	check_flags(11, O_RDWR, FD_CLOEXEC);
	CHECK(next_signal(10) == SIGUSR1, "fd 10: pending SIGUSR1 not seen");
	CHECK(read(10, &si, sizeof(si)) < 0 && errno == EAGAIN, "fd 10: more signals");
	kill(getpid(), SIGRTMIN + 2);
	CHECK(next_signal(10) == SIGRTMIN + 2, "fd 10: SIGRTMIN+2 not seen");
	kill(getpid(), SIGTERM);
	CHECK(next_signal(11) == SIGTERM, "fd 11: SIGTERM not seen");
	kill(getpid(), SIGUSR1);
	fcntl(11, F_SETFL, O_NONBLOCK);
	CHECK(read(11, &si, sizeof(si)) < 0 && errno == EAGAIN, "fd 11 sees SIGUSR1");
	CHECK(next_signal(10) == SIGUSR1, "fd 10: SIGUSR1 not seen");
	say("ok");
	return 0;
}
