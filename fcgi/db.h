/*
 * The API process's one PostgreSQL connection and its prepared statements.
 * The connection is checked before each request and re-opened after the
 * server went away; statements are prepared again on every new connection.
 */
#ifndef BLINKCHAT_DB_H
#define BLINKCHAT_DB_H

#include <libpq-fe.h>

enum db_stmt {
    STMT_SESSION,
    STMT_USER_BY_ID,
    STMT_REGISTER,
    STMT_LOGIN_LOOKUP,
    STMT_LOGIN_THROTTLE,
    STMT_LOGIN_FAILURE,
    STMT_REVOKE_SESSION,
    STMT_LOGOUT_ALL,
    STMT_USERS_SEARCH,
    STMT_CONVERSATIONS_FIRST,
    STMT_CONVERSATIONS_BEFORE,
    STMT_CONVERSATION_GET,
    STMT_CONVERSATION_CREATE,
    STMT_IS_MEMBER,
    STMT_HISTORY_FIRST,
    STMT_HISTORY_BEFORE,
    STMT_MESSAGE_POST,
    STMT_MARK_READ,
    STMT_REACTION_SET,
    STMT_CONVERSATION_IDS,
    STMT_CONVERSATION_TIMES,
    STMT_CONVERSATION_ENTRIES,
    STMT_RENAME,
    STMT_UPLOAD_CREATE,
    STMT_COUNT
};

/* Connects to url; returns 0, or -1 (logged) when the server cannot be
 * reached. A later db_exec() retries the connection. */
int db_open(const char *url);

/*
 * Runs a prepared statement with text parameters (NULL for SQL NULL).
 * Returns the result, owned by the caller (PQclear), when its status is
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK. Returns NULL after logging when the
 * statement failed; *unavailable is then 1 when the database could not be
 * reached, and 0 for an error in the statement itself. A repeatable
 * statement (reads, and writes whose repetition changes nothing) that finds
 * the connection broken runs once more on a new connection.
 */
PGresult *db_exec(enum db_stmt stmt, int nparams, const char *const *params,
                  int *unavailable);

/* Rings the push daemon's doorbell after a committed write. The NOTIFY runs
 * in its own transaction without waiting for its WAL flush, so writers do
 * not queue behind the cluster-wide notify lock. Failures are logged only:
 * the daemon also polls the outbox. */
void db_ring_doorbell(void);

/* Tells the push daemon to close the sockets of ended sessions: payload
 * "user:ID" for every session of a user, "jti:JTI" for one. Logged on
 * failure only. */
void db_notify_session_end(const char *payload);

/* Returns the SQLSTATE of the last failed statement, or "". */
const char *db_last_sqlstate(void);

void db_close(void);

#endif
