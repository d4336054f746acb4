/*
 * Keyset cursors for paged lists: a position (time in microseconds since
 * the Unix epoch, id) encoded as an opaque URL-safe string. Clients pass it
 * back unchanged; anything else decodes as invalid.
 */
#ifndef BLINKCHAT_CURSOR_H
#define BLINKCHAT_CURSOR_H

#include <stddef.h>

#define CURSOR_MAX 64

struct cursor {
    long long time_us;
    long long id;
};

/* Writes the encoded cursor to out (at least CURSOR_MAX bytes). */
void cursor_encode(const struct cursor *c, char *out, size_t out_size);

/* Decodes s into c. Returns 0, or -1 when s is not a cursor this module
 * wrote (wrong alphabet, length, layout or non-canonical numbers). */
int cursor_decode(const char *s, struct cursor *c);

#endif
