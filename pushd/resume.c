/*
 * Resume replays. While a socket replays, live delivery skips it; each
 * batch reads the user's events from the socket's position up to the
 * delivered position as it was when the batch was sent. When a short
 * batch ends exactly at the current delivered position, every event up to
 * it has been queued and the socket goes live there. Queuing stops while
 * the socket's queue holds half its limit, so a long replay to a slow
 * client is paced instead of overflowing the queue.
 */
#define _POSIX_C_SOURCE 200809L
#include "resume.h"

#include <inttypes.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "frame.h"
#include "log.h"
#include "outbox.h"
#include "pushd.h"
#include "queries.h"
#include "sockets.h"
#include "users.h"

#define REPLAY_BATCH 500
/* Replayed frames are queued only while the queue holds less than this;
 * the replay continues once it drains below SOCKET_REPLAY_RESUME_BYTES. */
#define REPLAY_PAUSE_BYTES (PUSHD_MAX_QUEUED_BYTES / 2)

static void send_batch(struct push_socket *s);

static void fail(struct push_socket *s, const char *what, PGresult *result)
{
    socket_log(LOG_ERROR, s, "resume: %s failed: %s", what,
               result ? PQresultErrorMessage(result) : "connection lost");
    socket_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "database unavailable");
}

/* Tells the client to reload over REST, then delivers live from the
 * current position: the reload sees everything up to it. */
static void require_resync(struct push_socket *s)
{
    socket_log(LOG_INFO, s, "resume point not replayable; sent resync_required");
    if (socket_send_text(s, "{\"type\":\"resync_required\"}") != 0)
        return;
    s->position = *outbox_position();
    socket_go_live(s);
}

static void go_live(struct push_socket *s)
{
    char position[POSITION_TEXT_MAX];

    position_format(&s->position, position, sizeof(position));
    socket_log(LOG_DEBUG, s, "resume: live after %s", position);
    socket_go_live(s);
}

static void queue_row(struct push_socket *s, PGresult *result, int row)
{
    struct event event;
    struct event_frames frames;
    struct frame *frame;
    int status = outbox_read_row(result, row, &event);

    if (status != 0) {
        socket_log(LOG_ERROR, s, "resume: row %d of the replay is invalid; skipped", row);
        if (status == -2)
            s->position = event.position;
        return;
    }
    s->position = event.position;
    if (event_frames_init(&frames, &event) != 0) {
        socket_log(LOG_ERROR, s, "resume: cannot build event %" PRIu64 "-%" PRId64
                   "; skipped", event.position.xid, event.position.id);
        return;
    }
    frame = event_frames_for(&frames, s->user_id);
    if (frame != NULL)
        socket_send(s, frame);
    event_frames_clear(&frames);
}

static void on_batch(PGresult *result, void *arg)
{
    struct push_socket *s = arg;
    int rows;

    s->db_request = NULL;
    if (result == NULL || PQresultStatus(result) != PGRES_TUPLES_OK) {
        fail(s, "reading events", result);
        return;
    }
    rows = PQntuples(result);
    socket_log(LOG_DEBUG, s, "resume: batch of %d events", rows);
    for (int row = 0; row < rows && s->state == SOCKET_REPLAYING; row++) {
        if (s->queued_bytes >= REPLAY_PAUSE_BYTES) {
            /* The rest of the batch is read again after the pause. */
            s->replay_paused = 1;
            return;
        }
        queue_row(s, result, row);
    }
    if (s->state != SOCKET_REPLAYING)
        return; /* closed, e.g. out of memory */

    if (rows < REPLAY_BATCH) {
        /* Everything up to replay_to is queued. */
        s->position = s->replay_to;
        if (position_compare(&s->replay_to, outbox_position()) >= 0) {
            go_live(s);
            return;
        }
    }
    if (s->queued_bytes >= REPLAY_PAUSE_BYTES) {
        s->replay_paused = 1;
        return;
    }
    send_batch(s);
}

static void send_batch(struct push_socket *s)
{
    char from_xid[24], from_id[24], to_xid[24], to_id[24], limit[16];
    const char *params[6] = {from_xid, from_id, NULL, to_xid, to_id, limit};
    char *conversations = user_conversation_array(s->user);

    if (conversations == NULL) {
        socket_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    s->replay_to = *outbox_position();
    snprintf(from_xid, sizeof(from_xid), "%" PRIu64, s->position.xid);
    snprintf(from_id, sizeof(from_id), "%" PRId64, s->position.id);
    snprintf(to_xid, sizeof(to_xid), "%" PRIu64, s->replay_to.xid);
    snprintf(to_id, sizeof(to_id), "%" PRId64, s->replay_to.id);
    snprintf(limit, sizeof(limit), "%d", REPLAY_BATCH);
    params[2] = conversations;
    s->db_request = db_query(queries_db(), QUERY_REPLAY, params, on_batch, s);
    free(conversations);
    if (s->db_request == NULL)
        fail(s, "reading events", NULL);
}

static void on_horizon(PGresult *result, void *arg)
{
    struct push_socket *s = arg;
    struct position horizon;

    s->db_request = NULL;
    if (result == NULL || PQresultStatus(result) != PGRES_TUPLES_OK ||
        PQntuples(result) != 1 ||
        position_from_columns(PQgetvalue(result, 0, 0), PQgetvalue(result, 0, 1),
                              &horizon) != 0) {
        fail(s, "reading the outbox horizon", result);
        return;
    }
    /* Events up to the horizon are pruned; a client past it lost nothing. */
    if (position_compare(&s->position, &horizon) < 0) {
        require_resync(s);
        return;
    }
    send_batch(s);
}

void resume_start(struct push_socket *s, const struct position *from)
{
    int wrote_events;

    if (s->state == SOCKET_REPLAYING) {
        socket_send_error(s, "resume_in_progress", "a resume is already running");
        return;
    }

    /* Queued event frames were not written, so the replay may redo them in
     * order. Those already written cannot be taken back: a resume from
     * before them would have to go out of order, so it gets a resync. */
    socket_drop_queued_events(s);
    wrote_events = position_compare(&s->written, &s->hello) > 0;
    if (wrote_events && position_compare(from, &s->written) < 0) {
        require_resync(s);
        return;
    }

    s->position = *from;
    if (log_enabled(LOG_DEBUG)) {
        char text[POSITION_TEXT_MAX];

        position_format(from, text, sizeof(text));
        socket_log(LOG_DEBUG, s, "resume from %s", text);
    }
    if (position_compare(from, outbox_position()) >= 0) {
        /* The client is at or ahead of this daemon (it may come from
         * another instance); live events up to its position are skipped. */
        go_live(s);
        return;
    }
    s->state = SOCKET_REPLAYING;
    s->replay_paused = 0;
    s->db_request = db_query(queries_db(), QUERY_HORIZON, NULL, on_horizon, s);
    if (s->db_request == NULL)
        fail(s, "reading the outbox horizon", NULL);
}

void resume_continue(struct push_socket *s)
{
    if (s->state != SOCKET_REPLAYING || !s->replay_paused)
        return;
    s->replay_paused = 0;
    send_batch(s);
}

void resume_cancel(struct push_socket *s)
{
    db_cancel(s->db_request);
    s->db_request = NULL;
    s->replay_paused = 0;
}
