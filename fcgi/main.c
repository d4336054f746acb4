/*
 * blinkchat-api: the FastCGI responder. The web server (lighttpd's
 * mod_fastcgi, or spawn-fcgi for nginx) starts several of these processes
 * and hands each the listening socket as standard input; each process then
 * serves one request at a time over its own database connection.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcgiapp.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cache.h"
#include "cfg.h"
#include "db.h"
#include "log.h"

static volatile sig_atomic_t stopping;

/* libfcgi retries accept() after EINTR unless a shutdown is pending, so
 * the handler requests one; the loop then ends after the current request. */
static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
    FCGX_ShutdownPending();
}

static const char *param(FCGX_Request *fcgi, const char *name)
{
    const char *value = FCGX_GetParam(name, fcgi->envp);

    return value != NULL && *value != '\0' ? value : NULL;
}

static long long elapsed_us(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000000LL + (now.tv_nsec - start->tv_nsec) / 1000;
}

static int read_fcgi_body(void *ctx, char *dst, int len)
{
    return FCGX_GetStr(dst, len, ((FCGX_Request *)ctx)->in);
}

static void write_response(FCGX_Request *fcgi, struct request *req)
{
    if (req->out.failed) {
        log_error("api: response for %s exceeded its maximum size", req->path);
        respond_error(req, ERR_INTERNAL, NULL);
    }
    FCGX_FPrintF(fcgi->out, "Status: %d\r\n", req->status);
    if (req->status != 204)
        FCGX_FPrintF(fcgi->out, "Content-Type: application/json; charset=utf-8\r\n");
    FCGX_FPrintF(fcgi->out, "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                            "X-Request-Id: %s\r\n", req->request_id);
    if (req->headers.len > 0)
        FCGX_PutStr(req->headers.data, (int)req->headers.len, fcgi->out);
    FCGX_PutS("\r\n", fcgi->out);
    if (req->status != 204 && req->out.len > 0)
        FCGX_PutStr(req->out.data, (int)req->out.len, fcgi->out);
}

static void handle(FCGX_Request *fcgi)
{
    struct request req;
    struct timespec start;
    unsigned char random[8];
    const char *length = param(fcgi, "CONTENT_LENGTH");

    clock_gettime(CLOCK_MONOTONIC, &start);
    request_init(&req);
    randombytes_buf(random, sizeof(random));
    sodium_bin2hex(req.request_id, sizeof(req.request_id), random, sizeof(random));
    log_set_context(req.request_id, 0);
    req.method = param(fcgi, "REQUEST_METHOD") ? param(fcgi, "REQUEST_METHOD") : "GET";
    req.uri = param(fcgi, "REQUEST_URI") ? param(fcgi, "REQUEST_URI") : "/";
    req.origin = param(fcgi, "HTTP_ORIGIN");
    req.fetch_site = param(fcgi, "HTTP_SEC_FETCH_SITE");
    req.cookie = param(fcgi, "HTTP_COOKIE");
    req.content_type = param(fcgi, "CONTENT_TYPE");
    req.remote_addr = param(fcgi, "REMOTE_ADDR");
    req.content_length = length ? atoll(length) : 0;
    req.read_body = read_fcgi_body;
    req.read_ctx = fcgi;

    router_dispatch(&req);

    write_response(fcgi, &req);
    /* The request's strings belong to libfcgi until FCGX_Finish_r. */
    log_info("api: %s %s %d %lldus", req.method, req.path, req.status, elapsed_us(&start));
    FCGX_Finish_r(fcgi);
    if (req.wrote_outbox)
        db_ring_doorbell();
    log_clear_context();
    request_free(&req);
}

int main(void)
{
    FCGX_Request fcgi;
    char err[512];
    struct sigaction sa;

    log_init("api", getenv("BLINKCHAT_LOG_LEVEL"));
    if (cfg_load(NULL, err, sizeof(err)) != 0) {
        log_error("configuration: %s", err);
        return 1;
    }
    log_init("api", cfg_str("BLINKCHAT_LOG_LEVEL"));
    if (api_init() != 0)
        return 1;
    /* A database that is down at start is not fatal: requests get 503 and
     * each one tries to connect again. */
    db_open(cfg_str("BLINKCHAT_DATABASE_URL"));
    cache_init();

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (FCGX_Init() != 0 || FCGX_InitRequest(&fcgi, 0, 0) != 0) {
        log_error("fastcgi: initialisation failed");
        return 1;
    }
    log_info("api: started (pid %ld)", (long)getpid());
    while (!stopping && FCGX_Accept_r(&fcgi) >= 0)
        handle(&fcgi);

    log_info("api: stopping (pid %ld)", (long)getpid());
    FCGX_Free(&fcgi, 1);
    db_close();
    cache_close();
    cfg_free();
    return 0;
}
