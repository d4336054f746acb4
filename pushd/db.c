/*
 * Non-blocking libpq on the libuv loop. One struct db is one connection
 * with a FIFO of requests; at most one request is on the wire at a time
 * (PostgreSQL answers queries on a connection in order, and one in flight
 * keeps the bookkeeping simple). Connecting, preparing the statement table
 * and running queries are all driven by readiness of the connection's
 * socket, so nothing here waits, except db_query_sync() by design.
 */
#define _POSIX_C_SOURCE 200809L
#include "db.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Reconnect delays double from the first to the last value. */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 10000

enum db_state {
    DB_WAITING,    /* disconnected, the backoff timer will reconnect */
    DB_CONNECTING, /* PQconnectPoll in progress */
    DB_PREPARING,  /* connected, preparing the statement table */
    DB_READY,
    DB_CLOSED
};

struct db_request {
    struct db_request *next;
    int statement;     /* index into the table, or -1 for sql */
    const char *sql;   /* for db_exec(), points into this allocation */
    int param_count;
    const char **params; /* points into this allocation */
    db_result_fn fn;
    void *arg;
    int cancelled;
};

/* The poll handle lives apart from the db because libpq may switch to a new
 * socket while connecting, and a closing handle is freed by the loop. */
struct db_poll {
    uv_poll_t handle;
    struct db *db;
};

struct db {
    uv_loop_t *loop;
    char *name;
    char *conninfo;
    const struct db_statement *statements;
    size_t statement_count;
    struct db_hooks hooks;

    enum db_state state;
    PGconn *conn;
    struct db_poll *poll;
    int poll_fd;
    int poll_events;
    uv_timer_t timer; /* backoff wait or connect timeout */
    unsigned attempt;

    struct db_request *queue_head, *queue_tail;
    struct db_request *active; /* sent, waiting for its results */
    PGresult *active_result;
    size_t prepared; /* statements prepared so far in DB_PREPARING */
    int flushing;    /* output left to send: watch for writability */
};

static void start_connect(struct db *db);
static void on_poll(uv_poll_t *handle, int status, int events);

/* ---- poll handle ------------------------------------------------------ */

static void free_poll(uv_handle_t *handle)
{
    free(handle->data);
}

static void stop_poll(struct db *db)
{
    if (db->poll == NULL)
        return;
    uv_poll_stop(&db->poll->handle);
    uv_close((uv_handle_t *)&db->poll->handle, free_poll);
    db->poll = NULL;
    db->poll_fd = -1;
    db->poll_events = 0;
}

/* Watches the connection's current socket for events; returns 0 or -1. */
static int watch(struct db *db, int events)
{
    int fd = PQsocket(db->conn);

    if (fd < 0)
        return -1;
    if (db->poll != NULL && db->poll_fd != fd)
        stop_poll(db);
    if (db->poll == NULL) {
        db->poll = calloc(1, sizeof(*db->poll));
        if (db->poll == NULL)
            return -1;
        if (uv_poll_init(db->loop, &db->poll->handle, fd) != 0) {
            free(db->poll);
            db->poll = NULL;
            return -1;
        }
        db->poll->db = db;
        db->poll->handle.data = db->poll;
        db->poll_fd = fd;
        db->poll_events = 0;
    }
    if (db->poll_events == events)
        return 0;
    db->poll_events = events;
    return uv_poll_start(&db->poll->handle, events, on_poll) == 0 ? 0 : -1;
}

/* ---- requests ------------------------------------------------------------ */

static void push_request(struct db *db, struct db_request *request)
{
    request->next = NULL;
    if (db->queue_tail != NULL)
        db->queue_tail->next = request;
    else
        db->queue_head = request;
    db->queue_tail = request;
}

static struct db_request *pop_request(struct db *db)
{
    struct db_request *request = db->queue_head;

    if (request != NULL) {
        db->queue_head = request->next;
        if (db->queue_head == NULL)
            db->queue_tail = NULL;
    }
    return request;
}

/* Allocates a request with copies of the parameters and sql in one block. */
static struct db_request *new_request(int statement, const char *sql,
                                      int param_count,
                                      const char *const *params)
{
    size_t size = sizeof(struct db_request) +
                  (size_t)param_count * sizeof(char *);
    struct db_request *request;
    char *text;

    for (int i = 0; i < param_count; i++) {
        if (params[i] != NULL)
            size += strlen(params[i]) + 1;
    }
    if (sql != NULL)
        size += strlen(sql) + 1;
    request = calloc(1, size);
    if (request == NULL)
        return NULL;
    request->statement = statement;
    request->param_count = param_count;
    request->params = (const char **)(request + 1);
    text = (char *)(request->params + param_count);
    for (int i = 0; i < param_count; i++) {
        if (params[i] == NULL)
            continue;
        request->params[i] = strcpy(text, params[i]);
        text += strlen(params[i]) + 1;
    }
    if (sql != NULL)
        request->sql = strcpy(text, sql);
    return request;
}

