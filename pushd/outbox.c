/*
 * Outbox reading and fan-out. The reader takes only rows whose writing
 * transaction is older than every running one, in (xid, id) order, so a
 * position once passed never gains an earlier row; see the events table in
 * the first migration. NOTIFY is only a doorbell: a lost notification, a
 * payload too large for NOTIFY or a lost connection costs at most one
 * poll interval, never an event.
 */
#define _POSIX_C_SOURCE 200809L
#include "outbox.h"
#include "revoke.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "frame.h"
#include "log.h"
#include "sockets.h"
#include "users.h"

#define OUTBOX_CHANNEL "blinkchat_outbox"
/* Rows per read; a full batch is followed by the next at once. */
#define FETCH_BATCH 200
/* A read dispatches events up to about this many payload bytes and reads
 * the rest again, so that sockets write between reads and a burst of
 * large events does not fill a reading client's queue at once. */
#define DISPATCH_BYTES (256 * 1024)
/* Reads without a doorbell at this interval, bounding the delay of a
 * lost notification. */
#define POLL_INTERVAL_MS 500

enum outbox_statement { OUTBOX_HEAD, OUTBOX_FETCH, OUTBOX_STATEMENT_COUNT };

static const struct db_statement statements[OUTBOX_STATEMENT_COUNT] = {
    /* The newest readable position, or the pruning horizon when the
     * outbox is empty, whichever is later. */
    [OUTBOX_HEAD] = {
        "outbox_head",
        "SELECT e.xid::text, e.id, h.xid::text, h.id FROM events_horizon h "
        "LEFT JOIN LATERAL (SELECT xid, id FROM events "
        "                   WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) "
        "                   ORDER BY xid DESC, id DESC LIMIT 1) e ON true",
        0},
    /* ORDER BY names the table's columns: a bare "xid" would mean the
     * xid::text output column and sort "1001" before "999". */
    [OUTBOX_FETCH] = {
        "outbox_fetch",
        "SELECT xid::text, id, conversation_id, kind, payload::text FROM events "
        "WHERE (xid, id) > ($1::xid8, $2::bigint) "
        "AND xid < pg_snapshot_xmin(pg_current_snapshot()) "
        "ORDER BY events.xid, events.id LIMIT $3",
        3},
};

static struct db *listener;
static uv_timer_t poll_timer;
static struct position delivered;
static int have_position;
static int reading;    /* a head or fetch query is running */
static int read_again; /* the doorbell rang while reading */

static void read_events(void);

int outbox_ready(void)
{
    return have_position;
}

const struct position *outbox_position(void)
{
    return &delivered;
}

/* ---- fan-out ------------------------------------------------------------- */

static void add_members(const struct event *event)
{
    long long *ids;
    long count = event_member_ids(event, &ids);

    if (count < 0) {
        log_warn("outbox: conversation event %" PRIu64 "-%" PRId64
                 " has no valid member_ids",
                 event->position.xid, event->position.id);
        return;
    }
    users_add_members(event->conversation_id, ids, (size_t)count);
    free(ids);
}

/* Queues the event on every socket of every local member of its
 * conversation, each variant built once. */
static void dispatch(const struct event *event)
{
    struct conversation *c;
    struct event_frames frames;

    if (event->kind == EVENT_CONVERSATION)
        add_members(event);
    c = conversations_find(event->conversation_id);
    if (c == NULL)
        return;
    if (event_frames_init(&frames, event) != 0) {
        log_error("outbox: cannot build the frame of event %" PRIu64 "-%" PRId64
                  " (invalid payload or out of memory); skipped",
                  event->position.xid, event->position.id);
        return;
    }
    for (size_t i = 0; i < c->member_count; i++) {
        struct user *user = c->members[i];
        struct frame *frame = event_frames_for(&frames, user->id);

        if (frame == NULL)
            continue;
        for (struct push_socket *s = user->sockets; s != NULL; s = s->next_of_user)
            socket_deliver_event(s, frame);
    }
    event_frames_clear(&frames);
}

int outbox_read_row(PGresult *result, int row, struct event *event)
{
    if (position_from_columns(PQgetvalue(result, row, 0),
                              PQgetvalue(result, row, 1), &event->position) != 0)
        return -1;
    if (event_kind_parse(PQgetvalue(result, row, 3), &event->kind) != 0)
        return -2;
    event->conversation_id = strtoll(PQgetvalue(result, row, 2), NULL, 10);
    event->payload = PQgetvalue(result, row, 4);
    event->payload_len = (size_t)PQgetlength(result, row, 4);
    return 0;
}

/* ---- reading -------------------------------------------------------------- */

