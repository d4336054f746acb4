/*
 * The two Redis connections. hiredis frees an async context itself after
 * its disconnect callback (or after a failed connect's connect callback),
 * so a link forgets its context in those callbacks and never frees it
 * there.
 */
#define _POSIX_C_SOURCE 200809L
#include "bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "presence.h"
#include "redis_uv.h"
#include "typing.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
/* A connection not up after this long is given up and retried. */
#define CONNECT_TIMEOUT_MS 5000

struct bus_target {
    char host[256];
    int port;
    char unix_path[256]; /* empty for TCP */
    char user[128];
    char password[256];
    int db;
};

struct bus_link {
    const char *name;
    int subscriber;
    redisAsyncContext *context;
    int connected;
    unsigned attempt;
    uv_timer_t retry_timer;
};

static uv_loop_t *bus_loop;
static struct bus_target target;
static struct bus_link command_link = {.name = "commands"};
static struct bus_link subscriber_link = {.name = "subscriber", .subscriber = 1};
static int stopping;

/* Labels of the set-up commands, passed to on_setup_reply for its log. */
static char setup_auth[] = "AUTH";
static char setup_select[] = "SELECT";
static char setup_ping[] = "PING";

static void connect_link(struct bus_link *link);

/* ---- URL parsing ------------------------------------------------------- */

/* Copies s[0..len) into out (size bytes). Returns 0, or -1 when too long. */
static int copy_part(char *out, size_t size, const char *s, size_t len)
{
    if (len >= size)
        return -1;
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

static int parse_number(const char *s, size_t len, int max, int *out)
{
    int n = 0;

    if (len == 0 || len > 6)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    if (n > max)
        return -1;
    *out = n;
    return 0;
}

/* Splits "[user]:password@" off the front of the authority. */
static int parse_credentials(const char **rest, const char *end)
{
    const char *at = memchr(*rest, '@', (size_t)(end - *rest));
    const char *colon;

    if (at == NULL)
        return 0;
    colon = memchr(*rest, ':', (size_t)(at - *rest));
    if (colon == NULL)
        return -1;
    if (copy_part(target.user, sizeof(target.user), *rest, (size_t)(colon - *rest)) != 0 ||
        copy_part(target.password, sizeof(target.password), colon + 1,
                  (size_t)(at - colon - 1)) != 0)
        return -1;
    *rest = at + 1;
    return 0;
}

static int parse_tcp_url(const char *rest)
{
    const char *slash = strchr(rest, '/');
    const char *end = slash ? slash : rest + strlen(rest);
    const char *colon;

    if (parse_credentials(&rest, end) != 0)
        return -1;
    colon = memchr(rest, ':', (size_t)(end - rest));
    target.port = 6379;
    if (colon != NULL &&
        parse_number(colon + 1, (size_t)(end - colon - 1), 65535, &target.port) != 0)
        return -1;
    if (copy_part(target.host, sizeof(target.host), rest,
                  (size_t)((colon ? colon : end) - rest)) != 0 ||
        target.host[0] == '\0')
        return -1;
    if (slash != NULL && slash[1] != '\0' &&
        parse_number(slash + 1, strlen(slash + 1), 1000000, &target.db) != 0)
        return -1;
    return 0;
}

static int parse_unix_url(const char *rest)
{
    const char *query = strchr(rest, '?');
    const char *end = query ? query : rest + strlen(rest);

    if (copy_part(target.unix_path, sizeof(target.unix_path), rest,
                  (size_t)(end - rest)) != 0 ||
        target.unix_path[0] != '/')
        return -1;
    if (query != NULL) {
        if (strncmp(query, "?db=", 4) != 0 ||
            parse_number(query + 4, strlen(query + 4), 1000000, &target.db) != 0)
            return -1;
    }
    return 0;
}

static int parse_url(const char *url)
{
    memset(&target, 0, sizeof(target));
    if (strncmp(url, "redis://", 8) == 0)
        return parse_tcp_url(url + 8);
    if (strncmp(url, "unix://", 7) == 0)
        return parse_unix_url(url + 7);
    return -1;
}

/* ---- connections --------------------------------------------------------- */

static unsigned backoff_ms(unsigned attempt)
{
    unsigned delay = BACKOFF_FIRST_MS;

    while (attempt-- > 1 && delay < BACKOFF_MAX_MS)
        delay *= 2;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    return delay + (unsigned)(rand() % (int)(delay / 4 + 1));
}

static void on_retry_timer(uv_timer_t *timer)
{
    connect_link(timer->data);
}

static void schedule_retry(struct bus_link *link, const char *reason)
{
    unsigned delay;

    link->context = NULL;
    link->connected = 0;
    if (stopping)
        return;
    link->attempt++;
    delay = backoff_ms(link->attempt);
    log_warn("redis %s: %s; reconnect attempt %u in %u ms", link->name, reason,
             link->attempt, delay);
    uv_timer_start(&link->retry_timer, on_retry_timer, delay, 0);
}

static void on_connect(const redisAsyncContext *context, int status)
{
    struct bus_link *link = context->data;

    if (status != REDIS_OK) {
        char reason[300];

        snprintf(reason, sizeof(reason), "connect failed (%s)", context->errstr);
        schedule_retry(link, reason);
        return;
    }
    uv_timer_stop(&link->retry_timer);
    link->connected = 1;
    link->attempt = 0;
    log_info("redis %s: connected", link->name);
    if (!link->subscriber)
        presence_redis_connected();
}

static void on_disconnect(const redisAsyncContext *context, int status)
{
    struct bus_link *link = context->data;
    char reason[300];

    if (status == REDIS_OK || stopping) {
        link->context = NULL;
        link->connected = 0;
        return;
    }
    snprintf(reason, sizeof(reason), "connection lost (%s)", context->errstr);
    schedule_retry(link, reason);
}

/* Logs the failure of a set-up command (AUTH, SELECT, SUBSCRIBE). */
static void on_setup_reply(redisAsyncContext *context, void *reply, void *privdata)
{
    redisReply *r = reply;
    struct bus_link *link = context->data;

    if (r != NULL && r->type == REDIS_REPLY_ERROR)
        log_error("redis %s: %s failed: %s", link->name, (const char *)privdata, r->str);
}

/* Receives every message of the subscribed channels. */
static void on_subscription(redisAsyncContext *context, void *reply, void *privdata)
{
    redisReply *r = reply;

    (void)context;
    (void)privdata;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(r->element[1]->str, BUS_CHANNEL_TYPING) == 0)
        typing_on_message(r->element[2]->str, r->element[2]->len);
    else if (strcmp(r->element[1]->str, BUS_CHANNEL_PRESENCE) == 0)
        presence_on_message(r->element[2]->str, r->element[2]->len);
}

