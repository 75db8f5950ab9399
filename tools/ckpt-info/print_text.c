/* SPDX-License-Identifier: MIT */
/* The human-readable report. */
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/ucontext.h>

#include "ckpt-info.h"

/*
 * Strings come from the image: control characters (C0, DEL and C1, which
 * some terminals take as escape sequences) and invalid UTF-8 become \xNN.
 */
static void put_str(FILE *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < max && p[i]) {
		size_t n = p[i] < 0x80 ? 1 : utf8_len(p + i, max - i);

		if (p[i] < 0x20 || p[i] == 0x7f || !n || (p[i] == 0xc2 && p[i + 1] < 0xa0)) {
			fprintf(out, "\\x%02x", p[i]);
			n = 1;
		} else {
			fwrite(p + i, 1, n, out);
		}
		i += n;
	}
}

static void put_line(FILE *out, const char *label, const char *s, size_t max)
{
	fprintf(out, "  %-11s ", label);
	put_str(out, s, max);
	fputc('\n', out);
}

static void print_storage(struct info *in, FILE *out)
{
	const struct ckpt_image *img = in->img;
	struct image_summary s;

	image_summary(img, &s);
	if (img->parent) {
		fprintf(out, "  %-11s incremental, depth %u, parent ", "chain", img->parent->depth);
		put_str(out, img->parent->name, sizeof(img->parent->name));
		fprintf(out, " (%llu MiB inherited)\n", (unsigned long long)(s.inherited_bytes >> 20));
	}
	if (img->nr_pagehash)
		fprintf(out, "  %-11s %u pages hashed for the next increment\n", "hashes",
			img->nr_pagehash);
	if (s.zstd_runs)
		fprintf(out, "  %-11s zstd, %u of %u runs, %llu bytes stored for %llu bytes of pages\n",
			"compressed", s.zstd_runs, img->nr_runs, (unsigned long long)s.file_bytes,
			(unsigned long long)image_stored_bytes(img));
}

/* A tree's root lists the other processes; a member says where its relations are. */
static void print_tree(struct info *in, FILE *out)
{
	const struct ckpt_image *img = in->img;

	if (img->hdr.flags & CKPT_HDR_TREE_MEMBER)
		fprintf(out, "  %-11s member of a process tree: restoring the root's image restores "
			"the whole tree\n", "tree");
	for (uint32_t i = 0; i < img->nr_tree; i++) {
		const struct ckpt_tree_proc *t = &img->tree[i];
		int st = t->wait_status;
		char sig[24];

		fprintf(out, "  %-11s pid %d ppid %d pgid %d sid %d ", "tree", t->pid, t->ppid,
			t->pgid, t->sid);
		if (t->state == CKPT_TREE_LIVE) {
			fprintf(out, "live, image ");
			put_str(out, t->image, sizeof(t->image));
		} else if ((st & 0x7f) == 0) {
			fprintf(out, "zombie, exited %d", (st >> 8) & 0xff);
		} else {
			fprintf(out, "zombie, killed by %s", sig_name(st & 0x7f, sig, sizeof(sig)));
		}
		fputc('\n', out);
	}
}

static void print_header(struct info *in, FILE *out)
{
	const struct ckpt_header *h = &in->img->hdr;
	char size[16], created[40];

	human_size(in->img->size, size, sizeof(size));
	iso_time(h->created_ns, created, sizeof(created));
	fprintf(out, "Image ");
	put_str(out, in->path, SIZE_MAX);
	fprintf(out, "\n  %-11s version %u, x86_64, page size %u, %llu bytes (%s)\n", "format",
		h->version, h->page_size, (unsigned long long)in->img->size, size);
	fprintf(out, "  %-11s pid %d (", "process", h->pid);
	put_str(out, h->comm, sizeof(h->comm));
	fprintf(out, "), checkpoint %u\n", h->seq);
	fprintf(out, "  %-11s %s\n", "created", created);
	fprintf(out, "  %-11s %.3f ms\n", "paused", h->pause_ns / 1e6);
	print_tree(in, out);
	print_storage(in, out);
}

