/*
 * The membership cache. Invariant: a user is listed in conversation C's
 * members exactly when the user is ready and C is in the user's sorted
 * conversation array. A user that is still loading collects the members
 * added by conversation events meanwhile, so an event dispatched between
 * the load query's snapshot and its result is not lost: the array is the
 * union of both.
 */
#define _POSIX_C_SOURCE 200809L
#include "users.h"

#include <libpq-fe.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "log.h"
#include "presence.h"
#include "queries.h"
#include "sockets.h"
#include "typing.h"

static struct idmap users_by_id;
static struct idmap conversations_by_id;

struct user *users_find(long long user_id)
{
    return idmap_get(&users_by_id, user_id);
}

struct conversation *conversations_find(long long conversation_id)
{
    return idmap_get(&conversations_by_id, conversation_id);
}

/* ---- the sorted conversation array of a user ---------------------------- */

/* Returns the index of the first element >= id. */
static size_t lower_bound(const struct user *user, long long id)
{
    size_t low = 0, high = user->conversation_count;

    while (low < high) {
        size_t mid = low + (high - low) / 2;

        if (user->conversations[mid] < id)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

int user_is_member(const struct user *user, long long conversation_id)
{
    size_t i = lower_bound(user, conversation_id);

    return i < user->conversation_count &&
           user->conversations[i] == conversation_id;
}

/* Inserts id. Returns 1 when added, 0 when already present, -1 when out
 * of memory. */
static int insert_conversation(struct user *user, long long id)
{
    size_t i = lower_bound(user, id);

    if (i < user->conversation_count && user->conversations[i] == id)
        return 0;
    if (user->conversation_count == user->conversation_capacity) {
        size_t capacity = user->conversation_capacity ? user->conversation_capacity * 2 : 8;
        long long *grown = realloc(user->conversations, capacity * sizeof(*grown));

        if (grown == NULL)
            return -1;
        user->conversations = grown;
        user->conversation_capacity = capacity;
    }
    memmove(&user->conversations[i + 1], &user->conversations[i],
            (user->conversation_count - i) * sizeof(*user->conversations));
    user->conversations[i] = id;
    user->conversation_count++;
    return 1;
}

/* ---- conversation index --------------------------------------------------- */

static int index_member(long long conversation_id, struct user *user)
{
    struct conversation *c = conversations_find(conversation_id);

    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            return -1;
        c->id = conversation_id;
        if (idmap_put(&conversations_by_id, conversation_id, c) != 0) {
            free(c);
            return -1;
        }
    }
    if (c->member_count == c->member_capacity) {
        size_t capacity = c->member_capacity ? c->member_capacity * 2 : 4;
        struct user **grown = realloc(c->members, capacity * sizeof(*grown));

        if (grown == NULL)
            return -1;
        c->members = grown;
        c->member_capacity = capacity;
    }
    c->members[c->member_count++] = user;
    return 0;
}

static void unindex_member(long long conversation_id, struct user *user)
{
    struct conversation *c = conversations_find(conversation_id);

    if (c == NULL)
        return;
    for (size_t i = 0; i < c->member_count; i++) {
        if (c->members[i] == user) {
            c->members[i] = c->members[--c->member_count];
            break;
        }
    }
    if (c->member_count > 0)
        return;
    typing_conversation_freed(c);
    idmap_remove(&conversations_by_id, conversation_id);
    free(c->members);
    free(c);
}

void users_add_members(long long conversation_id, const long long *user_ids,
                       size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct user *user = users_find(user_ids[i]);
        int added;

        if (user == NULL)
            continue;
        added = insert_conversation(user, conversation_id);
        if (added < 0 || (added == 1 && user->ready &&
                          index_member(conversation_id, user) != 0))
            log_error("out of memory adding user %lld to conversation %lld",
                      user->id, conversation_id);
    }
}

/* ---- loading ---------------------------------------------------------------- */

static void fail_loading_sockets(struct user *user, const char *reason)
{
    for (struct push_socket *s = user->sockets; s != NULL; s = s->next_of_user) {
        if (s->state == SOCKET_LOADING)
            socket_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, reason);
    }
}

static int merge_rows(struct user *user, PGresult *result)
{
    for (int row = 0; row < PQntuples(result); row++) {
        long long id = strtoll(PQgetvalue(result, row, 0), NULL, 10);

        if (insert_conversation(user, id) < 0)
            return -1;
    }
    for (size_t i = 0; i < user->conversation_count; i++) {
        if (index_member(user->conversations[i], user) != 0)
            return -1;
    }
    return 0;
}

