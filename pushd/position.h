/*
 * Outbox positions. A position is the pair (writing transaction, event id)
 * of an outbox row, ordered first by transaction and then by id, and
 * written "XID-ID" in frames. Clients treat the text as opaque; this module
 * is the only place that parses or compares it.
 */
#ifndef PUSHD_POSITION_H
#define PUSHD_POSITION_H

#include <stddef.h>
#include <stdint.h>

/* Room for two 20-digit numbers, the dash and the NUL. */
#define POSITION_TEXT_MAX 48

struct position {
    uint64_t xid; /* xid8: the 64-bit transaction id with its epoch */
    int64_t id;   /* events.id */
};

/* Returns <0, 0 or >0 as a is before, equal to or after b. */
int position_compare(const struct position *a, const struct position *b);

/* Writes "XID-ID" to out, which has room for POSITION_TEXT_MAX bytes. */
void position_format(const struct position *p, char *out, size_t out_size);

/*
 * Parses "XID-ID" (two unsigned decimal numbers without sign, spaces or
 * leading zeros, the id at most INT64_MAX). Returns 0, or -1 when text is
 * not such a position.
 */
int position_parse(const char *text, struct position *p);

/*
 * Builds a position from the text forms PostgreSQL returns for xid8 and
 * bigint columns. Returns 0, or -1 when either is not a valid number.
 */
int position_from_columns(const char *xid_text, const char *id_text,
                          struct position *p);

#endif
