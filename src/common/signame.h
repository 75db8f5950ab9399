/* SPDX-License-Identifier: MIT */
#ifndef CKPT_SIGNAME_H
#define CKPT_SIGNAME_H

/* "USR2", "SIGUSR2", "RTMAX-1", "RTMIN+3" or a number; -1 if it names no signal. */
int ckpt_signal_parse(const char *s);

#endif