static void on_membership_loaded(PGresult *result, void *arg)
{
    struct user *user = arg;

    user->load = NULL;
    if (result == NULL || PQresultStatus(result) != PGRES_TUPLES_OK) {
        log_error("user=%lld loading conversations failed: %s", user->id,
                  result ? PQresultErrorMessage(result) : "connection lost");
        fail_loading_sockets(user, "database unavailable");
        return;
    }
    if (merge_rows(user, result) != 0) {
        /* Undo a partial index so the invariant holds for the next try. */
        for (size_t i = 0; i < user->conversation_count; i++)
            unindex_member(user->conversations[i], user);
        log_error("user=%lld out of memory indexing conversations", user->id);
        fail_loading_sockets(user, "out of memory");
        return;
    }
    user->ready = 1;
    log_debug("user=%lld loaded %zu conversations", user->id,
              user->conversation_count);
    for (struct push_socket *s = user->sockets; s != NULL; s = s->next_of_user) {
        if (s->state == SOCKET_LOADING)
            socket_start(s);
    }
}

static int start_load(struct user *user)
{
    char id[24];
    const char *params[1] = {id};

    snprintf(id, sizeof(id), "%lld", user->id);
    user->load = db_query(queries_db(), QUERY_MEMBERSHIP, params,
                          on_membership_loaded, user);
    return user->load != NULL ? 0 : -1;
}

/* ---- sockets -------------------------------------------------------------- */

static void free_user(struct user *user)
{
    db_cancel(user->load);
    if (user->ready) {
        for (size_t i = 0; i < user->conversation_count; i++)
            unindex_member(user->conversations[i], user);
    }
    idmap_remove(&users_by_id, user->id);
    free(user->conversations);
    free(user);
}

int users_attach(struct push_socket *s)
{
    struct user *user = users_find(s->user_id);
    int created = 0;

    if (user == NULL) {
        user = calloc(1, sizeof(*user));
        if (user == NULL)
            return -1;
        user->id = s->user_id;
        if (idmap_put(&users_by_id, user->id, user) != 0) {
            free(user);
            return -1;
        }
        created = 1;
    }
    if (!user->ready && user->load == NULL && start_load(user) != 0) {
        if (created)
            free_user(user);
        return -1;
    }

    s->user = user;
    s->next_of_user = user->sockets;
    user->sockets = s;
    user->socket_count++;
    if (user->socket_count == 1)
        presence_user_connected(user);
    if (user->ready)
        socket_start(s);
    return 0;
}

void users_detach(struct push_socket *s)
{
    struct user *user = s->user;

    if (user == NULL)
        return;
    for (struct push_socket **link = &user->sockets; *link != NULL;
         link = &(*link)->next_of_user) {
        if (*link == s) {
            *link = s->next_of_user;
            break;
        }
    }
    s->user = NULL;
    s->next_of_user = NULL;
    if (--user->socket_count == 0)
        presence_user_disconnected(user);
}

void users_release(struct user *user)
{
    if (user->socket_count == 0 && user->grace_timer == NULL)
        free_user(user);
}

char *user_conversation_array(const struct user *user)
{
    size_t size = 3 + user->conversation_count * 21;
    char *text = malloc(size), *p;

    if (text == NULL)
        return NULL;
    p = text;
    *p++ = '{';
    for (size_t i = 0; i < user->conversation_count; i++)
        p += snprintf(p, size - (size_t)(p - text), "%s%lld", i ? "," : "",
                      user->conversations[i]);
    *p++ = '}';
    *p = '\0';
    return text;
}

void users_for_each(void (*fn)(struct user *user, void *arg), void *arg)
{
    for (size_t i = 0; i < users_by_id.capacity; i++) {
        if (users_by_id.slots[i].value != NULL)
            fn(users_by_id.slots[i].value, arg);
    }
}

void users_free_all(void)
{
    while (users_by_id.count > 0) {
        for (size_t i = 0; i < users_by_id.capacity; i++) {
            if (users_by_id.slots[i].value != NULL) {
                free_user(users_by_id.slots[i].value);
                break;
            }
        }
    }
    idmap_free(&users_by_id);
    idmap_free(&conversations_by_id);
}
