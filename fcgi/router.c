/*
 * The route table and dispatch: match the path, check the method, reject
 * cross-site state changes, resolve the session, then call the handler.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cfg.h"
#include "log.h"
#include "text.h"

enum route_access { PUBLIC, SESSION };

/* Whether the router reads the body (bounded by API_JSON_BODY_MAX) before
 * calling the handler, or leaves it to a handler that streams it. */
enum route_body { BUFFERED, STREAMED };

struct route {
    const char *method;
    /* Segments separated by '/'; "{id}" matches a positive integer and
     * "{emoji}" any one segment, each stored in req->params in order. */
    const char *pattern;
    void (*handler)(struct request *req);
    enum route_access access;
    enum route_body body;
};

static const struct route routes[] = {
    {"POST", "/api/auth/register", auth_register, PUBLIC, BUFFERED},
    {"POST", "/api/auth/login", auth_login, PUBLIC, BUFFERED},
    {"POST", "/api/auth/logout", auth_logout, SESSION, BUFFERED},
    {"POST", "/api/auth/logout-all", auth_logout_all, SESSION, BUFFERED},
    {"GET", "/api/me", users_me, SESSION, BUFFERED},
    {"PATCH", "/api/me", users_update, SESSION, BUFFERED},
    {"GET", "/api/users", users_search, SESSION, BUFFERED},
    {"GET", "/api/conversations", conversations_list, SESSION, BUFFERED},
    {"POST", "/api/conversations", conversations_create, SESSION, BUFFERED},
    {"GET", "/api/conversations/{id}", conversations_get, SESSION, BUFFERED},
    {"GET", "/api/conversations/{id}/messages", messages_list, SESSION, BUFFERED},
    {"POST", "/api/conversations/{id}/messages", messages_create, SESSION, BUFFERED},
    {"POST", "/api/conversations/{id}/read", messages_mark_read, SESSION, BUFFERED},
    {"PUT", "/api/messages/{id}/reactions/{emoji}", reactions_put, SESSION, BUFFERED},
    {"DELETE", "/api/messages/{id}/reactions/{emoji}", reactions_delete, SESSION, BUFFERED},
    {"POST", "/api/uploads", uploads_create, SESSION, STREAMED},
};

#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))

/* Matches req->path against pattern, filling req->params. Returns 1 on a
 * match. */
static int match_pattern(struct request *req, const char *pattern)
{
    const char *p = pattern;
    const char *s = req->path;
    int nparam = 0;

    while (*p && *s) {
        if (*p == '{') {
            const char *p_end = strchr(p, '}');
            const char *s_end = strchr(s, '/');
            size_t len = s_end ? (size_t)(s_end - s) : strlen(s);
            char *out = req->params[nparam];

            if (p_end == NULL || nparam >= API_ROUTE_PARAMS || len == 0)
                return 0;
            if (path_segment_decode(s, len, out, sizeof(req->params[0])) != 0)
                return 0;
            if (strncmp(p, "{id}", 4) == 0 && text_parse_id(out) < 0)
                return 0;
            nparam++;
            p = p_end + 1;
            s += len;
        } else if (*p == *s) {
            p++;
            s++;
        } else {
            return 0;
        }
    }
    return *p == '\0' && *s == '\0';
}

static int is_state_changing(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

/*
 * Rejects cross-site requests that change state. Browsers send Origin on
 * every cross-origin POST, PUT, PATCH and DELETE (RFC 6454 section 7), and
 * Sec-Fetch-Site where supported; clients such as curl send neither.
 */
static int origin_allowed(const struct request *req)
{
    if (req->origin != NULL && strcmp(req->origin, cfg_str("BLINKCHAT_PUBLIC_ORIGIN")) != 0)
        return 0;
    if (req->fetch_site != NULL && strcmp(req->fetch_site, "cross-site") == 0)
        return 0;
    return 1;
}

static void split_uri(struct request *req)
{
    const char *q = strchr(req->uri, '?');
    size_t len = q ? (size_t)(q - req->uri) : strlen(req->uri);

    if (len >= sizeof(req->path))
        len = sizeof(req->path) - 1;
    memcpy(req->path, req->uri, len);
    req->path[len] = '\0';
    /* A trailing slash names the same resource. */
    if (len > 1 && req->path[len - 1] == '/')
        req->path[len - 1] = '\0';
    req->query = q ? q + 1 : "";
}

void router_dispatch(struct request *req)
{
    const struct route *route = NULL;
    char allow[64] = "";

    split_uri(req);
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        if (!match_pattern(req, routes[i].pattern))
            continue;
        if (strcmp(routes[i].method, req->method) == 0) {
            route = &routes[i];
            break;
        }
        if (strlen(allow) + strlen(routes[i].method) + 3 < sizeof(allow)) {
            if (allow[0] != '\0')
                strcat(allow, ", ");
            strcat(allow, routes[i].method);
        }
    }

    if (route == NULL && allow[0] != '\0') {
        respond_header(req, "Allow", allow);
        respond_error(req, ERR_METHOD_NOT_ALLOWED, NULL);
        return;
    }
    if (route == NULL) {
        respond_error(req, ERR_ROUTE_NOT_FOUND, NULL);
        return;
    }
    if (is_state_changing(req->method) && !origin_allowed(req)) {
        char message[300];

        log_warn("api: cross-site %s %s rejected (origin %s)", req->method,
                 req->path, req->origin ? req->origin : "-");
        snprintf(message, sizeof(message),
                 "requests that change state must come from %s; open BlinkChat at that address",
                 cfg_str("BLINKCHAT_PUBLIC_ORIGIN"));
        respond_error(req, ERR_FORBIDDEN_ORIGIN, message);
        return;
    }
    if (route->body == BUFFERED && request_read_body(req) != 0)
        return;
    if (route->access == SESSION && auth_require_session(req) != 0)
        return;
    route->handler(req);
}
