/* SPDX-License-Identifier: MIT */
/*
 * ckpt-ctl: ask a process running libckpt for a checkpoint and wait for
 * the image. The request is a signal queued with a nonce; the library
 * reports progress and the result in /tmp/ckpt-UID/PID.status.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/ctl.h"
#include "ckpt/exitcodes.h"
#include "signame.h"

static const char usage[] =
"NAME\n"
"    ckpt-ctl - checkpoint a running program and wait for its image\n"
"\n"
"SYNOPSIS\n"
"    ckpt-ctl checkpoint [--timeout SECS] [--quiet] PID\n"
"    ckpt-ctl status PID\n"
"\n"
"DESCRIPTION\n"
"    checkpoint  asks the process PID (started with ckpt-run or with\n"
"                libckpt.so preloaded) for a checkpoint, shows the writer's\n"
"                progress on stderr, and prints the image path when the image\n"
"                is complete (written, checksummed, synced and renamed).\n"
"                The checkpoint covers PID's descendants that run libckpt\n"
"                too, each in an image of its own; the one printed lists\n"
"                them and restores them all (CKPT_TREE=0 in PID's\n"
"                environment leaves them out).\n"
"    status      prints the state of the process's last checkpoint.\n"
"\n"
"    Only a caller that could ptrace PID may checkpoint it: the same user\n"
"    (or root), and root only if the process made itself non-dumpable.\n"
"\n"
"OPTIONS\n"
"    -t, --timeout SECS  give up after SECS seconds (default 600)\n"
"    -q, --quiet         no progress output\n"
"    -h, --help          show this help\n"
"\n"
"EXIT STATUS\n"
"     0  image written (its path is on stdout)\n"
"     1  a system call failed\n"
"     2  bad command line\n"
"    12  no such process, or it does not run libckpt\n"
"    13  not allowed to checkpoint that process\n"
"    14  the checkpoint failed (the reason is on stderr)\n"
"    15  no image within the time limit\n"
"\n"
"EXAMPLES\n"
"    img=$(ckpt-ctl checkpoint 1234) && ckpt-info \"$img\"\n";

struct status {
	unsigned seq, nonce;
	char state[32];
	char path[4096];
	unsigned long long done, total;
	char error[1024];
};

static int read_status(const char *file, struct status *s)
{
	char buf[8192], *line, *save;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	memset(s, 0, sizeof(*s));
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "seq ", 4))
			s->seq = strtoul(line + 4, NULL, 10);
		else if (!strncmp(line, "nonce ", 6))
			s->nonce = strtoul(line + 6, NULL, 10);
		else if (!strncmp(line, "state ", 6))
			snprintf(s->state, sizeof(s->state), "%s", line + 6);
		else if (!strncmp(line, "path ", 5))
			snprintf(s->path, sizeof(s->path), "%s", line + 5);
		else if (!strncmp(line, "done ", 5))
			s->done = strtoull(line + 5, NULL, 10);
		else if (!strncmp(line, "total ", 6))
			s->total = strtoull(line + 6, NULL, 10);
		else if (!strncmp(line, "error ", 6))
			snprintf(s->error, sizeof(s->error), "%s", line + 6);
	}
	return 0;
}

/* Reads the target's environment: needs the same rights as ptrace (PTRACE_MODE_READ). */
static int target_env(pid_t pid, const char *key, char *out, size_t len)
{
	char path[64], buf[65536];
	size_t klen = strlen(key);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EACCES;
	buf[n] = 0;
	out[0] = 0;
	for (char *p = buf; p < buf + n; p += strlen(p) + 1)
		if (!strncmp(p, key, klen) && p[klen] == '=')
			snprintf(out, len, "%s", p + klen + 1);
	return 0;
}

static int runs_libckpt(pid_t pid)
{
	char path[64], line[4096];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "/libckpt.so") != NULL;
	fclose(f);
	return found;
}

static int check_target(pid_t pid, int *sig)
{
	char val[256];
	int ret = target_env(pid, "CKPT_SIGNAL", val, sizeof(val));

	if (ret == -ENOENT || ret == -ESRCH) {
		fprintf(stderr, "ckpt-ctl: error: no process %d\n", (int)pid);
		return CKPT_EXIT_NOPROC;
	}
	if (ret) {
		fprintf(stderr, "ckpt-ctl: error: not allowed to checkpoint process %d "
			"(it belongs to another user or is not dumpable)\n", (int)pid);
		return CKPT_EXIT_PERM;
	}
	if (!runs_libckpt(pid)) {
		fprintf(stderr, "ckpt-ctl: error: process %d does not run libckpt.so "
			"(start it with ckpt-run)\n", (int)pid);
		return CKPT_EXIT_NOPROC;
	}
	*sig = ckpt_signal_parse(val[0] ? val : CKPT_DEFAULT_SIGNAL);
	if (*sig < 0) {
		fprintf(stderr, "ckpt-ctl: error: process %d has CKPT_SIGNAL=%s, not a signal\n",
			(int)pid, val);
		return CKPT_EXIT_NOPROC;
	}
	return CKPT_EXIT_OK;
}

