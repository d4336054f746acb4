/*
 * Logging: one line per event, "TIME LEVEL COMPONENT [ctx] message".
 * The level is checked by the macros in log.h before any formatting.
 */
#define _POSIX_C_SOURCE 200809L
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static char component_name[32] = "blinkchat";
static char context_request[40];
static long long context_user;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *component, const char *level_name)
{
    snprintf(component_name, sizeof(component_name), "%s", component);
    if (level_name == NULL)
        return;
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcasecmp(level_name, level_names[i]) == 0)
            min_level = (enum log_level)i;
    }
}

int log_enabled(enum log_level level)
{
    return level >= min_level;
}

void log_set_context(const char *request_id, long long user_id)
{
    snprintf(context_request, sizeof(context_request), "%s",
             request_id ? request_id : "");
    context_user = user_id;
}

void log_clear_context(void)
{
    context_request[0] = '\0';
    context_user = 0;
}

/* Appends to line at *len, keeping *len within the buffer on truncation. */
static void append(char *line, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *line, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len >= size - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *len += (size_t)n;
    if (*len > size - 1)
        *len = size - 1;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char line[2048];
    struct timespec now;
    struct tm tm;
    size_t len;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    append(line, sizeof(line), &len, ".%03ldZ %s %s", now.tv_nsec / 1000000,
           level_names[level], component_name);
    if (context_request[0] != '\0')
        append(line, sizeof(line), &len, " req=%s", context_request);
    if (context_user > 0)
        append(line, sizeof(line), &len, " user=%lld", context_user);
    append(line, sizeof(line), &len, " ");
    if (len < sizeof(line) - 1) {
        va_start(ap, fmt);
        vsnprintf(line + len, sizeof(line) - len, fmt, ap);
        va_end(ap);
    }
    /* Keep one event on one line even if a value contained a newline. */
    for (char *p = line; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    fprintf(stderr, "%s\n", line);
}
