/*
 * wsload: the client side of bench/pushd.mjs. It keeps thousands of
 * WebSocket sockets to blinkchat-pushd open on one epoll loop and records
 * the CLOCK_MONOTONIC time at which each message frame arrives. It also
 * posts messages through the API at a steady rate. Being small C, it lets
 * the benchmark measure the server rather than a JavaScript client that
 * shares the same two cores.
 *
 *   wsload HOST PORT
 *
 * Commands arrive on standard input, one per line, and each gets one
 * reply line on standard output (dump gets several):
 *
 *   open FILE    opens one socket per line of FILE, a session token sent as
 *                the blinkchat_session cookie. A socket is live once it has
 *                received hello, sent a ping frame (which ends the daemon's
 *                wait for a resume frame) and received the pong. An upgrade
 *                rejected with 503 is tried again a second later.
 *                Reply: "opened LIVE FAILED" once every socket is live or
 *                has failed.
 *   post WEB_PORT FILE RATE
 *                posts one message per line "SEQ CONVERSATION_ID TOKEN
 *                CLIENT_ID" of FILE to the API on WEB_PORT, with the body
 *                "bench SEQ", RATE messages per second on an open-loop
 *                schedule over keep-alive connections. Reply: "posted OK
 *                FAILED" once every request has a response or has failed.
 *   mark         restarts the message count: "marked"
 *   wait N MS    waits until N message frames have arrived since mark, or
 *                MS milliseconds: "received COUNT FIRST_NS LAST_NS"
 *   dump         one line "m SOCKET NS SEQ" per message frame since the
 *                last dump (SOCKET counts from 0 in open order, SEQ is the
 *                number after "bench " in the message body, or -1), one
 *                line "p SEQ SCHEDULED_NS START_NS END_NS STATUS" per
 *                message of the last post command (STATUS 0 when the
 *                connection failed), then "end"
 *   close        closes every socket with a TCP reset, so no TIME_WAIT
 *                state holds a local port afterwards: "closed N"
 *   stats        "sockets N live N server_closed N errors N other_frames N"
 *   quit         exits
 *
 * The client checks only what the benchmark relies on: the 101 status of
 * the upgrade (not Sec-WebSocket-Accept), unmasked and unfragmented server
 * frames, and the frame types by their leading {"type":"..." text.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Upgrades in progress at once. The daemon checks each session with a
 * blocking query, one at a time, so more would only wait in its accept
 * queue. */
#define MAX_CONNECTING 64
/* A socket that is not live this long after its connect() has failed. */
#define CONNECT_TIMEOUT_NS (15LL * 1000000000LL)
#define READ_CHUNK 4096
/* Largest upgrade response header read. */
#define MAX_HTTP_HEADER 16384
/* Largest server frame accepted; a message frame with the longest body
 * (4,000 characters) is under 20 KiB. */
#define MAX_FRAME_BYTES (1024 * 1024)
#define MAX_EVENTS 1024
#define MAX_LOGGED_FAILURES 5
/* An upgrade rejected with 503 (the daemon is starting) is tried again
 * after the one second its Retry-After header requests, up to this many
 * times. */
#define MAX_ATTEMPTS 10
#define RETRY_DELAY_NS 1000000000LL
/* Keep-alive connections of the post command: the number opened before
 * its schedule starts, and the maximum. */
#define HTTP_WARM_CONNS 16
#define MAX_HTTP_CONNS 64
/* Requests still open this long after the last one was due have failed. */
#define POST_TIMEOUT_NS (30LL * 1000000000LL)

/* The first member of everything registered with epoll. It identifies
 * what an event's data.ptr points to. */
enum endpoint_kind { ENDPOINT_STDIN = 1, ENDPOINT_WEBSOCKET, ENDPOINT_HTTP, ENDPOINT_TIMER };

enum conn_state {
    CONN_CONNECTING,
    CONN_UPGRADING, /* request sent, waiting for the 101 response */
    CONN_WAIT_HELLO,
    CONN_WAIT_PONG,
    CONN_RETRY, /* refused with 503; connects again at retry_at_ns */
    CONN_LIVE,
    CONN_CLOSED,
    CONN_FAILED
};

struct conn {
    enum endpoint_kind kind; /* ENDPOINT_WEBSOCKET */
    int fd;
    enum conn_state state;
    size_t index;
    long long started_ns;
    long long retry_at_ns;
    int attempts;
    char *token;
    unsigned char *buf;
    size_t len, cap;
};

