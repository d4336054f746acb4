/*
 * Request parsing and response building shared by all handlers: the error
 * table, JSON bodies, query parameters and the session cookie.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "cache.h"
#include "cfg.h"
#include "cursor.h"
#include "log.h"
#include "text.h"

static const struct api_error_info error_table[] = {
    [ERR_INVALID_JSON] = {400, "invalid_json", "the request body is not a valid JSON object"},
    [ERR_INVALID_BODY] = {400, "invalid_body", "the request body has an invalid field"},
    [ERR_INVALID_QUERY] = {400, "invalid_query", "a query parameter is invalid"},
    [ERR_INVALID_CURSOR] = {400, "invalid_cursor", "the cursor is invalid; pass back the next_cursor of the previous page unchanged"},
    [ERR_INVALID_EMOJI] = {400, "invalid_emoji", "the reaction must be one of 🔥 ❤️ 👍 😂 😮 😢"},
    [ERR_UNAUTHENTICATED] = {401, "unauthenticated", "log in first: the session is missing, expired or revoked"},
    [ERR_INVALID_CREDENTIALS] = {401, "invalid_credentials", "the username or password is wrong"},
    [ERR_FORBIDDEN_ORIGIN] = {403, "forbidden_origin", "requests that change state must come from the BlinkChat site itself"},
    [ERR_ACCOUNT_DISABLED] = {403, "account_disabled", "this account is disabled; contact the administrator"},
    [ERR_ROUTE_NOT_FOUND] = {404, "not_found", "no such API endpoint"},
    [ERR_CONVERSATION_NOT_FOUND] = {404, "conversation_not_found", "no such conversation"},
    [ERR_MESSAGE_NOT_FOUND] = {404, "message_not_found", "no such message"},
    [ERR_USER_NOT_FOUND] = {404, "user_not_found", "no such user"},
    [ERR_IMAGE_NOT_FOUND] = {404, "image_not_found", "no such image; upload it first"},
    [ERR_METHOD_NOT_ALLOWED] = {405, "method_not_allowed", "this endpoint does not accept that method"},
    [ERR_USERNAME_TAKEN] = {409, "username_taken", "that username is taken; choose another"},
    [ERR_CLIENT_ID_CONFLICT] = {409, "client_id_conflict", "this client_id was already used for a message in another conversation; generate a new one"},
    [ERR_TOO_LARGE] = {413, "too_large", "the request body is larger than 64 KiB"},
    [ERR_UNSUPPORTED_MEDIA_TYPE] = {415, "unsupported_media_type", "send the body as application/json"},
    [ERR_RATE_LIMITED] = {429, "rate_limited", "too many failed logins; wait and try again"},
    [ERR_INTERNAL] = {500, "internal_error", "the server failed to handle the request; try again later"},
    [ERR_STORE_FAILED] = {502, "store_failed", "the image could not be stored; try again later"},
    [ERR_DATABASE_UNAVAILABLE] = {503, "unavailable", "the database is unavailable; try again in a few seconds"},
};

const struct api_error_info *api_error_info(enum api_error err)
{
    return &error_table[err];
}

void request_init(struct request *req)
{
    memset(req, 0, sizeof(*req));
    req->query = "";
    req->status = 500;
    buf_init(&req->headers, 8192);
    buf_init(&req->out, API_RESPONSE_MAX);
}

void request_free(struct request *req)
{
    if (req->json != NULL)
        json_object_put(req->json);
    req->json = NULL;
    free(req->body);
    req->body = NULL;
    buf_free(&req->headers);
    buf_free(&req->out);
}

void respond_error(struct request *req, enum api_error err, const char *message)
{
    const struct api_error_info *info = api_error_info(err);

    if (message == NULL)
        message = info->default_message;
    req->status = info->http_status;
    req->out.len = 0;
    req->out.failed = 0;
    buf_puts(&req->out, "{\"error\":{\"code\":");
    buf_json_string(&req->out, info->code, strlen(info->code));
    buf_puts(&req->out, ",\"message\":");
    buf_json_string(&req->out, message, strlen(message));
    buf_puts(&req->out, "}}");
}

void respond_raw_json(struct request *req, int status, const char *json)
{
    req->status = status;
    req->out.len = 0;
    req->out.failed = 0;
    buf_puts(&req->out, json);
}

void respond_no_content(struct request *req)
{
    req->status = 204;
    req->out.len = 0;
    req->out.failed = 0;
}

void respond_db_error(struct request *req, int unavailable)
{
    respond_error(req, unavailable ? ERR_DATABASE_UNAVAILABLE : ERR_INTERNAL, NULL);
}

void respond_header(struct request *req, const char *name, const char *value)
{
    buf_printf(&req->headers, "%s: %s\r\n", name, value);
}

void respond_session_cookie(struct request *req, const char *token, long long max_age)
{
    char line[SESSION_TOKEN_MAX + 160];

    snprintf(line, sizeof(line),
             "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax%s",
             SESSION_COOKIE_NAME, token ? token : "", token ? max_age : 0,
             cfg_cookie_secure() ? "; Secure" : "");
    respond_header(req, "Set-Cookie", line);
}

/* Returns 1 when the Content-Type names JSON (parameters such as charset
 * may follow the media type). */
