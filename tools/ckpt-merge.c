/* SPDX-License-Identifier: MIT */
/* ckpt-merge IMAGE OUTPUT: flatten a chain of incremental images into one full image. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/exitcodes.h"
#include "image_read.h"
#include "image_write.h"
#include "restore.h"

static const char usage[] =
"NAME\n"
"    ckpt-merge - flatten a chain of incremental images into one image\n"
"\n"
"SYNOPSIS\n"
"    ckpt-merge [--no-verify] IMAGE OUTPUT\n"
"\n"
"DESCRIPTION\n"
"    IMAGE may be incremental (written with ckpt-run --incremental): its\n"
"    parents are found in its directory, checked, and every page is taken\n"
"    from the newest image that holds it. OUTPUT is a full image that\n"
"    restores exactly like IMAGE and needs no other file. It is written\n"
"    under a temporary name, synced and renamed, mode 0600.\n"
"\n"
"OPTIONS\n"
"    --no-verify   do not check the page checksums of the chain first\n"
"    -h, --help    show this help\n"
"\n"
"EXIT STATUS\n"
"    0 on success; otherwise the image error codes of ckpt-restore (3 missing,\n"
"    4 foreign, 5 version, 6 architecture, 7 truncated, 8 corrupt, 9 invalid,\n"
"    10 a parent is not the file the image was made from), 1 if writing failed,\n"
"    2 for a bad command line.\n"
"\n"
"EXAMPLES\n"
"    ckpt-merge ckpt_app_1234_7.img app-full.img\n";

static int copy_runs(const struct rst_chain *ch, struct ckpt_writer *w, struct ckpt_region *regs,
		     struct ckpt_run *runs, char *err, size_t len)
{
	const struct ckpt_image *img = ch->imgs[0];
	uint32_t n = 0;

	for (uint32_t i = 0; i < img->nr_regions; i++) {
		regs[i] = img->regions[i];
		regs[i].first_run = n;
		regs[i].nr_runs = ch->count[i];
		regs[i].bytes_stored = 0;
		for (uint32_t j = 0; j < ch->count[i]; j++, n++) {
			const struct rst_run *r = &ch->runs[ch->first[i] + j];
			size_t bytes = r->npages * CKPT_PAGE_SIZE;
			void *buf = malloc(bytes);
			int ret;

			if (!buf) {
				snprintf(err, len, "out of memory");
				return CKPT_EXIT_FAIL;
			}
			ret = rst_chain_read(ch, r, buf, err, len);
			if (!ret && ckpt_writer_pages(w, buf, r->npages, &runs[n])) {
				snprintf(err, len, "writing: %s", strerror(errno));
				ret = CKPT_EXIT_FAIL;
			}
			free(buf);
			if (ret)
				return ret;
			runs[n].vaddr = r->vaddr;
			regs[i].bytes_stored += bytes;
		}
	}
	return CKPT_EXIT_OK;
}

/* Every section but the ones that describe pages, as the image has them. */
static int copy_sections(const struct ckpt_image *img, struct ckpt_writer *w)
{
	static const int skip[] = { CKPT_SEC_REGIONS, CKPT_SEC_RUNS, CKPT_SEC_PARENT,
				    CKPT_SEC_INHERIT, CKPT_SEC_PAGES, CKPT_SEC_PLUGIN };
	int ret = 0;

	for (int t = 1; t < CKPT_SEC_MAX && !ret; t++) {
		int skipped = 0;

		for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
			skipped |= skip[i] == t;
		if (!skipped && img->meta[t])
			ret = ckpt_writer_section(w, t, img->meta[t], img->meta_size[t]);
	}
	for (uint32_t i = 0; i < img->nr_plugins && !ret; i++)
		ret = ckpt_writer_section2(w, CKPT_SEC_PLUGIN, img->plugins[i].hdr,
					   sizeof(*img->plugins[i].hdr), img->plugins[i].data,
					   img->plugins[i].hdr->size);
	return ret;
}

static int merge(const char *in, const char *out, int verify)
{
	struct ckpt_image img;
	struct rst_chain ch;
	struct ckpt_writer w;
	struct ckpt_header hdr;
	struct ckpt_region *regs;
	struct ckpt_run *runs;
	char err[512] = "", *dircopy = strdup(out), *namecopy = strdup(out);
	int ret, dir;

	ret = ckpt_image_open(in, &img, err, sizeof(err));
	if (!ret)
		ret = rst_chain_load(&img, in, &ch, verify, err, sizeof(err));
	if (ret)
		goto out;
	dir = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	regs = calloc(img.nr_regions + 1, sizeof(*regs));
	runs = calloc(ch.nr_runs + 1, sizeof(*runs));
	if (dir < 0 || !regs || !runs ||
	    ckpt_writer_open(&w, dir, basename(namecopy), 1)) {
		snprintf(err, sizeof(err), "cannot create %s: %s", out, strerror(errno));
		ret = CKPT_EXIT_FAIL;
		goto out;
	}
	ret = copy_runs(&ch, &w, regs, runs, err, sizeof(err));
	if (!ret && (ckpt_writer_end_pages(&w) ||
		     ckpt_writer_section(&w, CKPT_SEC_REGIONS, regs, img.nr_regions * sizeof(*regs)) ||
		     ckpt_writer_section(&w, CKPT_SEC_RUNS, runs, ch.nr_runs * sizeof(*runs)) ||
		     copy_sections(&img, &w))) {
		snprintf(err, sizeof(err), "writing %s: %s", out, strerror(errno));
		ret = CKPT_EXIT_FAIL;
	}
	if (ret) {
		ckpt_writer_abort(&w);
		goto out;
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.created_ns = img.hdr.created_ns;
	hdr.pause_ns = img.hdr.pause_ns;
	hdr.pid = img.hdr.pid;
	hdr.seq = img.hdr.seq;
	memcpy(hdr.comm, img.hdr.comm, sizeof(hdr.comm));
	if (ckpt_writer_finish(&w, &hdr)) {
		snprintf(err, sizeof(err), "finishing %s: %s", out, strerror(errno));
		ret = CKPT_EXIT_FAIL;
	}
out:
	if (ret)
		fprintf(stderr, "ckpt-merge: error: %s\n", err);
	free(dircopy);
	free(namecopy);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-verify", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, verify = 1;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': verify = 0; break;
		case 'h': fputs(usage, stdout); return CKPT_EXIT_OK;
		default: goto bad;
		}
	}
	if (optind + 2 != argc)
		goto bad;
	return merge(argv[optind], argv[optind + 1], verify);
bad:
	fprintf(stderr, "usage: ckpt-merge [--no-verify] IMAGE OUTPUT (see --help)\n");
	return CKPT_EXIT_USAGE;
}
