/*
 * The connection for the daemon's own queries (membership, resume,
 * presence) and its prepared statements. Outbox reading and session
 * checks have connections of their own, so a burst of resumes never
 * delays live delivery or an upgrade.
 */
#ifndef PUSHD_QUERIES_H
#define PUSHD_QUERIES_H

#include <uv.h>

#include "db.h"

enum query_statement {
    QUERY_MEMBERSHIP,      /* $1 user: conversation ids */
    QUERY_HORIZON,         /* the oldest position kept after pruning */
    QUERY_REPLAY,          /* events of conversations $3 in (($1,$2), ($4,$5)], at most $6 */
    /* $1 user, $2 group limit: NULL and the audience of the user's
     * presence as an array literal */
    QUERY_PRESENCE_ONLINE,
    /* The same after setting users.last_seen_at, returned first */
    QUERY_PRESENCE_OFFLINE,
    QUERY_COUNT
};

/* Opens the connection; returns 0 or -1. */
int queries_open(uv_loop_t *loop, const char *conninfo);

/* Returns the connection (never NULL after queries_open()). */
struct db *queries_db(void);

void queries_close(void);

#endif
