/*
 * Prepared statements of the query connection.
 */
#define _POSIX_C_SOURCE 200809L
#include "queries.h"

#include <stddef.h>

/* Who sees user $1's presence live: direct-conversation partners and the
 * members of groups of at most $2 members. Counting stops at $2 + 1, so a
 * huge group costs no more than a small one. */
#define PRESENCE_AUDIENCE                                                        \
    "ARRAY(SELECT DISTINCT other.user_id "                                     \
    "      FROM conversation_members mine "                                    \
    "      JOIN conversations c ON c.id = mine.conversation_id "               \
    "      JOIN conversation_members other "                                   \
    "        ON other.conversation_id = mine.conversation_id "                 \
    "       AND other.user_id <> mine.user_id "                                \
    "      WHERE mine.user_id = $1 "                                           \
    "        AND (c.kind = 'direct' "                                          \
    "             OR (SELECT count(*) FROM (SELECT 1 FROM conversation_members n " \
    "                                       WHERE n.conversation_id = c.id "  \
    "                                       LIMIT $2 + 1) AS capped) <= $2))::text"

static const struct db_statement statements[QUERY_COUNT] = {
    [QUERY_MEMBERSHIP] = {
        "membership",
        "SELECT conversation_id FROM conversation_members WHERE user_id = $1",
        1},
    [QUERY_HORIZON] = {
        "horizon",
        "SELECT xid::text, id FROM events_horizon",
        0},
    /* The upper bound is the daemon's delivered position, so the replay
     * never returns an event that live delivery has not passed yet. The
     * ORDER BY names the table's columns, not the xid::text output. */
    [QUERY_REPLAY] = {
        "replay",
        "SELECT xid::text, id, conversation_id, kind, payload::text "
        "FROM events "
        "WHERE conversation_id = ANY ($3::bigint[]) "
        "AND (xid, id) > ($1::xid8, $2::bigint) "
        "AND (xid, id) <= ($4::xid8, $5::bigint) "
        "ORDER BY events.xid, events.id LIMIT $6",
        6},
    [QUERY_PRESENCE_ONLINE] = {
        "presence_online",
        "SELECT NULL::text, " PRESENCE_AUDIENCE,
        2},
    /* One statement, so that an offline change cannot be overtaken by the
     * user's next online change on this connection. */
    [QUERY_PRESENCE_OFFLINE] = {
        "presence_offline",
        "WITH seen AS (UPDATE users SET last_seen_at = clock_timestamp() "
        "              WHERE id = $1 RETURNING last_seen_at) "
        "SELECT api_time(seen.last_seen_at), " PRESENCE_AUDIENCE " FROM seen",
        2},
};

static struct db *connection;

int queries_open(uv_loop_t *loop, const char *conninfo)
{
    connection = db_open(loop, "queries", conninfo, statements, QUERY_COUNT, NULL);
    return connection != NULL ? 0 : -1;
}

struct db *queries_db(void)
{
    return connection;
}

void queries_close(void)
{
    db_close(connection);
    connection = NULL;
}
