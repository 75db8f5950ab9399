/* SPDX-License-Identifier: MIT */
/*
 * Process trees: a root with children (and grandchildren) that run libckpt
 * too, so that a checkpoint of the root covers them all. The root keeps the
 * tick protocol of tests/progs/common.h ("ready", "tick N", "resumed R",
 * "FAIL ...", "done") and checks, on every tick, the state the scenario
 * set up; children check their own side and print "FAIL <who>: ..." and
 * exit 1 when it breaks, which the root notices too (a member that is no
 * longer alive, or exited with another status).
 *
 *   tree_prog MODE [ticks=N] [tick_ms=N] [exec=PATH]
 *
 * Before "ready" the root prints "root PID" and one "member NAME PID PPID
 * KIND" line per other process of the tree (KIND live or zombie), for the
 * test to compare with /proc and the image. Modes:
 *
 *   basic    children A and B, B has a child BB; all idle, checking getppid()
 *            and a private counter
 *   pipes    children A and B, each with a pipe from and a pipe to the root:
 *            the root keeps 48 records unanswered, the child reads one every
 *            3 ms and answers each, the root reads the answers once per tick
 *            and leaves the last 4 queued; so records are queued both ways at
 *            any time. Every number must arrive exactly once, in order, with
 *            the sender's pid. At a resume the root prints "inflight NAME
 *            unanswered=N down=B up=B": bytes queued each way (as the ioctls
 *            tell), then the records still unanswered once it has read every
 *            answer: they were queued for the child at the checkpoint
 *   sockets  child C with a SOCK_STREAM and a SOCK_DGRAM socketpair to the
 *            root, the same protocol (datagrams of varying sizes)
 *   tcp      child C with a TCP connection over loopback to the root (the
 *            root listened, accepted, closed its listener), the same protocol
 *   eventfd  two eventfds made before the fork of child C: on every tick the
 *            root adds 1 to the first, C (blocked reading it) adds the value to
 *            the second, which the root must find within 2 s
 *   zombies  Z1 exited with 42, Z2 was killed by SIGTERM, neither waited
 *            for; L lives. The root checks them with waitid(WNOWAIT) and
 *            /proc on every tick, and at the end prints "reaped NAME exited N"
 *            or "reaped NAME killed N" for each (L exits with 7)
 *   groups   S called setsid() and has a child G; P1 leads its own process
 *            group, P2 joined it. The root prints "groups root=PG/SID S=...":
 *            values as member names ("out": the value of the root's parent)
 *            at the start and at a resume, and checks it on every tick (the
 *            root may lead its own session: "root=root/root")
 *   shm      a MAP_SHARED|MAP_ANONYMOUS mapping made before two children were
 *            forked: the root writes the tick number, each child copies it
 *            to its own slot and counts; the root waits until both did.
 *            "shm ADDR" (hex) tells where it is
 *   exec     child C forks E, which execs PATH (tests/progs/prog_counter)
 *            with its standard output a pipe to the root; the root checks
 *            E's ticks arrive consecutively and E ends with "done"
 *   refuse   child N was exec'd without LD_PRELOAD (mode "plain", no
 *            libckpt), child L is an idle libckpt child; the root reaps N
 *            once it is killed (SIGTERM) and prints "plain child reaped"
 *   pipeline A writes records as fast as it can into a pipe to its sibling B
 *            (64 KiB shrunk to 4 KiB: A is blocked in write() most of the
 *            time); B reads one every 3 ms and forwards it to the root on a
 *            pipe that A writes a heartbeat record to as well (two writers).
 *            At the end "pipeline forwarded=N heartbeats=M"
 *   sharedfile  the root opened file=PATH before forking A and B: all three
 *            write 10-byte records at the one shared offset; on every tick
 *            the root reads the file up to that offset and checks that each
 *            writer's records are all there, in order (two opens of the file
 *            would overwrite each other's). At the end "sharedfile bytes=N
 *            R=N A=N B=N"
 *   alone    child K prints the ticks itself (the root only waits for it),
 *            with a counter and a heap buffer it checks: its member image is
 *            restored on its own
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include "../progs/common.h"

#define MAX_MEMBERS	16

enum { KIND_LIVE, KIND_ZOMBIE, KIND_GONE, KIND_MORTAL /* alive, or exited not waited for yet */ };

struct member {
	char name[16];
	pid_t pid, parent;
	int kind;
};

static struct member g_mem[MAX_MEMBERS];
static int g_nmem;
static pid_t g_root;
static const char *g_who = "root";
static volatile sig_atomic_t g_stop;
static int g_idle_exit;		/* what idle_child() exits with */

static void on_usr1(int sig)
{
	(void)sig;
	g_stop = 1;
}

static struct member *add_member(const char *name, pid_t pid, pid_t parent, int kind)
{
	struct member *m;

	CHECK(g_nmem < MAX_MEMBERS, "too many members");
	m = &g_mem[g_nmem++];
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->pid = pid;
	m->parent = parent;
	m->kind = kind;
	out("member %s %d %d %s\n", name, (int)pid, (int)parent,
	    kind == KIND_ZOMBIE ? "zombie" : "live");
	return m;
}

static struct member *member(const char *name)
{
	for (int i = 0; i < g_nmem; i++)
		if (!strcmp(g_mem[i].name, name))
			return &g_mem[i];
	FAIL("no member %s", name);
}

/* /proc/PID/stat: state, ppid, pgrp, session. 0 if there is no such process. */
static int read_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp, pid_t *sid)
{
	char path[64], buf[1024], *p;
	int fd, n, pp, pg, se;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%c %d %d %d", state, &pp, &pg, &se) != 4)
		return 0;
	if (ppid)
		*ppid = pp;
	if (pgrp)
		*pgrp = pg;
	if (sid)
		*sid = se;
	return 1;
}

/* The first process whose parent is ppid (a grandchild the root did not fork). */
static pid_t find_child_of(pid_t ppid)
{
	for (int tries = 0; tries < 5000; tries++) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		pid_t found = 0;

		CHECK(d, "opendir /proc: %s", strerror(errno));
		while (!found && (e = readdir(d))) {
			pid_t pid = atoi(e->d_name), pp;
			char st;

			if (pid > 0 && read_stat(pid, &st, &pp, NULL, NULL) && pp == ppid)
				found = pid;
		}
		closedir(d);
		if (found)
			return found;
		sleep_ms(1);
	}
	FAIL("no child of %d appeared", (int)ppid);
}

/* Every member is there with its parent: alive, or a zombie if it is one. */
static void check_members(void)
{
	for (int i = 0; i < g_nmem; i++) {
		struct member *m = &g_mem[i];
		pid_t ppid;
		char st;

		if (m->kind == KIND_GONE)
			continue;
		CHECK(read_stat(m->pid, &st, &ppid, NULL, NULL), "member %s (pid %d) does not exist",
		      m->name, (int)m->pid);
		CHECK(ppid == m->parent, "member %s (pid %d): parent is %d, want %d", m->name,
		      (int)m->pid, (int)ppid, (int)m->parent);
		if (m->kind == KIND_MORTAL)
			continue;
		if (m->kind == KIND_ZOMBIE)
			CHECK(st == 'Z', "member %s (pid %d) is in state %c, want a zombie (Z)", m->name,
			      (int)m->pid, st);
		else
			CHECK(st != 'Z' && st != 'X', "member %s (pid %d) has exited (state %c)",
			      m->name, (int)m->pid, st);
	}
}

