/*
 * Socket send queues. A frame for a socket with nothing pending is written
 * at once (see may_write_now()). Other frames are queued as references to
 * the shared frame and written from the WRITEABLE callback, several per
 * callback while the kernel takes them. A socket whose queue grows past
 * PUSHD_MAX_QUEUED_BYTES is a client that does not read: it is closed
 * with 1008 rather than buffered without bound.
 */
#define _POSIX_C_SOURCE 200809L
#include "sockets.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"
#include "pushd.h"
#include "resume.h"

/* Bytes written per WRITEABLE callback before yielding to other sockets. */
#define MAX_BYTES_PER_WRITABLE (256 * 1024)

static unsigned long long next_socket_id = 1;

/* Nonzero while a libwebsockets callback runs; see socket_send(). */
static int callback_depth;

void socket_callback_enter(void)
{
    callback_depth++;
}

void socket_callback_leave(void)
{
    callback_depth--;
}

void socket_init(struct push_socket *s, struct lws *wsi, long long user_id)
{
    memset(s, 0, sizeof(*s));
    s->wsi = wsi;
    s->id = next_socket_id++;
    s->user_id = user_id;
    s->state = SOCKET_LOADING;
}

/*
 * libwebsockets 4.1 re-arms its loop timer for wsi timers and timeouts
 * only after it has serviced something. One set from our own callbacks
 * (a query result, a Redis message) on an idle server would wait for the
 * next unrelated event; waking the service makes it re-arm now.
 */
static void wake_lws(void)
{
    if (pushd.lws != NULL)
        lws_cancel_service(pushd.lws);
}

void socket_start(struct push_socket *s)
{
    char position[POSITION_TEXT_MAX], hello[128];

    s->position = *outbox_position();
    s->hello = s->position;
    s->written = s->position;
    s->state = SOCKET_WAIT_RESUME;
    position_format(&s->position, position, sizeof(position));
    snprintf(hello, sizeof(hello),
             "{\"type\":\"hello\",\"user_id\":%lld,\"last_event_id\":\"%s\"}",
             s->user_id, position);
    if (socket_send_text(s, hello) != 0)
        return;
    socket_log(LOG_DEBUG, s, "hello at %s", position);
    if (s->resume_pending) {
        s->resume_pending = 0;
        resume_start(s, &s->resume_from);
        return;
    }
    lws_set_timer_usecs(s->wsi, (lws_usec_t)SOCKET_HOLD_MS * 1000);
    wake_lws();
}

/* Returns 1 for an event frame that waits for the end of the hold after hello. */
static int frame_held(const struct push_socket *s, const struct frame *frame)
{
    return frame->is_event && s->state == SOCKET_WAIT_RESUME;
}

/* Returns 1 when the frame at the head of the queue may be written now. */
static int head_writable(const struct push_socket *s)
{
    return s->head != NULL && !frame_held(s, s->head->frame);
}

static void pop_frame(struct push_socket *s)
{
    struct queued_frame *node = s->head;

    s->head = node->next;
    if (s->head == NULL)
        s->tail = NULL;
    s->queued_bytes -= node->frame->len;
    frame_unref(node->frame);
    free(node);
}

static void clear_queue(struct push_socket *s)
{
    while (s->head != NULL)
        pop_frame(s);
}

/* Writes one frame. Returns 0, or -1 when the connection failed. */
static int write_frame(struct push_socket *s, struct frame *frame)
{
    if (lws_write(s->wsi, frame_payload(frame), frame->len, LWS_WRITE_TEXT) <
        (int)frame->len) {
        socket_log(LOG_INFO, s, "write failed; closing");
        return -1;
    }
    if (frame->is_event)
        s->written = frame->position;
    return 0;
}

/*
 * Writes queued frames while the head may go out, up to budget bytes and
 * while the socket takes them. Returns 0, or -1 when a write failed.
 */
static int write_queued(struct push_socket *s, size_t budget)
{
    size_t bytes = 0;

    while (head_writable(s) && bytes < budget) {
        struct frame *frame = s->head->frame;

        if (bytes > 0 && lws_send_pipe_choked(s->wsi))
            break;
        if (write_frame(s, frame) != 0)
            return -1;
        bytes += frame->len;
        pop_frame(s);
    }
    return 0;
}

/*
 * Returns 1 when frame may be written at once instead of queued for the
 * WRITEABLE callback. Waiting for WRITEABLE costs four epoll_ctl calls
 * per frame with the libuv loop (the poll is restarted to add POLLOUT and
 * again to drop it), which dominates a fan-out to thousands of sockets.
 * So a frame for an open socket with nothing queued is written at once,
 * as event-driven servers do. The socket is non-blocking. When the kernel
 * takes only part of the frame (or nothing), libwebsockets keeps the rest
 * and requests WRITEABLE, and lws_partial_buffered() sends every later
 * frame to the queue until that rest is out. No frame is written at once
 * while a libwebsockets callback runs, because the write could disturb
 * that callback's state.
 */
static int may_write_now(const struct push_socket *s, const struct frame *frame)
{
    return s->head == NULL && callback_depth == 0 && s->established &&
           s->close_code == 0 && !frame_held(s, frame) &&
           !lws_partial_buffered(s->wsi);
}