static void print_rlimits(const struct ckpt_proc *p, FILE *out)
{
	for (int i = 0; i < CKPT_NR_RLIMITS; i++) {
		if (p->rlim[i].cur == RLIM64_INFINITY && p->rlim[i].max == RLIM64_INFINITY)
			continue;
		fprintf(out, "  %-11s %-11s", "rlimit", rlimit_name(i));
		if (p->rlim[i].cur == RLIM64_INFINITY)
			fprintf(out, " cur unlimited");
		else
			fprintf(out, " cur %llu", (unsigned long long)p->rlim[i].cur);
		if (p->rlim[i].max == RLIM64_INFINITY)
			fprintf(out, " max unlimited\n");
		else
			fprintf(out, " max %llu\n", (unsigned long long)p->rlim[i].max);
	}
}

static void print_frame_name(const struct frame *fr, FILE *out)
{
	if (fr->sym) {
		put_str(out, fr->sym, SIZE_MAX);
		fprintf(out, "+0x%llx (", (unsigned long long)fr->sym_off);
		put_str(out, base_name(fr->file), SIZE_MAX);
		fputc(')', out);
	} else if (fr->file) {
		fputc('(', out);
		put_str(out, base_name(fr->file), SIZE_MAX);
		if (fr->has_file_off)
			fprintf(out, "+0x%llx", (unsigned long long)fr->file_off);
		fprintf(out, fr->file_gone ? ", file missing or changed)" : ")");
	} else {
		fprintf(out, "??");
	}
}

static void print_sigactions(struct info *in, FILE *out)
{
	const struct ckpt_proc *p = in->img->proc;

	for (int i = 0; i < CKPT_NR_SIGNALS; i++) {
		const struct ckpt_ksigaction *sa = &p->sigact[i];
		char name[24], flags[128], mask[512];
		struct frame fr;

		if (sa->handler == (uintptr_t)SIG_DFL)
			continue;
		fprintf(out, "  %-11s %-11s ", "sigaction", sig_name(i + 1, name, sizeof(name)));
		if (sa->handler == (uintptr_t)SIG_IGN) {
			fprintf(out, "ignored");
		} else {
			symbolize(in, sa->handler, sa->handler, &fr);
			fprintf(out, "handler 0x%llx ", (unsigned long long)sa->handler);
			print_frame_name(&fr, out);
		}
		sa_flags_str(sa->flags, flags, sizeof(flags));
		sigset_brief(sa->mask, mask, sizeof(mask));
		fprintf(out, " flags %s mask %s\n", flags[0] ? flags : "0", mask);
	}
}

static void print_itimers(const struct ckpt_proc *p, FILE *out)
{
	for (int i = 0; i < 3; i++) {
		const struct ckpt_itimer *it = &p->itimer[i];

		if (!it->value_sec && !it->value_usec)
			continue;
		fprintf(out, "  %-11s %-11s value %lld.%06llds interval %lld.%06llds\n", "itimer",
			itimer_name(i), (long long)it->value_sec, (long long)it->value_usec,
			(long long)it->interval_sec, (long long)it->interval_usec);
	}
}