struct record {
    size_t socket;
    long long ns;
    long long seq;
};

static const char *host;
static int port;
static struct sockaddr_in server;
static int epoll_fd;

static struct conn **conns;
static size_t conn_count, conn_cap;

/* The running open command: sockets [open_first, conn_count) */
static int opening;
static size_t open_first, open_next, open_done, open_live, connecting;

/* The running wait command. */
static int waiting;
static long long wait_target, wait_deadline_ns;

static long long received, first_ns, last_ns;
static struct record *records;
static size_t record_count, record_cap;

static long long live_count, server_closed, errors, other_frames, failures_logged;
static uint32_t mask_state = 0x9e3779b9u;

static char stdin_buf[65536];
static size_t stdin_len;

static long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "wsload: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t size)
{
    void *grown = realloc(p, size);

    if (grown == NULL)
        die("out of memory growing a buffer to %zu bytes", size);
    return grown;
}

static void reply(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* ---- socket life cycle -------------------------------------------------- */

static void finish_open_if_done(void)
{
    if (!opening || open_done < conn_count - open_first)
        return;
    opening = 0;
    reply("opened %zu %zu", open_live, open_done - open_live);
}

static void release_fd(struct conn *c, int reset)
{
    if (c->fd < 0)
        return;
    if (reset) {
        struct linger linger = {1, 0};

        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger));
    }
    close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

/* Marks c failed, logs why (for the first few failures) and closes it
 * with a reset. */
static void fail(struct conn *c, const char *fmt, ...)
{
    va_list ap;

    if (failures_logged < MAX_LOGGED_FAILURES) {
        va_start(ap, fmt);
        fprintf(stderr, "wsload: socket %zu failed: ", c->index);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        failures_logged++;
    }
    errors++;
    if (c->state == CONN_LIVE)
        live_count--;
    else if (c->state < CONN_LIVE && opening && c->index >= open_first) {
        connecting--;
        open_done++;
    }
    c->state = CONN_FAILED;
    release_fd(c, 1);
}

/* Connects c, which is already counted in `connecting`. */
static void begin_connect(struct conn *c)
{
    struct epoll_event event = {.events = EPOLLOUT, .data.ptr = c};
    int one = 1;

    c->state = CONN_CONNECTING;
    c->attempts++;
    c->started_ns = now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(c, "socket: %s", strerror(errno));
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&server, sizeof(server)) != 0 &&
        errno != EINPROGRESS) {
        fail(c, "connect: %s", strerror(errno));
        return;
    }
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &event) != 0)
        fail(c, "epoll_ctl: %s", strerror(errno));
}

static void start_connect(struct conn *c)
{
    /* Counted first, so that a fail() in begin_connect takes it back. */
    connecting++;
    begin_connect(c);
}

static void start_more_connects(void)
{
    while (opening && connecting < MAX_CONNECTING && open_next < conn_count)
        start_connect(conns[open_next++]);
    finish_open_if_done();
}

/* ---- writing ------------------------------------------------------------- */

static int write_all(struct conn *c, const void *data, size_t len)
{
    ssize_t n = write(c->fd, data, len);

    /* The frames sent here are small and the socket's send buffer is
     * empty, so a short write means the connection is broken. */
    if (n != (ssize_t)len) {
        fail(c, "write: %s", n < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

static uint32_t next_mask(void)
{
    /* xorshift32: masks only need to vary, not to be secret, here. */
    mask_state ^= mask_state << 13;
    mask_state ^= mask_state >> 17;
    mask_state ^= mask_state << 5;
    return mask_state;
}

/* Sends one masked client frame (RFC 6455 section 5.3) of at most 125 bytes. */
static int send_frame(struct conn *c, int opcode, const void *payload, size_t len)
{
    unsigned char frame[2 + 4 + 125];
    uint32_t mask = next_mask();
    const unsigned char *in = payload;

    if (len > 125)
        len = 125;
    frame[0] = (unsigned char)(0x80 | opcode);
    frame[1] = (unsigned char)(0x80 | len);
    memcpy(frame + 2, &mask, 4);
    for (size_t i = 0; i < len; i++)
        frame[6 + i] = in[i] ^ frame[2 + i % 4];
    return write_all(c, frame, 6 + len);
}

static void send_upgrade(struct conn *c)
{
    char request[4096];
    int len;
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};

    len = snprintf(request, sizeof(request),
                   "GET /ws HTTP/1.1\r\n"
                   "Host: %s:%d\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Key: YmxpbmtjaGF0LWJlbmNoIQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n"
                   "Cookie: blinkchat_session=%s\r\n"
                   "\r\n",
                   host, port, c->token);
    if (len < 0 || len >= (int)sizeof(request)) {
        fail(c, "session token too long");
        return;
    }
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &event) != 0) {
        fail(c, "epoll_ctl: %s", strerror(errno));
        return;
    }
    if (write_all(c, request, (size_t)len) != 0)
        return;
    c->state = CONN_UPGRADING;
}