static void describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed %d%s", WTERMSIG(st), WCOREDUMP(st) ? " (core)" : "");
	else
		snprintf(buf, len, "status %#x", st);
}

static int wait_for(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) != pid)
		CHECK(errno == EINTR, "%s: waitpid(%d): %s", g_who, (int)pid, strerror(errno));
	return st;
}

/* SIGUSR1 to a child, which then exits with want; returns its status. */
static void stop_child(pid_t pid, const char *name, int want)
{
	char got[64];
	int st;

	CHECK(!kill(pid, SIGUSR1), "%s: kill(%s %d): %s", g_who, name, (int)pid, strerror(errno));
	st = wait_for(pid);
	describe_status(st, got, sizeof(got));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == want, "%s: child %s (pid %d) %s, want exited %d",
	      g_who, name, (int)pid, got, want);
}

/*
 * An idle child: checks its parent and a private counter every 5 ms until
 * SIGUSR1, then stops its own child (if any) and exits with g_idle_exit.
 */
static __attribute__((noreturn)) void idle_child(pid_t want_ppid, pid_t kid, const char *kid_name,
						 void (*check)(void))
{
	uint64_t n = 0, shadow = 7;

	while (!g_stop) {
		pid_t p = getppid();

		CHECK(p == want_ppid, "%s: getppid() is %d, want %d", g_who, (int)p, (int)want_ppid);
		CHECK(shadow == n * 3 + 7, "%s: private counter %llu, shadow %llu", g_who,
		      (unsigned long long)n, (unsigned long long)shadow);
		n++;
		shadow = n * 3 + 7;
		if (check)
			check();
		sleep_ms(5);
	}
	if (kid > 0)
		stop_child(kid, kid_name, 0);
	_exit(g_idle_exit);
}

static pid_t xfork(const char *who)
{
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (!pid)
		g_who = who;
	return pid;
}

/* ---- basic -------------------------------------------------------------- */

static void basic_setup(void)
{
	pid_t a, b, bb;

	a = xfork("A");
	if (!a)
		idle_child(g_root, 0, NULL, NULL);
	add_member("A", a, g_root, KIND_LIVE);
	b = xfork("B");
	if (!b) {
		pid_t me = getpid();

		bb = xfork("BB");
		if (!bb)
			idle_child(me, 0, NULL, NULL);
		idle_child(g_root, bb, "BB", NULL);
	}
	add_member("B", b, g_root, KIND_LIVE);
	add_member("BB", find_child_of(b), b, KIND_LIVE);
}

static void basic_finish(void)
{
	stop_child(member("A")->pid, "A", 0);
	stop_child(member("B")->pid, "B", 0);
}

/* ---- pipes and sockets: numbered records both ways ------------------------ */

#define REC_MAGIC	0x54524545u
#define REC_END		0xffffffffu
#define DGRAM_MAX	512

struct rec {
	uint32_t magic, seq;
	int32_t pid, ppid;
	uint64_t sum;
	uint64_t pad;
};

struct chan {
	char name[16];
	int rfd, wfd;		/* the root's ends */
	int crfd, cwfd;		/* the child's ends */
	int dgram;
	int target;		/* records in flight the root keeps */
	pid_t peer;
	uint32_t sent, got;	/* records sent; answers received (in order) */
	int end_got;
	unsigned char buf[4096];
	size_t blen;
};

#define MAX_CHANS	4
static struct chan g_chan[MAX_CHANS];
static int g_nchan;

static size_t rec_len(const struct chan *c, uint32_t seq)
{
	if (!c->dgram || seq == REC_END)
		return sizeof(struct rec);
	return sizeof(struct rec) + (seq * 37u) % 200u;
}

static void rec_fill(const struct chan *c, unsigned char *buf, uint32_t seq)
{
	struct rec r = { REC_MAGIC, seq, getpid(), getppid(), 0, 0 };
	size_t len = rec_len(c, seq);

	r.sum = fnv1a(&r, offsetof(struct rec, sum));
	memcpy(buf, &r, sizeof(r));
	for (size_t i = sizeof(r); i < len; i++)
		buf[i] = (unsigned char)(seq * 13 + i);
}

/* Checks one record; returns its seq. want_pid 0: any. */
static uint32_t rec_check(const struct chan *c, const unsigned char *buf, size_t len,
			  uint32_t want_seq, pid_t want_pid, pid_t want_ppid)
{
	struct rec r;

	CHECK(len >= sizeof(r), "%s: %s: record of %zu bytes", g_who, c->name, len);
	memcpy(&r, buf, sizeof(r));
	CHECK(r.magic == REC_MAGIC && r.sum == fnv1a(&r, offsetof(struct rec, sum)),
	      "%s: %s: garbled record (magic %#x) where record %u was expected", g_who, c->name,
	      r.magic, want_seq);
	CHECK(r.seq == want_seq || r.seq == REC_END,
	      "%s: %s: got record %u, want %u (lost, repeated or reordered)", g_who, c->name,
	      r.seq, want_seq);
	CHECK(len == rec_len(c, r.seq), "%s: %s: record %u is %zu bytes, want %zu", g_who,
	      c->name, r.seq, len, rec_len(c, r.seq));
	for (size_t i = sizeof(r); i < len; i++)
		CHECK(buf[i] == (unsigned char)(r.seq * 13 + i), "%s: %s: record %u byte %zu differs",
		      g_who, c->name, r.seq, i);
	CHECK(!want_pid || r.pid == want_pid, "%s: %s: record %u from pid %d, want %d", g_who,
	      c->name, r.seq, r.pid, (int)want_pid);
	CHECK(!want_ppid || r.ppid == want_ppid,
	      "%s: %s: record %u says its sender's parent is %d, want %d", g_who, c->name, r.seq,
	      r.ppid, (int)want_ppid);
	return r.seq;
}

static void chan_send(struct chan *c, int fd, uint32_t seq)
{
	unsigned char buf[DGRAM_MAX];
	size_t len = rec_len(c, seq), off = 0;

	rec_fill(c, buf, seq);
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0, "%s: %s: write of record %u: %s", g_who, c->name, seq,
		      n < 0 ? strerror(errno) : "0 bytes");
		CHECK(!c->dgram || (size_t)n == len, "%s: %s: datagram %u sent short", g_who,
		      c->name, seq);
		off += n;
	}
}

