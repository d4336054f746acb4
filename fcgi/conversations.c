/* Conversations: the caller's list, one conversation, and creation of
 * direct conversations and groups. Lists are served from the Redis cache
 * when it is on and reachable, else from PostgreSQL alone. */
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

#define GROUP_MEMBERS_MAX 500
#define LIST_DEFAULT_LIMIT 30
#define LIST_MAX_LIMIT 100

static void list_from_database(struct request *req, int limit, const struct cursor *before)
{
    char user[24], time_us[24], id[24], limit_plus_one[16];
    int unavailable;
    PGresult *res;

    snprintf(user, sizeof(user), "%lld", req->user_id);
    snprintf(limit_plus_one, sizeof(limit_plus_one), "%d", limit + 1);
    if (before != NULL) {
        const char *params[4] = {user, time_us, id, limit_plus_one};

        snprintf(time_us, sizeof(time_us), "%lld", before->time_us);
        snprintf(id, sizeof(id), "%lld", before->id);
        res = db_exec(STMT_CONVERSATIONS_BEFORE, 4, params, &unavailable);
    } else {
        const char *params[2] = {user, limit_plus_one};

        res = db_exec(STMT_CONVERSATIONS_FIRST, 2, params, &unavailable);
    }
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    respond_page_result(req, res, "conversations", limit, 1);
    PQclear(res);
}

/* Newest activity first, ties broken by the larger id, as in SQL. */
static int compare_slots(const void *a, const void *b)
{
    const struct cache_slot *x = a, *y = b;

    if (x->updated_us != y->updated_us)
        return x->updated_us < y->updated_us ? 1 : -1;
    return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

/* Returns 1 when the slot sorts after the cursor position. */
static int after_cursor(const struct cache_slot *slot, const struct cursor *before)
{
    return slot->updated_us < before->time_us ||
           (slot->updated_us == before->time_us && slot->id < before->id);
}

/* Serves the page from the cache. Returns 0 when it responded, -1 when
 * Redis is unavailable and nothing was sent. */
static int list_from_cache(struct request *req, int limit, const struct cursor *before)
{
    struct cache_slot *slots = NULL, *page;
    char **texts = NULL;
    struct cursor next;
    int count, first = 0, shown, status, unavailable;

    count = cache_user_conversations(req->user_id, &slots, &unavailable);
    if (count == -1)
        return -1;
    if (count < 0) {
        respond_db_error(req, unavailable);
        return 0;
    }

    qsort(slots, (size_t)count, sizeof(*slots), compare_slots);
    while (before != NULL && first < count && !after_cursor(&slots[first], before))
        first++;
    page = slots + first;
    shown = count - first < limit ? count - first : limit;

    texts = calloc((size_t)shown + 1, sizeof(*texts));
    if (texts == NULL) {
        free(slots);
        respond_error(req, ERR_INTERNAL, NULL);
        return 0;
    }
    status = cache_conversation_entries(req->user_id, page, shown, texts, &unavailable);
    if (status == 0) {
        next.time_us = shown > 0 ? page[shown - 1].updated_us : 0;
        next.id = shown > 0 ? page[shown - 1].id : 0;
        respond_page(req, "conversations", (const char *const *)texts, shown,
                     count - first > limit ? &next : NULL, 1);
    } else if (status == -2) {
        respond_db_error(req, unavailable);
    }
    for (int i = 0; i < shown; i++)
        free(texts[i]);
    free(texts);
    free(slots);
    return status == -1 ? -1 : 0;
}

void conversations_list(struct request *req)
{
    struct cursor before;
    int limit, has_before;

    if (page_params(req, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, &limit, &before, &has_before) != 0)
        return;
    if (cache_enabled() && list_from_cache(req, limit, has_before ? &before : NULL) == 0)
        return;
    list_from_database(req, limit, has_before ? &before : NULL);
}

void conversations_get(struct request *req)
{
    char user[24];
    const char *params[2] = {req->params[0], user};
    const char *text;
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
        text = PQgetvalue(res, 0, 0);
        respond_raw_json(req, 200, "{\"conversation\":");
        if (append_with_presence(req, &text, 1) == 0)
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

/* Records the new conversation in the cache: its members' lists changed. */
static void record_new_conversation(PGresult *res)
{
    long long members[GROUP_MEMBERS_MAX + 1];
    const char *p = PQgetvalue(res, 0, 3);
    int count = 0;

    while (*p && count <= GROUP_MEMBERS_MAX) {
        char *end;

        members[count++] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    cache_conversation_changed(atoll(PQgetvalue(res, 0, 2)), 0, members, count);
}

void conversations_create(struct request *req)
{
    struct buf members;
    const char *title = NULL;
    char *title_copy = NULL;
    size_t title_len = 0;
    char user[24];
    const char *params[3], *text;
    PGresult *res = NULL;
    int others, rc, unavailable, created;

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
    if (others >= 2 && (rc != 0 || !text_valid_name(title, title_len, 1, 100))) {
        respond_error(req, ERR_INVALID_BODY,
                      "a group needs a title of 1 to 100 characters, not only spaces, without "
                      "control or text-direction characters");
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

    created = strcmp(PQgetvalue(res, 0, 0), "created") == 0;
    if (created) {
        log_info("api: conversation %s created with %d other members", PQgetvalue(res, 0, 2),
                 others);
        record_new_conversation(res);
        req->wrote_outbox = 1;
    }
    text = PQgetvalue(res, 0, 1);
    respond_raw_json(req, created ? 201 : 200, "{\"conversation\":");
    if (append_with_presence(req, &text, 1) == 0)
        buf_puts(&req->out, "}");
done:
    PQclear(res);
    free(title_copy);
    buf_free(&members);
}