static void on_connected(struct conn *c)
{
    int error = 0;
    socklen_t size = sizeof(error);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) {
        fail(c, "connect: %s", strerror(error != 0 ? error : errno));
        return;
    }
    send_upgrade(c);
}

/* ---- reading ------------------------------------------------------------- */

static int has_type(const unsigned char *payload, size_t len, const char *type)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof(prefix), "{\"type\":\"%s\"", type);

    return (size_t)n <= len && memcmp(payload, prefix, (size_t)n) == 0;
}

/* Returns the number after "bench " in the message body, or -1. The
 * payload comes from PostgreSQL's jsonb output, which writes "body": "..."
 * with a space; both spellings are accepted. */
static long long body_sequence(const unsigned char *payload, size_t len)
{
    static const char key[] = "\"body\":";
    static const char marker[] = "\"bench ";
    const unsigned char *end = payload + len;
    const unsigned char *p = payload;
    long long seq = 0;

    while ((size_t)(end - p) >= sizeof(key) - 1 && memcmp(p, key, sizeof(key) - 1) != 0)
        p++;
    if ((size_t)(end - p) < sizeof(key) - 1)
        return -1;
    p += sizeof(key) - 1;
    while (p < end && *p == ' ')
        p++;
    if ((size_t)(end - p) < sizeof(marker) - 1 || memcmp(p, marker, sizeof(marker) - 1) != 0)
        return -1;
    p += sizeof(marker) - 1;
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    while (p < end && *p >= '0' && *p <= '9')
        seq = seq * 10 + (*p++ - '0');
    return seq;
}

static void on_message_frame(struct conn *c, const unsigned char *payload, size_t len,
                             long long t)
{
    if (received == 0)
        first_ns = t;
    last_ns = t;
    received++;
    if (record_count == record_cap) {
        record_cap = record_cap ? record_cap * 2 : 4096;
        records = xrealloc(records, record_cap * sizeof(*records));
    }
    records[record_count++] = (struct record){c->index, t, body_sequence(payload, len)};
}

static void on_text_frame(struct conn *c, const unsigned char *payload, size_t len,
                          long long t)
{
    static const char ping[] = "{\"type\":\"ping\"}";

    if (has_type(payload, len, "message")) {
        on_message_frame(c, payload, len, t);
    } else if (c->state == CONN_WAIT_HELLO && has_type(payload, len, "hello")) {
        if (send_frame(c, 0x1, ping, sizeof(ping) - 1) == 0)
            c->state = CONN_WAIT_PONG;
    } else if (c->state == CONN_WAIT_PONG && has_type(payload, len, "pong")) {
        c->state = CONN_LIVE;
        live_count++;
        if (opening && c->index >= open_first) {
            connecting--;
            open_done++;
            open_live++;
        }
    } else {
        other_frames++;
    }
}

/* Handles one server frame. Returns -1 when the socket is gone. */
static int on_frame(struct conn *c, unsigned char b0, const unsigned char *payload,
                    size_t len, long long t)
{
    int opcode = b0 & 0x0f;

    if (!(b0 & 0x80) || opcode == 0x0) {
        fail(c, "fragmented server frame");
        return -1;
    }
    switch (opcode) {
    case 0x1:
        on_text_frame(c, payload, len, t);
        return c->fd < 0 ? -1 : 0;
    case 0x8:
        if (c->state == CONN_LIVE) {
            live_count--;
            server_closed++;
            c->state = CONN_CLOSED;
            release_fd(c, 1);
        } else {
            fail(c, "closed by the server before it was live");
        }
        return -1;
    case 0x9:
        return send_frame(c, 0xA, payload, len);
    case 0xA:
        return 0;
    default:
        fail(c, "unexpected opcode %d", opcode);
        return -1;
    }
}

