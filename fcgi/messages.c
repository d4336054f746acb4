/* Messages: history pages, sending with an idempotency key, and the read
 * cursor. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cache.h"
#include "cursor.h"
#include "db.h"
#include "log.h"
#include "text.h"

#define HISTORY_DEFAULT_LIMIT 30
#define HISTORY_MAX_LIMIT 100

/* Returns 1 when the caller is a member of the conversation in params[0],
 * 0 after responding 404, -1 after responding 500 or 503. */
static int require_member(struct request *req)
{
    char user[24];
    const char *params[2] = {req->params[0], user};
    PGresult *res;
    int unavailable, member;

    snprintf(user, sizeof(user), "%lld", req->user_id);
    res = db_exec(STMT_IS_MEMBER, 2, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return -1;
    }
    member = PQntuples(res) == 1;
    PQclear(res);
    if (!member)
        respond_error(req, ERR_CONVERSATION_NOT_FOUND, NULL);
    return member;
}

void messages_list(struct request *req)
{
    struct cursor before;
    char user[24], time_us[24], id[24], limit_plus_one[16];
    int limit, has_before, unavailable;
    PGresult *res;

    if (page_params(req, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, &limit, &before,
                    &has_before) != 0)
        return;
    if (require_member(req) != 1)
        return;

    snprintf(user, sizeof(user), "%lld", req->user_id);
    snprintf(limit_plus_one, sizeof(limit_plus_one), "%d", limit + 1);
    if (has_before) {
        const char *params[5] = {req->params[0], user, time_us, id, limit_plus_one};

        snprintf(time_us, sizeof(time_us), "%lld", before.time_us);
        snprintf(id, sizeof(id), "%lld", before.id);
        res = db_exec(STMT_HISTORY_BEFORE, 5, params, &unavailable);
    } else {
        const char *params[3] = {req->params[0], user, limit_plus_one};

        res = db_exec(STMT_HISTORY_FIRST, 3, params, &unavailable);
    }
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    respond_page_result(req, res, "messages", limit, 0);
    PQclear(res);
}

/* Validates the send body. Returns 0, or -1 after responding 400. */
static int read_new_message(struct request *req, const char **client_id, char **body,
                            long long *image_id)
{
    const char *text;
    size_t len;
    int rc;

    if ((rc = json_field_string(req, "client_id", client_id, &len)) < 0)
        return -1;
    if (rc > 0 || !text_valid_uuid(*client_id, len)) {
        respond_error(req, ERR_INVALID_BODY, "client_id must be a UUID chosen by the client");
        return -1;
    }
    if ((rc = json_field_id(req, "image_id", image_id)) < 0)
        return -1;
    if (rc > 0)
        *image_id = 0;
    if ((rc = json_field_string(req, "body", &text, &len)) < 0)
        return -1;
    if (rc > 0 && *image_id == 0) {
        respond_error(req, ERR_INVALID_BODY, "a message needs a body, an image_id, or both");
        return -1;
    }
    if (rc == 0 && !text_valid_body(text, len, 1, 4000)) {
        respond_error(req, ERR_INVALID_BODY,
                      "body must be 1 to 4000 characters, not only white space, without control "
                      "characters other than tab and line breaks");
        return -1;
    }
    if (rc == 0 && (*body = strndup(text, len)) == NULL) {
        respond_error(req, ERR_INTERNAL, NULL);
        return -1;
    }
    return 0;
}

void messages_create(struct request *req)
{
    const char *client_id;
    char *body = NULL;
    long long image_id;
    char user[24], image[24];
    const char *params[5];
    const char *status;
    PGresult *res = NULL;
    int unavailable;

    if (request_parse_json(req) != 0)
        return;
    if (read_new_message(req, &client_id, &body, &image_id) != 0)
        return;

    snprintf(user, sizeof(user), "%lld", req->user_id);
    snprintf(image, sizeof(image), "%lld", image_id);
    params[0] = req->params[0];
    params[1] = user;
    params[2] = client_id;
    params[3] = body;
    params[4] = image_id > 0 ? image : NULL;
    res = db_exec(STMT_MESSAGE_POST, 5, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        goto done;
    }

    status = PQgetvalue(res, 0, 0);
    if (strcmp(status, "conversation_not_found") == 0) {
        respond_error(req, ERR_CONVERSATION_NOT_FOUND, NULL);
    } else if (strcmp(status, "image_not_found") == 0) {
        respond_error(req, ERR_IMAGE_NOT_FOUND, NULL);
    } else if (strcmp(status, "client_id_conflict") == 0) {
        respond_error(req, ERR_CLIENT_ID_CONFLICT, NULL);
    } else {
        respond_raw_json(req, strcmp(status, "created") == 0 ? 201 : 200, "{\"message\":");
        buf_puts(&req->out, PQgetvalue(res, 0, 1));
        buf_puts(&req->out, "}");
        req->wrote_outbox = req->status == 201;
        if (req->wrote_outbox)
            cache_conversation_changed(atoll(req->params[0]), atoll(PQgetvalue(res, 0, 2)),
                                       NULL, 0);
    }
done:
    PQclear(res);
    free(body);
}

void messages_mark_read(struct request *req)
{
    long long up_to;
    char user[24], up_to_text[24];
    const char *params[3] = {req->params[0], user, up_to_text};
    const char *status;
    PGresult *res;
    int rc, unavailable;

    if (request_parse_json(req) != 0)
        return;
    if ((rc = json_field_id(req, "up_to", &up_to)) < 0)
        return;
    if (rc > 0) {
        respond_error(req, ERR_INVALID_BODY, "up_to must be the id of a message");
        return;
    }

    snprintf(user, sizeof(user), "%lld", req->user_id);
    snprintf(up_to_text, sizeof(up_to_text), "%lld", up_to);
    res = db_exec(STMT_MARK_READ, 3, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    status = PQgetvalue(res, 0, 0);
    if (strcmp(status, "conversation_not_found") == 0) {
        respond_error(req, ERR_CONVERSATION_NOT_FOUND, NULL);
    } else if (strcmp(status, "message_not_found") == 0) {
        respond_error(req, ERR_INVALID_BODY, "up_to is not a message of this conversation");
    } else {
        req->wrote_outbox = strcmp(status, "moved") == 0;
        if (req->wrote_outbox)
            cache_conversation_changed(atoll(req->params[0]), 0, NULL, 0);
        respond_no_content(req);
    }
    PQclear(res);
}
