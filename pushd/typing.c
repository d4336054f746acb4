/*
 * Typing state per conversation, kept only where this daemon has members
 * of the conversation. The Redis message is
 * {"conversation_id":C,"user_id":U,"typing":B}, the same fields as the
 * frame sent to clients.
 */
#define _POSIX_C_SOURCE 200809L
#include "typing.h"

#include <json.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus.h"
#include "frame.h"
#include "log.h"
#include "pushd.h"
#include "sockets.h"
#include "users.h"

struct typing_state {
    struct typing_state *next;
    struct conversation *conversation;
    long long user_id;
    uv_timer_t timer;
};

/* Queues the frame on every socket of the conversation's local members
 * except those of user_id, the typist. */
static void deliver(struct conversation *c, long long user_id, int typing)
{
    struct frame *frame = frame_printf(
        "{\"type\":\"typing\",\"conversation_id\":%lld,\"user_id\":%lld,\"typing\":%s}",
        c->id, user_id, typing ? "true" : "false");

    if (frame == NULL) {
        log_error("typing: out of memory");
        return;
    }
    for (size_t i = 0; i < c->member_count; i++) {
        struct user *member = c->members[i];

        if (member->id == user_id)
            continue;
        for (struct push_socket *s = member->sockets; s != NULL; s = s->next_of_user) {
            if (s->state != SOCKET_LOADING && s->state != SOCKET_CLOSING)
                socket_send(s, frame);
        }
    }
    frame_unref(frame);
}

static void free_state(uv_handle_t *handle)
{
    free(handle->data);
}

/* Unlinks state from its conversation and frees it once its timer closes. */
static void remove_state(struct typing_state *state)
{
    struct typing_state **link = &state->conversation->typing;

    while (*link != state)
        link = &(*link)->next;
    *link = state->next;
    uv_timer_stop(&state->timer);
    uv_close((uv_handle_t *)&state->timer, free_state);
}

static void on_timeout(uv_timer_t *timer)
{
    struct typing_state *state = timer->data;
    struct conversation *c = state->conversation;
    long long user_id = state->user_id;

    remove_state(state);
    deliver(c, user_id, 0);
}

static struct typing_state *find_state(struct conversation *c, long long user_id)
{
    for (struct typing_state *state = c->typing; state != NULL; state = state->next) {
        if (state->user_id == user_id)
            return state;
    }
    return NULL;
}

/* Starts or refreshes the state; returns 0 or -1 when out of memory. */
static int refresh_state(struct conversation *c, long long user_id)
{
    struct typing_state *state = find_state(c, user_id);

    if (state == NULL) {
        state = calloc(1, sizeof(*state));
        if (state == NULL)
            return -1;
        state->conversation = c;
        state->user_id = user_id;
        uv_timer_init(pushd.loop, &state->timer);
        state->timer.data = state;
        state->next = c->typing;
        c->typing = state;
    }
    uv_timer_start(&state->timer, on_timeout, TYPING_TIMEOUT_MS, 0);
    return 0;
}

static void apply(long long conversation_id, long long user_id, int typing)
{
    struct conversation *c = conversations_find(conversation_id);
    struct typing_state *state;

    if (c == NULL)
        return;
    if (typing) {
        if (refresh_state(c, user_id) != 0) {
            log_error("typing: out of memory");
            return;
        }
    } else if ((state = find_state(c, user_id)) != NULL) {
        remove_state(state);
    }
    deliver(c, user_id, typing);
}

/* Takes one token from the socket's bucket, which refills at
 * TYPING_FRAMES_PER_SECOND and holds as many. Returns 0 when empty. */
static int take_token(struct push_socket *s)
{
    const uint32_t full = TYPING_FRAMES_PER_SECOND * 1000;
    uint64_t now = uv_now(pushd.loop);

    if (s->typing_refill_ms == 0) {
        s->typing_tokens = full;
    } else {
        uint64_t refill = (now - s->typing_refill_ms) * TYPING_FRAMES_PER_SECOND;

        s->typing_tokens = refill >= full - s->typing_tokens
                               ? full
                               : s->typing_tokens + (uint32_t)refill;
    }
    s->typing_refill_ms = now;
    if (s->typing_tokens < 1000)
        return 0;
    s->typing_tokens -= 1000;
    return 1;
}

void typing_from_client(struct push_socket *s, long long conversation_id,
                        int typing)
{
    char message[160];

    if (!user_is_member(s->user, conversation_id)) {
        socket_send_error(s, "conversation_not_found",
                          "typing: no such conversation of this user");
        return;
    }
    if (!take_token(s)) {
        socket_log(LOG_DEBUG, s, "typing over %d per second; dropped",
                   TYPING_FRAMES_PER_SECOND);
        return;
    }
    snprintf(message, sizeof(message),
             "{\"conversation_id\":%lld,\"user_id\":%lld,\"typing\":%s}",
             conversation_id, s->user_id, typing ? "true" : "false");
    /* Without Redis only this daemon's sockets can be reached. */
    if (bus_publish(BUS_CHANNEL_TYPING, message) != 0)
        apply(conversation_id, s->user_id, typing);
}

void typing_on_message(const char *payload, size_t len)
{
    json_object *root = frame_parse_json(payload, len, BUS_JSON_MAX_DEPTH);
    json_object *c, *u, *t;

    if (root == NULL)
        goto invalid;
    if (!json_object_object_get_ex(root, "conversation_id", &c) ||
        !json_object_is_type(c, json_type_int) ||
        !json_object_object_get_ex(root, "user_id", &u) ||
        !json_object_is_type(u, json_type_int) ||
        !json_object_object_get_ex(root, "typing", &t) ||
        !json_object_is_type(t, json_type_boolean)) {
        json_object_put(root);
        goto invalid;
    }
    apply(json_object_get_int64(c), json_object_get_int64(u),
          json_object_get_boolean(t));
    json_object_put(root);
    return;
invalid:
    log_warn("typing: ignored an invalid message on %s", BUS_CHANNEL_TYPING);
}

void typing_conversation_freed(struct conversation *c)
{
    while (c->typing != NULL)
        remove_state(c->typing);
}