/* Parses the upgrade response at the start of the buffer. Returns the
 * header length, 0 when incomplete, or -1 after failing the socket. */
static long parse_upgrade(struct conn *c)
{
    static const char ok[] = "HTTP/1.1 101";
    unsigned char *end = NULL;

    for (size_t i = 0; i + 4 <= c->len; i++) {
        if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) {
            end = c->buf + i + 4;
            break;
        }
    }
    if (end == NULL) {
        if (c->len > MAX_HTTP_HEADER) {
            fail(c, "upgrade response header over %d bytes", MAX_HTTP_HEADER);
            return -1;
        }
        return 0;
    }
    if (c->len >= 12 && memcmp(c->buf + 8, " 503", 4) == 0 && c->attempts < MAX_ATTEMPTS) {
        release_fd(c, 1);
        c->state = CONN_RETRY;
        c->retry_at_ns = now_ns() + RETRY_DELAY_NS;
        return -1;
    }
    if (c->len < sizeof(ok) - 1 || memcmp(c->buf, ok, sizeof(ok) - 1) != 0) {
        fail(c, "upgrade refused: %.*s", (int)strcspn((char *)c->buf, "\r"), c->buf);
        return -1;
    }
    c->state = CONN_WAIT_HELLO;
    return end - c->buf;
}

/* Consumes the complete frames in the buffer. Returns -1 when the socket
 * is gone. */
static int parse_frames(struct conn *c, long long t)
{
    size_t pos = 0;

    if (c->state == CONN_UPGRADING) {
        long header = parse_upgrade(c);

        if (header <= 0)
            return (int)header;
        pos = (size_t)header;
    }
    while (c->len - pos >= 2) {
        unsigned char *p = c->buf + pos;
        size_t avail = c->len - pos, head = 2;
        uint64_t len = p[1] & 0x7f;

        if (p[1] & 0x80) {
            fail(c, "masked server frame");
            return -1;
        }
        if (len == 126) {
            if (avail < 4)
                break;
            len = ((uint64_t)p[2] << 8) | p[3];
            head = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 2; i < 10; i++)
                len = (len << 8) | p[i];
            head = 10;
        }
        if (len > MAX_FRAME_BYTES) {
            fail(c, "server frame of %llu bytes", (unsigned long long)len);
            return -1;
        }
        if (avail < head + len)
            break;
        if (on_frame(c, p[0], p + head, (size_t)len, t) != 0)
            return -1;
        pos += head + (size_t)len;
    }
    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
    return 0;
}

static void on_readable(struct conn *c)
{
    for (;;) {
        ssize_t n;
        size_t room;
        long long t;

        if (c->cap - c->len < READ_CHUNK) {
            c->cap = c->cap ? c->cap * 2 : READ_CHUNK * 2;
            c->buf = xrealloc(c->buf, c->cap);
        }
        room = c->cap - c->len;
        n = read(c->fd, c->buf + c->len, room);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (c->state == CONN_LIVE) {
                live_count--;
                server_closed++;
                c->state = CONN_CLOSED;
                release_fd(c, 0);
            } else {
                fail(c, "%s", n == 0 ? "connection closed" : strerror(errno));
            }
            return;
        }
        t = now_ns();
        c->len += (size_t)n;
        if (parse_frames(c, t) != 0)
            return;
        if ((size_t)n < room)
            return; /* drained; level-triggered epoll reports any rest */
    }
}