static void print_proc(struct info *in, FILE *out)
{
	const struct ckpt_proc *p = in->img->proc;
	char pending[512];

	fprintf(out, "\nProcess\n");
	fprintf(out, "  %-11s pid %d ppid %d pgid %d sid %d\n", "ids", p->pid, p->ppid, p->pgid,
		p->sid);
	fprintf(out, "  %-11s uid %u gid %u euid %u egid %u\n", "users", p->uid, p->gid,
		p->euid, p->egid);
	put_line(out, "comm", p->comm, sizeof(p->comm));
	put_line(out, "exe", ckpt_image_str(in->img, p->exe_str), SIZE_MAX);
	put_line(out, "cwd", ckpt_image_str(in->img, p->cwd_str), SIZE_MAX);
	fprintf(out, "  %-11s %04o\n", "umask", p->umask);
	fprintf(out, "  %-11s 0x%llx-0x%llx\n", "brk", (unsigned long long)p->start_brk,
		(unsigned long long)p->brk);
	fprintf(out, "  %-11s 0x%llx-0x%llx\n", "args", (unsigned long long)p->arg_start,
		(unsigned long long)p->arg_end);
	fprintf(out, "  %-11s 0x%llx-0x%llx\n", "environ", (unsigned long long)p->env_start,
		(unsigned long long)p->env_end);
	fprintf(out, "  %-11s 0x%x\n", "personality", p->personality);
	fprintf(out, "  %-11s %u\n", "threads", p->nr_threads);
	print_rlimits(p, out);
	print_sigactions(in, out);
	print_itimers(p, out);
	if (p->shared_pending) {
		sigset_brief(p->shared_pending, pending, sizeof(pending));
		put_line(out, "pending", pending, SIZE_MAX);
	}
}

static void print_regions(struct info *in, FILE *out)
{
	const struct ckpt_image *img = in->img;

	fprintf(out, "\nRegions (%u)\n", img->nr_regions);
	fprintf(out, "  %-25s %6s %-4s %-11s %6s %7s  %s\n", "ADDRESS", "SIZE", "PROT", "KIND",
		"STORED", "PRESENT", "NAME");
	for (uint32_t i = 0; i < img->nr_regions; i++) {
		const struct ckpt_region *r = &img->regions[i];
		char size[16], stored[16], present[16], prot[5];

		human_size(r->end - r->start, size, sizeof(size));
		human_size(r->bytes_stored, stored, sizeof(stored));
		human_size(r->bytes_present, present, sizeof(present));
		prot_str(r, prot);
		fprintf(out, "  %012llx-%012llx %6s %-4s %-11s %6s %7s  ",
			(unsigned long long)r->start, (unsigned long long)r->end, size, prot,
			ckpt_region_kind_name(r->kind), stored, present);
		put_str(out, ckpt_image_str(img, r->name_str), SIZE_MAX);
		fputc('\n', out);
	}
}

static void print_backtrace(struct info *in, const struct ckpt_thread *t, FILE *out)
{
	struct frame frames[MAX_FRAMES];
	int n = backtrace_thread(in, t, frames, MAX_FRAMES);

	if (n < 0) {
		fprintf(out, "    backtrace unavailable (built without libunwind)\n");
		return;
	}
	if (!n)
		fprintf(out, "    no frames\n");
	for (int i = 0; i < n; i++) {
		fprintf(out, "    #%-2d 0x%016llx  ", i, (unsigned long long)frames[i].ip);
		print_frame_name(&frames[i], out);
		fputc('\n', out);
	}
}

static void print_threads(struct info *in, FILE *out)
{
	const struct ckpt_image *img = in->img;

	fprintf(out, "\nThreads (%u)\n", img->nr_threads);
	for (uint32_t i = 0; i < img->nr_threads; i++) {
		const struct ckpt_thread *t = &img->threads[i];
		char flags[64], pending[512];

		thread_flags_str(t->flags, flags, sizeof(flags));
		fprintf(out, "  tid %d%s%s%s ", t->tid, flags[0] ? " [" : "", flags,
			flags[0] ? "]" : "");
		put_str(out, t->comm, sizeof(t->comm));
		fprintf(out, "\n    rip 0x%llx  rsp 0x%llx  fs_base 0x%llx\n",
			(unsigned long long)t->gregs[REG_RIP], (unsigned long long)t->gregs[REG_RSP],
			(unsigned long long)t->fs_base);
		fprintf(out, "    sigmask 0x%016llx\n", (unsigned long long)t->sigmask);
		if (t->pending) {
			sigset_brief(t->pending, pending, sizeof(pending));
			fprintf(out, "    pending %s\n", pending);
		}
		if (in->backtrace)
			print_backtrace(in, t, out);
	}
}

