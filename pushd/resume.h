/*
 * Resume: replays to one socket, in order, the outbox events after the
 * position its client last applied, in batches from PostgreSQL up to the
 * daemon's delivered position, and then hands the socket to live delivery
 * at exactly that position, so the seam has no gap and no duplicate.
 */
#ifndef PUSHD_RESUME_H
#define PUSHD_RESUME_H

#include "position.h"

struct push_socket;

/* Handles {"type":"resume","last_event_id":from} on a socket that has had
 * its hello. */
void resume_start(struct push_socket *s, const struct position *from);

/* Runs the next batch of a replay that waited for the queue to drain. */
void resume_continue(struct push_socket *s);

/* Stops the replay of s, if any; its query result is ignored. */
void resume_cancel(struct push_socket *s);

#endif
