/*
 * PostgreSQL connections driven by the daemon's libuv loop. Each
 * connection runs libpq in non-blocking mode with its socket watched by a
 * uv_poll handle, prepares a fixed table of statements after every
 * connect, runs queued queries one at a time and reconnects with backoff
 * when the server goes away. Callers own nothing here except the
 * PGresult returned by db_query_sync().
 */
#ifndef PUSHD_DB_H
#define PUSHD_DB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <uv.h>

struct db;
struct db_request;

struct db_statement {
    const char *name;
    const char *sql;
    int param_count;
};

/*
 * Receives the outcome of a query: the first PGresult of the statement
 * (check PQresultStatus; it is freed when the callback returns), or NULL
 * when the connection failed before the result arrived.
 */
typedef void (*db_result_fn)(PGresult *result, void *arg);

struct db_hooks {
    /* Called once the statements are prepared after each connect. */
    void (*connected)(struct db *db, void *arg);
    /* Called for each LISTEN notification. */
    void (*notify)(struct db *db, const PGnotify *notification, void *arg);
    /* Called when the connection is lost, after the queued callbacks. */
    void (*lost)(struct db *db, void *arg);
    void *arg;
};

/*
 * Starts connecting to conninfo in the background. name labels the
 * connection in logs; statements must outlive the db. Returns NULL when
 * out of memory.
 */
struct db *db_open(uv_loop_t *loop, const char *name, const char *conninfo,
                   const struct db_statement *statements,
                   size_t statement_count, const struct db_hooks *hooks);

/* Returns 1 when connected with the statements prepared. */
int db_ready(const struct db *db);

/*
 * Queues prepared statement number `statement` with its text parameters
 * (copied; NULL entries are SQL NULL). fn runs from the loop with the
 * result. Returns a handle for db_cancel(), or NULL, without calling fn,
 * when the connection is down or memory is short.
 */
struct db_request *db_query(struct db *db, int statement,
                            const char *const *params, db_result_fn fn,
                            void *arg);

/* Queues one SQL statement without parameters, e.g. LISTEN. Same contract
 * as db_query(). */
struct db_request *db_exec(struct db *db, const char *sql, db_result_fn fn,
                           void *arg);

/* Makes sure fn of a queued or running request is never called. */
void db_cancel(struct db_request *request);

/*
 * Runs a prepared statement and waits for its result, at most timeout_ms
 * milliseconds, blocking the loop meanwhile. Only for a connection that is
 * used for nothing else. Returns the result (the caller PQclear()s it), or
 * NULL when the connection is down, busy or timed out; a timeout drops the
 * connection and reconnects in the background.
 */
PGresult *db_query_sync(struct db *db, int statement,
                        const char *const *params, int timeout_ms);

/* Closes the connection; queued callbacks get NULL. The memory goes back
 * once the loop has closed the handles. */
void db_close(struct db *db);

#endif
