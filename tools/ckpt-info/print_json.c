/* SPDX-License-Identifier: MIT */
/*
 * The report as one JSON object. Addresses, masks and flags are strings
 * ("0x..."): 64-bit values do not survive JSON parsers that use doubles.
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/ucontext.h>

#include "ckpt-info.h"

struct json {
	FILE *out;
	int depth;
	unsigned count[8];		/* members written so far at each depth */
};

/* Invalid UTF-8 bytes (paths need not be UTF-8) become \u00XX. */
static void put_escaped(FILE *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	fputc('"', out);
	while (i < max && p[i]) {
		size_t n = p[i] < 0x80 ? 1 : utf8_len(p + i, max - i);

		if (p[i] == '"' || p[i] == '\\')
			fprintf(out, "\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] == 0x7f || !n)
			fprintf(out, "\\u%04x", p[i]);
		else
			fwrite(p + i, 1, n, out);
		i += n ? n : 1;
	}
	fputc('"', out);
}

static void j_member(struct json *j, const char *key)
{
	if (j->count[j->depth]++)
		fputc(',', j->out);
	if (j->depth)
		fprintf(j->out, "\n%*s", 2 * j->depth, "");
	if (key) {
		put_escaped(j->out, key, SIZE_MAX);
		fputs(": ", j->out);
	}
}

static void j_open(struct json *j, const char *key, char bracket)
{
	j_member(j, key);
	fputc(bracket, j->out);
	j->count[++j->depth] = 0;
}

static void j_close(struct json *j, char bracket)
{
	if (j->count[j->depth])
		fprintf(j->out, "\n%*s", 2 * (j->depth - 1), "");
	j->depth--;
	fputc(bracket, j->out);
}

static void j_str(struct json *j, const char *key, const char *s, size_t max)
{
	j_member(j, key);
	if (s)
		put_escaped(j->out, s, max);
	else
		fputs("null", j->out);
}

static void j_u64(struct json *j, const char *key, uint64_t v)
{
	j_member(j, key);
	fprintf(j->out, "%llu", (unsigned long long)v);
}

static void j_i64(struct json *j, const char *key, int64_t v)
{
	j_member(j, key);
	fprintf(j->out, "%lld", (long long)v);
}

static void j_hex(struct json *j, const char *key, uint64_t v)
{
	j_member(j, key);
	fprintf(j->out, "\"0x%llx\"", (unsigned long long)v);
}

static void j_bool(struct json *j, const char *key, int v)
{
	j_member(j, key);
	fputs(v ? "true" : "false", j->out);
}

static void j_sigset(struct json *j, const char *key, uint64_t set)
{
	char names[512];

	j_open(j, key, '[');
	for (int signo = 1; signo <= CKPT_NR_SIGNALS; signo++)
		if (set & (1ull << (signo - 1)))
			j_str(j, NULL, sig_name(signo, names, sizeof(names)), SIZE_MAX);
	j_close(j, ']');
}

static void json_storage(struct info *in, struct json *j)
{
	const struct ckpt_image *img = in->img;
	struct image_summary s;

	image_summary(img, &s);
	if (img->parent) {
		j_open(j, "parent", '{');
		j_str(j, "name", img->parent->name, sizeof(img->parent->name));
		j_u64(j, "depth", img->parent->depth);
		j_hex(j, "header_hash", img->parent->header_hash);
		j_u64(j, "inherited_bytes", s.inherited_bytes);
		j_close(j, '}');
	}
	j_u64(j, "page_hashes", img->nr_pagehash);
	j_u64(j, "zstd_runs", s.zstd_runs);
	j_u64(j, "page_data_file_bytes", s.file_bytes);
}

static void json_tree(struct info *in, struct json *j)
{
	const struct ckpt_image *img = in->img;

	j_bool(j, "tree_member", !!(img->hdr.flags & CKPT_HDR_TREE_MEMBER));
	j_open(j, "tree", '[');
	for (uint32_t i = 0; i < img->nr_tree; i++) {
		const struct ckpt_tree_proc *t = &img->tree[i];

		j_open(j, NULL, '{');
		j_i64(j, "pid", t->pid);
		j_i64(j, "ppid", t->ppid);
		j_i64(j, "pgid", t->pgid);
		j_i64(j, "sid", t->sid);
		j_str(j, "state", t->state == CKPT_TREE_LIVE ? "live" : "zombie", SIZE_MAX);
		if (t->state == CKPT_TREE_LIVE) {
			j_str(j, "image", t->image, sizeof(t->image));
			j_hex(j, "header_hash", t->header_hash);
		} else {
			j_i64(j, "wait_status", t->wait_status);
		}
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_image(struct info *in, struct json *j)
{
	const struct ckpt_header *h = &in->img->hdr;
	char created[40];

	iso_time(h->created_ns, created, sizeof(created));
	j_open(j, "image", '{');
	j_str(j, "path", in->path, SIZE_MAX);
	j_u64(j, "file_size", in->img->size);
	j_u64(j, "version", h->version);
	j_str(j, "arch", "x86_64", SIZE_MAX);
	j_u64(j, "page_size", h->page_size);
	j_i64(j, "pid", h->pid);
	j_str(j, "comm", h->comm, sizeof(h->comm));
	j_u64(j, "seq", h->seq);
	j_str(j, "created", created, SIZE_MAX);
	j_u64(j, "created_ns", h->created_ns);
	j_u64(j, "pause_ns", h->pause_ns);
	json_tree(in, j);
	json_storage(in, j);
	j_close(j, '}');
}

static void json_limit(struct json *j, const char *key, uint64_t v)
{
	if (v == RLIM64_INFINITY)
		j_str(j, key, NULL, 0);
	else
		j_u64(j, key, v);
}

static void json_rlimits(const struct ckpt_proc *p, struct json *j)
{
	j_open(j, "rlimits", '[');
	for (int i = 0; i < CKPT_NR_RLIMITS; i++) {
		if (p->rlim[i].cur == RLIM64_INFINITY && p->rlim[i].max == RLIM64_INFINITY)
			continue;
		j_open(j, NULL, '{');
		j_str(j, "resource", rlimit_name(i), SIZE_MAX);
		json_limit(j, "cur", p->rlim[i].cur);
		json_limit(j, "max", p->rlim[i].max);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_frame(struct json *j, const struct frame *fr)
{
	j_open(j, NULL, '{');
	j_hex(j, "ip", fr->ip);
	j_str(j, "function", fr->sym, SIZE_MAX);
	if (fr->sym)
		j_u64(j, "offset", fr->sym_off);
	j_str(j, "file", fr->file, SIZE_MAX);
	if (fr->file)
		j_bool(j, "file_missing", fr->file_gone);
	if (fr->has_file_off)
		j_hex(j, "file_offset", fr->file_off);
	j_close(j, '}');
}

static void json_sigactions(struct info *in, struct json *j)
{
	const struct ckpt_proc *p = in->img->proc;

	j_open(j, "sigactions", '[');
	for (int i = 0; i < CKPT_NR_SIGNALS; i++) {
		const struct ckpt_ksigaction *sa = &p->sigact[i];
		char name[24], flags[128];
		struct frame fr;

		if (sa->handler == (uintptr_t)SIG_DFL)
			continue;
		sa_flags_str(sa->flags, flags, sizeof(flags));
		j_open(j, NULL, '{');
		j_u64(j, "signo", i + 1);
		j_str(j, "name", sig_name(i + 1, name, sizeof(name)), SIZE_MAX);
		if (sa->handler == (uintptr_t)SIG_IGN) {
			j_str(j, "handler", "ignored", SIZE_MAX);
		} else {
			symbolize(in, sa->handler, sa->handler, &fr);
			j_hex(j, "handler", sa->handler);
			j_str(j, "function", fr.sym, SIZE_MAX);
		}
		j_hex(j, "flags", sa->flags);
		j_str(j, "flag_names", flags, SIZE_MAX);
		j_sigset(j, "mask", sa->mask);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_itimers(const struct ckpt_proc *p, struct json *j)
{
	j_open(j, "itimers", '[');
	for (int i = 0; i < 3; i++) {
		const struct ckpt_itimer *it = &p->itimer[i];

		if (!it->value_sec && !it->value_usec)
			continue;
		j_open(j, NULL, '{');
		j_str(j, "which", itimer_name(i), SIZE_MAX);
		j_i64(j, "value_sec", it->value_sec);
		j_i64(j, "value_usec", it->value_usec);
		j_i64(j, "interval_sec", it->interval_sec);
		j_i64(j, "interval_usec", it->interval_usec);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_proc(struct info *in, struct json *j)
{
	const struct ckpt_proc *p = in->img->proc;

	j_open(j, "process", '{');
	j_i64(j, "pid", p->pid);
	j_i64(j, "ppid", p->ppid);
	j_i64(j, "pgid", p->pgid);
	j_i64(j, "sid", p->sid);
	j_u64(j, "uid", p->uid);
	j_u64(j, "gid", p->gid);
	j_u64(j, "euid", p->euid);
	j_u64(j, "egid", p->egid);
	j_str(j, "comm", p->comm, sizeof(p->comm));
	j_str(j, "exe", ckpt_image_str(in->img, p->exe_str), SIZE_MAX);
	j_str(j, "cwd", ckpt_image_str(in->img, p->cwd_str), SIZE_MAX);
	j_u64(j, "umask", p->umask);
	j_u64(j, "nr_threads", p->nr_threads);
	j_hex(j, "personality", p->personality);
	j_hex(j, "start_brk", p->start_brk);
	j_hex(j, "brk", p->brk);
	j_hex(j, "arg_start", p->arg_start);
	j_hex(j, "arg_end", p->arg_end);
	j_hex(j, "env_start", p->env_start);
	j_hex(j, "env_end", p->env_end);
	json_rlimits(p, j);
	json_sigactions(in, j);
	json_itimers(p, j);
	j_sigset(j, "pending", p->shared_pending);
	j_close(j, '}');
}

static void json_regions(struct info *in, struct json *j)
{
	const struct ckpt_image *img = in->img;

	j_open(j, "regions", '[');
	for (uint32_t i = 0; i < img->nr_regions; i++) {
		const struct ckpt_region *r = &img->regions[i];
		char prot[5];

		prot_str(r, prot);
		j_open(j, NULL, '{');
		j_hex(j, "start", r->start);
		j_hex(j, "end", r->end);
		j_u64(j, "size", r->end - r->start);
		j_str(j, "prot", prot, SIZE_MAX);
		j_str(j, "kind", ckpt_region_kind_name(r->kind), SIZE_MAX);
		j_hex(j, "flags", r->flags);
		j_u64(j, "pgoff", r->pgoff);
		j_u64(j, "bytes_stored", r->bytes_stored);
		j_u64(j, "bytes_present", r->bytes_present);
		j_u64(j, "runs", r->nr_runs);
		j_str(j, "name", ckpt_image_str(img, r->name_str), SIZE_MAX);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_backtrace(struct info *in, const struct ckpt_thread *t, struct json *j)
{
	struct frame frames[MAX_FRAMES];
	int n = backtrace_thread(in, t, frames, MAX_FRAMES);

	if (n < 0) {
		j_str(j, "backtrace", NULL, 0);
		return;
	}
	j_open(j, "backtrace", '[');
	for (int i = 0; i < n; i++)
		json_frame(j, &frames[i]);
	j_close(j, ']');
}

static void json_threads(struct info *in, struct json *j)
{
	const struct ckpt_image *img = in->img;

	j_open(j, "threads", '[');
	for (uint32_t i = 0; i < img->nr_threads; i++) {
		const struct ckpt_thread *t = &img->threads[i];

		j_open(j, NULL, '{');
		j_i64(j, "tid", t->tid);
		j_bool(j, "leader", t->flags & CKPT_THREAD_LEADER);
		j_bool(j, "coordinator", t->flags & CKPT_THREAD_COORD);
		j_str(j, "comm", t->comm, sizeof(t->comm));
		j_hex(j, "rip", t->gregs[REG_RIP]);
		j_hex(j, "rsp", t->gregs[REG_RSP]);
		j_hex(j, "fs_base", t->fs_base);
		j_hex(j, "sigmask", t->sigmask);
		j_sigset(j, "pending", t->pending);
		if (in->backtrace)
			json_backtrace(in, t, j);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_fd_file(const struct ckpt_fd *f, const struct ckpt_fd_file *h, struct json *j)
{
	j_u64(j, "size", h->size);
	j_hex(j, "seals", h->seals);
	j_u64(j, "extents", h->nr_extents);
	j_u64(j, "bytes_stored",
	      f->data_len - sizeof(*h) - h->nr_extents * sizeof(struct ckpt_fd_extent));
}

static void json_epoll(const struct ckpt_fd_epoll *e, struct json *j)
{
	const struct ckpt_epoll_tfd *t = (const void *)(e + 1);

	j_open(j, "targets", '[');
	for (uint32_t i = 0; i < e->nr; i++) {
		j_open(j, NULL, '{');
		j_i64(j, "fd", t[i].tfd);
		j_hex(j, "events", t[i].events);
		j_hex(j, "data", t[i].data);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_inotify(const struct ckpt_image *img, const struct ckpt_fd_inotify *in,
			 struct json *j)
{
	const struct ckpt_inotify_watch *w = (const void *)(in + 1);

	j_open(j, "watches", '[');
	for (uint32_t i = 0; i < in->nr; i++) {
		j_open(j, NULL, '{');
		j_i64(j, "wd", w[i].wd);
		j_hex(j, "mask", w[i].mask);
		j_str(j, "path", ckpt_image_str(img, w[i].path_str), SIZE_MAX);
		j_u64(j, "dev", w[i].dev);
		j_u64(j, "ino", w[i].ino);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_inet(const struct ckpt_fd *f, const struct ckpt_fd_inet *s, struct json *j)
{
	const struct ckpt_inet_conn *cn = inet_conn(f, s);
	char a[80];

	j_str(j, "protocol", s->protocol == IPPROTO_TCP ? "tcp" : "udp", SIZE_MAX);
	j_str(j, "family", s->family == AF_INET6 ? "ipv6" : "ipv4", SIZE_MAX);
	j_str(j, "state", inet_state_name(s->state), SIZE_MAX);
	if (s->protocol == IPPROTO_TCP)
		j_str(j, "tcp_state", tcp_state_name(s->tcp_state), SIZE_MAX);
	j_hex(j, "options", s->opts);
	inet_addr_str(s, &s->local, a, sizeof(a));
	j_str(j, "local", a, SIZE_MAX);
	if (s->state == CKPT_INET_CONNECTED || s->state == CKPT_INET_RESET || cn) {
		inet_addr_str(s, &s->peer, a, sizeof(a));
		j_str(j, "peer", a, SIZE_MAX);
	}
	if (s->state == CKPT_INET_LISTEN) {
		j_u64(j, "backlog", s->backlog);
		j_u64(j, "pending", s->pending);
	}
	if (!cn)
		return;
	j_u64(j, "read_off", cn->read_off);
	j_u64(j, "write_off", cn->write_off);
	j_u64(j, "received", cn->recv_len);
	j_u64(j, "unacked", cn->unacked);
	j_u64(j, "unacked_saved", cn->send_len);
	j_bool(j, "send_queue_unread", cn->flags & CKPT_INET_SNDQ_UNREAD);
	j_i64(j, "sndbuf", cn->sndbuf);
	j_i64(j, "rcvbuf", cn->rcvbuf);
	j_i64(j, "peek_off", cn->peek_off);
	j_i64(j, "linger", cn->linger);
	j_i64(j, "keepidle", cn->keepidle);
	j_i64(j, "keepintvl", cn->keepintvl);
	j_i64(j, "keepcnt", cn->keepcnt);
	j_u64(j, "user_timeout", cn->user_timeout);
	j_bool(j, "cork", cn->cork);
}

/* The kind-specific state: members of the fd's object. */
static void json_fd_state(const struct ckpt_image *img, const struct ckpt_fd *f, struct json *j)
{
	const void *d = ckpt_image_fd_data(img, f);

	if (!d)
		return;
	switch (f->kind) {
	case CKPT_FD_PIPE:
	case CKPT_FD_FIFO:
		j_u64(j, "capacity", ((const struct ckpt_fd_pipe *)d)->capacity);
		j_u64(j, "queued", ((const struct ckpt_fd_pipe *)d)->queued);
		break;
	case CKPT_FD_UNIX: {
		const struct ckpt_fd_unix *u = d;

		j_str(j, "type", sock_type_name(u->type), SIZE_MAX);
		j_u64(j, "peer_ino", u->peer_ino);
		j_u64(j, "messages", u->nr_msgs);
		j_u64(j, "queued", u->queued);
		j_bool(j, "shut_rd", u->shutdown & CKPT_UNIX_SHUT_RD);
		j_bool(j, "shut_wr", u->shutdown & CKPT_UNIX_SHUT_WR);
		j_i64(j, "sndbuf", u->sndbuf);
		j_i64(j, "rcvbuf", u->rcvbuf);
		j_i64(j, "peek_off", u->peek_off);
		break;
	}
	case CKPT_FD_EVENTFD:
		j_u64(j, "count", ((const struct ckpt_fd_eventfd *)d)->count);
		j_bool(j, "semaphore", ((const struct ckpt_fd_eventfd *)d)->semaphore);
		break;
	case CKPT_FD_TIMERFD: {
		const struct ckpt_fd_timerfd *t = d;

		j_str(j, "clock", clock_name(t->clockid), SIZE_MAX);
		j_bool(j, "absolute", t->settime_flags & 1);
		j_u64(j, "value_ns", t->value_sec * 1000000000ull + t->value_nsec);
		j_u64(j, "interval_ns", t->interval_sec * 1000000000ull + t->interval_nsec);
		j_u64(j, "ticks", t->ticks);
		break;
	}
	case CKPT_FD_SIGNALFD:
		j_sigset(j, "signals", ((const struct ckpt_fd_signalfd *)d)->sigmask);
		break;
	case CKPT_FD_EPOLL:
		json_epoll(d, j);
		break;
	case CKPT_FD_INOTIFY:
		json_inotify(img, d, j);
		break;
	case CKPT_FD_MEMFD:
	case CKPT_FD_DELETED:
		json_fd_file(f, d, j);
		break;
	case CKPT_FD_INET:
		json_inet(f, d, j);
		break;
	}
}

static void json_fds(struct info *in, struct json *j)
{
	const struct ckpt_image *img = in->img;

	j_open(j, "fds", '[');
	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct ckpt_fd *f = &img->fds[i];
		char flags[128];

		open_flags_str(f->flags, f->fdflags, flags, sizeof(flags));
		j_open(j, NULL, '{');
		j_i64(j, "fd", f->fd);
		j_str(j, "kind", ckpt_fd_kind_name(f->kind), SIZE_MAX);
		j_hex(j, "flags", f->flags);
		j_hex(j, "fdflags", f->fdflags);
		j_str(j, "flag_names", flags, SIZE_MAX);
		j_i64(j, "offset", f->pos);
		j_str(j, "path", ckpt_image_str(img, f->path_str), SIZE_MAX);
		if (f->xflags & CKPT_FDX_DUP)
			j_i64(j, "dup_of", f->dup_of);
		j_bool(j, "peer_gone", f->xflags & CKPT_FDX_PEER_GONE);
		j_bool(j, "stdio_fallback", f->xflags & CKPT_FDX_STDIO);
		j_bool(j, "shared_with_parent", f->xflags & CKPT_FDX_INHERITED);
		json_fd_state(img, f, j);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_timers(struct info *in, struct json *j)
{
	const struct ckpt_image *img = in->img;

	j_open(j, "timers", '[');
	for (uint32_t i = 0; i < img->nr_timers; i++) {
		const struct ckpt_timer *t = &img->timers[i];

		j_open(j, NULL, '{');
		j_i64(j, "id", t->id);
		j_str(j, "clock", clock_name(t->clockid), SIZE_MAX);
		j_str(j, "notify", notify_name(t->notify), SIZE_MAX);
		j_i64(j, "signo", t->signo);
		j_i64(j, "target_tid", t->target_tid);
		j_i64(j, "value_sec", t->value_sec);
		j_i64(j, "value_nsec", t->value_nsec);
		j_i64(j, "interval_sec", t->interval_sec);
		j_i64(j, "interval_nsec", t->interval_nsec);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_plugins(struct info *in, struct json *j)
{
	const struct ckpt_image *img = in->img;

	j_open(j, "plugins", '[');
	for (uint32_t i = 0; i < img->nr_plugins; i++) {
		const struct ckpt_plugin_hdr *ph = img->plugins[i].hdr;

		j_open(j, NULL, '{');
		j_str(j, "name", ph->name, sizeof(ph->name));
		j_u64(j, "version", ph->version);
		j_u64(j, "size", ph->size);
		j_close(j, '}');
	}
	j_close(j, ']');
}

static void json_totals(struct info *in, struct json *j)
{
	j_open(j, "totals", '{');
	j_u64(j, "regions", in->img->nr_regions);
	j_u64(j, "runs", in->img->nr_runs);
	j_u64(j, "bytes_stored", image_stored_bytes(in->img));
	j_u64(j, "file_size", in->img->size);
	j_close(j, '}');
}

static void json_verify(struct info *in, struct json *j)
{
	j_open(j, "verify", '{');
	j_bool(j, "ok", !in->verify_code);
	if (in->verify_code) {
		j_u64(j, "code", in->verify_code);
		j_str(j, "error", in->verify_err, sizeof(in->verify_err));
	}
	j_close(j, '}');
}

void print_json(struct info *in, FILE *out)
{
	struct json j = { .out = out };

	j_open(&j, NULL, '{');
	json_image(in, &j);
	json_proc(in, &j);
	json_regions(in, &j);
	json_threads(in, &j);
	json_fds(in, &j);
	json_timers(in, &j);
	json_plugins(in, &j);
	json_totals(in, &j);
	if (in->verify)
		json_verify(in, &j);
	j_close(&j, '}');
	fputc('\n', out);
}
