/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "signame.h"

int ckpt_signal_parse(const char *s)
{
	char *end;
	long v;

	if (!strncmp(s, "SIG", 3))
		s += 3;
	if (!strncmp(s, "RTMAX", 5))
		return SIGRTMAX - atoi(s + 5 + (s[5] == '-'));
	if (!strncmp(s, "RTMIN", 5))
		return SIGRTMIN + atoi(s + 5 + (s[5] == '+'));
	for (int i = 1; i < NSIG; i++)
		if (sigabbrev_np(i) && !strcmp(sigabbrev_np(i), s))
			return i;
	v = strtol(s, &end, 10);
	if (!*s || *end || v < 1 || v >= NSIG)
		return -1;
	return v;
}
