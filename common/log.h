/*
 * One-line structured logging to stderr, shared by the API and the push
 * daemon. Each line carries a UTC timestamp, the level, the component set
 * at start-up and the request context (request id, user id) when one is
 * set. Callers never log secrets, passwords, tokens or message bodies.
 */
#ifndef BLINKCHAT_LOG_H
#define BLINKCHAT_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *component, const char *level_name);
int log_enabled(enum log_level level);
void log_set_context(const char *request_id, long long user_id);
void log_clear_context(void);
void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) \
    do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) \
    do { if (log_enabled(LOG_INFO)) log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_warn(...) \
    do { if (log_enabled(LOG_WARN)) log_write(LOG_WARN, __VA_ARGS__); } while (0)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