static void on_socket_event(struct conn *c, uint32_t events)
{
    if (c->fd < 0)
        return;
    if (c->state == CONN_CONNECTING) {
        on_connected(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(c);
}

/* Retries the refused sockets that are due and fails the slow ones. */
static void check_connects(long long t)
{
    if (!opening)
        return;
    for (size_t i = open_first; i < open_next; i++) {
        struct conn *c = conns[i];

        if (c->state == CONN_RETRY && t >= c->retry_at_ns)
            begin_connect(c);
        else if (c->state < CONN_RETRY && c->fd >= 0 && t - c->started_ns > CONNECT_TIMEOUT_NS)
            fail(c, "not live within %lld s", CONNECT_TIMEOUT_NS / 1000000000LL);
    }
}

/* ---- paced POSTs ----------------------------------------------------------
 *
 * The post command sends messages through the API at a fixed rate on an
 * open-loop schedule: message i is due at start + i / rate, whatever the
 * earlier ones are doing. It goes out on the first idle keep-alive
 * connection, or on a new one. A timerfd wakes the loop at each due time.
 */

enum http_state { HTTP_CONNECTING, HTTP_IDLE, HTTP_BUSY, HTTP_CLOSED };

struct http_conn {
    enum endpoint_kind kind; /* ENDPOINT_HTTP; first, see endpoint_kind */
    int fd;
    enum http_state state;
    size_t post; /* index of the request in flight when HTTP_BUSY */
    unsigned char *buf;
    size_t len, cap;
};

struct post {
    long long seq;
    char *path;
    char *token;
    char client_id[37];
    long long scheduled_ns, start_ns, end_ns;
    int status; /* HTTP status, 0 when the connection failed */
};

static struct sockaddr_in web_server;
static int timer_fd = -1;
static enum endpoint_kind timer_kind = ENDPOINT_TIMER;

static struct http_conn http_conns[MAX_HTTP_CONNS];
static size_t http_conn_count;

static int posting;
static struct post *posts;
static size_t post_count, post_due, post_sent, post_done, post_ok;
/* 0 until the HTTP_WARM_CONNS first connections are open. */
static long long post_start_ns;
static long long post_interval_ns, post_deadline_ns;
static size_t warm_connecting;

static long long scheduled_ns(size_t i)
{
    return post_start_ns + (long long)i * post_interval_ns;
}

static void arm_timer(void)
{
    struct itimerspec at;
    long long due;

    memset(&at, 0, sizeof(at));
    if (post_due < post_count) {
        due = scheduled_ns(post_due);
        at.it_value.tv_sec = due / 1000000000LL;
        at.it_value.tv_nsec = due % 1000000000LL;
    }
    if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &at, NULL) != 0)
        die("timerfd_settime: %s", strerror(errno));
}

static void start_schedule(void)
{
    post_start_ns = now_ns();
    post_deadline_ns = scheduled_ns(post_count) + POST_TIMEOUT_NS;
    arm_timer();
}

static void http_close(struct http_conn *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->state = HTTP_CLOSED;
    h->len = 0;
}

static void finish_post(struct post *p, int status, long long t)
{
    p->status = status;
    p->end_ns = t;
    post_done++;
    if (status >= 200 && status < 300)
        post_ok++;
    else if (failures_logged < MAX_LOGGED_FAILURES) {
        fprintf(stderr, "wsload: POST %s failed with %s%d\n", p->path,
                status == 0 ? "a broken connection " : "HTTP ", status);
        failures_logged++;
    }
}

static void http_open(struct http_conn *h)
{
    struct epoll_event event = {.events = EPOLLOUT, .data.ptr = h};

    h->kind = ENDPOINT_HTTP;
    h->len = 0;
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->fd < 0)
        die("socket: %s", strerror(errno));
    if (connect(h->fd, (struct sockaddr *)&web_server, sizeof(web_server)) != 0 &&
        errno != EINPROGRESS)
        die("connecting to the web server: %s", strerror(errno));
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, h->fd, &event) != 0)
        die("epoll_ctl: %s", strerror(errno));
    h->state = HTTP_CONNECTING;
}

static void http_send(struct http_conn *h, size_t index, long long t)
{
    struct post *p = &posts[index];
    char body[128], request[4096];
    int body_len, len;
    ssize_t n;

    body_len = snprintf(body, sizeof(body), "{\"client_id\":\"%s\",\"body\":\"bench %lld\"}",
                        p->client_id, p->seq);
    len = snprintf(request, sizeof(request),
                   "POST %s HTTP/1.1\r\n"
                   "Host: %s:%d\r\n"
                   "Content-Type: application/json\r\n"
                   "Cookie: blinkchat_session=%s\r\n"
                   "Content-Length: %d\r\n"
                   "\r\n"
                   "%s",
                   p->path, host, ntohs(web_server.sin_port), p->token, body_len, body);
    if (len < 0 || len >= (int)sizeof(request))
        die("request for %s over %zu bytes", p->path, sizeof(request));
    p->start_ns = t;
    n = write(h->fd, request, (size_t)len);
    if (n != len) {
        finish_post(p, 0, now_ns());
        http_close(h);
        return;
    }
    h->state = HTTP_BUSY;
    h->post = index;
}

