/*
 * Outbox position parsing, formatting and ordering.
 */
#define _POSIX_C_SOURCE 200809L
#include "position.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int position_compare(const struct position *a, const struct position *b)
{
    if (a->xid != b->xid)
        return a->xid < b->xid ? -1 : 1;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return 0;
}

void position_format(const struct position *p, char *out, size_t out_size)
{
    snprintf(out, out_size, "%" PRIu64 "-%" PRId64, p->xid, p->id);
}

/*
 * Parses the decimal number in s[0..len) into *out, refusing an empty
 * string, a leading zero (except "0" itself), any non-digit and any value
 * above max.
 */
static int parse_decimal(const char *s, size_t len, uint64_t max,
                         uint64_t *out)
{
    uint64_t n = 0;

    if (len == 0 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned digit;

        if (s[i] < '0' || s[i] > '9')
            return -1;
        digit = (unsigned)(s[i] - '0');
        if (n > (max - digit) / 10)
            return -1;
        n = n * 10 + digit;
    }
    *out = n;
    return 0;
}

int position_parse(const char *text, struct position *p)
{
    const char *dash;
    uint64_t xid, id;

    if (text == NULL)
        return -1;
    dash = strchr(text, '-');
    if (dash == NULL)
        return -1;
    if (parse_decimal(text, (size_t)(dash - text), UINT64_MAX, &xid) != 0 ||
        parse_decimal(dash + 1, strlen(dash + 1), INT64_MAX, &id) != 0)
        return -1;
    p->xid = xid;
    p->id = (int64_t)id;
    return 0;
}

int position_from_columns(const char *xid_text, const char *id_text,
                          struct position *p)
{
    uint64_t xid, id;

    if (xid_text == NULL || id_text == NULL)
        return -1;
    if (parse_decimal(xid_text, strlen(xid_text), UINT64_MAX, &xid) != 0 ||
        parse_decimal(id_text, strlen(id_text), INT64_MAX, &id) != 0)
        return -1;
    p->xid = xid;
    p->id = (int64_t)id;
    return 0;
}