static int is_json_media_type(const char *content_type)
{
    size_t n = strlen("application/json");

    if (content_type == NULL)
        return 0;
    while (*content_type == ' ')
        content_type++;
    return strncasecmp(content_type, "application/json", n) == 0 &&
           (content_type[n] == '\0' || content_type[n] == ';' ||
            content_type[n] == ' ');
}

int request_read_body(struct request *req)
{
    long long got = 0;

    if (req->content_length > API_JSON_BODY_MAX || req->content_length < 0) {
        respond_error(req, ERR_TOO_LARGE, NULL);
        return -1;
    }
    if (req->content_length == 0 || req->read_body == NULL)
        return 0;
    req->body = malloc((size_t)req->content_length);
    if (req->body == NULL) {
        respond_error(req, ERR_INTERNAL, NULL);
        return -1;
    }
    while (got < req->content_length) {
        int n = req->read_body(req->read_ctx, req->body + got,
                               (int)(req->content_length - got));

        if (n <= 0) {
            respond_error(req, ERR_INVALID_BODY, "the request body ended before Content-Length");
            return -1;
        }
        got += n;
    }
    return 0;
}

/*
 * Returns 1 when a single quote appears outside every string. json-c 0.16
 * reads 'text' as a string even in strict mode, but RFC 8259 allows only
 * double-quoted strings.
 */
static int has_single_quoted_string(const char *s, size_t len)
{
    int in_string = 0;

    for (size_t i = 0; i < len; i++) {
        if (in_string && s[i] == '\\')
            i++;
        else if (s[i] == '"')
            in_string = !in_string;
        else if (s[i] == '\'' && !in_string)
            return 1;
    }
    return 0;
}

int request_parse_json(struct request *req)
{
    struct json_tokener *tok;
    enum json_tokener_error jerr;
    json_object *obj;

    if (req->content_length > API_JSON_BODY_MAX) {
        respond_error(req, ERR_TOO_LARGE, NULL);
        return -1;
    }
    if (!is_json_media_type(req->content_type)) {
        respond_error(req, ERR_UNSUPPORTED_MEDIA_TYPE, NULL);
        return -1;
    }
    if (req->content_length <= 0 || req->body == NULL) {
        respond_error(req, ERR_INVALID_JSON, "the request body is empty; send a JSON object");
        return -1;
    }
    if (memchr(req->body, '\0', (size_t)req->content_length) != NULL) {
        respond_error(req, ERR_INVALID_JSON, "the request body contains a NUL byte");
        return -1;
    }

    if (has_single_quoted_string(req->body, (size_t)req->content_length)) {
        respond_error(req, ERR_INVALID_JSON,
                      "the request body is not valid JSON: strings need double quotes");
        return -1;
    }

    tok = json_tokener_new_ex(16);
    if (tok == NULL) {
        respond_error(req, ERR_INTERNAL, NULL);
        return -1;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, req->body, (int)req->content_length);
    jerr = json_tokener_get_error(tok);
    if (obj != NULL && (jerr != json_tokener_success ||
                        json_tokener_get_parse_end(tok) != (size_t)req->content_length)) {
        json_object_put(obj);
        obj = NULL;
    }
    json_tokener_free(tok);

    if (obj == NULL) {
        char message[160];

        snprintf(message, sizeof(message), "the request body is not valid JSON: %s",
                 jerr == json_tokener_success || jerr == json_tokener_continue
                     ? "unexpected end or trailing data"
                     : json_tokener_error_desc(jerr));
        respond_error(req, ERR_INVALID_JSON, message);
        return -1;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        respond_error(req, ERR_INVALID_JSON, "the request body must be a JSON object");
        return -1;
    }
    req->json = obj;
    return 0;
}

static int wrong_type(struct request *req, const char *name, const char *type)
{
    char message[128];

    snprintf(message, sizeof(message), "%s must be %s", name, type);
    respond_error(req, ERR_INVALID_BODY, message);
    return -1;
}

int json_field_string(struct request *req, const char *name, const char **value,
                      size_t *len)
{
    json_object *field;

    if (!json_object_object_get_ex(req->json, name, &field) || field == NULL)
        return 1;
    if (!json_object_is_type(field, json_type_string))
        return wrong_type(req, name, "a string");
    *value = json_object_get_string(field);
    *len = (size_t)json_object_get_string_len(field);
    return 0;
}

