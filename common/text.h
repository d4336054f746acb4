/*
 * Validation of user-supplied text: UTF-8 well-formedness (RFC 3629),
 * character counts and the username and display-name rules of the API.
 */
#ifndef BLINKCHAT_TEXT_H
#define BLINKCHAT_TEXT_H

#include <stddef.h>

/*
 * Returns the number of code points in s[0..len), or -1 when s is not
 * well-formed UTF-8 (overlong forms, surrogates and values past U+10FFFF
 * included) or contains a NUL byte.
 */
long text_utf8_length(const char *s, size_t len);

/* Returns 1 when s[0..len) contains only white space (Unicode White_Space)
 * and zero-width characters. */
int text_is_blank(const char *s, size_t len);

/* Returns 1 for 3 to 32 characters of a-z, A-Z, 0-9, '_', '.', '-'. */
int text_valid_username(const char *s, size_t len);

/* Returns 1 when s is well-formed UTF-8 of min to max code points and not
 * only white space. */
int text_valid_length(const char *s, size_t len, long min, long max);

/* Returns 1 for a valid length (above) without control characters or the
 * bidirectional controls that reorder surrounding text: display names and
 * titles, shown beside other people's text. */
int text_valid_name(const char *s, size_t len, long min, long max);

/* Returns 1 for a valid length (above) without control characters other
 * than tab, line feed and carriage return: message bodies. */
int text_valid_body(const char *s, size_t len, long min, long max);

/* Parses a positive decimal id of at most 18 digits, without sign, spaces
 * or leading zeros. Returns it, or -1. */
long long text_parse_id(const char *s);

/* Returns 1 when s is a UUID in its 8-4-4-4-12 hexadecimal text form. */
int text_valid_uuid(const char *s, size_t len);

#endif