/* Queues AUTH, SELECT and SUBSCRIBE (or PING) right after connecting;
 * hiredis sends them once the connection is up, and a queued command is
 * also what makes hiredis 0.14 notice that the connect finished. */
static void queue_setup(struct bus_link *link)
{
    redisAsyncContext *context = link->context;

    if (target.password[0] != '\0') {
        if (target.user[0] != '\0')
            redisAsyncCommand(context, on_setup_reply, setup_auth, "AUTH %s %s",
                              target.user, target.password);
        else
            redisAsyncCommand(context, on_setup_reply, setup_auth, "AUTH %s",
                              target.password);
    }
    if (target.db != 0 && !link->subscriber)
        redisAsyncCommand(context, on_setup_reply, setup_select, "SELECT %d", target.db);
    if (link->subscriber)
        redisAsyncCommand(context, on_subscription, NULL, "SUBSCRIBE %s %s",
                          BUS_CHANNEL_TYPING, BUS_CHANNEL_PRESENCE);
    else
        redisAsyncCommand(context, on_setup_reply, setup_ping, "PING");
}

/* Gives up a connect that has not finished; a refused or reset connect
 * reports itself, but an unanswered one would wait for the kernel. */
static void on_connect_timeout(uv_timer_t *timer)
{
    struct bus_link *link = timer->data;
    redisAsyncContext *context = link->context;

    if (link->connected || context == NULL)
        return;
    link->context = NULL;
    redisAsyncFree(context);
    schedule_retry(link, "connect timed out");
}

static void connect_link(struct bus_link *link)
{
    redisAsyncContext *context;

    if (target.unix_path[0] != '\0')
        context = redisAsyncConnectUnix(target.unix_path);
    else
        context = redisAsyncConnect(target.host, target.port);
    if (context == NULL) {
        schedule_retry(link, "out of memory");
        return;
    }
    if (context->err) {
        char reason[300];

        snprintf(reason, sizeof(reason), "connect failed (%s)", context->errstr);
        redisAsyncFree(context);
        schedule_retry(link, reason);
        return;
    }
    context->data = link;
    if (redis_uv_attach(context, bus_loop) != REDIS_OK) {
        redisAsyncFree(context);
        schedule_retry(link, "cannot attach to the event loop");
        return;
    }
    redisAsyncSetConnectCallback(context, on_connect);
    redisAsyncSetDisconnectCallback(context, on_disconnect);
    link->context = context;
    queue_setup(link);
    uv_timer_start(&link->retry_timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
}

/* ---- public interface -------------------------------------------------------- */

int bus_start(uv_loop_t *loop, const char *url)
{
    if (parse_url(url) != 0) {
        log_error("BLINKCHAT_REDIS_URL is not a redis:// or unix:// URL");
        return -1;
    }
    bus_loop = loop;
    uv_timer_init(loop, &command_link.retry_timer);
    command_link.retry_timer.data = &command_link;
    uv_timer_init(loop, &subscriber_link.retry_timer);
    subscriber_link.retry_timer.data = &subscriber_link;
    connect_link(&command_link);
    connect_link(&subscriber_link);
    return 0;
}

int bus_ready(void)
{
    return command_link.connected && command_link.context != NULL;
}

int bus_command(redisCallbackFn *fn, void *privdata, int argc,
                const char **argv, const size_t *argv_len)
{
    if (!bus_ready())
        return -1;
    return redisAsyncCommandArgv(command_link.context, fn, privdata, argc, argv,
                                 argv_len) == REDIS_OK ? 0 : -1;
}

int bus_publish(const char *channel, const char *message)
{
    const char *argv[3] = {"PUBLISH", channel, message};

    return bus_command(NULL, NULL, 3, argv, NULL);
}

static void stop_link(struct bus_link *link)
{
    uv_timer_stop(&link->retry_timer);
    uv_close((uv_handle_t *)&link->retry_timer, NULL);
    if (link->context != NULL) {
        redisAsyncContext *context = link->context;

        link->context = NULL;
        link->connected = 0;
        redisAsyncFree(context);
    }
}

void bus_stop(void)
{
    if (bus_loop == NULL || stopping)
        return;
    stopping = 1;
    stop_link(&command_link);
    stop_link(&subscriber_link);
}
