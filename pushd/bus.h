/*
 * Redis for the push daemon: one connection that SUBSCRIBEs to the typing
 * and presence channels and one for commands (PUBLISH, the presence sets),
 * because a subscribed connection accepts no other commands. Both run on
 * the loop through hiredis' libuv adapter and reconnect with backoff;
 * while Redis is away, typing and presence stop but outbox events flow.
 */
#ifndef PUSHD_BUS_H
#define PUSHD_BUS_H

#include <hiredis.h>
#include <async.h>
#include <uv.h>

#define BUS_CHANNEL_TYPING "blinkchat:typing"
#define BUS_CHANNEL_PRESENCE "blinkchat:presence"
/* Channel messages are flat JSON objects with at most one array. */
#define BUS_JSON_MAX_DEPTH 4

/*
 * Starts both connections to url: redis://[[user]:password@]host[:port][/db]
 * or unix:///path/to/socket[?db=N]. Returns 0, or -1 with a log line when
 * the URL is invalid.
 */
int bus_start(uv_loop_t *loop, const char *url);

/* Returns 1 when the command connection is up. */
int bus_ready(void);

/*
 * Sends a command on the command connection. fn may be NULL; it receives
 * the reply, or NULL when the connection goes away first. Returns 0, or -1
 * without calling fn when the connection is down.
 */
int bus_command(redisCallbackFn *fn, void *privdata, int argc,
                const char **argv, const size_t *argv_len);

/* Publishes message on channel. Returns 0, or -1 when Redis is down. */
int bus_publish(const char *channel, const char *message);

/* Disconnects both; callbacks of pending commands get NULL. */
void bus_stop(void);

#endif
