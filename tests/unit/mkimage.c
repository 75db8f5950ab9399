/* SPDX-License-Identifier: MIT */
/*
 * Test helper: writes an image of itself with the image writer, so that
 * ckpt-info can be tested without libckpt. The regions come from
 * /proc/self/maps, the leader's registers from getcontext() two calls deep
 * (its stack is stored, so a backtrace must find capture_deep, capture and
 * main), a worker's from the ucontext of a signal that interrupted it in
 * nanosleep (as libckpt captures threads: the backtrace must go through
 * libc to worker_loop and worker_main). A third thread, stopped where
 * nothing is mapped, the fds, a timer and a plugin section are made up.
 *
 *   mkimage OUTPUT
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "image_write.h"

#define MAX_REGIONS	512

static struct ckpt_region regions[MAX_REGIONS];
static uint32_t nr_regions;
static struct ckpt_run runs[MAX_REGIONS];
static uint32_t nr_runs;
static char strings[65536];
static uint32_t strings_len;
static struct ckpt_proc proc;
static struct ckpt_thread threads[3];

/* The worker's state, taken by its signal handler. */
static struct {
	pid_t tid;
	uint64_t sp;			/* an address in its stack */
	uint64_t stack_start, stack_end;	/* the region holding its stack */
	gregset_t gregs;
	uint64_t from;			/* stack copied from here to stack_end */
	void *copy;
	volatile sig_atomic_t ready, captured;
} worker;

static void die(const char *what)
{
	fprintf(stderr, "mkimage: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint32_t str_add(const char *s)
{
	uint32_t off = strings_len;
	size_t len = strlen(s) + 1;

	if (len > sizeof(strings) - strings_len) {
		errno = ENOSPC;
		die("string table");
	}
	memcpy(strings + off, s, len);
	strings_len += len;
	return off;
}

static void on_usr1(int sig)
{
}

/* Raw stack memory: under AddressSanitizer it holds redzones, read them too. */
static __attribute__((no_sanitize_address)) void copy_stack(void *dst, uint64_t from,
							   uint64_t len)
{
	const volatile uint64_t *src = (const volatile uint64_t *)(uintptr_t)from;
	uint64_t *d = dst;

	for (uint64_t i = 0; i < len / sizeof(*d); i++)
		d[i] = src[i];
}

static void on_capture(int sig, siginfo_t *si, void *ctx)
{
	const ucontext_t *uc = ctx;

	memcpy(worker.gregs, uc->uc_mcontext.gregs, sizeof(worker.gregs));
	worker.from = uc->uc_mcontext.gregs[REG_RSP] & ~(uint64_t)(CKPT_PAGE_SIZE - 1);
	if (worker.from < worker.stack_start)
		worker.from = worker.stack_start;
	copy_stack(worker.copy, worker.from, worker.stack_end - worker.from);
	worker.captured = 1;
}

static __attribute__((noinline)) void worker_loop(void)
{
	struct timespec ts = { .tv_sec = 1 };

	worker.sp = (uint64_t)(uintptr_t)&ts;
	worker.ready = 1;
	for (;;)
		nanosleep(&ts, NULL);
}

static void *worker_main(void *arg)
{
	worker.tid = gettid();
	worker_loop();
	return NULL;
}

static uint32_t region_kind(const char *name, int shared)
{
	if (!strcmp(name, "[heap]"))
		return CKPT_REG_HEAP;
	if (!strcmp(name, "[stack]"))
		return CKPT_REG_STACK;
	if (!strcmp(name, "[vdso]"))
		return CKPT_REG_VDSO;
	if (!strcmp(name, "[vvar]"))
		return CKPT_REG_VVAR;
	if (!strcmp(name, "[vvar_vclock]"))
		return CKPT_REG_VVAR_VCLOCK;
	if (name[0] == '/')
		return CKPT_REG_FILE;
	return shared ? CKPT_REG_SHANON : CKPT_REG_ANON;
}

static void add_region(unsigned long long start, unsigned long long end, const char *perms,
		       unsigned long long off, const char *name)
{
	struct ckpt_region *r = &regions[nr_regions++];
	struct stat st;

	r->start = start;
	r->end = end;
	r->prot = (perms[0] == 'r' ? 1 : 0) | (perms[1] == 'w' ? 2 : 0) | (perms[2] == 'x' ? 4 : 0);
	r->flags = perms[3] == 's' ? CKPT_REGF_SHARED : 0;
	r->kind = region_kind(name, perms[3] == 's');
	r->name_str = str_add(name);
	r->pgoff = r->kind == CKPT_REG_FILE ? off : 0;
	if (r->kind == CKPT_REG_FILE && !stat(name, &st)) {
		r->dev = st.st_dev;
		r->ino = st.st_ino;
		r->file_size = st.st_size;
		r->mtime_sec = st.st_mtim.tv_sec;
		r->mtime_nsec = st.st_mtim.tv_nsec;
	}
}

static void read_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];

	if (!f)
		die("/proc/self/maps");
	while (fgets(line, sizeof(line), f) && nr_regions < MAX_REGIONS) {
		unsigned long long start, end, off;
		char perms[8], name[4096] = "";
		int pos = 0;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off,
			   &pos) < 4)
			continue;
		sscanf(line + pos, "%4095[^\n]", name);
		if (!strcmp(name, "[vsyscall]"))
			continue;
		add_region(start, end, perms, off, name);
	}
	fclose(f);
}