/* A TCP connection over loopback: fd[0] the accepted end, fd[1] the client. */
static void tcp_pair(int fd[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(l >= 0 && !bind(l, (struct sockaddr *)&sa, sizeof(sa)) && !listen(l, 1) &&
	      !getsockname(l, (struct sockaddr *)&sa, &len), "listen: %s", strerror(errno));
	fd[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd[1] >= 0 && !connect(fd[1], (struct sockaddr *)&sa, sizeof(sa)),
	      "connect: %s", strerror(errno));
	fd[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHECK(fd[0] >= 0, "accept: %s", strerror(errno));
	close(l);
}

static struct chan *chan_new(const char *name, int kind)
{
	struct chan *c;
	int a[2], b[2];

	CHECK(g_nchan < MAX_CHANS, "too many channels");
	c = &g_chan[g_nchan++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (kind == 0) {	/* two pipes */
		CHECK(!pipe2(a, O_CLOEXEC) && !pipe2(b, O_CLOEXEC), "pipe2: %s", strerror(errno));
		c->wfd = a[1];	/* root -> child */
		c->crfd = a[0];
		c->cwfd = b[1];	/* child -> root */
		c->rfd = b[0];
		c->target = 48;
	} else if (kind == 3) {	/* TCP over loopback */
		tcp_pair(a);
		c->rfd = c->wfd = a[0];
		c->crfd = c->cwfd = a[1];
		c->target = 48;
	} else {
		CHECK(!socketpair(AF_UNIX, (kind == 1 ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0, a),
		      "socketpair: %s", strerror(errno));
		c->rfd = c->wfd = a[0];
		c->crfd = c->cwfd = a[1];
		c->dgram = kind == 2;
		c->target = 48;
	}
	return c;
}

/* In a child: close the root's ends of every channel and the child ends of others. */
static void chan_child_fds(struct chan *mine[], int nmine)
{
	for (int i = 0; i < g_nchan; i++) {
		struct chan *c = &g_chan[i];
		int own = 0;

		for (int j = 0; j < nmine; j++)
			own |= mine[j] == c;
		close(c->rfd);
		if (c->wfd != c->rfd)
			close(c->wfd);
		if (!own && c->crfd >= 0) {
			close(c->crfd);
			if (c->cwfd != c->crfd)
				close(c->cwfd);
		}
	}
}

/* Reads one record from a child end (blocking); returns its length, 0 at end of file. */
static size_t chan_child_read(struct chan *c, unsigned char *buf)
{
	size_t have = 0;

	if (c->dgram) {
		ssize_t n;

		do
			n = recv(c->crfd, buf, DGRAM_MAX, 0);
		while (n < 0 && errno == EINTR);
		CHECK(n >= 0, "%s: %s: recv: %s", g_who, c->name, strerror(errno));
		return n;
	}
	while (have < sizeof(struct rec)) {
		ssize_t n = read(c->crfd, buf + have, sizeof(struct rec) - have);

		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0, "%s: %s: read: %s", g_who, c->name, strerror(errno));
		if (!n) {
			CHECK(!have, "%s: %s: end of file inside a record", g_who, c->name);
			return 0;
		}
		have += n;
	}
	return have;
}

/* The child: answers every record, one every 3 ms, until each channel has ended. */
static __attribute__((noreturn)) void chan_child(struct chan *mine[], int n)
{
	uint32_t expect[MAX_CHANS];
	int open_chans = n;
	pid_t parent = getppid();

	for (int i = 0; i < n; i++)
		expect[i] = 1;
	while (open_chans) {
		struct pollfd p[MAX_CHANS];
		int r;

		for (int i = 0; i < n; i++) {
			p[i].fd = expect[i] ? mine[i]->crfd : -1;
			p[i].events = POLLIN;
		}
		r = poll(p, n, -1);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0, "%s: poll: %s", g_who, strerror(errno));
		CHECK(getppid() == parent, "%s: getppid() is %d, want %d", g_who, (int)getppid(),
		      (int)parent);
		for (int i = 0; i < n; i++) {
			unsigned char buf[DGRAM_MAX];
			struct chan *c = mine[i];
			size_t len;
			uint32_t seq;

			if (!expect[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			len = chan_child_read(c, buf);
			CHECK(len, "%s: %s: end of file before record %u", g_who, c->name, expect[i]);
			seq = rec_check(c, buf, len, expect[i], parent, 0);
			chan_send(c, c->cwfd, seq);
			if (seq == REC_END) {
				expect[i] = 0;
				open_chans--;
			} else {
				expect[i]++;
			}
		}
		sleep_ms(3);
	}
	_exit(0);
}

static void chan_process(struct chan *c, const unsigned char *buf, size_t len)
{
	uint32_t seq = rec_check(c, buf, len, c->got + 1, c->peer, g_root);

	if (seq == REC_END) {
		CHECK(c->got == c->sent, "%s: end of the answers after %u of %u", c->name, c->got,
		      c->sent);
		c->end_got = 1;
	} else {
		CHECK(c->got < c->sent, "%s: answer %u to a record not sent yet", c->name, seq);
		c->got++;
	}
}

/*
 * Reads the answers queued now, without blocking; on a stream, all but the
 * last `keep` (so that the queue to the root is never empty between ticks).
 */
static void chan_drain(struct chan *c, int keep)
{
	if (c->dgram) {
		for (;;) {
			unsigned char buf[DGRAM_MAX];
			ssize_t n = recv(c->rfd, buf, sizeof(buf), MSG_DONTWAIT);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return;
			CHECK(n > 0, "%s: recv: %s", c->name, n ? strerror(errno) : "end of file");
			chan_process(c, buf, n);
		}
	}
	for (;;) {
		int avail = 0;
		ssize_t n;
		size_t want, off = 0;

		CHECK(!ioctl(c->rfd, FIONREAD, &avail), "%s: FIONREAD: %s", c->name, strerror(errno));
		avail -= keep * (int)sizeof(struct rec);
		if (avail <= 0)
			return;
		want = sizeof(c->buf) - c->blen;
		if ((size_t)avail < want)
			want = avail;
		n = read(c->rfd, c->buf + c->blen, want);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0, "%s: read: %s", c->name, n ? strerror(errno) : "end of file");
		c->blen += n;
		while (c->blen - off >= sizeof(struct rec)) {
			chan_process(c, c->buf + off, sizeof(struct rec));
			off += sizeof(struct rec);
		}
		memmove(c->buf, c->buf + off, c->blen - off);
		c->blen -= off;
	}
}

static void chan_topup(struct chan *c)
{
	while (c->sent - c->got < (uint32_t)c->target) {
		c->sent++;
		chan_send(c, c->wfd, c->sent);
	}
}

static int queued(int fd, unsigned long req)
{
	int n = -1;

	if (ioctl(fd, req, &n))
		return -1;
	return n;
}

static void chans_tick(int resumed)
{
	for (int i = 0; i < g_nchan; i++) {
		struct chan *c = &g_chan[i];

		if (resumed) {
			int down = queued(c->wfd, c->wfd == c->rfd ? TIOCOUTQ : FIONREAD);
			int up = queued(c->rfd, FIONREAD);

			chan_drain(c, 0);
			out("inflight %s unanswered=%u down=%d up=%d\n", c->name, c->sent - c->got,
			    down, up);
		} else {
			chan_drain(c, 4);
		}
		chan_topup(c);
	}
}

static void chans_finish(void)
{
	for (int i = 0; i < g_nchan; i++)
		chan_send(&g_chan[i], g_chan[i].wfd, REC_END);
	for (int i = 0; i < g_nchan; i++) {
		struct chan *c = &g_chan[i];

		for (int waited = 0; !c->end_got; waited++) {
			struct pollfd p = { c->rfd, POLLIN, 0 };

			CHECK(waited < 1000, "%s: no end of the answers within 10 s (%u of %u)",
			      c->name, c->got, c->sent);
			if (poll(&p, 1, 10) > 0)
				chan_drain(c, 0);
		}
		out("stream %s sent=%u answered=%u\n", c->name, c->sent, c->got);
	}
}

static void pipes_setup(void)
{
	const char *names[] = { "A", "B" };

	for (int k = 0; k < 2; k++) {
		struct chan *c = chan_new(names[k], 0);
		pid_t pid = xfork(names[k]);

		if (!pid) {
			struct chan *mine[] = { c };

			chan_child_fds(mine, 1);
			chan_child(mine, 1);
		}
		c->peer = pid;
		close(c->crfd);
		close(c->cwfd);
		c->crfd = c->cwfd = -1;		/* numbers the next channel may reuse */
		add_member(names[k], pid, g_root, KIND_LIVE);
	}
}

/* Child C with the given channels to the root. */
static void chans_child_setup(struct chan *mine[], int n)
{
	pid_t pid = xfork("C");

	if (!pid) {
		chan_child_fds(mine, n);
		chan_child(mine, n);
	}
	for (int i = 0; i < n; i++) {
		mine[i]->peer = pid;
		close(mine[i]->crfd);
		mine[i]->crfd = mine[i]->cwfd = -1;
	}
	add_member("C", pid, g_root, KIND_LIVE);
}

static void sockets_setup(void)
{
	struct chan *mine[] = { chan_new("stream", 1), chan_new("dgram", 2) };

	chans_child_setup(mine, 2);
}

static void tcp_setup(void)
{
	struct chan *mine[] = { chan_new("tcp", 3) };

	chans_child_setup(mine, 1);
}

/* Waits for every live child of the root, which must exit 0. */
static void reap_children(void)
{
	for (int i = 0; i < g_nmem; i++) {
		char got[64];
		int st;

		if (g_mem[i].parent != g_root || g_mem[i].kind != KIND_LIVE)
			continue;
		st = wait_for(g_mem[i].pid);
		g_mem[i].kind = KIND_GONE;

		describe_status(st, got, sizeof(got));
		CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "child %s %s, want exited 0", g_mem[i].name,
		      got);
	}
}

/* ---- eventfd shared since fork ------------------------------------------- */

static int g_efd[2];

static __attribute__((noreturn)) void eventfd_child(void)
{
	g_who = "C";
	while (!g_stop) {
		uint64_t v;

		if (read(g_efd[0], &v, sizeof(v)) != sizeof(v)) {
			CHECK(errno == EINTR, "C: read of the first eventfd: %s", strerror(errno));
			continue;
		}
		CHECK(write(g_efd[1], &v, sizeof(v)) == sizeof(v), "C: write: %s", strerror(errno));
	}
	_exit(0);
}

static void eventfd_setup(void)
{
	pid_t pid;

	g_efd[0] = eventfd(0, EFD_CLOEXEC);
	g_efd[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(g_efd[0] >= 0 && g_efd[1] >= 0, "eventfd: %s", strerror(errno));
	pid = xfork("C");
	if (!pid)
		eventfd_child();
	add_member("C", pid, g_root, KIND_LIVE);
}

static void eventfd_tick(void)
{
	uint64_t one = 1, v = 0;
	int i;

	CHECK(write(g_efd[0], &one, sizeof(one)) == sizeof(one), "write: %s", strerror(errno));
	/* by iterations, not time: a restore between two of them takes its time */
	for (i = 0; i < 2000 && read(g_efd[1], &v, sizeof(v)) != sizeof(v); i++)
		sleep_ms(1);
	CHECK(i < 2000 && v == 1, "eventfd: C did not answer (got %llu): the eventfds are not "
	      "shared with it any more", (unsigned long long)v);
}

static void eventfd_finish(void)
{
	uint64_t one = 1;

	kill(member("C")->pid, SIGUSR1);
	/* and wake C from its read, should the signal come before it blocks */
	CHECK(write(g_efd[0], &one, sizeof(one)) == sizeof(one), "write: %s", strerror(errno));
	reap_children();
}

/* ---- zombies ------------------------------------------------------------ */

static void zombie_check(const char *name, int code, int status)
{
	struct member *m = member(name);
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	CHECK(!waitid(P_PID, m->pid, &si, WEXITED | WNOHANG | WNOWAIT),
	      "waitid(%s, pid %d): %s", name, (int)m->pid, strerror(errno));
	CHECK(si.si_pid == m->pid, "zombie %s (pid %d) cannot be waited for (waitid: pid %d)",
	      name, (int)m->pid, (int)si.si_pid);
	CHECK(si.si_code == code && si.si_status == status,
	      "zombie %s (pid %d): waitid says code %d status %d, want code %d status %d", name,
	      (int)m->pid, si.si_code, si.si_status, code, status);
}

static void zombies_setup(void)
{
	pid_t z1, z2, l;
	siginfo_t si;

	z1 = xfork("Z1");
	if (!z1)
		_exit(42);
	z2 = xfork("Z2");
	if (!z2)
		for (;;)
			pause();
	l = xfork("L");
	if (!l) {
		g_idle_exit = 7;
		idle_child(g_root, 0, NULL, NULL);
	}
	CHECK(!kill(z2, SIGTERM), "kill(Z2): %s", strerror(errno));
	CHECK(!waitid(P_PID, z1, &si, WEXITED | WNOWAIT), "waitid Z1: %s", strerror(errno));
	CHECK(!waitid(P_PID, z2, &si, WEXITED | WNOWAIT), "waitid Z2: %s", strerror(errno));
	add_member("Z1", z1, g_root, KIND_ZOMBIE);
	add_member("Z2", z2, g_root, KIND_ZOMBIE);
	add_member("L", l, g_root, KIND_LIVE);
	zombie_check("Z1", CLD_EXITED, 42);
	zombie_check("Z2", CLD_KILLED, SIGTERM);
}

static void zombies_tick(void)
{
	siginfo_t si;

	zombie_check("Z1", CLD_EXITED, 42);
	zombie_check("Z2", CLD_KILLED, SIGTERM);
	/* L is alive: nothing to wait for from it */
	memset(&si, 0, sizeof(si));
	CHECK(!waitid(P_PID, member("L")->pid, &si, WEXITED | WNOHANG | WNOWAIT) && !si.si_pid,
	      "L (pid %d) has exited (code %d status %d)", (int)member("L")->pid, si.si_code,
	      si.si_status);
}

static void reap(const char *name)
{
	struct member *m = member(name);
	char got[64];
	int st;

	st = wait_for(m->pid);
	describe_status(st, got, sizeof(got));
	out("reaped %s %s\n", name, got);
	m->kind = KIND_GONE;
}

static void zombies_finish(void)
{
	reap("Z1");
	reap("Z2");
	CHECK(!kill(member("L")->pid, SIGUSR1), "kill(L): %s", strerror(errno));
	reap("L");
}

/* ---- groups and sessions -------------------------------------------------- */

static char g_groups0[256];

static const char *rel(pid_t v, pid_t outside, char *buf, size_t len)
{
	if (v == g_root)
		return "root";
	for (int i = 0; i < g_nmem; i++)
		if (v == g_mem[i].pid)
			return g_mem[i].name;
	if (v == outside)
		return "out";
	snprintf(buf, len, "?%d", (int)v);
	return buf;
}

static void groups_line(char *line, size_t len)
{
	pid_t parent = getppid(), opg = getpgid(parent), osid = getsid(parent);
	size_t n;

	n = snprintf(line, len, "groups");
	for (int i = -1; i < g_nmem && n < len; i++) {
		pid_t pid = i < 0 ? g_root : g_mem[i].pid;
		char b1[16], b2[16];

		n += snprintf(line + n, len - n, " %s=%s/%s", i < 0 ? "root" : g_mem[i].name,
			      rel(getpgid(pid), opg, b1, sizeof(b1)),
			      rel(getsid(pid), osid, b2, sizeof(b2)));
	}
}

static pid_t g_p1;

static void s_check(void)
{
	CHECK(getsid(0) == getpid() && getpgid(0) == getpid(), "S: sid %d pgid %d, want %d",
	      (int)getsid(0), (int)getpgid(0), (int)getpid());
}

static void g_check(void)
{
	pid_t s = getppid();

	CHECK(getsid(0) == s && getpgid(0) == s, "G: sid %d pgid %d, want %d (S)", (int)getsid(0),
	      (int)getpgid(0), (int)s);
}

static void p1_check(void)
{
	CHECK(getpgid(0) == getpid(), "P1: pgid %d, want %d", (int)getpgid(0), (int)getpid());
	CHECK(getsid(0) == getsid(getppid()), "P1: sid %d, the root's %d", (int)getsid(0),
	      (int)getsid(getppid()));
}

static void p2_check(void)
{
	CHECK(getpgid(0) == g_p1, "P2: pgid %d, want %d (P1)", (int)getpgid(0), (int)g_p1);
	CHECK(getsid(0) == getsid(getppid()), "P2: sid %d, the root's %d", (int)getsid(0),
	      (int)getsid(getppid()));
}

static void groups_setup(void)
{
	/* the root leads its own group or session when the test started it so */
	const char *rpg = getpgid(0) == g_root ? "root" : "out";
	const char *rsid = getsid(0) == g_root ? "root" : "out";
	char want[128];
	pid_t s, g, p2;

	snprintf(want, sizeof(want), "groups root=%s/%s S=S/S G=S/S P1=P1/%s P2=P1/%s", rpg, rsid,
		 rsid, rsid);

	s = xfork("S");
	if (!s) {
		pid_t me = getpid();

		CHECK(setsid() == me, "S: setsid: %s", strerror(errno));
		g = xfork("G");
		if (!g)
			idle_child(me, 0, NULL, g_check);
		idle_child(g_root, g, "G", s_check);
	}
	g_p1 = xfork("P1");
	if (!g_p1) {
		CHECK(!setpgid(0, 0), "P1: setpgid(0, 0): %s", strerror(errno));
		idle_child(g_root, 0, NULL, p1_check);
	}
	CHECK(!setpgid(g_p1, g_p1) || errno == EACCES, "setpgid(P1): %s", strerror(errno));
	p2 = xfork("P2");
	if (!p2) {
		CHECK(!setpgid(0, g_p1), "P2: setpgid(0, %d): %s", (int)g_p1, strerror(errno));
		idle_child(g_root, 0, NULL, p2_check);
	}
	CHECK(!setpgid(p2, g_p1) || errno == EACCES, "setpgid(P2): %s", strerror(errno));
	add_member("S", s, g_root, KIND_LIVE);
	g = find_child_of(s);
	add_member("G", g, s, KIND_LIVE);
	add_member("P1", g_p1, g_root, KIND_LIVE);
	add_member("P2", p2, g_root, KIND_LIVE);
	/* until S's setsid and the setpgid calls have happened */
	for (int i = 0; i < 5000; i++) {
		groups_line(g_groups0, sizeof(g_groups0));
		if (!strcmp(g_groups0, want))
			break;
		sleep_ms(1);
	}
	CHECK(!strcmp(g_groups0, want), "set up as \"%s\", want \"%s\"", g_groups0, want);
	out("%s\n", g_groups0);
}

static void groups_tick(int resumed)
{
	char line[256];

	groups_line(line, sizeof(line));
	if (resumed)
		out("%s\n", line);
	CHECK(!strcmp(line, g_groups0), "\"%s\", was \"%s\"", line, g_groups0);
}

static void groups_finish(void)
{
	stop_child(member("S")->pid, "S", 0);
	stop_child(member("P1")->pid, "P1", 0);
	stop_child(member("P2")->pid, "P2", 0);
}

/* ---- shared memory -------------------------------------------------------- */

#define SHM_PAGES	8
#define PG_WORDS	512

struct slot {
	volatile uint64_t echo, count;
};

static volatile uint64_t *g_shm;

/* page 0: [0] the root's value, [1] stop; page 1 + k: child k's slot;
 * pages 4-5: written by the root before fork; page 6: by child 0 after */
static struct slot *shm_slot(int k)
{
	return (struct slot *)(g_shm + (1 + k) * PG_WORDS);
}

static void shm_pattern(int first, int n, uint64_t seed, int fill)
{
	for (int i = first * PG_WORDS; i < (first + n) * PG_WORDS; i++) {
		uint64_t want = seed * 0x9e3779b97f4a7c15ull + i;

		if (fill)
			g_shm[i] = want;
		else
			CHECK(g_shm[i] == want, "%s: shared word %d is %#llx, want %#llx", g_who, i,
			      (unsigned long long)g_shm[i], (unsigned long long)want);
	}
}

static __attribute__((noreturn)) void shm_child(int k)
{
	struct slot *s = shm_slot(k);
	uint64_t last = 0;
	pid_t parent = getppid();

	if (k == 0)
		shm_pattern(6, 1, 66, 1);
	for (uint64_t it = 0; !g_shm[1]; it++) {
		uint64_t v = g_shm[0];

		CHECK(v >= last, "%s: the root's value went back from %llu to %llu", g_who,
		      (unsigned long long)last, (unsigned long long)v);
		last = v;
		s->echo = v;
		s->count++;
		if (it % 200 == 0) {
			CHECK(getppid() == parent, "%s: getppid() is %d, want %d", g_who,
			      (int)getppid(), (int)parent);
			shm_pattern(4, 2, 44, 0);
		}
		sleep_ms(1);
	}
	_exit(0);
}

static void shm_setup(void)
{
	g_shm = mmap(NULL, SHM_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	CHECK(g_shm != MAP_FAILED, "mmap: %s", strerror(errno));
	out("shm %lx\n", (unsigned long)g_shm);
	shm_pattern(4, 2, 44, 1);
	for (int k = 0; k < 2; k++) {
		char name[8];
		pid_t pid;

		snprintf(name, sizeof(name), "M%d", k + 1);
		pid = xfork(k ? "M2" : "M1");
		if (!pid)
			shm_child(k);
		add_member(name, pid, g_root, KIND_LIVE);
	}
	for (int i = 0; i < 5000 && g_shm[7 * PG_WORDS - 1] !=
	     66 * 0x9e3779b97f4a7c15ull + 7 * PG_WORDS - 1; i++)
		sleep_ms(1);
	shm_pattern(6, 1, 66, 0);
}

static void shm_tick(int t)
{
	uint64_t c0 = shm_slot(0)->count, c1 = shm_slot(1)->count;
	int i;

	shm_pattern(4, 2, 44, 0);
	shm_pattern(6, 1, 66, 0);
	g_shm[0] = t;
	/* by iterations, not time: a restore between two of them takes its time */
	for (i = 0; i < 3000; i++) {
		if (shm_slot(0)->echo == (uint64_t)t && shm_slot(1)->echo == (uint64_t)t &&
		    shm_slot(0)->count > c0 && shm_slot(1)->count > c1)
			break;
		sleep_ms(1);
	}
	CHECK(i < 3000, "shared memory: wrote %d, children show %llu and %llu (counts %llu -> %llu, "
	      "%llu -> %llu): not shared any more", t, (unsigned long long)shm_slot(0)->echo,
	      (unsigned long long)shm_slot(1)->echo, (unsigned long long)c0,
	      (unsigned long long)shm_slot(0)->count, (unsigned long long)c1,
	      (unsigned long long)shm_slot(1)->count);
}

static void shm_finish(void)
{
	g_shm[1] = 1;
	reap_children();
	out("shm counts %llu %llu\n", (unsigned long long)shm_slot(0)->count,
	    (unsigned long long)shm_slot(1)->count);
}

/* ---- exec ---------------------------------------------------------------- */

static int g_exec_fd = -1;
static char g_exec_buf[8192];
static size_t g_exec_len;
static int g_exec_last = -1, g_exec_done, g_exec_eof, g_exec_idle;
static long g_exec_ticks;

static void exec_line(const char *l)
{
	int n;

	if (!strcmp(l, "ready")) {
		CHECK(g_exec_last < 0, "exec'd E printed ready after tick %d", g_exec_last);
		g_exec_last = 0;
	} else if (sscanf(l, "tick %d", &n) == 1) {
		CHECK(n == g_exec_last + 1, "exec'd E: tick %d after tick %d (lost or repeated)", n,
		      g_exec_last);
		g_exec_last = n;
		g_exec_idle = 0;
	} else if (!strcmp(l, "done")) {
		CHECK(g_exec_last == g_exec_ticks, "exec'd E: done after tick %d, want %ld",
		      g_exec_last, g_exec_ticks);
		g_exec_done = 1;
	} else {
		FAIL("exec'd E printed \"%s\"", l);
	}
}

/* Reads what E wrote; with wait_ms, until something came or end of file. */
static void exec_read(int wait_ms)
{
	for (;;) {
		struct pollfd p = { g_exec_fd, POLLIN, 0 };
		ssize_t n;
		char *nl;

		if (g_exec_eof || poll(&p, 1, wait_ms) <= 0)
			return;
		n = read(g_exec_fd, g_exec_buf + g_exec_len, sizeof(g_exec_buf) - 1 - g_exec_len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		CHECK(n >= 0, "read from E: %s", strerror(errno));
		if (!n) {
			g_exec_eof = 1;
			CHECK(!g_exec_len, "E's output ends without a newline");
			return;
		}
		g_exec_len += n;
		g_exec_buf[g_exec_len] = 0;
		while ((nl = strchr(g_exec_buf, '\n'))) {
			*nl = 0;
			exec_line(g_exec_buf);
			g_exec_len -= nl + 1 - g_exec_buf;
			memmove(g_exec_buf, nl + 1, g_exec_len + 1);
		}
		wait_ms = 0;
	}
}

static void exec_setup(void)
{
	const char *path = opt_str("exec", NULL);
	int p[2];
	pid_t c;

	CHECK(path, "mode exec needs exec=PATH");
	g_exec_ticks = opt_int("exec_ticks", 300);
	CHECK(!pipe2(p, O_CLOEXEC), "pipe2: %s", strerror(errno));
	c = xfork("C");
	if (!c) {
		pid_t e = xfork("E");

		if (!e) {
			char ticks[32];

			snprintf(ticks, sizeof(ticks), "ticks=%ld", g_exec_ticks);
			CHECK(dup2(p[1], 1) == 1, "E: dup2: %s", strerror(errno));
			execl(path, path, ticks, "tick_ms=10", "heap_kb=64", (char *)NULL);
			FAIL("E: exec %s: %s", path, strerror(errno));
		}
		close(p[0]);
		close(p[1]);
		{
			int st = wait_for(e);
			char got[64];

			describe_status(st, got, sizeof(got));
			CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "C: E %s, want exited 0", got);
		}
		_exit(0);
	}
	close(p[1]);
	g_exec_fd = p[0];
	add_member("C", c, g_root, KIND_LIVE);
	/* E's "ready" and first tick: it has exec'd and runs */
	for (int i = 0; i < 500 && g_exec_last < 1; i++)
		exec_read(10);
	CHECK(g_exec_last >= 1, "exec'd E printed no tick");
	add_member("E", find_child_of(c), c, KIND_LIVE);
}

static void exec_tick(void)
{
	exec_read(0);
	if (!g_exec_done && ++g_exec_idle > 4)
		FAIL("exec'd E printed nothing for %d ticks (last tick %d)", g_exec_idle - 1,
		     g_exec_last);
}

static void exec_finish(void)
{
	for (int i = 0; i < 1000 && !g_exec_eof; i++)
		exec_read(10);
	CHECK(g_exec_eof && g_exec_done, "exec'd E did not finish (last tick %d)", g_exec_last);
	member("E")->kind = KIND_GONE;
	reap_children();
	out("exec ticks %d\n", g_exec_last);
}

/* ---- refuse -------------------------------------------------------------- */

static int g_plain_gone;

static void refuse_setup(void)
{
	extern char **environ;
	char *env[256], self[4096];
	int n = 0;
	pid_t l, pn;
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

	CHECK(len > 0, "readlink /proc/self/exe: %s", strerror(errno));
	self[len] = 0;

	l = xfork("L");
	if (!l)
		idle_child(g_root, 0, NULL, NULL);
	add_member("L", l, g_root, KIND_LIVE);
	for (char **e = environ; *e && n < 255; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11))
			env[n++] = *e;
	env[n] = NULL;
	pn = xfork("N");
	if (!pn) {
		char *args[] = { "tree_prog", "plain", NULL };

		execve(self, args, env);
		FAIL("N: execve: %s", strerror(errno));
	}
	add_member("N", pn, g_root, KIND_MORTAL);
	/* until N runs the program itself (exec'd) */
	for (int i = 0; i < 5000; i++) {
		char path[64], buf[64] = "";
		ssize_t r;

		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pn);
		int fd = open(path, O_RDONLY);

		if (fd >= 0) {
			r = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (r > 0 && !strcmp(buf, "tree_prog") && !strcmp(buf + 10, "plain"))
				break;
		}
		sleep_ms(1);
	}
}

static void refuse_tick(void)
{
	struct member *m = member("N");
	int st;
	pid_t w;

	if (g_plain_gone)
		return;
	w = waitpid(m->pid, &st, WNOHANG);
	CHECK(w >= 0, "waitpid(N): %s", strerror(errno));
	if (w == m->pid) {
		char got[64];

		describe_status(st, got, sizeof(got));
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "N %s, want killed %d", got,
		      SIGTERM);
		m->kind = KIND_GONE;
		g_plain_gone = 1;
		out("plain child reaped\n");
	}
}

static void refuse_finish(void)
{
	stop_child(member("L")->pid, "L", 0);
	if (!g_plain_gone) {
		kill(member("N")->pid, SIGTERM);
		wait_for(member("N")->pid);
	}
}

/* ---- pipeline ---------------------------------------------------------------- */

static struct chan g_pl = { .name = "pipeline" };
static int g_pl_fd = -1;		/* the root's end of the pipe from A and B */
static unsigned char g_pl_buf[4096];
static size_t g_pl_len;
static uint32_t g_pl_fwd, g_pl_hb, g_pl_last_fwd;
static int g_pl_end, g_pl_idle;

static __attribute__((noreturn)) void pl_a(int to_b, int to_root)
{
	uint32_t seq = 0, hb = 0;

	while (!g_stop) {
		chan_send(&g_pl, to_b, ++seq);
		if (seq % 20 == 0)
			chan_send(&g_pl, to_root, ++hb);
	}
	chan_send(&g_pl, to_b, REC_END);
	_exit(0);
}

static __attribute__((noreturn)) void pl_b(int from_a, int to_root, pid_t a)
{
	uint32_t expect = 1;

	for (;;) {
		unsigned char buf[sizeof(struct rec)];
		size_t have = 0;
		uint32_t seq;

		while (have < sizeof(buf)) {
			ssize_t n = read(from_a, buf + have, sizeof(buf) - have);

			if (n < 0 && errno == EINTR)
				continue;
			CHECK(n > 0, "B: read from A: %s", n ? strerror(errno) : "end of file");
			have += n;
		}
		seq = rec_check(&g_pl, buf, have, expect, a, g_root);
		chan_send(&g_pl, to_root, seq);
		if (seq == REC_END)
			_exit(0);
		expect++;
		sleep_ms(3);
	}
}

static void pl_read(int wait_ms)
{
	struct member *a = member("A"), *b = member("B");

	for (;;) {
		struct pollfd p = { g_pl_fd, POLLIN, 0 };
		size_t off = 0;
		ssize_t n;

		if (g_pl_end || poll(&p, 1, wait_ms) <= 0)
			return;	/* after B's end: A and B may have closed the pipe */
		n = read(g_pl_fd, g_pl_buf + g_pl_len, sizeof(g_pl_buf) - g_pl_len);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0, "pipeline: read: %s", n ? strerror(errno) : "end of file");
		g_pl_len += n;
		for (; g_pl_len - off >= sizeof(struct rec); off += sizeof(struct rec)) {
			const unsigned char *r = g_pl_buf + off;
			int32_t pid;

			memcpy(&pid, r + offsetof(struct rec, pid), sizeof(pid));
			if (pid == a->pid) {
				rec_check(&g_pl, r, sizeof(struct rec), g_pl_hb + 1, a->pid, g_root);
				g_pl_hb++;
			} else {
				CHECK(!g_pl_end, "pipeline: a record after B's end");
				if (rec_check(&g_pl, r, sizeof(struct rec), g_pl_fwd + 1, b->pid,
					      g_root) == REC_END)
					g_pl_end = 1;
				else
					g_pl_fwd++;
			}
		}
		memmove(g_pl_buf, g_pl_buf + off, g_pl_len - off);
		g_pl_len -= off;
		wait_ms = 0;
	}
}

