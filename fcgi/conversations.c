/* Conversations: the caller's list, one conversation, and creation of
 * direct conversations and groups. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cursor.h"
#include "db.h"
#include "log.h"
#include "text.h"

#define GROUP_MEMBERS_MAX 500

void conversations_list(struct request *req)
{
    struct cursor before;
    char user[24], time_us[24], id[24], limit_plus_one[16];
    int limit, has_before, unavailable;
    PGresult *res;

    if (page_params(req, 30, 100, &limit, &before, &has_before) != 0)
        return;
    snprintf(user, sizeof(user), "%lld", req->user_id);
    snprintf(limit_plus_one, sizeof(limit_plus_one), "%d", limit + 1);
    if (has_before) {
        const char *params[4] = {user, time_us, id, limit_plus_one};

        snprintf(time_us, sizeof(time_us), "%lld", before.time_us);
        snprintf(id, sizeof(id), "%lld", before.id);
        res = db_exec(STMT_CONVERSATIONS_BEFORE, 4, params, &unavailable);
    } else {
        const char *params[2] = {user, limit_plus_one};

        res = db_exec(STMT_CONVERSATIONS_FIRST, 2, params, &unavailable);
    }
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    respond_page(req, res, "conversations", limit);
    PQclear(res);
}

void conversations_get(struct request *req)
{
    char user[24];
    const char *params[2] = {req->params[0], user};
    PGresult *res;
    int unavailable;

    snprintf(user, sizeof(user), "%lld", req->user_id);
    res = db_exec(STMT_CONVERSATION_GET, 2, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    if (PQntuples(res) == 0) {
        respond_error(req, ERR_CONVERSATION_NOT_FOUND, NULL);
    } else {
        respond_raw_json(req, 200, "{\"conversation\":");
        buf_puts(&req->out, PQgetvalue(res, 0, 0));
        buf_puts(&req->out, "}");
    }
    PQclear(res);
}

/*
 * Reads member_ids into a PostgreSQL array literal "{1,2,3}" in out, without
 * the caller and without repeats. Returns the number of other members, or
 * -1 after responding 400.
 */
static int read_member_ids(struct request *req, struct buf *out)
{
    json_object *ids;
    size_t count;
    int others = 0;

    if (!json_object_object_get_ex(req->json, "member_ids", &ids) ||
        !json_object_is_type(ids, json_type_array)) {
        respond_error(req, ERR_INVALID_BODY, "member_ids must be an array of user ids");
        return -1;
    }
    count = json_object_array_length(ids);
    if (count > GROUP_MEMBERS_MAX) {
        respond_error(req, ERR_INVALID_BODY, "a conversation has at most 500 members");
        return -1;
    }

    buf_puts(out, "{");
    for (size_t i = 0; i < count; i++) {
        json_object *item = json_object_array_get_idx(ids, i);
        long long id;
        int repeated = 0;

        if (!json_object_is_type(item, json_type_int) || json_object_get_int64(item) <= 0) {
            respond_error(req, ERR_INVALID_BODY, "member_ids must contain positive integer ids");
            return -1;
        }
        id = json_object_get_int64(item);
        for (size_t j = 0; j < i; j++)
            repeated |= json_object_get_int64(json_object_array_get_idx(ids, j)) == id;
        if (id == req->user_id || repeated)
            continue;
        buf_printf(out, "%s%lld", others > 0 ? "," : "", id);
        others++;
    }
    buf_puts(out, "}");
    return others;
}

void conversations_create(struct request *req)
{
    struct buf members;
    const char *title = NULL;
    char *title_copy = NULL;
    size_t title_len = 0;
    char user[24];
    const char *params[3];
    PGresult *res = NULL;
    int others, rc, unavailable;

    buf_init(&members, 16 * 1024);
    if (request_parse_json(req) != 0)
        goto done;
    others = read_member_ids(req, &members);
    if (others < 0)
        goto done;
    if ((rc = json_field_string(req, "title", &title, &title_len)) < 0)
        goto done;

    if (others == 0) {
        respond_error(req, ERR_INVALID_BODY, "member_ids must name at least one other user");
        goto done;
    }
    if (others == 1 && rc == 0) {
        respond_error(req, ERR_INVALID_BODY,
                      "a direct conversation has no title; add members for a group");
        goto done;
    }
    if (others >= 2 && (rc != 0 || !text_valid_length(title, title_len, 1, 100))) {
        respond_error(req, ERR_INVALID_BODY,
                      "a group needs a title of 1 to 100 characters, not only spaces");
        goto done;
    }
    if (rc == 0 && (title_copy = strndup(title, title_len)) == NULL) {
        respond_error(req, ERR_INTERNAL, NULL);
        goto done;
    }

    snprintf(user, sizeof(user), "%lld", req->user_id);
    params[0] = user;
    params[1] = members.data;
    params[2] = title_copy;
    res = db_exec(STMT_CONVERSATION_CREATE, 3, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        goto done;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "user_not_found") == 0) {
        respond_error(req, ERR_USER_NOT_FOUND, "a user in member_ids does not exist");
        goto done;
    }
    respond_raw_json(req, strcmp(PQgetvalue(res, 0, 0), "created") == 0 ? 201 : 200,
                     "{\"conversation\":");
    buf_puts(&req->out, PQgetvalue(res, 0, 1));
    buf_puts(&req->out, "}");
    if (req->status == 201) {
        log_info("api: conversation created with %d other members", others);
        req->wrote_outbox = 1;
    }
done:
    PQclear(res);
    free(title_copy);
    buf_free(&members);
}