/* Sends every due message that has an idle connection, and opens more
 * connections while messages wait for one. */
static void send_due_posts(void)
{
    size_t connecting_now = 0;

    if (!posting)
        return;
    for (size_t i = 0; i < http_conn_count && post_sent < post_due; i++) {
        struct http_conn *h = &http_conns[i];

        if (h->state == HTTP_CLOSED)
            http_open(h);
        if (h->state == HTTP_IDLE)
            http_send(h, post_sent++, now_ns());
        else if (h->state == HTTP_CONNECTING)
            connecting_now++;
    }
    while (post_sent + connecting_now < post_due && http_conn_count < MAX_HTTP_CONNS) {
        http_open(&http_conns[http_conn_count++]);
        connecting_now++;
    }
}

static void on_timer(void)
{
    uint64_t expirations;
    long long t = now_ns();

    if (read(timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        die("reading the timerfd: %s", strerror(errno));
    while (post_due < post_count && scheduled_ns(post_due) <= t)
        post_due++;
    send_due_posts();
    arm_timer();
}

/* Returns the value of header `name` in an HTTP response head, or NULL. */
static const char *find_header(const char *head, size_t head_len, const char *name)
{
    size_t name_len = strlen(name);

    for (const char *line = memchr(head, '\n', head_len); line != NULL;) {
        size_t left;

        line++;
        left = head_len - (size_t)(line - head);
        if (left > name_len + 1 && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':')
            return line + name_len + 1;
        line = memchr(line, '\n', left);
    }
    return NULL;
}

/* Returns 1 when the buffer contains a complete response, and sets
 * *status and *keep_alive. A chunked body is complete when the buffer ends
 * with the last chunk, "0\r\n\r\n". The API's JSON bodies contain no raw
 * line breaks, so no earlier point of a body looks like that. */
static int response_complete(struct http_conn *h, int *status, int *keep_alive)
{
    char *text = (char *)h->buf;
    char *end = NULL;
    size_t head_len;
    const char *value;

    for (size_t i = 0; i + 4 <= h->len; i++) {
        if (memcmp(text + i, "\r\n\r\n", 4) == 0) {
            end = text + i + 4;
            break;
        }
    }
    if (end == NULL || h->len < 12)
        return 0;
    head_len = (size_t)(end - text);
    *status = atoi(text + 9);
    value = find_header(text, head_len, "Connection");
    *keep_alive = !(value != NULL && strncasecmp(value + strspn(value, " "), "close", 5) == 0);
    if ((value = find_header(text, head_len, "Content-Length")) != NULL)
        return h->len >= head_len + strtoul(value, NULL, 10);
    if ((value = find_header(text, head_len, "Transfer-Encoding")) != NULL)
        return h->len >= head_len + 5 && memcmp(text + h->len - 5, "0\r\n\r\n", 5) == 0;
    return *status == 204 || *status == 304;
}

static void on_http_event(struct http_conn *h, uint32_t events)
{
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = h};
    int status, keep_alive;

    if (h->state == HTTP_CONNECTING) {
        int error = 0;
        socklen_t size = sizeof(error);

        if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0)
            die("connecting to the web server: %s", strerror(error != 0 ? error : errno));
        if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, h->fd, &event) != 0)
            die("epoll_ctl: %s", strerror(errno));
        h->state = HTTP_IDLE;
        if (post_start_ns == 0 && --warm_connecting == 0)
            start_schedule();
        send_due_posts();
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    for (;;) {
        ssize_t n;

        if (h->cap - h->len < READ_CHUNK) {
            h->cap = h->cap ? h->cap * 2 : READ_CHUNK * 2;
            h->buf = xrealloc(h->buf, h->cap);
        }
        n = read(h->fd, h->buf + h->len, h->cap - h->len - 1);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (h->state == HTTP_BUSY)
                finish_post(&posts[h->post], 0, now_ns());
            http_close(h);
            send_due_posts();
            return;
        }
        h->len += (size_t)n;
        h->buf[h->len] = '\0';
        if (h->state == HTTP_BUSY && response_complete(h, &status, &keep_alive)) {
            finish_post(&posts[h->post], status, now_ns());
            h->len = 0;
            h->state = HTTP_IDLE;
            if (!keep_alive)
                http_close(h);
            send_due_posts();
            return;
        }
    }
}

