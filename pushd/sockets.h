/*
 * Per-socket state: who the socket belongs to, where it stands in the
 * outbox, and its bounded queue of frames waiting for the socket to become
 * writable. The struct lives in the libwebsockets per-session allocation;
 * the protocol callback (protocol.c) drives it, the outbox, typing and
 * presence modules queue frames on it.
 */
#ifndef PUSHD_SOCKETS_H
#define PUSHD_SOCKETS_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "log.h"
#include "position.h"
#include "pushd.h"
#include "session.h"

struct lws;
struct user;
struct db_request;

enum socket_state {
    SOCKET_LOADING,     /* authenticated; the user's membership is loading */
    SOCKET_WAIT_RESUME, /* hello sent; event frames queue but wait for a
                           resume frame, another frame or the hold time */
    SOCKET_REPLAYING,   /* a resume replays the outbox; live events skip it */
    SOCKET_LIVE,
    SOCKET_CLOSING
};

struct queued_frame {
    struct queued_frame *next;
    struct frame *frame; /* one reference */
};

struct push_socket {
    struct lws *wsi;
    unsigned long long id; /* for logs */
    long long user_id;
    char jti[SESSION_JTI_LEN + 1]; /* the session, to close it at logout */
    struct user *user;
    struct push_socket *next_of_user;
    enum socket_state state;
    int established; /* ESTABLISHED seen: counted as open */

    /* Every outbox event up to here has been queued, or skipped because
     * the client already has it; live events go out only past it. */
    struct position position;
    struct position hello;   /* the last_event_id sent in hello */
    struct position written; /* the last event frame written */
    int resume_pending;      /* a resume frame came before the hello */
    struct position resume_from;
    struct position replay_to; /* upper bound of the running replay batch */
    int replay_paused;         /* waiting for the queue to drain */
    struct db_request *db_request;

    struct queued_frame *head, *tail;
    size_t queued_bytes;
    int close_code; /* when nonzero, close with it at the next TIMER */

    char *rx;       /* a fragmented client message being reassembled */
    size_t rx_len;

    uint32_t typing_tokens; /* thousandths of a typing frame */
    uint64_t typing_refill_ms;
};

/* Bracket every libwebsockets protocol callback: while one runs, frames
 * are not written outside the WRITEABLE callback. */
void socket_callback_enter(void);
void socket_callback_leave(void);

/* Sets up s for a new connection; id comes from a process-wide counter. */
void socket_init(struct push_socket *s, struct lws *wsi, long long user_id);

/*
 * Sends hello once the user's conversations are loaded: the socket takes
 * live events after the delivered outbox position, which the hello
 * carries. A resume frame that came earlier is applied at once; otherwise
 * event frames are held for up to SOCKET_HOLD_MS so that a resume frame
 * sent right after the upgrade finds nothing written past the hello.
 */
void socket_start(struct push_socket *s);

/* A replay paused for a full queue continues below this many bytes. */
#define SOCKET_REPLAY_RESUME_BYTES (PUSHD_MAX_QUEUED_BYTES / 4)

/* How long event frames wait for a resume frame after the hello. */
#define SOCKET_HOLD_MS 1000

/*
 * Writes frame to s at once when nothing is pending and no libwebsockets
 * callback runs, else queues one reference of it. Returns 0, or -1 when
 * the write failed, or when frames are pending and this one would take
 * them past PUSHD_MAX_QUEUED_BYTES; s is then being closed with 1008
 * (policy violation) so its client reconnects and resumes. A client that stops reading fills the kernel's buffers
 * first, so it usually sees the connection drop (1006) instead.
 */
int socket_send(struct push_socket *s, struct frame *frame);

/* Queues a copy of a JSON text. Returns as socket_send(). */
int socket_send_text(struct push_socket *s, const char *json);

/* Queues {"type":"error","code":code,"message":message}. */
void socket_send_error(struct push_socket *s, const char *code,
                       const char *message);

/*
 * Queues an outbox event frame when it lies past s->position and s takes
 * live events (SOCKET_WAIT_RESUME or SOCKET_LIVE), and advances
 * s->position. Returns as socket_send().
 */
int socket_deliver_event(struct push_socket *s, struct frame *frame);

/* Removes the event frames still queued and moves s->position back to
 * the last event written. */
void socket_drop_queued_events(struct push_socket *s);

/* Lets held event frames go out. */
void socket_go_live(struct push_socket *s);

/* Closes s with a WebSocket close code (RFC 6455 section 7.4.1) from the
 * next TIMER callback; queued frames are dropped. */
void socket_close(struct push_socket *s, int code, const char *reason);

/* Writes queued frames from the WRITEABLE callback. Returns 0, or -1 to
 * make libwebsockets close the connection. */
int socket_on_writable(struct push_socket *s);

/* Handles the TIMER callback: a pending close, or the end of the hold
 * after hello. Returns 0, or -1 to make libwebsockets close. */
int socket_on_timer(struct push_socket *s);

/* Frees what s owns; called once from the CLOSED callback. */
void socket_release(struct push_socket *s);

/* Logs a line prefixed with the socket and user ids. */
void socket_log(enum log_level level, const struct push_socket *s,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
