/*
 * The outbox listener: LISTENs on blinkchat_outbox, reads the events past
 * the delivered position in batches when the doorbell rings and on a
 * timer, and hands each event to the local sockets of its conversation's
 * members. The delivered position lives only in memory: after a restart
 * the daemon starts from the newest event, and clients resume from theirs.
 */
#ifndef PUSHD_OUTBOX_H
#define PUSHD_OUTBOX_H

#include <libpq-fe.h>
#include <uv.h>

#include "frame.h"
#include "position.h"

/* Opens the listener connection; returns 0 or -1. */
int outbox_start(uv_loop_t *loop, const char *conninfo);

/* Returns 1 once the delivered position is known. */
int outbox_ready(void);

/* Returns the delivered position: every event up to it has been handed to
 * the sockets concerned. Valid when outbox_ready(). */
const struct position *outbox_position(void);

/*
 * Reads row `row` of an events query whose columns are xid::text, id,
 * conversation_id, kind, payload::text. The event points into result.
 * Returns 0; -1 when the position is invalid; -2 when only the kind is
 * unknown (event->position is then valid).
 */
int outbox_read_row(PGresult *result, int row, struct event *event);

void outbox_stop(void);

#endif