int socket_send(struct push_socket *s, struct frame *frame)
{
    struct queued_frame *node;
    int was_idle;

    if (s->state == SOCKET_CLOSING)
        return -1;
    /* A frame larger than the limit still goes to a socket with nothing
     * pending; otherwise its client could never receive it. */
    if (s->queued_bytes > 0 && s->queued_bytes + frame->len > PUSHD_MAX_QUEUED_BYTES) {
        socket_log(LOG_WARN, s,
                   "send queue over %d bytes; closing with 1008 so the "
                   "client resumes", PUSHD_MAX_QUEUED_BYTES);
        socket_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "send queue full");
        return -1;
    }
    if (may_write_now(s, frame)) {
        if (write_frame(s, frame) != 0) {
            socket_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "write failed");
            return -1;
        }
        return 0;
    }
    node = malloc(sizeof(*node));
    if (node == NULL) {
        socket_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return -1;
    }
    node->next = NULL;
    node->frame = frame_ref(frame);
    was_idle = !head_writable(s);
    if (s->tail != NULL)
        s->tail->next = node;
    else
        s->head = node;
    s->tail = node;
    s->queued_bytes += frame->len;
    if (was_idle && head_writable(s))
        lws_callback_on_writable(s->wsi);
    return 0;
}

int socket_send_text(struct push_socket *s, const char *json)
{
    struct frame *frame = frame_new(json, strlen(json), NULL);
    int status;

    if (frame == NULL) {
        socket_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return -1;
    }
    status = socket_send(s, frame);
    frame_unref(frame);
    return status;
}

void socket_send_error(struct push_socket *s, const char *code,
                       const char *message)
{
    struct frame *frame;

    /* code and message are fixed strings or built from numbers here, so
     * they need no JSON escaping. */
    frame = frame_printf("{\"type\":\"error\",\"code\":\"%s\",\"message\":\"%s\"}",
                         code, message);
    if (frame == NULL) {
        socket_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    socket_send(s, frame);
    frame_unref(frame);
}

int socket_deliver_event(struct push_socket *s, struct frame *frame)
{
    if (s->state != SOCKET_LIVE && s->state != SOCKET_WAIT_RESUME)
        return 0;
    if (position_compare(&frame->position, &s->position) <= 0)
        return 0;
    s->position = frame->position;
    return socket_send(s, frame);
}

void socket_drop_queued_events(struct push_socket *s)
{
    struct queued_frame **link = &s->head, *node;

    s->tail = NULL;
    while ((node = *link) != NULL) {
        if (node->frame->is_event) {
            *link = node->next;
            s->queued_bytes -= node->frame->len;
            frame_unref(node->frame);
            free(node);
            continue;
        }
        s->tail = node;
        link = &node->next;
    }
    s->position = s->written;
}

void socket_go_live(struct push_socket *s)
{
    s->state = SOCKET_LIVE;
    if (head_writable(s))
        lws_callback_on_writable(s->wsi);
}

void socket_close(struct push_socket *s, int code, const char *reason)
{
    if (s->state == SOCKET_CLOSING)
        return;
    resume_cancel(s);
    s->state = SOCKET_CLOSING;
    s->close_code = code;
    clear_queue(s);
    socket_log(code == LWS_CLOSE_STATUS_GOINGAWAY ? LOG_DEBUG : LOG_INFO, s,
               "closing with %d: %s", code, reason);
    /* The close goes out from the TIMER callback: with libuv, libwebsockets
     * 4.1 drops the connection without a close frame when WRITEABLE returns
     * -1, but sends one when TIMER does. */
    lws_set_timer_usecs(s->wsi, 1);
    wake_lws();
}

int socket_on_writable(struct push_socket *s)
{
    if (s->close_code != 0)
        return 0;
    if (write_queued(s, MAX_BYTES_PER_WRITABLE) != 0)
        return -1;
    if (head_writable(s))
        lws_callback_on_writable(s->wsi);
    if (s->state == SOCKET_REPLAYING && s->replay_paused &&
        s->queued_bytes < SOCKET_REPLAY_RESUME_BYTES)
        resume_continue(s);
    return 0;
}

/* The reason text sent in the close frame for each code we use. */
static const char *close_reason(int code)
{
    switch (code) {
    case LWS_CLOSE_STATUS_GOINGAWAY:
        return "server shutting down";
    case LWS_CLOSE_STATUS_POLICY_VIOLATION:
        return "send queue full; resume";
    case LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE:
        return "binary frames are not accepted";
    case LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE:
        return "frame over 64 KiB";
    default:
        return "try again later";
    }
}

int socket_on_timer(struct push_socket *s)
{
    const char *reason;

    if (s->close_code == 0) {
        /* The hold after hello ended without a resume frame. */
        if (s->state == SOCKET_WAIT_RESUME)
            socket_go_live(s);
        return 0;
    }
    reason = close_reason(s->close_code);
    lws_close_reason(s->wsi, (enum lws_close_status)s->close_code,
                     (unsigned char *)reason, strlen(reason));
    return -1;
}

void socket_release(struct push_socket *s)
{
    resume_cancel(s);
    clear_queue(s);
    free(s->rx);
    s->rx = NULL;
    s->rx_len = 0;
    s->state = SOCKET_CLOSING;
}

void socket_log(enum log_level level, const struct push_socket *s,
                const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_write(level, "socket=%llu user=%lld %s", s->id, s->user_id, text);
}