static void mapping_of(uint64_t addr, uint64_t *start, uint64_t *end)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long long s, e;
	char line[4096];

	if (!f)
		die("/proc/self/maps");
	*start = *end = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx", &s, &e) == 2 && addr >= s && addr < e) {
			*start = s;
			*end = e;
			break;
		}
	fclose(f);
	if (!*end) {
		errno = EFAULT;
		die("worker stack not mapped");
	}
}

static struct ckpt_region *region_of(uint64_t addr)
{
	for (uint32_t i = 0; i < nr_regions; i++)
		if (addr >= regions[i].start && addr < regions[i].end)
			return &regions[i];
	return NULL;
}

/* Stores copy, taken from the stack at from up to the end of its region. */
static void write_stack(struct ckpt_writer *w, uint64_t from, const void *copy)
{
	struct ckpt_region *r = region_of(from);
	uint64_t len;

	if (!r) {
		errno = EFAULT;
		die("stack pointer outside any region");
	}
	len = r->end - from;
	if (ckpt_writer_pages(w, copy, len / CKPT_PAGE_SIZE, &runs[nr_runs]))
		die("write pages");
	runs[nr_runs].vaddr = from;
	r->first_run = nr_runs++;
	r->nr_runs = 1;
	r->bytes_stored = len;
	r->bytes_present = len;
}

/*
 * The leader's stack from the page holding sp up. It is copied first: the
 * writer's own calls change the part below sp while it hashes and writes,
 * and the stored bytes must match the run's hash.
 */
static void write_leader_stack(struct ckpt_writer *w, uint64_t sp)
{
	uint64_t from = sp & ~(uint64_t)(CKPT_PAGE_SIZE - 1);
	struct ckpt_region *r = region_of(from);
	void *copy;

	if (!r) {
		errno = EFAULT;
		die("stack pointer outside any region");
	}
	copy = malloc(r->end - from);
	if (!copy)
		die("malloc");
	copy_stack(copy, from, r->end - from);
	write_stack(w, from, copy);
	free(copy);
}

static void proc_stat(void)
{
	unsigned long long v[52] = { 0 };
	char buf[4096], *p;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;

	if (!f)
		die("/proc/self/stat");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* Fields from 3 on follow the command name; 45..51 are the mm ranges. */
	for (int i = 3; p && i <= 51; i++) {
		p = strchr(p + 1, ' ');
		if (p)
			v[i] = strtoull(p + 1, NULL, 10);
	}
	proc.start_code = v[26];
	proc.end_code = v[27];
	proc.start_stack = v[28];
	proc.start_data = v[45];
	proc.end_data = v[46];
	proc.start_brk = v[47];
	proc.arg_start = v[48];
	proc.arg_end = v[49];
	proc.env_start = v[50];
	proc.env_end = v[51];
}

