/*
 * blinkchat-pushd: the push daemon. One process, one libuv loop shared by
 * libwebsockets (as a foreign loop), libpq and hiredis. main() reads the
 * configuration, opens the PostgreSQL and Redis connections, serves /ws
 * and runs the loop until SIGTERM or SIGINT, which closes every socket
 * with 1001 and exits 0.
 */
#define _POSIX_C_SOURCE 200809L
#include "pushd.h"

#include <libwebsockets.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bus.h"
#include "cfg.h"
#include "log.h"
#include "outbox.h"
#include "presence.h"
#include "protocol.h"
#include "queries.h"
#include "users.h"

/* How long the sockets get to close after SIGTERM before the context goes. */
#define SHUTDOWN_GRACE_MS 2000
#define SHUTDOWN_CHECK_MS 50

struct pushd pushd;

static uv_loop_t loop;
static uv_signal_t sigterm_handle, sigint_handle;
static uv_timer_t shutdown_timer;
static uint64_t shutdown_started;
static lws_retry_bo_t idle_policy;

long long pushd_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Sends libwebsockets' warnings and errors through the project's log. */
static void log_from_lws(int level, const char *line)
{
    int len = (int)strlen(line);

    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' '))
        len--;
    if (level & LLL_ERR)
        log_error("lws: %.*s", len, line);
    else
        log_warn("lws: %.*s", len, line);
}

/* ---- shutdown ------------------------------------------------------------ */

static void close_handles(void)
{
    presence_stop();
    outbox_stop();
    queries_close();
    auth_close();
    bus_stop();
    uv_close((uv_handle_t *)&shutdown_timer, NULL);
    uv_close((uv_handle_t *)&sigterm_handle, NULL);
    uv_close((uv_handle_t *)&sigint_handle, NULL);
}

static void on_shutdown_timer(uv_timer_t *timer)
{
    unsigned open = protocol_socket_count();

    if (open > 0 && uv_now(&loop) - shutdown_started < SHUTDOWN_GRACE_MS)
        return;
    if (open > 0)
        log_warn("stopping: %u sockets did not close in time", open);
    uv_timer_stop(timer);
    lws_context_destroy(pushd.lws);
    pushd.lws = NULL;
    close_handles();
}

void pushd_shutdown(void)
{
    if (pushd.shutting_down)
        return;
    pushd.shutting_down = 1;
    log_info("stopping: closing %u sockets with 1001", protocol_socket_count());
    uv_signal_stop(&sigterm_handle);
    uv_signal_stop(&sigint_handle);
    protocol_close_all();
    shutdown_started = uv_now(&loop);
    uv_timer_start(&shutdown_timer, on_shutdown_timer, SHUTDOWN_CHECK_MS,
                   SHUTDOWN_CHECK_MS);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    (void)handle;
    log_info("received signal %d", signum);
    pushd_shutdown();
}

/* ---- start ------------------------------------------------------------------ */

static int create_context(void)
{
    struct lws_context_creation_info info;
    void *foreign_loops[1] = {&loop};
    long long ping_seconds = cfg_int("BLINKCHAT_PUSHD_PING_SECONDS");

    /* Idle sockets get a WebSocket ping after ping_seconds without a pong
     * and are dropped when the next interval passes without one. */
    if (ping_seconds < 1)
        ping_seconds = 1;
    if (ping_seconds > 30000)
        ping_seconds = 30000;
    idle_policy.secs_since_valid_ping = (uint16_t)ping_seconds;
    idle_policy.secs_since_valid_hangup = (uint16_t)(ping_seconds * 2);

    memset(&info, 0, sizeof(info));
    info.port = (int)cfg_int("BLINKCHAT_PUSHD_PORT");
    info.iface = cfg_str("BLINKCHAT_PUSHD_HOST");
    info.protocols = protocol_table;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (strchr(info.iface, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = foreign_loops;
    info.retry_and_idle_policy = &idle_policy;
    info.timeout_secs = 10;
    info.max_http_header_data = 8192;
    pushd.lws = lws_create_context(&info);
    return pushd.lws != NULL ? 0 : -1;
}

static void make_instance_id(void)
{
    unsigned char random[16];

    randombytes_buf(random, sizeof(random));
    sodium_bin2hex(pushd.instance_id, sizeof(pushd.instance_id), random,
                   sizeof(random));
}

static int open_connections(void)
{
    const char *database = cfg_str("BLINKCHAT_DATABASE_URL");

    if (auth_open(&loop, database) != 0 || queries_open(&loop, database) != 0 ||
        outbox_start(&loop, database) != 0)
        return -1;
    if (bus_start(&loop, cfg_str("BLINKCHAT_REDIS_URL")) != 0)
        return -1;
    presence_start(&loop);
    return 0;
}

static int start(void)
{
    uv_loop_init(&loop);
    pushd.loop = &loop;
    pushd.public_origin = cfg_str("BLINKCHAT_PUBLIC_ORIGIN");
    pushd.jwt_secret = cfg_str("BLINKCHAT_JWT_SECRET");
    pushd.presence_group_limit = cfg_int("BLINKCHAT_PRESENCE_GROUP_LIMIT");
    make_instance_id();

    uv_timer_init(&loop, &shutdown_timer);
    uv_signal_init(&loop, &sigterm_handle);
    uv_signal_init(&loop, &sigint_handle);
    uv_signal_start(&sigterm_handle, on_signal, SIGTERM);
    uv_signal_start(&sigint_handle, on_signal, SIGINT);

    if (open_connections() != 0)
        return -1;
    lws_set_log_level(LLL_ERR | LLL_WARN, log_from_lws);
    if (create_context() != 0) {
        log_error("cannot listen on %s:%lld", cfg_str("BLINKCHAT_PUSHD_HOST"),
                  cfg_int("BLINKCHAT_PUSHD_PORT"));
        return -1;
    }
    log_info("started: instance=%s listening on %s:%lld", pushd.instance_id,
             cfg_str("BLINKCHAT_PUSHD_HOST"), cfg_int("BLINKCHAT_PUSHD_PORT"));
    return 0;
}

int main(void)
{
    char err[512];
    int status = 0;

    if (cfg_load(NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "blinkchat-pushd: %s\n", err);
        return 1;
    }
    log_init("pushd", cfg_str("BLINKCHAT_LOG_LEVEL"));
    if (sodium_init() < 0) {
        log_error("libsodium failed to initialize");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());

    if (start() != 0) {
        status = 1;
        pushd.shutting_down = 1;
        if (pushd.lws != NULL)
            lws_context_destroy(pushd.lws);
        uv_signal_stop(&sigterm_handle);
        uv_signal_stop(&sigint_handle);
        close_handles();
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    users_free_all();
    if (uv_loop_close(&loop) != 0)
        log_warn("the event loop closed with handles still open");
    log_info("stopped");
    cfg_free();
    return status;
}
