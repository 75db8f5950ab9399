/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int ckpt_log_level = CKPT_LOG_WARN;
static char log_prefix[24] = "ckpt";

static const char *const level_names[] = { "error", "warning", "info", "debug" };

int ckpt_log_parse_level(const char *s)
{
	for (int i = 0; i <= CKPT_LOG_DEBUG; i++)
		if (!strcmp(s, level_names[i]))
			return i;
	if (!strcmp(s, "warn"))
		return CKPT_LOG_WARN;
	if (s[0] >= '0' && s[0] <= '3' && !s[1])
		return s[0] - '0';
	return -1;
}

void ckpt_log_init(const char *prefix)
{
	const char *env = getenv("CKPT_LOG");

	if (prefix)
		snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
	if (env && *env) {
		int lvl = ckpt_log_parse_level(env);

		if (lvl >= 0)
			ckpt_log_level = lvl;
	}
}

void ckpt_log_at(int level, const char *file, int line, const char *fmt, ...)
{
	char buf[1024];
	int n;
	va_list ap;

	if (ckpt_log_level >= CKPT_LOG_DEBUG) {
		const char *base = strrchr(file, '/');

		n = snprintf(buf, sizeof(buf), "%s[%d]: %s: %s:%d: ", log_prefix,
			     (int)getpid(), level_names[level], base ? base + 1 : file, line);
	} else {
		n = snprintf(buf, sizeof(buf), "%s: %s: ", log_prefix,
			     level == CKPT_LOG_INFO ? "" : level_names[level]);
		if (level == CKPT_LOG_INFO)
			n -= 2;
	}
	if (n < 0 || n >= (int)sizeof(buf))
		n = 0;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, n);
}
