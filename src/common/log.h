/* SPDX-License-Identifier: MIT */
#ifndef CKPT_LOG_H
#define CKPT_LOG_H

/*
 * One logger for every component. Messages go to stderr with a single
 * write(2), so it may be used from signal handlers and from the writer
 * child (no locks, no malloc). CKPT_LOG=error|warn|info|debug.
 */
enum ckpt_log_level {
	CKPT_LOG_ERROR = 0,
	CKPT_LOG_WARN,
	CKPT_LOG_INFO,
	CKPT_LOG_DEBUG,
};

extern int ckpt_log_level;

void ckpt_log_init(const char *prefix);
int ckpt_log_parse_level(const char *s);
void ckpt_log_at(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define pr_at(lvl, ...) do { \
	if ((lvl) <= ckpt_log_level) \
		ckpt_log_at((lvl), __FILE__, __LINE__, __VA_ARGS__); \
} while (0)

#define pr_err(...)	pr_at(CKPT_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)	pr_at(CKPT_LOG_WARN, __VA_ARGS__)
#define pr_info(...)	pr_at(CKPT_LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	pr_at(CKPT_LOG_DEBUG, __VA_ARGS__)

#endif
