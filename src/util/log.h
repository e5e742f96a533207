/* SPDX-License-Identifier: MIT */
/*
 * Levelled logging to stderr, shared by every component.
 *
 * Lines are written with one write(2) so threads never interleave. When stderr
 * is connected to the journal (systemd sets $JOURNAL_STREAM), each line carries
 * a "<N>" syslog priority prefix and no timestamp (journald adds its own);
 * otherwise lines look like "2026-11-24T22:40:01.123Z WARN  message".
 */
#ifndef OVL_UTIL_LOG_H
#define OVL_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LVL_ERROR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

/* Parses "error", "warn", "info", "debug" (also "warning", "trace" = debug). */
int log_level_parse(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_LVL_DEBUG))                                                    \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