/* Calls back every queued and running request with NULL, in order. The
 * callbacks may queue new requests; those are failed at once by the
 * caller's state (DB_WAITING or DB_CLOSED). */
static void fail_requests(struct db *db)
{
    struct db_request *request = db->active;

    db->active = NULL;
    PQclear(db->active_result);
    db->active_result = NULL;
    if (request != NULL) {
        if (!request->cancelled && request->fn != NULL)
            request->fn(NULL, request->arg);
        free(request);
    }
    while ((request = pop_request(db)) != NULL) {
        if (!request->cancelled && request->fn != NULL)
            request->fn(NULL, request->arg);
        free(request);
    }
}

/* ---- connection life cycle ------------------------------------------------ */

static unsigned backoff_ms(unsigned attempt)
{
    unsigned delay = BACKOFF_FIRST_MS;

    while (attempt-- > 1 && delay < BACKOFF_MAX_MS)
        delay *= 2;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    /* Up to a quarter more, so that many daemons do not retry in step. */
    return delay + (unsigned)(rand() % (int)(delay / 4 + 1));
}

static void on_backoff_timer(uv_timer_t *timer)
{
    start_connect(timer->data);
}

/* Drops the connection after an error and schedules the next attempt. */
static void drop_connection(struct db *db, const char *reason)
{
    unsigned delay;
    int was_connected = db->state == DB_READY || db->state == DB_PREPARING;

    uv_timer_stop(&db->timer);
    stop_poll(db);
    PQfinish(db->conn);
    db->conn = NULL;
    db->flushing = 0;
    db->state = DB_WAITING;
    db->attempt++;
    delay = backoff_ms(db->attempt);
    if (was_connected)
        log_warn("postgres %s: connection lost (%s); reconnecting in %u ms",
                 db->name, reason, delay);
    else
        log_warn("postgres %s: connect attempt %u failed (%s); retrying in %u ms",
                 db->name, db->attempt, reason, delay);
    uv_timer_start(&db->timer, on_backoff_timer, delay, 0);

    fail_requests(db);
    if (db->hooks.lost != NULL)
        db->hooks.lost(db, db->hooks.arg);
}

/* Returns libpq's last error without its trailing newline. */
static const char *error_text(struct db *db, char *buf, size_t size)
{
    size_t len;

    snprintf(buf, size, "%s", db->conn ? PQerrorMessage(db->conn) : "no connection");
    len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    return buf;
}

static void drop_with_libpq_error(struct db *db)
{
    char buf[512];

    drop_connection(db, error_text(db, buf, sizeof(buf)));
}

static void on_connect_timeout(uv_timer_t *timer)
{
    drop_connection(timer->data, "timed out");
}

static void send_next(struct db *db);

