/* SPDX-License-Identifier: MIT */
/* ckpt-run: start a program with libckpt.so preloaded. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"

static const char usage[] =
"NAME\n"
"    ckpt-run - run a program so that it can be checkpointed\n"
"\n"
"SYNOPSIS\n"
"    ckpt-run [OPTIONS] [--] PROGRAM [ARGS...]\n"
"\n"
"DESCRIPTION\n"
"    Runs PROGRAM with libckpt.so preloaded (LD_PRELOAD), in place: the\n"
"    program keeps ckpt-run's pid. Then `kill -USR2 PID` or\n"
"    `ckpt-ctl checkpoint PID` writes an image of it, and `ckpt-restore\n"
"    IMAGE` continues it later. The programs it starts inherit libckpt.so\n"
"    (fork, and exec with LD_PRELOAD): a checkpoint covers the whole tree\n"
"    of processes, and ckpt-restore brings it all back.\n"
"\n"
"OPTIONS\n"
"    -d, --dir DIR         write images to DIR (CKPT_DIR; default: the\n"
"                          current directory)\n"
"    -s, --signal SIG      trigger signal, name or number (CKPT_SIGNAL;\n"
"                          default USR2)\n"
"    -i, --interval SECS   also checkpoint every SECS seconds (CKPT_INTERVAL)\n"
"    -l, --log LEVEL       error, warn, info or debug (CKPT_LOG)\n"
"        --no-fsync        do not fsync images (faster; an image may be lost\n"
"                          on power failure, never half-written) (CKPT_NO_FSYNC)\n"
"        --incremental     each image after the first stores only the pages that\n"
"                          changed and names its parent; ckpt-restore follows\n"
"                          the chain, ckpt-merge flattens it (CKPT_INCREMENTAL)\n"
"        --compress[=LEVEL]\n"
"                          compress images with zstd (default level 1), one\n"
"                          worker per CPU (CKPT_COMPRESS=zstd[:LEVEL],\n"
"                          CKPT_COMPRESS_THREADS); restore then decompresses\n"
"                          instead of mapping the image\n"
"    -h, --help            show this help\n"
"\n"
"ENVIRONMENT\n"
"    CKPT_LIB              path of libckpt.so, if not found next to ckpt-run\n"
"    CKPT_STOP_SIGNAL      the signal used internally to stop threads\n"
"                          (default RTMAX-1)\n"
"    CKPT_TREE             0: checkpoint the program alone, without the\n"
"                          processes it started\n"
"\n"
"EXIT STATUS\n"
"    That of PROGRAM; 2 for a bad command line; 1 if PROGRAM or libckpt.so\n"
"    cannot be found.\n"
"\n"
"EXAMPLES\n"
"    ckpt-run -d /var/tmp/ckpt ./simulation --steps 1000000\n"
"    ckpt-run -i 60 python3 train.py\n";

static int find_library(char *out, size_t len)
{
	const char *env = getenv("CKPT_LIB");
	char exe[PATH_MAX], *dir;
	ssize_t n;
	const char *const rel[] = {
		"../src/ckpt/libckpt.so",	/* build tree */
		"../" CKPT_LIBDIR "/libckpt.so",	/* installed */
	};

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, R_OK);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -1;
	exe[n] = 0;
	dir = dirname(exe);
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", dir, rel[i]);
		if (realpath(path, out) && !access(out, R_OK))
			return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "signal", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "log", required_argument, NULL, 'l' },
		{ "no-fsync", no_argument, NULL, 'F' },
		{ "incremental", no_argument, NULL, 'I' },
		{ "compress", optional_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char lib[PATH_MAX], preload[PATH_MAX * 2];
	const char *old;
	int c;

	while ((c = getopt_long(argc, argv, "+d:s:i:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': setenv("CKPT_DIR", optarg, 1); break;
		case 's': setenv("CKPT_SIGNAL", optarg, 1); break;
		case 'i': setenv("CKPT_INTERVAL", optarg, 1); break;
		case 'l': setenv("CKPT_LOG", optarg, 1); break;
		case 'F': setenv("CKPT_NO_FSYNC", "1", 1); break;
		case 'I': setenv("CKPT_INCREMENTAL", "1", 1); break;
		case 'z': {
			char v[32];

			snprintf(v, sizeof(v), "zstd%s%s", optarg ? ":" : "", optarg ? optarg : "");
			setenv("CKPT_COMPRESS", v, 1);
			break;
		}
		case 'h': fputs(usage, stdout); return CKPT_EXIT_OK;
		default:
			fprintf(stderr, "usage: ckpt-run [OPTIONS] PROGRAM [ARGS...] (see --help)\n");
			return CKPT_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: ckpt-run [OPTIONS] PROGRAM [ARGS...] (see --help)\n");
		return CKPT_EXIT_USAGE;
	}
	if (find_library(lib, sizeof(lib))) {
		fprintf(stderr, "ckpt-run: error: cannot find libckpt.so (set CKPT_LIB)\n");
		return CKPT_EXIT_FAIL;
	}
	old = getenv("LD_PRELOAD");
	snprintf(preload, sizeof(preload), "%s%s%s", lib, old && *old ? ":" : "",
		 old ? old : "");
	setenv("LD_PRELOAD", preload, 1);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "ckpt-run: error: cannot run %s: %s\n", argv[optind], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