static void finish_post_command_if_done(long long t)
{
    if (!posting || post_start_ns == 0 || (post_done < post_count && t < post_deadline_ns))
        return;
    for (size_t i = 0; i < http_conn_count; i++) {
        if (http_conns[i].state == HTTP_BUSY)
            finish_post(&posts[http_conns[i].post], 0, t);
        http_close(&http_conns[i]);
    }
    post_done = post_count;
    posting = 0;
    post_due = post_count;
    arm_timer();
    reply("posted %zu %zu", post_ok, post_count - post_ok);
}

/* Reads "SEQ CONVERSATION_ID TOKEN CLIENT_ID" lines and opens the first
 * connections; the schedule starts once they are open. */
static void command_post(int web_port, const char *path, double rate)
{
    FILE *file = fopen(path, "r");
    char line[4096];

    if (file == NULL)
        die("cannot open the post file %s: %s", path, strerror(errno));
    if (rate <= 0 || web_port <= 0 || web_port > 65535)
        die("post needs a web port and a rate above 0");
    post_count = post_due = post_sent = post_done = post_ok = 0;
    while (fgets(line, sizeof(line), file) != NULL) {
        struct post *p;
        long long seq, conversation;
        char token[3072], client_id[64];

        if (sscanf(line, "%lld %lld %3071s %63s", &seq, &conversation, token, client_id) != 4)
            continue;
        if (strlen(client_id) != 36)
            die("client_id %s is not a UUID", client_id);
        posts = xrealloc(posts, (post_count + 1) * sizeof(*posts));
        p = &posts[post_count++];
        memset(p, 0, sizeof(*p));
        p->seq = seq;
        memcpy(p->client_id, client_id, 37);
        p->path = malloc(64);
        p->token = strdup(token);
        if (p->path == NULL || p->token == NULL)
            die("out of memory reading %s", path);
        snprintf(p->path, 64, "/api/conversations/%lld/messages", conversation);
    }
    fclose(file);

    web_server = server;
    web_server.sin_port = htons((uint16_t)web_port);
    for (http_conn_count = 0; http_conn_count < HTTP_WARM_CONNS; http_conn_count++)
        http_open(&http_conns[http_conn_count]);
    warm_connecting = HTTP_WARM_CONNS;
    post_interval_ns = (long long)(1e9 / rate);
    post_start_ns = 0;
    posting = 1;
}

/* ---- commands ------------------------------------------------------------ */

static void command_open(const char *path)
{
    FILE *file = fopen(path, "r");
    char line[4096];

    if (file == NULL)
        die("cannot open the token file %s: %s", path, strerror(errno));
    open_first = open_next = conn_count;
    open_done = open_live = 0;
    while (fgets(line, sizeof(line), file) != NULL) {
        struct conn *c;

        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (conn_count == conn_cap) {
            conn_cap = conn_cap ? conn_cap * 2 : 1024;
            conns = xrealloc(conns, conn_cap * sizeof(*conns));
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL || (c->token = strdup(line)) == NULL)
            die("out of memory reading %s", path);
        c->kind = ENDPOINT_WEBSOCKET;
        c->fd = -1;
        c->index = conn_count;
        conns[conn_count++] = c;
    }
    fclose(file);
    opening = 1;
    start_more_connects();
}

static void command_close(void)
{
    size_t open = 0;

    for (size_t i = 0; i < conn_count; i++) {
        if (conns[i]->fd >= 0)
            open++;
        release_fd(conns[i], 1);
        free(conns[i]->token);
        free(conns[i]);
    }
    conn_count = 0;
    live_count = 0;
    reply("closed %zu", open);
}

static void command_dump(void)
{
    for (size_t i = 0; i < record_count; i++)
        printf("m %zu %lld %lld\n", records[i].socket, records[i].ns, records[i].seq);
    record_count = 0;
    for (size_t i = 0; i < post_count; i++) {
        struct post *p = &posts[i];

        printf("p %lld %lld %lld %lld %d\n", p->seq, scheduled_ns(i), p->start_ns,
               p->end_ns, p->status);
        free(p->path);
        free(p->token);
    }
    post_count = 0;
    reply("end");
}

static void finish_wait_if_done(long long t)
{
    if (!waiting || (received < wait_target && t < wait_deadline_ns))
        return;
    waiting = 0;
    reply("received %lld %lld %lld", received, first_ns, last_ns);
}

