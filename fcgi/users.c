/* Users: the caller's own account and the search used to start a chat. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cache.h"
#include "db.h"
#include "text.h"

void users_me(struct request *req)
{
    char user[24];
    const char *params[1] = {user};
    PGresult *res;
    int unavailable;

    snprintf(user, sizeof(user), "%lld", req->user_id);
    res = db_exec(STMT_USER_BY_ID, 1, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    if (PQntuples(res) == 0) {
        respond_error(req, ERR_UNAUTHENTICATED, NULL);
    } else {
        const char *text = PQgetvalue(res, 0, 0);

        respond_raw_json(req, 200, "{\"user\":");
        if (append_with_presence(req, &text, 1) == 0)
            buf_puts(&req->out, "}");
    }
    PQclear(res);
}

/* Every conversation the user is in shows the new name, so each one's
 * cached entries are invalidated. */
static void record_rename(const char *conversation_ids)
{
    const char *p = conversation_ids;

    while (*p) {
        char *end;
        long long id = strtoll(p, &end, 10);

        if (end == p)
            break;
        cache_conversation_changed(id, 0, NULL, 0);
        p = *end == ',' ? end + 1 : end;
    }
}

void users_update(struct request *req)
{
    const char *display, *text;
    size_t len;
    char user[24], *name = NULL;
    const char *params[2] = {user, NULL};
    PGresult *res;
    int rc, unavailable;

    if (request_parse_json(req) != 0)
        return;
    if ((rc = json_field_string(req, "display_name", &display, &len)) < 0)
        return;
    if (rc > 0 || !text_valid_name(display, len, 1, 64)) {
        respond_error(req, ERR_INVALID_BODY,
                      "display_name must be 1 to 64 characters, not only spaces, without control "
                      "or text-direction characters");
        return;
    }
    name = strndup(display, len);
    if (name == NULL) {
        respond_error(req, ERR_INTERNAL, NULL);
        return;
    }
    snprintf(user, sizeof(user), "%lld", req->user_id);
    params[1] = name;
    res = db_exec(STMT_RENAME, 2, params, &unavailable);
    free(name);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    record_rename(PQgetvalue(res, 0, 1));
    text = PQgetvalue(res, 0, 0);
    respond_raw_json(req, 200, "{\"user\":");
    if (append_with_presence(req, &text, 1) == 0)
        buf_puts(&req->out, "}");
    PQclear(res);
}

/* Builds a LIKE pattern matching names that start with prefix: lower case,
 * with the pattern characters '%', '_' and '\' escaped. */
static void like_prefix(const char *prefix, char *out, size_t out_size)
{
    size_t n = 0;

    for (const char *p = prefix; *p && n + 3 < out_size; p++) {
        char c = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);

        if (c == '%' || c == '_' || c == '\\')
            out[n++] = '\\';
        out[n++] = c;
    }
    out[n++] = '%';
    out[n] = '\0';
}

void users_search(struct request *req)
{
    char q[64], pattern[140], user[24];
    const char *params[2] = {user, pattern};
    PGresult *res;
    int unavailable;

    if (query_param(req->query, "q", q, sizeof(q)) != 0 || q[0] == '\0' ||
        strlen(q) > 32 || text_utf8_length(q, strlen(q)) < 0) {
        respond_error(req, ERR_INVALID_QUERY,
                      "q must be the first 1 to 32 characters of a username");
        return;
    }
    like_prefix(q, pattern, sizeof(pattern));
    snprintf(user, sizeof(user), "%lld", req->user_id);
    res = db_exec(STMT_USERS_SEARCH, 2, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }

    {
        const char *texts[20];
        int count = PQntuples(res) < 20 ? PQntuples(res) : 20;

        for (int i = 0; i < count; i++)
            texts[i] = PQgetvalue(res, i, 0);
        respond_raw_json(req, 200, "{\"users\":[");
        if (append_with_presence(req, texts, count) == 0)
            buf_puts(&req->out, "]}");
    }
    PQclear(res);
}
