/*
 * Upgrade authorization. libwebsockets 4.1 asks whether to accept an
 * upgrade in a callback that must answer before it returns, so the
 * session lookup cannot wait for an asynchronous result. It runs as a
 * prepared statement on a connection used for nothing else, with a
 * deadline of AUTH_QUERY_TIMEOUT_MS.
 *
 * NOTE: the lookup blocks the event loop for one round trip to
 * PostgreSQL per upgrade (about 0.1 ms on a local socket) and at most
 * AUTH_QUERY_TIMEOUT_MS when the database stalls; a timeout drops the
 * connection, answers 503 and reconnects in the background.
 */
#define _POSIX_C_SOURCE 200809L
#include "auth.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "outbox.h"
#include "pushd.h"
#include "session.h"

#define AUTH_QUERY_TIMEOUT_MS 500
/* Longest Origin and Cookie headers read; longer ones are refused. */
#define ORIGIN_MAX 512
#define COOKIE_MAX 8192

enum auth_statement { AUTH_SESSION, AUTH_STATEMENT_COUNT };

static const struct db_statement statements[AUTH_STATEMENT_COUNT] = {
    [AUTH_SESSION] = {
        "session",
        "SELECT u.token_version, u.banned_at IS NOT NULL, "
        "       EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.jti = $2) "
        "FROM users u WHERE u.id = $1",
        2},
};

static struct db *sessions;

int auth_open(uv_loop_t *loop, const char *conninfo)
{
    sessions = db_open(loop, "sessions", conninfo, statements,
                       AUTH_STATEMENT_COUNT, NULL);
    return sessions != NULL ? 0 : -1;
}

void auth_close(void)
{
    db_close(sessions);
    sessions = NULL;
}

/* Logs a refused upgrade with the peer and, behind a proxy, the client. */
static void log_refusal(struct lws *wsi, long long user_id, const char *reason)
{
    char peer[64] = "", forwarded[128] = "";

    lws_get_peer_simple(wsi, peer, sizeof(peer));
    if (lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) > 0 &&
        lws_hdr_copy(wsi, forwarded, sizeof(forwarded), WSI_TOKEN_X_FORWARDED_FOR) < 0)
        forwarded[0] = '\0';
    log_info("upgrade refused: %s (peer=%s forwarded_for=%s user=%lld)", reason,
             peer, forwarded[0] ? forwarded : "-", user_id);
}

static int path_is_ws(struct lws *wsi)
{
    char uri[16];

    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) >= (int)sizeof(uri))
        return 0;
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0)
        return 0;
    return strcmp(uri, "/ws") == 0;
}

/* An absent Origin is a client that is not a browser; a present one must
 * be the public origin exactly (RFC 6454 section 6.1 serialization). */
static int origin_allowed(struct lws *wsi)
{
    char origin[ORIGIN_MAX];
    int len = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);

    if (len <= 0)
        return 1;
    if (len >= (int)sizeof(origin) ||
        lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) < 0)
        return 0;
    return strcmp(origin, pushd.public_origin) == 0;
}

/* Verifies the session cookie's token; fills claims. Returns 0 or -1 with
 * *reason set. */
static int read_session(struct lws *wsi, struct session_claims *claims,
                        const char **reason)
{
    char *cookie = NULL, token[SESSION_TOKEN_MAX];
    int len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE);
    int status = -1;

    *reason = "no session cookie";
    if (len <= 0)
        return -1;
    *reason = "cookie header too long";
    if (len >= COOKIE_MAX)
        return -1;
    cookie = malloc((size_t)len + 1);
    *reason = "out of memory";
    if (cookie == NULL)
        return -1;
    *reason = "no session cookie";
    if (lws_hdr_copy(wsi, cookie, len + 1, WSI_TOKEN_HTTP_COOKIE) < 0 ||
        session_cookie_value(cookie, token, sizeof(token)) != 0)
        goto done;
    switch (session_verify(pushd.jwt_secret, token, (long long)time(NULL), claims)) {
    case SESSION_OK:
        status = 0;
        break;
    case SESSION_EXPIRED:
        *reason = "session expired";
        break;
    case SESSION_MALFORMED:
        *reason = "invalid session token";
        break;
    default:
        *reason = "session verification failed";
        break;
    }
done:
    free(cookie);
    return status;
}

/* Compares the claims with the user's row. */
static enum auth_status check_user(const struct session_claims *claims,
                                   const char **reason)
{
    char id[24];
    const char *params[2] = {id, claims->jti};
    PGresult *result;
    enum auth_status status = AUTH_UNAUTHENTICATED;

    snprintf(id, sizeof(id), "%lld", claims->user_id);
    result = db_query_sync(sessions, AUTH_SESSION, params, AUTH_QUERY_TIMEOUT_MS);
    if (result == NULL || PQresultStatus(result) != PGRES_TUPLES_OK) {
        if (result != NULL)
            log_error("upgrade: session lookup failed: %s",
                      PQresultErrorMessage(result));
        *reason = "session lookup unavailable";
        status = AUTH_UNAVAILABLE;
    } else if (PQntuples(result) != 1) {
        *reason = "user not found";
    } else if (strtoll(PQgetvalue(result, 0, 0), NULL, 10) != claims->token_version) {
        *reason = "token version revoked";
    } else if (strcmp(PQgetvalue(result, 0, 1), "t") == 0) {
        *reason = "user banned";
    } else if (strcmp(PQgetvalue(result, 0, 2), "t") == 0) {
        *reason = "session logged out";
    } else {
        status = AUTH_OK;
    }
    PQclear(result);
    return status;
}

enum auth_status auth_check_upgrade(struct lws *wsi, long long *user_id,
                                    char jti[SESSION_JTI_LEN + 1])
{
    struct session_claims claims;
    const char *reason = NULL;
    enum auth_status status;

    if (!path_is_ws(wsi)) {
        log_refusal(wsi, 0, "path is not /ws");
        return AUTH_NOT_FOUND;
    }
    if (!origin_allowed(wsi)) {
        log_refusal(wsi, 0, "foreign Origin");
        return AUTH_FORBIDDEN_ORIGIN;
    }
    if (read_session(wsi, &claims, &reason) != 0) {
        log_refusal(wsi, 0, reason);
        return AUTH_UNAUTHENTICATED;
    }
    if (pushd.shutting_down || !outbox_ready()) {
        log_refusal(wsi, claims.user_id, "not ready (starting or stopping)");
        return AUTH_UNAVAILABLE;
    }
    status = check_user(&claims, &reason);
    if (status != AUTH_OK) {
        log_refusal(wsi, claims.user_id, reason);
        return status;
    }
    *user_id = claims.user_id;
    memcpy(jti, claims.jti, SESSION_JTI_LEN + 1);
    return AUTH_OK;
}
