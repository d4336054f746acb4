/*
 * Authorization of WebSocket upgrades: the path, the Origin and the
 * session cookie, checked with the same rules as the API. The session is
 * looked up on a connection of its own with a bounded synchronous query
 * (see auth.c for why).
 */
#ifndef PUSHD_AUTH_H
#define PUSHD_AUTH_H

#include <uv.h>

#include "session.h"

struct lws;

enum auth_status {
    AUTH_OK,
    AUTH_NOT_FOUND,        /* 404: not the /ws path */
    AUTH_FORBIDDEN_ORIGIN, /* 403: an Origin other than the public origin */
    AUTH_UNAUTHENTICATED,  /* 401: no valid session */
    AUTH_UNAVAILABLE       /* 503: PostgreSQL unreachable or shutting down */
};

/* Opens the session connection; returns 0 or -1. */
int auth_open(uv_loop_t *loop, const char *conninfo);

/*
 * Checks the upgrade request on wsi, whose headers must still be
 * available. On AUTH_OK stores the session's user in *user_id. Logs every
 * refusal with its reason and the peer, never the token.
 */
enum auth_status auth_check_upgrade(struct lws *wsi, long long *user_id,
                                    char jti[SESSION_JTI_LEN + 1]);

void auth_close(void);

#endif