/*
 * The pid the process sees for itself, which names its status file: the
 * innermost of /proc/PID/status NSpid (ckpt-restore may have put it in a
 * pid namespace of its own).
 */
static pid_t inner_pid(pid_t pid)
{
	char path[64], line[256];
	pid_t inner = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return pid;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + 6, *end;

		if (strncmp(line, "NSpid:", 6))
			continue;
		for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
			inner = v;
			p = end;
		}
	}
	fclose(f);
	return inner;
}

static void status_path(pid_t pid, char *out, size_t len)
{
	snprintf(out, len, CKPT_RUN_DIR_FMT "/%d.status", (unsigned)getuid(), (int)inner_pid(pid));
}

/* Running, not a zombie: a zombie still answers kill(pid, 0). */
static int alive(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int do_checkpoint(pid_t pid, int timeout, int quiet)
{
	char file[128];
	struct status s;
	union sigval v;
	unsigned nonce;
	time_t deadline = time(NULL) + timeout;
	unsigned long long shown = 0;
	int sig, ret = check_target(pid, &sig);

	if (ret)
		return ret;
	status_path(pid, file, sizeof(file));
	if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
		nonce = time(NULL) ^ ((unsigned)getpid() << 16);
	nonce |= 1;	/* never 0, which means "no request id" */
	v.sival_ptr = (void *)(uintptr_t)(((uint64_t)CKPT_CTL_MAGIC << 32) | nonce);
	if (sigqueue(pid, sig, v)) {
		fprintf(stderr, "ckpt-ctl: error: cannot signal process %d: %s\n", (int)pid,
			strerror(errno));
		return errno == EPERM ? CKPT_EXIT_PERM : CKPT_EXIT_NOPROC;
	}
	while (time(NULL) <= deadline) {
		sleep_ms(5);
		if (!alive(pid)) {
			/* it may have finished the image just before it exited */
			if (!read_status(file, &s) && s.nonce == nonce && !strcmp(s.state, "done")) {
				printf("%s\n", s.path);
				return CKPT_EXIT_OK;
			}
			fprintf(stderr, "ckpt-ctl: error: process %d exited\n", (int)pid);
			return CKPT_EXIT_NOPROC;
		}
		if (read_status(file, &s) || s.nonce != nonce)
			continue;
		if (!strcmp(s.state, "done")) {
			if (!quiet && isatty(2))
				fprintf(stderr, "\r\033[K");
			printf("%s\n", s.path);
			return CKPT_EXIT_OK;
		}
		if (!strcmp(s.state, "error")) {
			fprintf(stderr, "ckpt-ctl: error: checkpoint of %d failed: %s\n", (int)pid,
				s.error);
			return CKPT_EXIT_CKPT;
		}
		if (!quiet && s.total && s.done != shown) {
			fprintf(stderr, isatty(2) ? "\rwriting: %llu / %llu MiB" :
				"writing: %llu / %llu MiB\n", s.done >> 20, s.total >> 20);
			shown = s.done;
		}
	}
	fprintf(stderr, "ckpt-ctl: error: no image from process %d within %d s\n", (int)pid,
		timeout);
	return CKPT_EXIT_TIMEOUT;
}

static int do_status(pid_t pid)
{
	char file[128];
	struct status s;
	int sig, ret = check_target(pid, &sig);

	if (ret)
		return ret;
	status_path(pid, file, sizeof(file));
	if (read_status(file, &s)) {
		printf("no checkpoint yet\n");
		return CKPT_EXIT_OK;
	}
	printf("checkpoint %u: %s\n", s.seq, s.state);
	if (s.path[0])
		printf("image: %s\n", s.path);
	if (s.total)
		printf("written: %llu / %llu bytes\n", s.done, s.total);
	if (s.error[0])
		printf("error: %s\n", s.error);
	return CKPT_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, timeout = 600, quiet = 0;
	char *end;
	long pid;

	while ((c = getopt_long(argc, argv, "t:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 't': timeout = atoi(optarg); break;
		case 'q': quiet = 1; break;
		case 'h': fputs(usage, stdout); return CKPT_EXIT_OK;
		default: goto bad;
		}
	}
	if (optind + 2 != argc)
		goto bad;
	pid = strtol(argv[optind + 1], &end, 10);
	if (*end || pid <= 0)
		goto bad;
	if (!strcmp(argv[optind], "checkpoint"))
		return do_checkpoint(pid, timeout, quiet);
	if (!strcmp(argv[optind], "status"))
		return do_status(pid);
bad:
	fprintf(stderr, "usage: ckpt-ctl checkpoint|status [--timeout SECS] PID (see --help)\n");
	return CKPT_EXIT_USAGE;
}
