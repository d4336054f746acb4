/*
 * The request and response of one API call, the error table, and the
 * handlers of each resource. Handlers see no FastCGI: main.c fills a
 * struct request from the FastCGI environment and writes the response it
 * holds afterwards, so unit tests can call handlers directly.
 */
#ifndef BLINKCHAT_API_H
#define BLINKCHAT_API_H

#include <json-c/json.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "buf.h"
#include "session.h"

#define API_JSON_BODY_MAX (64 * 1024)
#define API_RESPONSE_MAX (16 * 1024 * 1024)
#define API_ROUTE_PARAMS 2

/* Every failure a handler can report; api_error_info() maps each to its
 * HTTP status and the code of the JSON error body. */
enum api_error {
    ERR_INVALID_JSON,
    ERR_INVALID_BODY,
    ERR_INVALID_QUERY,
    ERR_INVALID_CURSOR,
    ERR_INVALID_EMOJI,
    ERR_UNAUTHENTICATED,
    ERR_INVALID_CREDENTIALS,
    ERR_FORBIDDEN_ORIGIN,
    ERR_ACCOUNT_DISABLED,
    ERR_ROUTE_NOT_FOUND,
    ERR_CONVERSATION_NOT_FOUND,
    ERR_MESSAGE_NOT_FOUND,
    ERR_USER_NOT_FOUND,
    ERR_IMAGE_NOT_FOUND,
    ERR_METHOD_NOT_ALLOWED,
    ERR_USERNAME_TAKEN,
    ERR_CLIENT_ID_CONFLICT,
    ERR_TOO_LARGE,
    ERR_UNSUPPORTED_MEDIA_TYPE,
    ERR_RATE_LIMITED,
    ERR_INTERNAL,
    ERR_STORE_FAILED,
    ERR_DATABASE_UNAVAILABLE,
};

struct api_error_info {
    int http_status;
    const char *code;
    const char *default_message;
};

const struct api_error_info *api_error_info(enum api_error err);

struct request {
    /* Input, set by the caller of router_dispatch(). Strings are borrowed. */
    const char *method;
    const char *uri;            /* path and query, as received */
    const char *origin;         /* Origin header or NULL */
    const char *fetch_site;     /* Sec-Fetch-Site header or NULL */
    const char *cookie;         /* Cookie header or NULL */
    const char *content_type;   /* or NULL */
    const char *remote_addr;
    long long content_length;
    /* Reads up to len bytes of the body into dst; returns the count, 0 at
     * the end. Streaming routes (uploads) call it themselves; for all
     * others the router reads the whole body into body first. */
    int (*read_body)(void *ctx, char *dst, int len);
    void *read_ctx;
    char *body;                 /* content_length bytes, owned, not NUL-terminated */
    char request_id[17];

    /* Set by the router. */
    char path[512];
    const char *query;          /* after '?', or "" */
    char params[API_ROUTE_PARAMS][128]; /* decoded '{id}' path segments */
    long long user_id;          /* 0 when not authenticated */
    struct session_claims session;
    json_object *json;          /* parsed body, owned, or NULL */
    int wrote_outbox;           /* a committed write appended outbox events */

    /* The response. */
    int status;
    struct buf headers;         /* extra "Name: value\r\n" lines */
    struct buf out;             /* body */
};

void request_init(struct request *req);
void request_free(struct request *req);

/* Responses. Each replaces any earlier response body. */
void respond_error(struct request *req, enum api_error err, const char *message);
void respond_raw_json(struct request *req, int status, const char *json);
void respond_no_content(struct request *req);
/* Responds 503 when the database is unreachable, else 500. */
void respond_db_error(struct request *req, int unavailable);
void respond_header(struct request *req, const char *name, const char *value);

/*
 * Reads the whole body into req->body, up to API_JSON_BODY_MAX bytes.
 * Returns 0, or -1 after responding 413 or 400.
 */
int request_read_body(struct request *req);

/*
 * Parses the body as a JSON object into req->json. Returns 0, or -1 after
 * responding with 415 (not application/json), 413 or 400.
 */
int request_parse_json(struct request *req);

/* Field access on req->json. Each returns 0 when the field is present and of
 * the type, 1 when absent (or null), and -1 after responding 400 when it has
 * another type. */
int json_field_string(struct request *req, const char *name, const char **value,
                      size_t *len);
int json_field_id(struct request *req, const char *name, long long *value);

/* Query parameter name of req->query, percent-decoded into out. Returns 0,
 * 1 when absent, -1 when malformed or too long. */
int query_param(const char *query, const char *name, char *out, size_t out_size);

/* Percent-decodes one path segment into out (no '+' rule, no NUL).
 * Returns 0, or -1 when malformed or too long. */
int path_segment_decode(const char *s, size_t len, char *out, size_t out_size);


/* Adds the Set-Cookie header for a new session token, or one that clears the
 * cookie when token is NULL (RFC 6265 section 4.1). */
void respond_session_cookie(struct request *req, const char *token, long long max_age);

/* Keyset paging. page_params() reads ?limit= and ?before= into limit and
 * *before (has_before 0 when absent); returns -1 after responding 400.
 * respond_page() writes {"KEY": [texts...], "next_cursor": ...}, the
 * cursor null when next is NULL. respond_page_result() does the same from
 * rows of (time_us, id, json) fetched with LIMIT limit + 1, the extra row
 * telling whether another page exists. */
struct cursor;
int page_params(struct request *req, int default_limit, int max_limit, int *limit,
                struct cursor *before, int *has_before);
void respond_page(struct request *req, const char *key, const char *const *texts, int shown,
                  const struct cursor *next, int fill_presence);
void respond_page_result(struct request *req, PGresult *res, const char *key, int limit,
                         int fill_presence);

/* Appends the JSON objects in texts to req->out, separated by commas, with
 * "online" filled in for every user object among them (see cache.h).
 * Returns 0, or -1 after responding 500. */
int append_with_presence(struct request *req, const char *const *texts, int count);

/* Route handlers, one file per resource. */
void auth_register(struct request *req);
void auth_login(struct request *req);
void auth_logout(struct request *req);
void auth_logout_all(struct request *req);
void users_me(struct request *req);
void users_update(struct request *req);
void users_search(struct request *req);
void conversations_list(struct request *req);
void conversations_create(struct request *req);
void conversations_get(struct request *req);
void messages_list(struct request *req);
void messages_create(struct request *req);
void messages_mark_read(struct request *req);
void reactions_put(struct request *req);
void reactions_delete(struct request *req);
void uploads_create(struct request *req);

/* Resolves the session cookie to req->user_id. Returns 0, or -1 after
 * responding 401 or 503. */
int auth_require_session(struct request *req);

/* Routes and runs one request; always leaves a response in req. */
void router_dispatch(struct request *req);

/* One-time set-up of a process: configuration already loaded. Returns 0 or -1. */
int api_init(void);

#endif
