/* SPDX-License-Identifier: MIT */
/* Process-wide state: identity, mm fields, limits, signal handlers, itimers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "ckpt.h"
#include "log.h"

/* Fields of /proc/self/stat after the command name, numbered as in proc(5). */
static int parse_stat(struct ckpt_proc *p)
{
	char buf[2048], *s;
	unsigned long long v[64] = { 0 };
	int field = 3;

	if (ckpt_read_file("/proc/self/stat", buf, sizeof(buf)) <= 0)
		return -EIO;
	s = strrchr(buf, ')');
	if (!s)
		return -EIO;
	s += 2;
	while (*s && field < 64) {
		if (field == 3)
			s += 2;	/* state letter */
		else
			v[field] = strtoull(s, &s, 10);
		while (*s == ' ')
			s++;
		field++;
	}
	p->start_code = v[26];
	p->end_code = v[27];
	p->start_stack = v[28];
	p->start_data = v[45];
	p->end_data = v[46];
	p->start_brk = v[47];
	p->arg_start = v[48];
	p->arg_end = v[49];
	p->env_start = v[50];
	p->env_end = v[51];
	return 0;
}

static int read_auxv(struct ckpt_proc *p)
{
	int fd = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, p->auxv, sizeof(p->auxv));
	close(fd);
	if (n < 0)
		return -errno;
	p->auxv_words = n / sizeof(uint64_t);
	return 0;
}

static uint64_t read_xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static void capture_signals(struct ckpt_proc *p)
{
	char buf[4096];

	for (int sig = 1; sig <= CKPT_NR_SIGNALS; sig++)
		syscall(SYS_rt_sigaction, sig, NULL, &p->sigact[sig - 1], 8);
	if (ckpt_read_file("/proc/self/status", buf, sizeof(buf)) <= 0)
		return;
	p->shared_pending = ckpt_status_field(buf, "ShdPnd:", 16);
	p->umask = ckpt_status_field(buf, "Umask:", 8);
	/* per thread: the leader's, not that of our coordinator thread */
	p->no_new_privs = ckpt_status_field(buf, "NoNewPrivs:", 10);
}

static void capture_itimers(struct ckpt_proc *p)
{
	for (int i = 0; i < 3; i++) {
		struct itimerval it;

		if (getitimer(i, &it))
			continue;
		p->itimer[i].interval_sec = it.it_interval.tv_sec;
		p->itimer[i].interval_usec = it.it_interval.tv_usec;
		p->itimer[i].value_sec = it.it_value.tv_sec;
		p->itimer[i].value_usec = it.it_value.tv_usec;
	}
}

/* Per thread: the leader's, not that of our coordinator thread (started before main). */
static uint32_t leader_personality(void)
{
	char buf[32];

	if (ckpt_read_file("/proc/self/personality", buf, sizeof(buf)) > 0)
		return strtoul(buf, NULL, 16);
	return personality(0xffffffff);
}

int ckpt_capture_proc(struct ckpt_capture *c)
{
	struct ckpt_proc *p = &c->proc;
	char path[4096];
	struct stat st;
	ssize_t n;
	int ret;

	memset(p, 0, sizeof(*p));
	p->pid = getpid();
	p->ppid = getppid();
	p->pgid = getpgid(0);
	p->sid = getsid(0);
	p->uid = getuid();
	p->gid = getgid();
	p->euid = geteuid();
	p->egid = getegid();
	p->personality = leader_personality();
	p->lib_resume = (uint64_t)(uintptr_t)&ckpt_resume_info;
	p->clock_mono_ns = ckpt_mono_ns();
	p->xcr0 = read_xcr0();
	p->brk = syscall(SYS_brk, 0);
	ret = parse_stat(p);
	if (!ret)
		ret = read_auxv(p);
	if (ret) {
		ckpt_fail(c, "cannot read /proc/self: %s", strerror(-ret));
		return ret;
	}
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n < 0 || stat("/proc/self/exe", &st)) {
		ckpt_fail(c, "cannot read /proc/self/exe: %s", strerror(errno));
		return -errno;
	}
	path[n] = 0;
	p->exe_str = ckpt_str_add(c, path);
	p->exe_dev = st.st_dev;
	p->exe_ino = st.st_ino;
	p->exe_size = st.st_size;
	p->exe_mtime_sec = st.st_mtim.tv_sec;
	p->exe_mtime_nsec = st.st_mtim.tv_nsec;
	if (!getcwd(path, sizeof(path))) {
		ckpt_fail(c, "cannot read the working directory: %s", strerror(errno));
		return -errno;
	}
	p->cwd_str = ckpt_str_add(c, path);
	for (int i = 0; i < CKPT_NR_RLIMITS && i < RLIM_NLIMITS; i++) {
		struct rlimit rl;

		if (getrlimit(i, &rl))
			continue;
		p->rlim[i].cur = rl.rlim_cur;
		p->rlim[i].max = rl.rlim_max;
	}
	capture_signals(p);
	capture_itimers(p);
	p->dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_GET_CHILD_SUBREAPER, &p->child_subreaper, 0, 0, 0);
	if (ckpt_read_file("/proc/self/comm", path, sizeof(path)) > 0) {
		path[strcspn(path, "\n")] = 0;
		snprintf(p->comm, sizeof(p->comm), "%s", path);
	}
	return 0;
}