static void on_fetched(PGresult *result, void *arg)
{
    size_t bytes = 0;
    int rows, cut = 0;

    (void)arg;
    reading = 0;
    if (result == NULL)
        return; /* the connection is gone; the reconnect reads again */
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        log_error("outbox: reading events failed: %s", PQresultErrorMessage(result));
        return;
    }
    rows = PQntuples(result);
    for (int row = 0; row < rows; row++) {
        struct event event;
        int status;

        if (bytes >= DISPATCH_BYTES) {
            cut = 1;
            break;
        }
        status = outbox_read_row(result, row, &event);
        bytes += (size_t)PQgetlength(result, row, 4);

        if (status == -1) {
            log_error("outbox: row %d has an invalid position; reading stopped", row);
            return;
        }
        if (status == 0)
            dispatch(&event);
        else
            log_error("outbox: event %" PRIu64 "-%" PRId64 " has an unknown kind; skipped",
                      event.position.xid, event.position.id);
        delivered = event.position;
    }
    if (rows > 0)
        log_debug("outbox: delivered %d events up to %" PRIu64 "-%" PRId64,
                  rows, delivered.xid, delivered.id);
    if (rows == FETCH_BATCH || cut || read_again) {
        read_again = 0;
        read_events();
    }
}

static void on_head(PGresult *result, void *arg)
{
    struct position newest, horizon;

    (void)arg;
    reading = 0;
    if (result == NULL)
        return;
    if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1 ||
        position_from_columns(PQgetvalue(result, 0, 2), PQgetvalue(result, 0, 3),
                              &horizon) != 0) {
        log_error("outbox: reading the newest position failed: %s",
                  PQresultErrorMessage(result));
        return;
    }
    delivered = horizon;
    if (!PQgetisnull(result, 0, 0) &&
        position_from_columns(PQgetvalue(result, 0, 0), PQgetvalue(result, 0, 1),
                              &newest) == 0 &&
        position_compare(&newest, &horizon) > 0)
        delivered = newest;
    have_position = 1;
    log_info("outbox: delivering events after %" PRIu64 "-%" PRId64,
             delivered.xid, delivered.id);
    read_events();
}

static void read_events(void)
{
    char xid[24], id[24], limit[16];
    const char *params[3] = {xid, id, limit};

    if (reading) {
        read_again = 1;
        return;
    }
    if (!have_position) {
        reading = db_query(listener, OUTBOX_HEAD, NULL, on_head, NULL) != NULL;
        return;
    }
    snprintf(xid, sizeof(xid), "%" PRIu64, delivered.xid);
    snprintf(id, sizeof(id), "%" PRId64, delivered.id);
    snprintf(limit, sizeof(limit), "%d", FETCH_BATCH);
    reading = db_query(listener, OUTBOX_FETCH, params, on_fetched, NULL) != NULL;
}

/* ---- connection hooks ------------------------------------------------------ */

static void on_listening(PGresult *result, void *arg)
{
    (void)arg;
    if (result != NULL && PQresultStatus(result) != PGRES_COMMAND_OK)
        log_error("outbox: LISTEN failed: %s", PQresultErrorMessage(result));
}

/* After every (re)connect: LISTEN first, then read everything past the
 * delivered position, which catches up whatever committed meanwhile. */
static void on_connected(struct db *db, void *arg)
{
    (void)arg;
    db_exec(db, "LISTEN " OUTBOX_CHANNEL, on_listening, NULL);
    db_exec(db, "LISTEN " SESSIONS_CHANNEL, on_listening, NULL);
    reading = 0;
    read_again = 0;
    read_events();
}

static void on_notify(struct db *db, const PGnotify *notification, void *arg)
{
    (void)db;
    (void)arg;
    if (strcmp(notification->relname, SESSIONS_CHANNEL) == 0)
        revoke_sessions(notification->extra);
    else
        read_events();
}

static void on_lost(struct db *db, void *arg)
{
    (void)db;
    (void)arg;
    reading = 0;
}

static void on_poll_timer(uv_timer_t *timer)
{
    (void)timer;
    if (db_ready(listener))
        read_events();
}

int outbox_start(uv_loop_t *loop, const char *conninfo)
{
    static const struct db_hooks hooks = {
        .connected = on_connected,
        .notify = on_notify,
        .lost = on_lost,
    };

    listener = db_open(loop, "outbox listener", conninfo, statements,
                       OUTBOX_STATEMENT_COUNT, &hooks);
    if (listener == NULL)
        return -1;
    uv_timer_init(loop, &poll_timer);
    uv_timer_start(&poll_timer, on_poll_timer, POLL_INTERVAL_MS, POLL_INTERVAL_MS);
    return 0;
}

void outbox_stop(void)
{
    if (listener == NULL)
        return;
    uv_timer_stop(&poll_timer);
    uv_close((uv_handle_t *)&poll_timer, NULL);
    db_close(listener);
    listener = NULL;
}