static void pipeline_setup(void)
{
	int ab[2], up[2];
	pid_t a, b;

	CHECK(!pipe2(ab, O_CLOEXEC) && !pipe2(up, O_CLOEXEC), "pipe2: %s", strerror(errno));
	CHECK(fcntl(ab[1], F_SETPIPE_SZ, 4096) >= 4096, "F_SETPIPE_SZ: %s", strerror(errno));
	a = xfork("A");
	if (!a) {
		close(ab[0]);
		close(up[0]);
		pl_a(ab[1], up[1]);
	}
	b = xfork("B");
	if (!b) {
		close(ab[1]);
		close(up[0]);
		pl_b(ab[0], up[1], a);
	}
	close(ab[0]);
	close(ab[1]);
	close(up[1]);
	g_pl_fd = up[0];
	add_member("A", a, g_root, KIND_LIVE);
	add_member("B", b, g_root, KIND_LIVE);
	for (int i = 0; i < 500 && !g_pl_fwd; i++)
		pl_read(10);
	CHECK(g_pl_fwd, "pipeline: nothing came from B");
}

static void pipeline_tick(void)
{
	pl_read(0);
	if (g_pl_fwd != g_pl_last_fwd)
		g_pl_idle = 0;
	else
		CHECK(++g_pl_idle <= 4, "pipeline: nothing forwarded for %d ticks (last %u)",
		      g_pl_idle, g_pl_fwd);
	g_pl_last_fwd = g_pl_fwd;
}

