/*
 * PostgreSQL access for the API. All SQL the API runs is listed in the
 * statement table below; every value reaches the server as a parameter.
 */
#define _POSIX_C_SOURCE 200809L
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct statement {
    const char *name;
    int nparams;
    const char *sql;
    /* 1 when running it twice has the effect of running it once, so it may
     * be repeated after the connection broke while it ran. */
    int repeatable;
};

static const struct statement statements[STMT_COUNT] = {
    [STMT_SESSION] = {"session", 2,
        "SELECT token_version, banned_at IS NOT NULL,"
        " EXISTS (SELECT 1 FROM revoked_sessions WHERE jti = $2)"
        " FROM users WHERE id = $1::bigint", 1},
    [STMT_USER_BY_ID] = {"user_by_id", 1,
        "SELECT user_json(u)::text FROM users u WHERE id = $1::bigint", 1},
    [STMT_REGISTER] = {"register", 3,
        "INSERT INTO users (username, display_name, password_hash)"
        " VALUES ($1, $2, $3) ON CONFLICT ((lower(username))) DO NOTHING"
        " RETURNING id, token_version, user_json(users)::text", 0},
    [STMT_LOGIN_LOOKUP] = {"login_lookup", 1,
        "SELECT id, password_hash, token_version, banned_at IS NOT NULL,"
        " user_json(u)::text FROM users u WHERE lower(username) = lower($1)", 1},
    /* Seconds until the caller may try again: positive when the user's or
     * the address's failures in the current window reached the limit. */
    [STMT_LOGIN_THROTTLE] = {"login_throttle", 7,
        "SELECT coalesce(max(ceil(extract(epoch FROM window_start"
        " + make_interval(secs => $7::int) - clock_timestamp()))), 0)::int"
        " FROM login_failures"
        " WHERE window_start > clock_timestamp() - make_interval(secs => $7::int)"
        " AND ((key = $1 AND failures >= $4::int)"
        " OR (key = $2 AND failures >= $5::int)"
        " OR (key = $3 AND failures >= $6::int))", 1},
    [STMT_LOGIN_FAILURE] = {"login_failure", 4,
        "INSERT INTO login_failures AS f (key, window_start, failures)"
        " SELECT k, clock_timestamp(), 1 FROM unnest(ARRAY[$1, $2, $3]) AS k"
        " ON CONFLICT (key) DO UPDATE SET"
        " failures = CASE WHEN f.window_start <= clock_timestamp()"
        " - make_interval(secs => $4::int) THEN 1 ELSE f.failures + 1 END,"
        " window_start = CASE WHEN f.window_start <= clock_timestamp()"
        " - make_interval(secs => $4::int) THEN clock_timestamp()"
        " ELSE f.window_start END", 0},
    [STMT_REVOKE_SESSION] = {"revoke_session", 2,
        "INSERT INTO revoked_sessions (jti, expires_at)"
        " VALUES ($1, to_timestamp($2::bigint)) ON CONFLICT DO NOTHING", 1},
    [STMT_LOGOUT_ALL] = {"logout_all", 1,
        "UPDATE users SET token_version = token_version + 1"
        " WHERE id = $1::bigint", 0},
    [STMT_USERS_SEARCH] = {"users_search", 2,
        "SELECT user_json(u)::text FROM users u"
        " WHERE lower(u.username) LIKE $2 ESCAPE '\\'"
        " AND u.id <> $1::bigint AND u.banned_at IS NULL"
        " ORDER BY lower(u.username) LIMIT 20", 1},
    [STMT_CONVERSATIONS_FIRST] = {"conversations_first", 2,
        "SELECT time_us(c.updated_at), c.id, conversation_json(c.id, $1::bigint)::text"
        " FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id"
        " WHERE cm.user_id = $1::bigint"
        " ORDER BY c.updated_at DESC, c.id DESC LIMIT $2::int", 1},
    [STMT_CONVERSATIONS_BEFORE] = {"conversations_before", 4,
        "SELECT time_us(c.updated_at), c.id, conversation_json(c.id, $1::bigint)::text"
        " FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id"
        " WHERE cm.user_id = $1::bigint"
        " AND (c.updated_at, c.id) < (us_time($2::bigint), $3::bigint)"
        " ORDER BY c.updated_at DESC, c.id DESC LIMIT $4::int", 1},
    [STMT_CONVERSATION_GET] = {"conversation_get", 2,
        "SELECT conversation_json(cm.conversation_id, cm.user_id)::text"
        " FROM conversation_members cm"
        " WHERE cm.conversation_id = $1::bigint AND cm.user_id = $2::bigint", 1},
    [STMT_CONVERSATION_CREATE] = {"conversation_create", 3,
        "SELECT status, conversation::text, conversation_id,"
        " array_to_string(member_ids, ',')"
        " FROM create_conversation($1::bigint, $2::bigint[], $3)", 0},
    [STMT_IS_MEMBER] = {"is_member", 2,
        "SELECT 1 FROM conversation_members"
        " WHERE conversation_id = $1::bigint AND user_id = $2::bigint", 1},
    [STMT_HISTORY_FIRST] = {"history_first", 3,
        "SELECT time_us(m.created_at), m.id, message_json(m, $2::bigint)::text"
        " FROM messages m WHERE m.conversation_id = $1::bigint"
        " ORDER BY m.created_at DESC, m.id DESC LIMIT $3::int", 1},
    [STMT_HISTORY_BEFORE] = {"history_before", 5,
        "SELECT time_us(m.created_at), m.id, message_json(m, $2::bigint)::text"
        " FROM messages m WHERE m.conversation_id = $1::bigint"
        " AND (m.created_at, m.id) < (us_time($3::bigint), $4::bigint)"
        " ORDER BY m.created_at DESC, m.id DESC LIMIT $5::int", 1},
    [STMT_MESSAGE_POST] = {"message_post", 5,
        "SELECT status, message::text, created_us FROM post_message($1::bigint,"
        " $2::bigint, $3::uuid, $4, $5::bigint)", 1},
    [STMT_MARK_READ] = {"mark_read", 3,
        "SELECT mark_read($1::bigint, $2::bigint, $3::bigint)", 1},
    [STMT_REACTION_SET] = {"reaction_set", 4,
        "SELECT status, reactions::text, my_reactions::text, conversation_id"
        " FROM set_reaction($1::bigint, $2::bigint, $3, $4::boolean)", 1},
    [STMT_CONVERSATION_IDS] = {"conversation_ids", 1,
        "SELECT conversation_id FROM conversation_members WHERE user_id = $1::bigint", 1},
    [STMT_CONVERSATION_TIMES] = {"conversation_times", 1,
        "SELECT id, time_us(updated_at) FROM conversations WHERE id = ANY ($1::bigint[])", 1},
    [STMT_CONVERSATION_ENTRIES] = {"conversation_entries", 2,
        "SELECT cm.conversation_id, conversation_json(cm.conversation_id, cm.user_id)::text"
        " FROM conversation_members cm"
        " WHERE cm.user_id = $1::bigint AND cm.conversation_id = ANY ($2::bigint[])", 1},
    [STMT_RENAME] = {"rename", 2,
        "UPDATE users SET display_name = $2 WHERE id = $1::bigint"
        " RETURNING user_json(users)::text, (SELECT string_agg(conversation_id::text, ',')"
        " FROM conversation_members WHERE user_id = $1::bigint)", 1},
    [STMT_UPLOAD_CREATE] = {"upload_create", 9,
        "INSERT INTO uploads (owner_id, store, storage_key, url, thumb_url,"
        " content_type, bytes, width, height) VALUES ($1::bigint, $2, $3, $4, $5,"
        " $6, $7::bigint, $8::int, $9::int) RETURNING upload_json(uploads)::text", 0},
};

