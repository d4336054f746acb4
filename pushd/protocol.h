/*
 * The libwebsockets protocol of /ws: one callback that authorizes the
 * upgrade, reads client frames and writes queued ones.
 */
#ifndef PUSHD_PROTOCOL_H
#define PUSHD_PROTOCOL_H

#include <libwebsockets.h>

/* The protocol table for the vhost, ending with the terminator. */
extern const struct lws_protocols protocol_table[];

/* Returns the number of open WebSockets. */
unsigned protocol_socket_count(void);

/* Closes every open socket with 1001 (going away). */
void protocol_close_all(void);

#endif
