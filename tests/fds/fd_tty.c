/* SPDX-License-Identifier: MIT */
/*
 * The controlling terminal at fd 5 (O_NONBLOCK): the program starts a session and opens
 * TTY (a pty slave from the command line), which makes it its controlling terminal. After
 * a restore fd 5 must be the terminal ckpt-restore ran on (its stdin), with its flags; the
 * program writes "tty-ok" there.
 */
#include "fdtest.h"

int main(int argc, char **argv)
{
	const char *tty = arg(argc, argv, 1, "/dev/tty");
	char a[64], b[64];

	setsid();
	at(open(tty, O_RDWR), 5);
	fcntl(5, F_SETFL, O_NONBLOCK);
	wait_verify();
	check_flags(5, O_RDWR | O_NONBLOCK, 0);
	CHECK(isatty(5), "fd 5 is not a terminal");
	if (isatty(0)) {
		CHECK(!ttyname_r(0, a, sizeof(a)) && !ttyname_r(5, b, sizeof(b)) && !strcmp(a, b),
		      "fd 5 (%s) is not the terminal of stdin (%s)", b, a);
		CHECK(!(fcntl(0, F_GETFL) & O_NONBLOCK), "O_NONBLOCK leaked to stdin");
	}
	CHECK(write(5, "tty-ok\n", 7) == 7, "write to fd 5: %s", strerror(errno));
	say("ok");
	return 0;
}
