/* SPDX-License-Identifier: MIT */
/*
 * ckpt-restore IMAGE: continue a checkpointed program, or a whole process
 * tree when IMAGE is the root image of one (tree.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "log.h"
#include "restore.h"

static const char usage[] =
"NAME\n"
"    ckpt-restore - continue a checkpointed program from its image\n"
"\n"
"SYNOPSIS\n"
"    ckpt-restore [OPTIONS] IMAGE\n"
"\n"
"DESCRIPTION\n"
"    Recreates the process saved in IMAGE (written by libckpt.so) with its\n"
"    original pid and thread ids, memory, registers, signal state and open\n"
"    files, and lets it continue where it was. The program's standard\n"
"    input, output and error, if they were a terminal, pipe or socket, are\n"
"    those of ckpt-restore. ckpt-restore stays as the program's parent and\n"
"    exits with the program's exit status (128+N if signal N killed it).\n"
"\n"
"    When the program's children ran libckpt too, the checkpoint covers the\n"
"    whole process tree: IMAGE, the root's image, lists the other processes,\n"
"    whose images must be in the same directory. Restoring IMAGE restores\n"
"    the whole tree: every process with its pid, parent, process group and\n"
"    session (where these were processes of the tree), zombies with their\n"
"    exit status, and the pipes, socket pairs and shared memory that its\n"
"    processes shared. No process runs until all are ready; if one fails,\n"
"    none runs, and the exit status is that process's. Restoring the image\n"
"    of a process that is not the root restores that process alone.\n"
"\n"
"    Before anything is changed, the image is checked: header, section and\n"
"    page checksums, every size and offset, and that the program, its\n"
"    libraries and mapped files are unchanged. The program runs as the user\n"
"    who runs ckpt-restore; nothing in the image grants privileges.\n"
"\n"
"OPTIONS\n"
"    --eager       read all memory from the image before the program runs,\n"
"                  then let go of the file (for images on slow or remote\n"
"                  storage, or that will be deleted or rewritten). The default\n"
"                  maps the stored pages copy-on-write from the image: the\n"
"                  program runs at once and pages are read as it touches them;\n"
"                  the image file must then stay in place while it runs.\n"
"    --no-verify   skip the page-data checksums (metadata is always checked);\n"
"                  together with mapping, restart no longer reads the image\n"
"    --pidns=MODE  auto (default): restore the pid in the current pid namespace\n"
"                  when it is free and we are root, else in a new pid namespace\n"
"                  (plus a user namespace when not root) where the program\n"
"                  sees its old pid and tids; always; never (fail instead)\n"
"    -v, --verbose log each step (same as CKPT_LOG=debug)\n"
"    -h, --help    show this help\n"
"\n"
"ENVIRONMENT\n"
"    CKPT_LOG      error, warn, info or debug\n"
"\n"
"EXIT STATUS\n"
"    Before the program runs again:\n"
"     1  a system call failed          8  a checksum does not match\n"
"     2  bad command line              9  a size, offset or count is invalid\n"
"     3  image missing or unreadable  10  a binary or mapped file changed or vanished\n"
"     4  not a ckpt image             11  cannot restore here (pid in use, other\n"
"     5  newer image format version       kernel or CPU, permission)\n"
"     6  other architecture\n"
"     7  image truncated\n"
"    After that, the program's own exit status.\n"
"\n"
"EXAMPLES\n"
"    ckpt-restore ckpt_app_1234_1.img\n"
"    ckpt-info ckpt_app_1234_1.img\n";

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-verify", no_argument, NULL, 'n' },
		{ "eager", no_argument, NULL, 'e' },
		{ "pidns", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct rst_opts opts = { .verify = 1, .start_ns = mono_ns() };
	struct ckpt_image img;
	struct rst_chain chain;
	struct rst_ctx *x;
	char err[512];
	int c, ret, status_fd, exit_code;

	ckpt_log_init("ckpt-restore");
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			opts.verify = 0;
			break;
		case 'e':
			opts.eager = 1;
			break;
		case 'p':
			if (!strcmp(optarg, "auto"))
				opts.pidns = RST_PIDNS_AUTO;
			else if (!strcmp(optarg, "always"))
				opts.pidns = RST_PIDNS_ALWAYS;
			else if (!strcmp(optarg, "never"))
				opts.pidns = RST_PIDNS_NEVER;
			else
				goto bad_usage;
			break;
		case 'v':
			ckpt_log_level = CKPT_LOG_DEBUG;
			break;
		case 'h':
			fputs(usage, stdout);
			return CKPT_EXIT_OK;
		default:
			goto bad_usage;
		}
	}
	if (optind != argc - 1)
		goto bad_usage;
	opts.log_level = ckpt_log_level;
	ret = ckpt_image_open(argv[optind], &img, err, sizeof(err));
	if (!ret)
		ret = rst_chain_load(&img, argv[optind], &chain, opts.verify, err, sizeof(err));
	if (!ret)
		ret = rst_check(&img, err, sizeof(err));
	if (ret) {
		pr_err("%s: %s", argv[optind], err);
		return ret;
	}
	pr_debug("image %s: pid %d, %u threads, %u regions, %u runs", argv[optind],
		 img.proc->pid, img.nr_threads, img.nr_regions, img.nr_runs);
	if (img.nr_tree)
		return rst_tree_restore(&img, &chain, argv[optind], &opts);
	if (img.hdr.flags & CKPT_HDR_TREE_MEMBER)
		pr_warn("%s: pid %d was checkpointed as part of a process tree; it is restored "
			"alone, without its parent, children and what it shared with them "
			"(restore the root's image for the whole tree)", argv[optind], img.proc->pid);
	if (rst_spawn(&img, &opts, &status_fd, &exit_code))
		return exit_code;

	/* the child: becomes the restored process */
	x = calloc(1, sizeof(*x));
	if (!x)
		_exit(CKPT_EXIT_FAIL);
	x->img = &img;
	x->chain = &chain;
	x->opts = &opts;
	x->status_fd = status_fd;
	x->exe_fd = -1;
	ret = rst_stage1(x);
	pr_err("%s: %s", argv[optind], x->err[0] ? x->err : "restore failed");
	_exit(ret ? ret : CKPT_EXIT_FAIL);

bad_usage:
	fprintf(stderr, "usage: ckpt-restore [--no-verify] [--pidns=auto|always|never] [-v] IMAGE "
		"(see --help)\n");
	return CKPT_EXIT_USAGE;
}