/* Runs one command line. Returns 0, or 1 on quit. */
static int run_command(char *line)
{
    char argument[4096];
    long long count, ms;
    int web_port;
    double rate;

    if (sscanf(line, "open %4095s", argument) == 1) {
        command_open(argument);
    } else if (strcmp(line, "mark") == 0) {
        received = first_ns = last_ns = 0;
        reply("marked");
    } else if (sscanf(line, "wait %lld %lld", &count, &ms) == 2) {
        waiting = 1;
        wait_target = count;
        wait_deadline_ns = now_ns() + ms * 1000000LL;
        finish_wait_if_done(now_ns());
    } else if (sscanf(line, "post %d %4095s %lf", &web_port, argument, &rate) == 3) {
        command_post(web_port, argument, rate);
    } else if (strcmp(line, "dump") == 0) {
        command_dump();
    } else if (strcmp(line, "close") == 0) {
        command_close();
    } else if (strcmp(line, "stats") == 0) {
        reply("sockets %zu live %lld server_closed %lld errors %lld other_frames %lld",
               conn_count, live_count, server_closed, errors, other_frames);
    } else if (strcmp(line, "quit") == 0) {
        return 1;
    } else {
        die("unknown command '%s'", line);
    }
    return 0;
}

/* Runs the complete command lines read so far, one at a time: a command
 * waits until a running open, post or wait has replied. Returns 1 on quit. */
static int run_pending_commands(void)
{
    while (!opening && !waiting && !posting) {
        char *newline = memchr(stdin_buf, '\n', stdin_len);
        size_t used;

        if (newline == NULL)
            return 0;
        *newline = '\0';
        used = (size_t)(newline - stdin_buf) + 1;
        if (run_command(stdin_buf))
            return 1;
        memmove(stdin_buf, stdin_buf + used, stdin_len - used);
        stdin_len -= used;
    }
    return 0;
}

/* Returns 1 when standard input is closed. */
static int read_stdin(void)
{
    ssize_t n;

    if (stdin_len == sizeof(stdin_buf))
        die("command line over %zu bytes", sizeof(stdin_buf));
    n = read(STDIN_FILENO, stdin_buf + stdin_len, sizeof(stdin_buf) - stdin_len);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0)
        return 1;
    stdin_len += (size_t)n;
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit limit;

    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

int main(int argc, char **argv)
{
    struct epoll_event events[MAX_EVENTS];
    static enum endpoint_kind stdin_kind = ENDPOINT_STDIN;
    struct epoll_event stdin_event = {.events = EPOLLIN, .data.ptr = &stdin_kind};
    struct epoll_event timer_event = {.events = EPOLLIN, .data.ptr = &timer_kind};

    if (argc != 3)
        die("usage: wsload HOST PORT (commands on standard input)");
    host = argv[1];
    port = atoi(argv[2]);
    memset(&server, 0, sizeof(server));
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1 || port <= 0 || port > 65535)
        die("invalid address %s:%s; give an IPv4 address and a port", argv[1], argv[2]);
    raise_fd_limit();
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epoll_fd < 0 || timer_fd < 0 ||
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &stdin_event) != 0 ||
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, timer_fd, &timer_event) != 0)
        die("epoll: %s", strerror(errno));

    for (;;) {
        int timeout_ms = 100, n;
        long long t;

        if (waiting) {
            long long left = (wait_deadline_ns - now_ns()) / 1000000LL + 1;

            if (left < timeout_ms)
                timeout_ms = left > 0 ? (int)left : 0;
        }
        n = epoll_wait(epoll_fd, events, MAX_EVENTS, timeout_ms);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            enum endpoint_kind *kind = events[i].data.ptr;

            if (*kind == ENDPOINT_STDIN) {
                if (read_stdin())
                    return 0;
            } else if (*kind == ENDPOINT_TIMER) {
                on_timer();
            } else if (*kind == ENDPOINT_HTTP) {
                on_http_event(events[i].data.ptr, events[i].events);
            } else {
                on_socket_event(events[i].data.ptr, events[i].events);
            }
        }
        t = now_ns();
        check_connects(t);
        start_more_connects();
        finish_wait_if_done(t);
        finish_post_command_if_done(t);
        if (run_pending_commands())
            return 0;
    }
}