static void fill_proc(void)
{
	char path[4096];
	ssize_t n;

	proc.pid = getpid();
	proc.ppid = getppid();
	proc.pgid = getpgrp();
	proc.sid = getsid(0);
	proc.uid = getuid();
	proc.gid = getgid();
	proc.euid = geteuid();
	proc.egid = getegid();
	proc.umask = umask(022);
	umask(proc.umask);
	proc.nr_threads = 3;
	proc.personality = personality(0xffffffff);
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = 0;
	proc.exe_str = str_add(path);
	proc.cwd_str = str_add(getcwd(path, sizeof(path)) ? path : "/");
	proc.brk = (uint64_t)(uintptr_t)sbrk(0);
	proc_stat();
	for (int i = 0; i < CKPT_NR_RLIMITS; i++) {
		struct rlimit rl;

		if (!getrlimit(i, &rl)) {
			proc.rlim[i].cur = rl.rlim_cur;
			proc.rlim[i].max = rl.rlim_max;
		}
	}
	for (int sig = 1; sig <= CKPT_NR_SIGNALS; sig++) {
		struct sigaction sa;

		if (sigaction(sig, NULL, &sa))
			continue;
		proc.sigact[sig - 1].handler = (uint64_t)(uintptr_t)sa.sa_handler;
		proc.sigact[sig - 1].flags = sa.sa_flags;
		proc.sigact[sig - 1].restorer = (uint64_t)(uintptr_t)sa.sa_restorer;
		memcpy(&proc.sigact[sig - 1].mask, &sa.sa_mask, sizeof(uint64_t));
	}
	proc.itimer[ITIMER_REAL].value_sec = 5;
	proc.itimer[ITIMER_REAL].interval_usec = 250000;
	proc.shared_pending = 1ull << (SIGUSR2 - 1);
	prctl(PR_GET_NAME, proc.comm);
}

static void fill_threads(const ucontext_t *uc)
{
	struct ckpt_thread *t = &threads[0];

	t->tid = proc.pid;
	t->flags = CKPT_THREAD_LEADER | CKPT_THREAD_COORD;
	memcpy(t->gregs, uc->uc_mcontext.gregs, sizeof(t->gregs));
	memcpy(&t->sigmask, &uc->uc_sigmask, sizeof(t->sigmask));
	memcpy(t->comm, proc.comm, sizeof(t->comm));
	t = &threads[1];
	t->tid = worker.tid;
	memcpy(t->gregs, worker.gregs, sizeof(t->gregs));
	strcpy(t->comm, "worker");
	/* A thread stopped at an address that nothing maps; pid_max < 1 << 22. */
	t = &threads[2];
	t->tid = 1 << 22;
	t->gregs[REG_RIP] = 0x1000;
	t->pending = 1ull << (SIGALRM - 1);
	strcpy(t->comm, "lost\033[31m");
}