static void start_connect(struct db *db)
{
    db->state = DB_CONNECTING;
    db->conn = PQconnectStart(db->conninfo);
    if (db->conn == NULL) {
        drop_connection(db, "out of memory");
        return;
    }
    if (PQstatus(db->conn) == CONNECTION_BAD) {
        drop_with_libpq_error(db);
        return;
    }
    uv_timer_start(&db->timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
    /* libpq's contract: poll for writing first, as if PQconnectPoll had
     * returned PGRES_POLLING_WRITING. */
    if (watch(db, UV_WRITABLE) != 0)
        drop_connection(db, "cannot watch the socket");
}

/* Sends the next statement of the table to prepare, or goes ready. */
static void prepare_next(struct db *db)
{
    const struct db_statement *st;

    if (db->prepared == db->statement_count) {
        db->state = DB_READY;
        db->attempt = 0;
        log_info("postgres %s: connected", db->name);
        if (db->hooks.connected != NULL)
            db->hooks.connected(db, db->hooks.arg);
        if (db->state == DB_READY)
            send_next(db);
        return;
    }
    st = &db->statements[db->prepared];
    if (!PQsendPrepare(db->conn, st->name, st->sql, st->param_count, NULL)) {
        drop_with_libpq_error(db);
        return;
    }
    db->flushing = 1;
}

static void on_connected(struct db *db)
{
    uv_timer_stop(&db->timer);
    if (PQsetnonblocking(db->conn, 1) != 0) {
        drop_with_libpq_error(db);
        return;
    }
    db->state = DB_PREPARING;
    db->prepared = 0;
    prepare_next(db);
}

static void continue_connect(struct db *db)
{
    switch (PQconnectPoll(db->conn)) {
    case PGRES_POLLING_READING:
        if (watch(db, UV_READABLE) != 0)
            drop_connection(db, "cannot watch the socket");
        return;
    case PGRES_POLLING_WRITING:
        if (watch(db, UV_WRITABLE) != 0)
            drop_connection(db, "cannot watch the socket");
        return;
    case PGRES_POLLING_OK:
        on_connected(db);
        return;
    default:
        drop_with_libpq_error(db);
        return;
    }
}

/* ---- running requests ----------------------------------------------------- */

static int send_request(struct db *db, struct db_request *request)
{
    if (request->sql != NULL)
        return PQsendQueryParams(db->conn, request->sql, 0, NULL, NULL, NULL,
                                 NULL, 0);
    return PQsendQueryPrepared(db->conn, db->statements[request->statement].name,
                               request->param_count, request->params, NULL,
                               NULL, 0);
}

/* Puts the next live request on the wire when none is running. */
static void send_next(struct db *db)
{
    struct db_request *request;

    while (db->state == DB_READY && db->active == NULL &&
           (request = pop_request(db)) != NULL) {
        if (request->cancelled) {
            free(request);
            continue;
        }
        if (!send_request(db, request)) {
            push_request(db, request); /* failed below, in order */
            drop_with_libpq_error(db);
            return;
        }
        db->active = request;
        db->flushing = 1;
    }
}

/* Handles the end of the running statement's results. */
static void finish_active(struct db *db)
{
    struct db_request *request = db->active;
    PGresult *result = db->active_result;

    db->active = NULL;
    db->active_result = NULL;
    if (db->state == DB_PREPARING) {
        int ok = result && PQresultStatus(result) == PGRES_COMMAND_OK;
        char buf[512];

        if (!ok) {
            snprintf(buf, sizeof(buf), "cannot prepare %s: %s",
                     db->statements[db->prepared].name,
                     result ? PQresultErrorMessage(result) : "no result");
            PQclear(result);
            log_error("postgres %s: %s", db->name, buf);
            drop_connection(db, "statement preparation failed");
            return;
        }
        PQclear(result);
        db->prepared++;
        prepare_next(db);
        return;
    }
    if (request != NULL && !request->cancelled && request->fn != NULL)
        request->fn(result, request->arg);
    PQclear(result);
    free(request);
    send_next(db);
}

static void drain_notifications(struct db *db)
{
    PGnotify *notification;

    while (db->conn != NULL && (notification = PQnotifies(db->conn)) != NULL) {
        if (db->hooks.notify != NULL)
            db->hooks.notify(db, notification, db->hooks.arg);
        PQfreemem(notification);
    }
}

/* Reads what the server sent: notifications and results. libpq parses
 * notifications that arrive with a result while the result is read, so
 * they are collected again afterwards. */
static void read_input(struct db *db)
{
    if (!PQconsumeInput(db->conn)) {
        drop_with_libpq_error(db);
        return;
    }
    drain_notifications(db);
    while (db->conn != NULL && !PQisBusy(db->conn)) {
        PGresult *result;

        if (db->active == NULL && db->state != DB_PREPARING)
            break;
        result = PQgetResult(db->conn);
        if (result == NULL) {
            finish_active(db);
            continue;
        }
        if (db->active_result == NULL)
            db->active_result = result;
        else
            PQclear(result);
    }
    drain_notifications(db);
    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_BAD)
        drop_with_libpq_error(db);
}

static void flush_output(struct db *db)
{
    int status = PQflush(db->conn);

    if (status < 0) {
        drop_with_libpq_error(db);
        return;
    }
    db->flushing = status == 1;
}

/* Sends what libpq has buffered and watches for the answer, and for
 * writability while output is left over. */
