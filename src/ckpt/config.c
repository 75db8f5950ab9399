/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "ckpt/ctl.h"
#include "log.h"
#include "signame.h"

struct ckpt_config ckpt_cfg;

static int parse_signal(const char *s, int def)
{
	return s && *s ? ckpt_signal_parse(s) : def;
}

/* The signals libckpt may never take over: they would break the program or the kernel's job control. */
static int signal_usable(int sig)
{
	return sig != SIGKILL && sig != SIGSTOP && sig != SIGSEGV && sig != SIGBUS &&
	       sig != SIGILL && sig != SIGFPE && sig != SIGCHLD && sig != SIGCONT &&
	       sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU && sig >= 1 &&
	       sig < NSIG && (sig < 32 || sig >= SIGRTMIN);	/* 32, 33: glibc's own */
}

static void program_name(char *out, size_t len)
{
	char comm[64];

	if (ckpt_read_file("/proc/self/comm", comm, sizeof(comm)) <= 0)
		strcpy(comm, "app");
	comm[strcspn(comm, "\n")] = 0;
	for (char *p = comm; *p; p++)
		if (*p == '/' || *p == ' ' || *p == '.')
			*p = '_';
	snprintf(out, len, "%s", comm);
}

static int env_flag(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

static int parse_compress(struct ckpt_config *cfg)
{
	const char *v = getenv("CKPT_COMPRESS"), *t = getenv("CKPT_COMPRESS_THREADS");

	cfg->compress_threads = t && *t ? atoi(t) : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (!v || !*v || !strcmp(v, "none") || !strcmp(v, "0"))
		return 0;
	if (strncmp(v, "zstd", 4) || (v[4] && v[4] != ':')) {
		pr_err("CKPT_COMPRESS=%s: only zstd[:LEVEL] is supported", v);
		return -EINVAL;
	}
	cfg->compress = 1;
	cfg->compress_level = v[4] ? atoi(v + 5) : 1;
	return 0;
}

int ckpt_config_load(struct ckpt_config *cfg)
{
	const char *dir = getenv("CKPT_DIR");
	const char *iv = getenv("CKPT_INTERVAL");

	cfg->trigger_sig = parse_signal(getenv("CKPT_SIGNAL"), SIGUSR2);
	cfg->stop_sig = parse_signal(getenv("CKPT_STOP_SIGNAL"), SIGRTMAX - 1);
	if (cfg->trigger_sig < 0 || !signal_usable(cfg->trigger_sig)) {
		pr_err("CKPT_SIGNAL=%s is not a signal libckpt can use", getenv("CKPT_SIGNAL"));
		return -EINVAL;
	}
	if (cfg->stop_sig < 0 || !signal_usable(cfg->stop_sig) ||
	    cfg->stop_sig == cfg->trigger_sig) {
		pr_err("CKPT_STOP_SIGNAL=%s is not a signal libckpt can use",
		       getenv("CKPT_STOP_SIGNAL"));
		return -EINVAL;
	}
	cfg->interval = iv ? (unsigned)strtoul(iv, NULL, 10) : 0;
	cfg->durable = !env_flag("CKPT_NO_FSYNC");
	cfg->incremental = env_flag("CKPT_INCREMENTAL");
	cfg->tree = !getenv("CKPT_TREE") || env_flag("CKPT_TREE");
	if (parse_compress(cfg))
		return -EINVAL;
	if (dir && *dir) {
		if (dir[0] == '/')
			snprintf(cfg->dir, sizeof(cfg->dir), "%s", dir);
		else if (!getcwd(cfg->dir, sizeof(cfg->dir) - strlen(dir) - 2))
			return -errno;
		else
			snprintf(cfg->dir + strlen(cfg->dir), sizeof(cfg->dir) - strlen(cfg->dir),
				 "/%s", dir);
	} else if (!getcwd(cfg->dir, sizeof(cfg->dir))) {
		return -errno;
	}
	snprintf(cfg->run_dir, sizeof(cfg->run_dir), CKPT_RUN_DIR_FMT, (unsigned)getuid());
	program_name(cfg->name, sizeof(cfg->name));
	return 0;
}