static PGconn *conn;
static char *conn_url;
static char last_sqlstate[6];

static int prepare_all(void)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        PGresult *res = PQprepare(conn, statements[i].name, statements[i].sql,
                                  statements[i].nparams, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

        if (!ok)
            log_error("db: prepare %s failed: %s", statements[i].name,
                      PQerrorMessage(conn));
        PQclear(res);
        if (!ok)
            return -1;
    }
    return 0;
}

/* Opens a fresh connection and prepares the statements. Returns 0 or -1. */
static int reconnect(void)
{
    if (conn != NULL)
        PQfinish(conn);
    conn = PQconnectdb(conn_url);
    if (PQstatus(conn) != CONNECTION_OK) {
        log_error("db: cannot connect: %s", PQerrorMessage(conn));
        return -1;
    }
    if (prepare_all() != 0) {
        PQfinish(conn);
        conn = NULL;
        return -1;
    }
    log_info("db: connected (server %d)", PQserverVersion(conn));
    return 0;
}

int db_open(const char *url)
{
    free(conn_url);
    conn_url = strdup(url);
    if (conn_url == NULL)
        return -1;
    return reconnect();
}

/*
 * Returns 1 when the connection can be used. PQconsumeInput reads what the
 * server sent while the process was idle, so a connection the server closed
 * (a restart, an administrator's pg_terminate_backend) is found here rather
 * than by failing the next statement.
 */
