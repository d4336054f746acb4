/*
 * A growable byte buffer with a hard maximum, for response bodies built
 * from pieces. Appends past the maximum fail and leave the buffer marked
 * as failed, so a caller may append many times and check once at the end.
 */
#ifndef BLINKCHAT_BUF_H
#define BLINKCHAT_BUF_H

#include <stddef.h>

struct buf {
    char *data;     /* NUL-terminated when len > 0; owned */
    size_t len;
    size_t cap;
    size_t max;
    int failed;     /* set when an append hit the maximum or malloc failed */
};

void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included (RFC 8259 section 7). */
int buf_json_string(struct buf *b, const char *s, size_t len);
void buf_free(struct buf *b);

#endif
