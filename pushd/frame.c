/*
 * Frame allocation and the outbox event frames. An event frame is
 * {"type":KIND,"event_id":"XID-ID", ...payload fields}: the payload text
 * from PostgreSQL is spliced in after the two leading fields, so only
 * message events (for the recipients' variant) and conversation events
 * (for member_ids) are parsed.
 */
#define _POSIX_C_SOURCE 200809L
#include "frame.h"

#include <json.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Payloads are built by SQL functions; this bounds their nesting when
 * parsed here. */
#define PAYLOAD_MAX_DEPTH 32

static const char *const kind_names[] = {
    [EVENT_MESSAGE] = "message",
    [EVENT_REACTION] = "reaction",
    [EVENT_SEEN] = "seen",
    [EVENT_CONVERSATION] = "conversation",
};

unsigned char *frame_payload(struct frame *frame)
{
    return frame->data + LWS_PRE;
}

static struct frame *frame_alloc(size_t len,
                                 const struct position *event_position)
{
    struct frame *frame = malloc(sizeof(*frame) + LWS_PRE + len + 1);

    if (frame == NULL)
        return NULL;
    frame->refs = 1;
    frame->is_event = event_position != NULL;
    if (event_position != NULL)
        frame->position = *event_position;
    else
        frame->position = (struct position){0, 0};
    frame->len = len;
    frame->data[LWS_PRE + len] = '\0';
    return frame;
}

struct frame *frame_new(const char *json, size_t len,
                        const struct position *event_position)
{
    struct frame *frame = frame_alloc(len, event_position);

    if (frame != NULL)
        memcpy(frame_payload(frame), json, len);
    return frame;
}

struct frame *frame_printf(const char *fmt, ...)
{
    struct frame *frame;
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        return NULL;
    frame = frame_alloc((size_t)len, NULL);
    if (frame == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf((char *)frame_payload(frame), (size_t)len + 1, fmt, ap);
    va_end(ap);
    return frame;
}

struct frame *frame_ref(struct frame *frame)
{
    frame->refs++;
    return frame;
}

void frame_unref(struct frame *frame)
{
    if (frame != NULL && --frame->refs == 0)
        free(frame);
}

int event_kind_parse(const char *text, enum event_kind *kind)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (strcmp(text, kind_names[i]) == 0) {
            *kind = (enum event_kind)i;
            return 0;
        }
    }
    return -1;
}

/*
 * Builds {"type":KIND,"event_id":POS, + the fields of the JSON object in
 * payload[0..len). Returns NULL when payload is not an object or memory is
 * short.
 */
static struct frame *splice_event(const struct event *event,
                                  const char *payload, size_t len)
{
    char head[128], position[POSITION_TEXT_MAX];
    size_t head_len, i = 1;
    struct frame *frame;
    int empty;

    if (len < 2 || payload[0] != '{' || payload[len - 1] != '}')
        return NULL;
    while (i < len && (payload[i] == ' ' || payload[i] == '\n'))
        i++;
    empty = payload[i] == '}';

    position_format(&event->position, position, sizeof(position));
    head_len = (size_t)snprintf(head, sizeof(head),
                                "{\"type\":\"%s\",\"event_id\":\"%s\"%s",
                                kind_names[event->kind], position,
                                empty ? "" : ",");
    frame = frame_alloc(head_len + len - 1, &event->position);
    if (frame == NULL)
        return NULL;
    memcpy(frame_payload(frame), head, head_len);
    memcpy(frame_payload(frame) + head_len, payload + 1, len - 1);
    return frame;
}

json_object *frame_parse_json(const char *text, size_t len, int max_depth)
{
    json_tokener *tokener = json_tokener_new_ex(max_depth);
    json_object *root;
    size_t end;

    if (tokener == NULL || len > INT32_MAX) {
        json_tokener_free(tokener);
        return NULL;
    }
    root = json_tokener_parse_ex(tokener, text, (int)len);
    if (root != NULL && json_tokener_get_error(tokener) == json_tokener_success) {
        end = json_tokener_get_parse_end(tokener);
        while (end < len && strchr(" \t\r\n", text[end]) != NULL)
            end++;
        if (end == len && json_object_is_type(root, json_type_object)) {
            json_tokener_free(tokener);
            return root;
        }
    }
    json_object_put(root);
    json_tokener_free(tokener);
    return NULL;
}

static json_object *parse_payload(const struct event *event)
{
    return frame_parse_json(event->payload, event->payload_len, PAYLOAD_MAX_DEPTH);
}

/* Returns payload.message.sender_id, or 0 when missing. */
static long long message_sender(const struct event *event)
{
    json_object *root = parse_payload(event), *message, *sender;
    long long id = 0;

    if (root == NULL)
        return 0;
    if (json_object_object_get_ex(root, "message", &message) &&
        json_object_object_get_ex(message, "sender_id", &sender) &&
        json_object_is_type(sender, json_type_int))
        id = json_object_get_int64(sender);
    json_object_put(root);
    return id;
}

int event_frames_init(struct event_frames *frames, const struct event *event)
{
    memset(frames, 0, sizeof(*frames));
    frames->event = event;
    if (event->kind == EVENT_MESSAGE) {
        frames->sender_id = message_sender(event);
        if (frames->sender_id <= 0)
            return -1;
    }
    frames->full = splice_event(event, event->payload, event->payload_len);
    return frames->full != NULL ? 0 : -1;
}

/* The recipients see a message without the sender's idempotency key and
 * read receipts (client_id and seen_by). */
static struct frame *build_stripped(const struct event *event)
{
    json_object *root = parse_payload(event), *message;
    struct frame *frame = NULL;
    const char *text;
    size_t len;

    if (root == NULL)
        return NULL;
    if (json_object_object_get_ex(root, "message", &message) &&
        json_object_is_type(message, json_type_object)) {
        json_object_object_del(message, "client_id");
        json_object_object_del(message, "seen_by");
        text = json_object_to_json_string_length(
            root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (text != NULL)
            frame = splice_event(event, text, len);
    }
    json_object_put(root);
    return frame;
}

struct frame *event_frames_for(struct event_frames *frames, long long user_id)
{
    if (frames->event->kind != EVENT_MESSAGE || user_id == frames->sender_id)
        return frames->full;
    if (frames->stripped == NULL && !frames->stripped_failed) {
        frames->stripped = build_stripped(frames->event);
        frames->stripped_failed = frames->stripped == NULL;
    }
    return frames->stripped;
}

void event_frames_clear(struct event_frames *frames)
{
    frame_unref(frames->full);
    frame_unref(frames->stripped);
    memset(frames, 0, sizeof(*frames));
}

long event_member_ids(const struct event *event, long long **ids)
{
    json_object *root = parse_payload(event), *members;
    long count = -1;
    size_t n;

    *ids = NULL;
    if (root == NULL)
        return -1;
    if (!json_object_object_get_ex(root, "member_ids", &members) ||
        !json_object_is_type(members, json_type_array))
        goto done;
    n = json_object_array_length(members);
    *ids = calloc(n ? n : 1, sizeof(**ids));
    if (*ids == NULL)
        goto done;
    for (size_t i = 0; i < n; i++) {
        json_object *id = json_object_array_get_idx(members, i);

        if (!json_object_is_type(id, json_type_int)) {
            free(*ids);
            *ids = NULL;
            goto done;
        }
        (*ids)[i] = json_object_get_int64(id);
    }
    count = (long)n;
done:
    json_object_put(root);
    return count;
}
