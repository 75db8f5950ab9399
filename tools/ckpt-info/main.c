/* SPDX-License-Identifier: MIT */
/* ckpt-info: shows what a checkpoint image holds. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "ckpt-info.h"
#include "ckpt/exitcodes.h"

static const char help_text[] =
"NAME\n"
"    ckpt-info - show the contents of a ckpt checkpoint image\n"
"\n"
"SYNOPSIS\n"
"    ckpt-info [--json] [--no-backtrace] [--verify] IMAGE\n"
"    ckpt-info --help\n"
"\n"
"DESCRIPTION\n"
"    Opens IMAGE, validates its header, section table and metadata (sizes,\n"
"    offsets, references and checksums) and prints what it holds: the header\n"
"    (format version, pid, command, checkpoint number, creation time, how long\n"
"    the application was paused), the process state (ids, executable, working\n"
"    directory, resource limits, signal handlers, interval timers, pending\n"
"    signals), the memory regions with the bytes stored for each, the threads\n"
"    with their registers and a backtrace, the open file descriptors, the POSIX\n"
"    timers and the plugin sections.\n"
"\n"
"    Backtraces are unwound from each thread's saved registers over the memory\n"
"    in the image; code and unwind tables are read from the mapped files, which\n"
"    must still exist unchanged. Frames are named function+offset (file), or\n"
"    (file+offset) without a symbol, or ?? outside any mapped file.\n"
"\n"
"    Page data is not read unless --verify is given.\n"
"\n"
"OPTIONS\n"
"    --json          Print one JSON object instead of text. Addresses, masks\n"
"                    and flags are strings in hexadecimal (\"0x...\").\n"
"    --no-backtrace  Do not unwind the threads' stacks.\n"
"    --verify        Also read every page run and check its checksum; prints\n"
"                    OK or the first error, and exits with its code.\n"
"    -h, --help      Show this help.\n"
"\n"
"EXIT STATUS\n"
"    0   the image is valid (and with --verify, its page data too)\n"
"    1   a system call failed\n"
"    2   bad command line\n"
"    3   the image is missing or unreadable\n"
"    4   not a ckpt image (bad magic)\n"
"    5   the image has a newer or unknown format version\n"
"    6   the image is for another architecture or page size\n"
"    7   the image is shorter than its header says\n"
"    8   a checksum does not match\n"
"    9   a size, offset or count in the image is out of range\n"
"\n"
"EXAMPLES\n"
"    ckpt-info /var/tmp/app.ckpt\n"
"    ckpt-info --verify --no-backtrace app.ckpt\n"
"    ckpt-info --json app.ckpt | python3 -m json.tool\n";

enum { OPT_JSON = 256, OPT_NO_BACKTRACE, OPT_VERIFY };

static const struct option long_opts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "no-backtrace", no_argument, NULL, OPT_NO_BACKTRACE },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int usage_error(const char *msg)
{
	if (msg)
		fprintf(stderr, "ckpt-info: %s\n", msg);
	fprintf(stderr, "Usage: ckpt-info [--json] [--no-backtrace] [--verify] IMAGE\n"
		"Try 'ckpt-info --help' for more information.\n");
	return CKPT_EXIT_USAGE;
}

static int report(struct info *in, int json)
{
	if (in->verify)
		in->verify_code = ckpt_image_verify_pages(in->img, 0, in->verify_err,
							  sizeof(in->verify_err));
	if (json)
		print_json(in, stdout);
	else
		print_text(in, stdout);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "ckpt-info: cannot write the report\n");
		return CKPT_EXIT_FAIL;
	}
	if (in->verify_code)
		fprintf(stderr, "ckpt-info: %s\n", in->verify_err);
	return in->verify_code;
}

int main(int argc, char **argv)
{
	struct info in = { .backtrace = 1 };
	struct ckpt_image img;
	char err[256];
	int json = 0, opt, ret;

	while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			json = 1;
			break;
		case OPT_NO_BACKTRACE:
			in.backtrace = 0;
			break;
		case OPT_VERIFY:
			in.verify = 1;
			break;
		case 'h':
			fputs(help_text, stdout);
			return CKPT_EXIT_OK;
		default:
			return usage_error(NULL);
		}
	}
	if (optind != argc - 1)
		return usage_error(optind == argc ? "no image given" : "more than one image given");

	in.path = argv[optind];
	ret = ckpt_image_open(in.path, &img, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "ckpt-info: %s\n", err);
		ckpt_image_close(&img);
		return ret;
	}
	in.img = &img;
	ret = report(&in, json);
	backtrace_done(&in);
	mapped_files_close(&in);
	ckpt_image_close(&img);
	return ret;
}