static int connection_usable(void)
{
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
        return 0;
    if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK)
        return 0;
    return 1;
}

static PGresult *run(enum db_stmt stmt, int nparams, const char *const *params)
{
    return PQexecPrepared(conn, statements[stmt].name, nparams, params, NULL,
                          NULL, 0);
}

PGresult *db_exec(enum db_stmt stmt, int nparams, const char *const *params,
                  int *unavailable)
{
    PGresult *res;
    ExecStatusType status;

    *unavailable = 0;
    last_sqlstate[0] = '\0';
    if (!connection_usable() && reconnect() != 0) {
        *unavailable = 1;
        return NULL;
    }

    res = run(stmt, nparams, params);
    if (PQstatus(conn) != CONNECTION_OK && statements[stmt].repeatable) {
        PQclear(res);
        log_warn("db: connection lost during %s, reconnecting",
                 statements[stmt].name);
        if (reconnect() != 0) {
            *unavailable = 1;
            return NULL;
        }
        res = run(stmt, nparams, params);
    }

    status = PQresultStatus(res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return res;

    if (PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL)
        snprintf(last_sqlstate, sizeof(last_sqlstate), "%s",
                 PQresultErrorField(res, PG_DIAG_SQLSTATE));
    log_error("db: %s failed: %s", statements[stmt].name,
              PQresultErrorMessage(res));
    *unavailable = PQstatus(conn) != CONNECTION_OK;
    PQclear(res);
    return NULL;
}

/* Sends a notification in a transaction of its own that does not wait for
 * its WAL flush, so it never queues writers behind the notify lock. */
static void notify_after_commit(const char *channel, const char *payload)
{
    const char *params[2] = {channel, payload};
    PGresult *res;

    if (!connection_usable())
        return;
    res = PQexec(conn, "BEGIN; SET LOCAL synchronous_commit TO off");
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        res = PQexecParams(conn, "SELECT pg_notify($1, $2)", 2, NULL, params, NULL, NULL, 0);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warn("db: notification on %s failed: %s", channel, PQerrorMessage(conn));
        PQclear(res);
        res = PQexec(conn, "ROLLBACK");
    } else {
        PQclear(res);
        res = PQexec(conn, "COMMIT");
    }
    PQclear(res);
}

void db_ring_doorbell(void)
{
    notify_after_commit("blinkchat_outbox", "");
}

void db_notify_session_end(const char *payload)
{
    notify_after_commit("blinkchat_sessions", payload);
}

const char *db_last_sqlstate(void)
{
    return last_sqlstate;
}

void db_close(void)
{
    if (conn != NULL)
        PQfinish(conn);
    conn = NULL;
    free(conn_url);
    conn_url = NULL;
}
