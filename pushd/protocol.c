/*
 * The protocol callback. The upgrade is authorized before libwebsockets
 * answers it, so a refused client gets a plain HTTP status and never a
 * socket. Client frames are JSON objects with a "type": resume, typing or
 * ping. A binary frame is closed with 1003 and a message over 64 KiB with
 * 1009 (RFC 6455 section 7.4.1); libwebsockets itself closes invalid
 * UTF-8 with 1007. Every other mistake gets an error frame.
 */
#define _POSIX_C_SOURCE 200809L
#include "protocol.h"

#include <json.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "frame.h"
#include "log.h"
#include "pushd.h"
#include "resume.h"
#include "sockets.h"
#include "typing.h"
#include "users.h"

/* Client frames are flat; deeper JSON is refused as invalid. */
#define CLIENT_JSON_MAX_DEPTH 8
/* Bytes libwebsockets buffers per connection for incoming frames. */
#define RX_BUFFER_BYTES 1024
/*
 * Bytes libwebsockets passes to one send(). Left at 0, libwebsockets 4.1
 * uses RX_BUFFER_BYTES, so a frame over about 1 KB went out in 1044-byte
 * pieces, one loop pass each. A client reading a burst of long messages
 * as fast as loopback allows then still filled its 1 MiB queue.
 */
#define TX_PACKET_BYTES (256 * 1024)

/*
 * The identity authorized by the last HTTP_CONFIRM_UPGRADE. The
 * per-session memory does not exist yet in that callback; libwebsockets
 * calls FILTER_PROTOCOL_CONNECTION for the same connection before it reads
 * anything else, and that callback moves the identity into the socket.
 */
static struct {
    struct lws *wsi;
    long long user_id;
    char jti[SESSION_JTI_LEN + 1];
} authorized;

static unsigned open_sockets;

unsigned protocol_socket_count(void)
{
    return open_sockets;
}

/* ---- HTTP answers ------------------------------------------------------- */

/* Writes an HTTP error with a JSON body like the API's. Returns 1, the
 * HTTP_CONFIRM_UPGRADE value for "answered here". */
