/* SPDX-License-Identifier: Apache-2.0 */
/* log.h -- leveled logging to stderr shared by operator and worker.
 *
 * A low-level primitive: depends on libc only. Lines are
 * "<RFC3339 time> <level> <module>: <message>" so that `kubectl logs` output
 * reads and greps the same on every component. Never log secrets (tokens,
 * S3 keys): callers pass redacted values.
 */
#ifndef PODPROF_LOG_H
#define PODPROF_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

/* Set the most verbose level printed (default LOG_LVL_INFO). */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);

/* Parse "error|warn|info|debug"; returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);

void log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level lvl, const char *module, const char *fmt, va_list ap);

#define log_error(mod, ...) log_msg(LOG_LVL_ERROR, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_LVL_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_msg(LOG_LVL_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_msg(LOG_LVL_DEBUG, mod, __VA_ARGS__)

#endif