static void write_metadata(struct ckpt_writer *w)
{
	static const char plugin_data[16] = "plugin-state";
	struct ckpt_plugin_hdr ph = { .name = "demo", .version = 2,
				      .size = sizeof(plugin_data) };
	struct ckpt_fd fds[4] = {
		{ .fd = 0, .kind = CKPT_FD_STDIO, .flags = O_RDWR, .path_str = str_add("/dev/pts/0") },
		{ .fd = 1, .kind = CKPT_FD_STDIO, .flags = O_WRONLY | O_APPEND,
		  .path_str = str_add("pipe:[1234]") },
		{ .fd = 2, .kind = CKPT_FD_CHR, .flags = O_WRONLY, .path_str = str_add("/dev/null") },
		{ .fd = 7, .kind = CKPT_FD_REG, .flags = O_RDONLY, .fdflags = FD_CLOEXEC, .pos = 4096,
		  .path_str = str_add("/etc/h\xc3\xa9llo \"quoted\"\n\xff") },
	};
	struct ckpt_timer timer = {
		.id = 0, .clockid = CLOCK_MONOTONIC, .notify = SIGEV_SIGNAL, .signo = SIGALRM,
		.value_sec = 1, .interval_nsec = 500000000,
	};

	if (ckpt_writer_end_pages(w) ||
	    ckpt_writer_section(w, CKPT_SEC_PROC, &proc, sizeof(proc)) ||
	    ckpt_writer_section(w, CKPT_SEC_THREADS, threads, sizeof(threads)) ||
	    ckpt_writer_section(w, CKPT_SEC_REGIONS, regions, nr_regions * sizeof(regions[0])) ||
	    ckpt_writer_section(w, CKPT_SEC_RUNS, runs, nr_runs * sizeof(runs[0])) ||
	    ckpt_writer_section(w, CKPT_SEC_FDS, fds, sizeof(fds)) ||
	    ckpt_writer_section(w, CKPT_SEC_TIMERS, &timer, sizeof(timer)) ||
	    ckpt_writer_section2(w, CKPT_SEC_PLUGIN, &ph, sizeof(ph), plugin_data,
				 sizeof(plugin_data)) ||
	    ckpt_writer_section(w, CKPT_SEC_STRINGS, strings, strings_len))
		die("write sections");
}

static void write_image(const char *out, const ucontext_t *uc)
{
	char dir[4096], name[4096];
	struct ckpt_header hdr = { .pause_ns = 1234567, .seq = 3 };
	struct ckpt_writer w;
	struct timespec now;
	int dir_fd;

	snprintf(dir, sizeof(dir), "%s", out);
	snprintf(name, sizeof(name), "%s", out);
	dir_fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		die(dir);
	if (ckpt_writer_open(&w, dir_fd, basename(name), 0))
		die("writer open");
	str_add("");
	fill_proc();
	read_maps();
	fill_threads(uc);
	write_leader_stack(&w, uc->uc_mcontext.gregs[REG_RSP]);
	write_stack(&w, worker.from, worker.copy);
	write_metadata(&w);
	clock_gettime(CLOCK_REALTIME, &now);
	hdr.created_ns = now.tv_sec * 1000000000ull + now.tv_nsec;
	hdr.pid = proc.pid;
	memcpy(hdr.comm, proc.comm, sizeof(hdr.comm));
	if (ckpt_writer_finish(&w, &hdr))
		die("writer finish");
	close(dir_fd);
}

/* Not inlined, and not tail calls: each must stay a frame of its own. */
static __attribute__((noinline)) int capture_deep(const char *out)
{
	ucontext_t uc;

	getcontext(&uc);
	write_image(out, &uc);
	__asm__ volatile("" ::: "memory");
	return 0;
}

static __attribute__((noinline)) int capture(const char *out)
{
	int ret = capture_deep(out);

	__asm__ volatile("" ::: "memory");
	return ret;
}

/* Starts the worker and interrupts it in nanosleep, as libckpt would. */
static void capture_worker(void)
{
	struct sigaction sa = { .sa_sigaction = on_capture, .sa_flags = SA_SIGINFO };
	struct timespec tick = { .tv_nsec = 1000000 };
	pthread_t th;
	int err;

	sigaction(SIGURG, &sa, NULL);
	err = pthread_create(&th, NULL, worker_main, NULL);
	if (err) {
		errno = err;
		die("pthread_create");
	}
	while (!worker.ready)
		nanosleep(&tick, NULL);
	mapping_of(worker.sp, &worker.stack_start, &worker.stack_end);
	worker.copy = malloc(worker.stack_end - worker.stack_start);
	if (!worker.copy)
		die("malloc");
	pthread_kill(th, SIGURG);
	while (!worker.captured)
		nanosleep(&tick, NULL);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };

	if (argc != 2) {
		fprintf(stderr, "usage: mkimage OUTPUT\n");
		return 2;
	}
	sigaddset(&sa.sa_mask, SIGINT);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	capture_worker();
	return capture(argv[1]);
}