static int write_http_error(struct lws *wsi, unsigned status, const char *code,
                            const char *message)
{
    unsigned char buffer[LWS_PRE + 1024];
    unsigned char *start = buffer + LWS_PRE, *p = start, *end = buffer + sizeof(buffer);
    char body[256];
    int body_len;

    body_len = snprintf(body, sizeof(body),
                        "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
                        message);
    if (lws_add_http_common_headers(wsi, status, "application/json; charset=utf-8",
                                    (lws_filepos_t)body_len, &p, end) ||
        (status == HTTP_STATUS_SERVICE_UNAVAILABLE &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
                                     (const unsigned char *)"1", 1, &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (lws_write(wsi, (unsigned char *)body, (size_t)body_len, LWS_WRITE_HTTP_FINAL) !=
        body_len)
        return -1;
    return 1;
}

static int on_confirm_upgrade(struct lws *wsi, const char *upgrade)
{
    long long user_id = 0;

    authorized.wsi = NULL;
    if (upgrade == NULL || strcmp(upgrade, "websocket") != 0)
        return -1;
    switch (auth_check_upgrade(wsi, &user_id, authorized.jti)) {
    case AUTH_OK:
        authorized.wsi = wsi;
        authorized.user_id = user_id;
        return 0;
    case AUTH_NOT_FOUND:
        return write_http_error(wsi, HTTP_STATUS_NOT_FOUND, "not_found",
                                "the WebSocket endpoint is /ws");
    case AUTH_FORBIDDEN_ORIGIN:
        return write_http_error(wsi, HTTP_STATUS_FORBIDDEN, "forbidden_origin",
                                "the Origin is not this site");
    case AUTH_UNAUTHENTICATED:
        return write_http_error(wsi, HTTP_STATUS_UNAUTHORIZED, "unauthenticated",
                                "log in first");
    default:
        return write_http_error(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
                                "the push service is not available; retry shortly");
    }
}

/* ---- client frames ---------------------------------------------------------- */

static void on_resume_frame(struct push_socket *s, json_object *frame)
{
    json_object *value;
    struct position from;

    if (!json_object_object_get_ex(frame, "last_event_id", &value) ||
        !json_object_is_type(value, json_type_string) ||
        position_parse(json_object_get_string(value), &from) != 0) {
        socket_send_error(s, "invalid_event_id",
                          "resume needs the last_event_id of a received event");
        return;
    }
    if (s->state == SOCKET_LOADING) {
        s->resume_pending = 1;
        s->resume_from = from;
        return;
    }
    resume_start(s, &from);
}

static void on_typing_frame(struct push_socket *s, json_object *frame)
{
    json_object *conversation, *typing;
    int is_typing = 1;

    if (!json_object_object_get_ex(frame, "conversation_id", &conversation) ||
        !json_object_is_type(conversation, json_type_int) ||
        json_object_get_int64(conversation) <= 0) {
        socket_send_error(s, "invalid_frame", "typing needs a conversation_id");
        return;
    }
    if (json_object_object_get_ex(frame, "typing", &typing)) {
        if (!json_object_is_type(typing, json_type_boolean)) {
            socket_send_error(s, "invalid_frame", "typing must be true or false");
            return;
        }
        is_typing = json_object_get_boolean(typing);
    }
    if (s->state == SOCKET_LOADING) {
        socket_send_error(s, "not_ready", "wait for hello before typing");
        return;
    }
    typing_from_client(s, json_object_get_int64(conversation), is_typing);
}

static void handle_message(struct push_socket *s, const char *text, size_t len)
{
    json_object *frame = frame_parse_json(text, len, CLIENT_JSON_MAX_DEPTH);
    json_object *type_value;
    const char *type;

    if (frame == NULL) {
        socket_send_error(s, "invalid_json", "a frame must be one JSON object");
        return;
    }
    if (!json_object_object_get_ex(frame, "type", &type_value) ||
        !json_object_is_type(type_value, json_type_string)) {
        socket_send_error(s, "invalid_frame", "a frame needs a string type");
        json_object_put(frame);
        return;
    }
    type = json_object_get_string(type_value);

    /* Any first frame but a resume means the client does not resume. */
    if (s->state == SOCKET_WAIT_RESUME && strcmp(type, "resume") != 0)
        socket_go_live(s);

    if (strcmp(type, "ping") == 0)
        socket_send_text(s, "{\"type\":\"pong\"}");
    else if (strcmp(type, "resume") == 0)
        on_resume_frame(s, frame);
    else if (strcmp(type, "typing") == 0)
        on_typing_frame(s, frame);
    else
        socket_send_error(s, "unknown_type", "known types: resume, typing, ping");
    json_object_put(frame);
}

/* Collects the fragments of one message; handles it when complete. */
static void on_receive(struct lws *wsi, struct push_socket *s, const char *in,
                       size_t len)
{
    size_t total = s->rx_len + len + lws_remaining_packet_payload(wsi);
    char *grown;

    if (s->state == SOCKET_CLOSING)
        return;
    if (lws_frame_is_binary(wsi)) {
        socket_close(s, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frame");
        return;
    }
    if (total > PUSHD_MAX_FRAME_BYTES) {
        socket_close(s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame over 64 KiB");
        return;
    }
    if (s->rx == NULL && lws_is_final_fragment(wsi)) {
        handle_message(s, in, len);
        return;
    }
    grown = realloc(s->rx, s->rx_len + len + 1);
    if (grown == NULL) {
        socket_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    s->rx = grown;
    memcpy(s->rx + s->rx_len, in, len);
    s->rx_len += len;
    if (!lws_is_final_fragment(wsi))
        return;
    handle_message(s, s->rx, s->rx_len);
    free(s->rx);
    s->rx = NULL;
    s->rx_len = 0;
}

/* ---- the callback ------------------------------------------------------------ */

static int on_filter(struct lws *wsi, struct push_socket *s)
{
    if (authorized.wsi != wsi || s == NULL) {
        log_error("upgrade reached the socket stage without authorization");
        return -1;
    }
    socket_init(s, wsi, authorized.user_id);
    memcpy(s->jti, authorized.jti, sizeof(s->jti));
    authorized.wsi = NULL;
    return 0;
}

static void on_established(struct push_socket *s)
{
    s->established = 1;
    open_sockets++;
    socket_log(LOG_DEBUG, s, "socket opened");
    if (users_attach(s) != 0) {
        socket_log(LOG_ERROR, s, "cannot load the user's conversations");
        socket_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "database unavailable");
    }
}

static void on_closed(struct push_socket *s)
{
    if (!s->established)
        return;
    s->established = 0;
    open_sockets--;
    socket_log(LOG_DEBUG, s, "socket closed");
    users_detach(s);
    socket_release(s);
}

static int dispatch(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                    void *in, size_t len)
{
    struct push_socket *s = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return on_confirm_upgrade(wsi, in);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return on_filter(wsi, s);
    case LWS_CALLBACK_ESTABLISHED:
        on_established(s);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        on_receive(wsi, s, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return socket_on_writable(s);
    case LWS_CALLBACK_TIMER:
        return socket_on_timer(s);
    case LWS_CALLBACK_CLOSED:
        on_closed(s);
        return 0;
    case LWS_CALLBACK_HTTP:
        write_http_error(wsi, HTTP_STATUS_NOT_FOUND, "not_found",
                         "this server only speaks WebSocket on /ws");
        return -1;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                    void *in, size_t len)
{
    int status;

    socket_callback_enter();
    status = dispatch(wsi, reason, user, in, len);
    socket_callback_leave();
    return status;
}

const struct lws_protocols protocol_table[] = {
    {"blinkchat", callback, sizeof(struct push_socket), RX_BUFFER_BYTES, 0, NULL,
     TX_PACKET_BYTES},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void close_user_sockets(struct user *user, void *arg)
{
    (void)arg;
    for (struct push_socket *s = user->sockets; s != NULL; s = s->next_of_user)
        socket_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
}

void protocol_close_all(void)
{
    users_for_each(close_user_sockets, NULL);
}