static void pipeline_finish(void)
{
	CHECK(!kill(member("A")->pid, SIGUSR1), "kill(A): %s", strerror(errno));
	for (int i = 0; i < 1000 && !g_pl_end; i++)
		pl_read(10);
	CHECK(g_pl_end, "pipeline: B did not forward the end (%u records)", g_pl_fwd);
	reap_children();
	CHECK(g_pl_hb >= g_pl_fwd / 20 - 1, "pipeline: %u heartbeats for %u records", g_pl_hb,
	      g_pl_fwd);
	out("pipeline forwarded=%u heartbeats=%u\n", g_pl_fwd, g_pl_hb);
}

/* ---- sharedfile ---------------------------------------------------------------- */

#define SF_REC	10
static int g_sf_fd = -1;
static uint32_t g_sf_seq, g_sf_count[3], g_sf_last[3];
static int g_sf_idle[3];
static const char g_sf_who[3] = { 'R', 'A', 'B' };

static void sf_write(char who, uint32_t seq)
{
	char rec[SF_REC + 1];

	snprintf(rec, sizeof(rec), "%c%08u\n", who, seq);
	for (;;) {
		ssize_t n = write(g_sf_fd, rec, SF_REC);

		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n == SF_REC, "%s: write to the shared file: %s", g_who,
		      n < 0 ? strerror(errno) : "short");
		return;
	}
}