int json_field_id(struct request *req, const char *name, long long *value)
{
    json_object *field;

    if (!json_object_object_get_ex(req->json, name, &field) || field == NULL)
        return 1;
    if (!json_object_is_type(field, json_type_int) || json_object_get_int64(field) <= 0)
        return wrong_type(req, name, "a positive integer id");
    *value = json_object_get_int64(field);
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into out; '+' is a space in queries only. */
static int percent_decode(const char *s, size_t len, char *out, size_t out_size,
                          int plus_is_space)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (c == '%') {
            int hi, lo;

            if (i + 2 >= len)
                return -1;
            hi = hex_value(s[i + 1]);
            lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0' || n + 1 >= out_size)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

int path_segment_decode(const char *s, size_t len, char *out, size_t out_size)
{
    return percent_decode(s, len, out, out_size, 0);
}

int query_param(const char *query, const char *name, char *out, size_t out_size)
{
    size_t name_len = strlen(name);
    const char *p = query;

    while (p != NULL && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len > name_len && p[name_len] == '=' && strncmp(p, name, name_len) == 0)
            return percent_decode(p + name_len + 1, len - name_len - 1, out,
                                  out_size, 1) == 0 ? 0 : -1;
        if (len == name_len && strncmp(p, name, name_len) == 0) {
            out[0] = '\0';
            return 0;
        }
        p = end ? end + 1 : NULL;
    }
    return 1;
}


int page_params(struct request *req, int default_limit, int max_limit, int *limit,
                struct cursor *before, int *has_before)
{
    char value[CURSOR_MAX + 1];
    int rc;

    *limit = default_limit;
    rc = query_param(req->query, "limit", value, sizeof(value));
    if (rc == 0) {
        long long n = text_parse_id(value);

        if (n < 1 || n > max_limit) {
            char message[64];

            snprintf(message, sizeof(message), "limit must be an integer from 1 to %d",
                     max_limit);
            respond_error(req, ERR_INVALID_QUERY, message);
            return -1;
        }
        *limit = (int)n;
    } else if (rc < 0) {
        respond_error(req, ERR_INVALID_QUERY, "limit must be an integer");
        return -1;
    }

    *has_before = 0;
    rc = query_param(req->query, "before", value, sizeof(value));
    if (rc < 0 || (rc == 0 && cursor_decode(value, before) != 0)) {
        respond_error(req, ERR_INVALID_CURSOR, NULL);
        return -1;
    }
    *has_before = rc == 0;
    return 0;
}

int append_with_presence(struct request *req, const char *const *texts, int count)
{
    json_object **objects = calloc((size_t)count + 1, sizeof(*objects));
    int status = 0;

    if (objects == NULL) {
        respond_error(req, ERR_INTERNAL, NULL);
        return -1;
    }
    for (int i = 0; i < count && status == 0; i++) {
        objects[i] = json_tokener_parse(texts[i]);
        if (objects[i] == NULL)
            status = -1;
    }
    if (status == 0) {
        cache_fill_presence(objects, count);
        for (int i = 0; i < count; i++) {
            if (i > 0)
                buf_puts(&req->out, ",");
            buf_puts(&req->out, json_object_to_json_string_ext(
                                    objects[i], JSON_C_TO_STRING_PLAIN |
                                                    JSON_C_TO_STRING_NOSLASHESCAPE));
        }
    }
    for (int i = 0; i < count; i++)
        json_object_put(objects[i]);
    free(objects);
    if (status != 0) {
        log_error("api: the database returned JSON that does not parse");
        respond_error(req, ERR_INTERNAL, NULL);
    }
    return status;
}

void respond_page(struct request *req, const char *key, const char *const *texts, int shown,
                  const struct cursor *next, int fill_presence)
{
    respond_raw_json(req, 200, "{");
    buf_json_string(&req->out, key, strlen(key));
    buf_puts(&req->out, ":[");
    if (fill_presence) {
        if (append_with_presence(req, texts, shown) != 0)
            return;
    } else {
        for (int i = 0; i < shown; i++) {
            if (i > 0)
                buf_puts(&req->out, ",");
            buf_puts(&req->out, texts[i]);
        }
    }
    buf_puts(&req->out, "],\"next_cursor\":");
    if (next != NULL) {
        char encoded[CURSOR_MAX];

        cursor_encode(next, encoded, sizeof(encoded));
        buf_json_string(&req->out, encoded, strlen(encoded));
    } else {
        buf_puts(&req->out, "null");
    }
    buf_puts(&req->out, "}");
}

void respond_page_result(struct request *req, PGresult *res, const char *key, int limit,
                         int fill_presence)
{
    int rows = PQntuples(res);
    int shown = rows > limit ? limit : rows;
    const char **texts = calloc((size_t)shown + 1, sizeof(*texts));
    struct cursor next;

    if (texts == NULL) {
        respond_error(req, ERR_INTERNAL, NULL);
        return;
    }
    for (int i = 0; i < shown; i++)
        texts[i] = PQgetvalue(res, i, 2);
    if (rows > limit) {
        next.time_us = atoll(PQgetvalue(res, shown - 1, 0));
        next.id = atoll(PQgetvalue(res, shown - 1, 1));
    }
    respond_page(req, key, texts, shown, rows > limit ? &next : NULL, fill_presence);
    free(texts);
}