static void flush_and_watch(struct db *db)
{
    if (db->state != DB_READY && db->state != DB_PREPARING)
        return;
    flush_output(db);
    if (db->conn != NULL &&
        watch(db, UV_READABLE | (db->flushing ? UV_WRITABLE : 0)) != 0)
        drop_connection(db, "cannot watch the socket");
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct db *db = ((struct db_poll *)handle->data)->db;

    if (db->state == DB_CONNECTING) {
        continue_connect(db);
        flush_and_watch(db);
        return;
    }
    if (db->state != DB_READY && db->state != DB_PREPARING)
        return;
    if (status < 0) {
        drop_connection(db, uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE)
        flush_output(db);
    if (db->conn != NULL && (events & UV_READABLE))
        read_input(db);
    flush_and_watch(db);
}

/* After a request was queued from outside the poll callback, put it on the
 * wire and watch for the answer. */
static void kick(struct db *db)
{
    if (db->state != DB_READY)
        return;
    send_next(db);
    flush_and_watch(db);
}

/* ---- public interface -------------------------------------------------------- */

struct db *db_open(uv_loop_t *loop, const char *name, const char *conninfo,
                   const struct db_statement *statements,
                   size_t statement_count, const struct db_hooks *hooks)
{
    struct db *db = calloc(1, sizeof(*db));

    if (db == NULL)
        return NULL;
    db->name = strdup(name);
    db->conninfo = strdup(conninfo);
    if (db->name == NULL || db->conninfo == NULL) {
        free(db->name);
        free(db->conninfo);
        free(db);
        return NULL;
    }
    db->loop = loop;
    db->statements = statements;
    db->statement_count = statement_count;
    if (hooks != NULL)
        db->hooks = *hooks;
    db->poll_fd = -1;
    uv_timer_init(loop, &db->timer);
    db->timer.data = db;
    start_connect(db);
    return db;
}

int db_ready(const struct db *db)
{
    return db != NULL && db->state == DB_READY;
}

static struct db_request *enqueue(struct db *db, struct db_request *request,
                                  db_result_fn fn, void *arg)
{
    if (request == NULL)
        return NULL;
    request->fn = fn;
    request->arg = arg;
    push_request(db, request);
    kick(db);
    return request;
}

struct db_request *db_query(struct db *db, int statement,
                            const char *const *params, db_result_fn fn,
                            void *arg)
{
    if (db == NULL || db->state == DB_WAITING || db->state == DB_CLOSED)
        return NULL;
    return enqueue(db,
                   new_request(statement, NULL,
                               db->statements[statement].param_count, params),
                   fn, arg);
}

struct db_request *db_exec(struct db *db, const char *sql, db_result_fn fn,
                           void *arg)
{
    if (db == NULL || db->state == DB_WAITING || db->state == DB_CLOSED)
        return NULL;
    return enqueue(db, new_request(-1, sql, 0, NULL), fn, arg);
}

void db_cancel(struct db_request *request)
{
    if (request != NULL)
        request->cancelled = 1;
}

/* Waits until fd is ready for events or the deadline (loop time, ms)
 * passes. Returns 1 when ready, 0 on timeout, -1 on error. */
static int wait_fd(uv_loop_t *loop, int fd, short events, uint64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    int status;

    for (;;) {
        uint64_t now;

        uv_update_time(loop);
        now = uv_now(loop);
        if (now >= deadline)
            return 0;
        status = poll(&p, 1, (int)(deadline - now));
        if (status >= 0)
            return status > 0;
        if (errno != EINTR)
            return -1;
    }
}

PGresult *db_query_sync(struct db *db, int statement,
                        const char *const *params, int timeout_ms)
{
    PGresult *first = NULL, *result;
    uint64_t deadline;
    int fd;

    if (!db_ready(db) || db->active != NULL || db->queue_head != NULL)
        return NULL;
    uv_update_time(db->loop);
    deadline = uv_now(db->loop) + (uint64_t)timeout_ms;
    fd = PQsocket(db->conn);
    if (!PQsendQueryPrepared(db->conn, db->statements[statement].name,
                             db->statements[statement].param_count, params,
                             NULL, NULL, 0))
        goto broken;

    /* Send everything, then read until libpq has the whole result. */
    while (PQflush(db->conn) == 1) {
        if (wait_fd(db->loop, fd, POLLOUT | POLLIN, deadline) <= 0)
            goto timed_out;
        if (!PQconsumeInput(db->conn))
            goto broken;
    }
    for (;;) {
        if (!PQconsumeInput(db->conn))
            goto broken;
        if (!PQisBusy(db->conn)) {
            result = PQgetResult(db->conn);
            if (result == NULL)
                break;
            if (first == NULL)
                first = result;
            else
                PQclear(result);
            continue;
        }
        if (wait_fd(db->loop, fd, POLLIN, deadline) <= 0)
            goto timed_out;
    }
    return first;

timed_out:
    PQclear(first);
    drop_connection(db, "query timed out");
    return NULL;
broken:
    PQclear(first);
    drop_with_libpq_error(db);
    return NULL;
}

static void free_db(uv_handle_t *handle)
{
    struct db *db = handle->data;

    free(db->name);
    free(db->conninfo);
    free(db);
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    db->state = DB_CLOSED;
    uv_timer_stop(&db->timer);
    stop_poll(db);
    PQfinish(db->conn);
    db->conn = NULL;
    fail_requests(db);
    uv_close((uv_handle_t *)&db->timer, free_db);
}
