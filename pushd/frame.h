/*
 * Frames: reference-counted text frames, built once and queued on any
 * number of sockets, with the LWS_PRE headroom libwebsockets writes the
 * frame header into. Also the builders for outbox event frames, where a
 * message event has two variants: the sender's, with client_id and
 * seen_by, and everyone else's without them.
 */
#ifndef PUSHD_FRAME_H
#define PUSHD_FRAME_H

#include <stddef.h>

#include "position.h"

struct frame {
    unsigned refs;
    int is_event; /* an outbox event: position is its event_id */
    struct position position;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then len bytes */
};

/* Returns the first byte of the frame's JSON text. */
unsigned char *frame_payload(struct frame *frame);

/*
 * Creates a frame holding a copy of json[0..len), with one reference owned
 * by the caller. event_position is NULL for frames that are not outbox
 * events. Returns NULL when out of memory.
 */
struct frame *frame_new(const char *json, size_t len,
                        const struct position *event_position);

/* Like frame_new() for text built from a printf format. */
struct frame *frame_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

struct frame *frame_ref(struct frame *frame);
void frame_unref(struct frame *frame);

/*
 * Parses text[0..len) as exactly one JSON object (white space around it
 * allowed) nested at most max_depth deep. Returns the object, which the
 * caller releases with json_object_put(), or NULL.
 */
struct json_object *frame_parse_json(const char *text, size_t len, int max_depth);

enum event_kind { EVENT_MESSAGE, EVENT_REACTION, EVENT_SEEN, EVENT_CONVERSATION };

/* One outbox row; the strings belong to the caller's PGresult. */
struct event {
    struct position position;
    long long conversation_id;
    enum event_kind kind;
    const char *payload; /* a JSON object */
    size_t payload_len;
};

/* Parses events.kind. Returns 0, or -1 for an unknown kind. */
int event_kind_parse(const char *text, enum event_kind *kind);

/* The frames of one event, each built at most once. */
struct event_frames {
    const struct event *event;
    struct frame *full;     /* the payload as written; the sender's variant */
    struct frame *stripped; /* message without client_id and seen_by */
    long long sender_id;    /* message events; 0 otherwise */
    int stripped_failed;
};

/*
 * Builds the full frame of event. Returns 0, or -1 when the payload is not
 * a JSON object (for a message event: without message.sender_id) or
 * memory is short; frames is then empty.
 */
int event_frames_init(struct event_frames *frames, const struct event *event);

/* Returns the frame that user_id should receive (borrowed; NULL when it
 * cannot be built). */
struct frame *event_frames_for(struct event_frames *frames, long long user_id);

void event_frames_clear(struct event_frames *frames);

/*
 * Reads member_ids from a conversation event into a malloc'd array
 * (the caller frees it). Returns the count, or -1 when absent or invalid.
 */
long event_member_ids(const struct event *event, long long **ids);

#endif