static void print_watches(const struct ckpt_image *img, const struct ckpt_fd *f, FILE *out)
{
	const struct ckpt_fd_inotify *in = ckpt_image_fd_data(img, f);
	const struct ckpt_inotify_watch *w = (const void *)(in + 1);

	for (uint32_t i = 0; in && i < in->nr; i++) {
		fprintf(out, "          watch %d mask %#x ", w[i].wd, w[i].mask);
		put_str(out, ckpt_image_str(img, w[i].path_str), SIZE_MAX);
		fputc('\n', out);
	}
}

static void print_fds(struct info *in, FILE *out)
{
	const struct ckpt_image *img = in->img;

	fprintf(out, "\nFile descriptors (%u)\n", img->nr_fds);
	fprintf(out, "  %5s %-8s %-20s %12s  %s\n", "FD", "KIND", "FLAGS", "OFFSET", "PATH");
	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct ckpt_fd *f = &img->fds[i];
		char flags[128], state[1024];

		open_flags_str(f->flags, f->fdflags, flags, sizeof(flags));
		fd_state_str(img, f, state, sizeof(state));
		fprintf(out, "  %5d %-8s %-20s %12lld  ", f->fd, ckpt_fd_kind_name(f->kind), flags,
			(long long)f->pos);
		put_str(out, ckpt_image_str(img, f->path_str), SIZE_MAX);
		if (state[0])
			fprintf(out, "  (%s)", state);
		fputc('\n', out);
		if (f->kind == CKPT_FD_INOTIFY && !(f->xflags & CKPT_FDX_DUP))
			print_watches(img, f, out);
	}
}

static void print_timers(struct info *in, FILE *out)
{
	const struct ckpt_image *img = in->img;

	fprintf(out, "\nTimers (%u)\n", img->nr_timers);
	for (uint32_t i = 0; i < img->nr_timers; i++) {
		const struct ckpt_timer *t = &img->timers[i];
		char sig[24];

		fprintf(out, "  id %d clock %s notify %s", t->id, clock_name(t->clockid),
			notify_name(t->notify));
		if (t->notify != SIGEV_NONE)
			fprintf(out, " %s", sig_name(t->signo, sig, sizeof(sig)));
		if (t->notify == SIGEV_THREAD_ID)
			fprintf(out, " tid %d", t->target_tid);
		fprintf(out, " value %lld.%09llds interval %lld.%09llds\n", (long long)t->value_sec,
			(long long)t->value_nsec, (long long)t->interval_sec,
			(long long)t->interval_nsec);
	}
}

static void print_plugins(struct info *in, FILE *out)
{
	const struct ckpt_image *img = in->img;

	fprintf(out, "\nPlugins (%u)\n", img->nr_plugins);
	for (uint32_t i = 0; i < img->nr_plugins; i++) {
		const struct ckpt_plugin_hdr *ph = img->plugins[i].hdr;

		fprintf(out, "  ");
		put_str(out, ph->name, sizeof(ph->name));
		fprintf(out, " version %u, %llu bytes\n", ph->version, (unsigned long long)ph->size);
	}
}

static void print_totals(struct info *in, FILE *out)
{
	uint64_t stored = image_stored_bytes(in->img);
	char hstored[16], hsize[16];

	human_size(stored, hstored, sizeof(hstored));
	human_size(in->img->size, hsize, sizeof(hsize));
	fprintf(out, "\nTotal: %u regions, %llu bytes stored (%s) in %u runs, file %llu bytes (%s)\n",
		in->img->nr_regions, (unsigned long long)stored, hstored, in->img->nr_runs,
		(unsigned long long)in->img->size, hsize);
}

void print_text(struct info *in, FILE *out)
{
	print_header(in, out);
	print_proc(in, out);
	print_regions(in, out);
	print_threads(in, out);
	print_fds(in, out);
	print_timers(in, out);
	print_plugins(in, out);
	print_totals(in, out);
	if (!in->verify)
		return;
	if (in->verify_code)
		fprintf(out, "Verify: FAILED (exit %d): %s\n", in->verify_code, in->verify_err);
	else
		fprintf(out, "Verify: OK, %u page runs checked\n", in->img->nr_runs);
}