static __attribute__((noreturn)) void sf_child(char who)
{
	uint32_t seq = 0;

	while (!g_stop) {
		sf_write(who, ++seq);
		sleep_ms(2);
	}
	_exit(0);
}

/* Everything up to the shared offset: every writer's records, each once, in order. */
static void sf_check(void)
{
	off_t cur = lseek(g_sf_fd, 0, SEEK_CUR);
	uint32_t count[3] = { 0, 0, 0 };
	char *buf;

	CHECK(cur >= 0 && cur % SF_REC == 0, "shared file: offset %lld is not at a record",
	      (long long)cur);
	buf = malloc(cur + 1);
	CHECK(buf, "malloc");
	CHECK(pread(g_sf_fd, buf, cur, 0) == cur, "shared file: pread of %lld bytes: %s",
	      (long long)cur, strerror(errno));
	for (off_t off = 0; off < cur; off += SF_REC) {
		const char *r = buf + off;
		int k = r[0] == 'R' ? 0 : r[0] == 'A' ? 1 : r[0] == 'B' ? 2 : -1;
		unsigned seq;

		CHECK(k >= 0 && r[SF_REC - 1] == '\n' && sscanf(r + 1, "%8u", &seq) == 1,
		      "shared file: no record at offset %lld (%.10s)", (long long)off, r);
		CHECK(seq == count[k] + 1, "shared file: %c's record %u at offset %lld follows its "
		      "record %u (overwritten: the offset is not shared)", r[0], seq,
		      (long long)off, count[k]);
		count[k]++;
	}
	free(buf);
	CHECK(count[0] == g_sf_seq, "shared file: %u of the root's %u records", count[0], g_sf_seq);
	memcpy(g_sf_count, count, sizeof(count));
}

