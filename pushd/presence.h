/*
 * Presence. A user is online while at least one of their sockets is open
 * on any daemon: each daemon keeps its instance id, with a lease expiry
 * as score, in the sorted set blinkchat:online:USER while the user has a
 * socket here, and refreshes the lease every PRESENCE_REFRESH_MS. The
 * change from no entry to one entry (online) and from one to none
 * (offline) is decided and published atomically by a Lua script, so two
 * daemons never both announce it and announcements keep their order.
 * Going offline waits PRESENCE_GRACE_MS, so a socket that reconnects at
 * once causes no announcement at all.
 */
#ifndef PUSHD_PRESENCE_H
#define PUSHD_PRESENCE_H

#include <stddef.h>
#include <uv.h>

struct user;

#define PRESENCE_LEASE_MS 60000
#define PRESENCE_REFRESH_MS 20000
#define PRESENCE_GRACE_MS 2000

void presence_start(uv_loop_t *loop);

/* The user's first socket on this daemon opened. */
void presence_user_connected(struct user *user);

/* The user's last socket on this daemon closed. */
void presence_user_disconnected(struct user *user);

/* Handles a message from the Redis presence channel. */
void presence_on_message(const char *payload, size_t len);

/* Registers every local user again after Redis came back. */
void presence_redis_connected(void);

/* Cancels pending offline announcements at exit; the leases expire. */
void presence_stop(void);

#endif
