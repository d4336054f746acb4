/*
 * Cursor encoding: "v1:<time_us>:<id>" in unpadded base64url. The version
 * prefix lets a later format reject old cursors with a clear 400.
 */
#include "cursor.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void cursor_encode(const struct cursor *c, char *out, size_t out_size)
{
    char plain[48];
    int len = snprintf(plain, sizeof(plain), "v1:%lld:%lld", c->time_us, c->id);

    sodium_bin2base64(out, out_size, (const unsigned char *)plain,
                      (size_t)len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Parses a non-negative decimal without sign or leading zeros. */
static const char *parse_number(const char *s, long long *value)
{
    long long n = 0;
    const char *start = s;

    if (*s == '0' && s[1] >= '0' && s[1] <= '9')
        return NULL;
    while (*s >= '0' && *s <= '9') {
        if (s - start >= 18)
            return NULL;
        n = n * 10 + (*s - '0');
        s++;
    }
    if (s == start)
        return NULL;
    *value = n;
    return s;
}

int cursor_decode(const char *s, struct cursor *c)
{
    unsigned char plain[48];
    size_t len;
    const char *p;

    if (s == NULL || strlen(s) >= CURSOR_MAX)
        return -1;
    if (sodium_base642bin(plain, sizeof(plain) - 1, s, strlen(s), NULL, &len,
                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    plain[len] = '\0';
    if (memchr(plain, '\0', len) != NULL || strncmp((char *)plain, "v1:", 3) != 0)
        return -1;
    p = parse_number((const char *)plain + 3, &c->time_us);
    if (p == NULL || *p != ':')
        return -1;
    p = parse_number(p + 1, &c->id);
    if (p == NULL || *p != '\0' || c->id <= 0)
        return -1;
    return 0;
}