static void sharedfile_setup(void)
{
	const char *path = opt_str("file", NULL);

	CHECK(path, "mode sharedfile needs file=PATH");
	g_sf_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(g_sf_fd >= 0, "open %s: %s", path, strerror(errno));
	for (int k = 1; k < 3; k++) {
		char name[2] = { g_sf_who[k], 0 };
		pid_t pid = xfork(k == 1 ? "A" : "B");

		if (!pid)
			sf_child(g_sf_who[k]);
		add_member(name, pid, g_root, KIND_LIVE);
	}
}

static void sharedfile_tick(void)
{
	sf_write('R', ++g_sf_seq);
	sf_check();
	for (int k = 1; k < 3; k++) {
		if (g_sf_count[k] != g_sf_last[k])
			g_sf_idle[k] = 0;
		else
			CHECK(++g_sf_idle[k] <= 4, "shared file: nothing from %c for %d ticks",
			      g_sf_who[k], g_sf_idle[k]);
		g_sf_last[k] = g_sf_count[k];
	}
}

static void sharedfile_finish(void)
{
	stop_child(member("A")->pid, "A", 0);
	stop_child(member("B")->pid, "B", 0);
	sf_check();
	out("sharedfile bytes=%lld R=%u A=%u B=%u\n", (long long)lseek(g_sf_fd, 0, SEEK_CUR),
	    g_sf_count[0], g_sf_count[1], g_sf_count[2]);
}

/* ---- alone ----------------------------------------------------------------- */

static __attribute__((noreturn)) void alone_child(void)
{
	uint64_t counter = 0, shadow = 7;
	size_t words = 8192;
	uint64_t *heap = malloc(words * 8), seed = 99, sum;

	CHECK(heap, "malloc");
	for (size_t i = 0; i < words; i++)
		heap[i] = rng_next(&seed);
	sum = fnv1a(heap, words * 8);
	g_ppid = getppid();
	out("member K %d %d live\n", (int)getpid(), (int)g_ppid);
	out("ready\n");
	for (int t = 1; t <= g_ticks; t++) {
		g_tick = t;
		check_resumed();
		CHECK(counter == (uint64_t)(t - 1) && shadow == counter * 3 + 7,
		      "K: counter %llu shadow %llu at tick %d", (unsigned long long)counter,
		      (unsigned long long)shadow, t);
		CHECK(fnv1a(heap, words * 8) == sum, "K: heap checksum differs");
		heap[(t * 7919) % words] ^= 0x5a5a5a5a5a5aull * t;
		sum = fnv1a(heap, words * 8);
		counter++;
		shadow = counter * 3 + 7;
		tick_out(t);
		sleep_ms(g_tick_ms);
	}
	out("done\n");
	_exit(0);
}

/* ---- main ------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	struct sigaction sa;

	common_init(argc, argv);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	if (!strcmp(mode, "plain")) {
		for (;;)
			pause();
	}
	g_root = getpid();
	if (!strcmp(mode, "alone")) {
		pid_t k = xfork("K");
		int st;

		if (!k)
			alone_child();
		st = wait_for(k);
		return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
	out("root %d\n", (int)g_root);
	if (!strcmp(mode, "basic"))
		basic_setup();
	else if (!strcmp(mode, "pipes"))
		pipes_setup();
	else if (!strcmp(mode, "sockets"))
		sockets_setup();
	else if (!strcmp(mode, "tcp"))
		tcp_setup();
	else if (!strcmp(mode, "eventfd"))
		eventfd_setup();
	else if (!strcmp(mode, "zombies"))
		zombies_setup();
	else if (!strcmp(mode, "groups"))
		groups_setup();
	else if (!strcmp(mode, "shm"))
		shm_setup();
	else if (!strcmp(mode, "exec"))
		exec_setup();
	else if (!strcmp(mode, "refuse"))
		refuse_setup();
	else if (!strcmp(mode, "pipeline"))
		pipeline_setup();
	else if (!strcmp(mode, "sharedfile"))
		sharedfile_setup();
	else
		FAIL("unknown mode \"%s\" (basic pipes sockets tcp eventfd zombies groups shm exec "
		     "refuse pipeline sharedfile alone plain)", mode);
	if (g_nchan)
		chans_tick(0);
	out("ready\n");

	for (int t = 1; t <= g_ticks; t++) {
		int resumed;

		g_tick = t;
		resumed = check_resumed();
		if (!strcmp(mode, "refuse"))
			refuse_tick();
		check_members();
		if (g_nchan)
			chans_tick(resumed);
		else if (!strcmp(mode, "zombies"))
			zombies_tick();
		else if (!strcmp(mode, "groups"))
			groups_tick(resumed);
		else if (!strcmp(mode, "shm"))
			shm_tick(t);
		else if (!strcmp(mode, "eventfd"))
			eventfd_tick();
		else if (!strcmp(mode, "exec"))
			exec_tick();
		else if (!strcmp(mode, "pipeline"))
			pipeline_tick();
		else if (!strcmp(mode, "sharedfile"))
			sharedfile_tick();
		tick_out(t);
		sleep_ms(g_tick_ms);
	}

	if (!strcmp(mode, "basic"))
		basic_finish();
	else if (g_nchan) {
		chans_finish();
		reap_children();
	} else if (!strcmp(mode, "zombies"))
		zombies_finish();
	else if (!strcmp(mode, "groups"))
		groups_finish();
	else if (!strcmp(mode, "shm"))
		shm_finish();
	else if (!strcmp(mode, "eventfd"))
		eventfd_finish();
	else if (!strcmp(mode, "exec"))
		exec_finish();
	else if (!strcmp(mode, "refuse"))
		refuse_finish();
	else if (!strcmp(mode, "pipeline"))
		pipeline_finish();
	else if (!strcmp(mode, "sharedfile"))
		sharedfile_finish();
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "children left at the end");
	out("done\n");
	return 0;
}
