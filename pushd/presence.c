/*
 * Presence leases and announcements. A change runs in two steps: one
 * query on the query connection (the audience, and for offline the new
 * users.last_seen_at), then one Lua script on the Redis command
 * connection that updates the set and publishes the change only when the
 * user's state really changed. Both connections are FIFO, so a user's
 * changes reach Redis in the order this daemon saw them.
 *
 * The message on the presence channel is the client frame's fields plus
 * "to", the ids of the users who should receive it:
 * {"user_id":U,"online":B,"last_seen_at":T,"to":[...]}.
 */
#define _POSIX_C_SOURCE 200809L
#include "presence.h"

#include <json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "frame.h"
#include "log.h"
#include "pushd.h"
#include "queries.h"
#include "sockets.h"
#include "users.h"

/*
 * KEYS[1] the user's set; ARGV: instance id, now (ms), lease expiry (ms),
 * lease length (ms), channel, message. Entries whose lease ended are
 * dropped first; the message goes out when no other entry is left.
 */
static const char online_script[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])\n"
    "local before = redis.call('ZCARD', KEYS[1])\n"
    "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "if before == 0 then\n"
    "  redis.call('PUBLISH', ARGV[5], ARGV[6])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* KEYS[1] the user's set; ARGV: instance id, now (ms), channel, message. */
static const char offline_script[] =
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])\n"
    "if redis.call('ZCARD', KEYS[1]) == 0 then\n"
    "  redis.call('PUBLISH', ARGV[3], ARGV[4])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

struct presence_change {
    long long user_id;
    int online;
};

static uv_timer_t refresh_timer;
static int started;

static void presence_key(long long user_id, char *out, size_t size)
{
    snprintf(out, size, "blinkchat:online:%lld", user_id);
}

/* ---- announcing --------------------------------------------------------- */

static void on_script_reply(redisAsyncContext *context, void *reply, void *privdata)
{
    redisReply *r = reply;

    (void)context;
    (void)privdata;
    if (r != NULL && r->type == REDIS_REPLY_ERROR)
        log_error("presence: Redis script failed: %s", r->str);
}

/*
 * Builds the channel message. audience is a PostgreSQL array literal of
 * ids ("{1,2}"), which becomes a JSON array by swapping the braces.
 * Returns a malloc'd string, or NULL when out of memory.
 */
static char *build_message(const struct presence_change *change,
                           const char *last_seen, const char *audience)
{
    size_t size = strlen(audience) + 160;
    char *message = malloc(size);
    char seen_field[80] = "";
    int len;

    if (message == NULL)
        return NULL;
    if (last_seen != NULL)
        snprintf(seen_field, sizeof(seen_field), ",\"last_seen_at\":\"%s\"", last_seen);
    len = snprintf(message, size, "{\"user_id\":%lld,\"online\":%s%s,\"to\":[%s",
                   change->user_id, change->online ? "true" : "false",
                   seen_field, audience[0] == '{' ? audience + 1 : "}");
    if (len > 0 && message[len - 1] == '}')
        message[len - 1] = ']';
    strcat(message, "}");
    return message;
}

static void run_script(const struct presence_change *change,
                       const char *last_seen, const char *audience)
{
    char key[48], now[24], expiry[24], lease[16];
    char *message = build_message(change, last_seen, audience);
    long long now_ms = pushd_now_ms();
    int status;

    if (message == NULL) {
        log_error("presence: out of memory for user %lld", change->user_id);
        return;
    }
    presence_key(change->user_id, key, sizeof(key));
    snprintf(now, sizeof(now), "%lld", now_ms);
    if (change->online) {
        const char *argv[] = {"EVAL", online_script, "1", key, pushd.instance_id,
                              now, expiry, lease, BUS_CHANNEL_PRESENCE, message};

        snprintf(expiry, sizeof(expiry), "%lld", now_ms + PRESENCE_LEASE_MS);
        snprintf(lease, sizeof(lease), "%d", PRESENCE_LEASE_MS);
        status = bus_command(on_script_reply, NULL, 10, argv, NULL);
    } else {
        const char *argv[] = {"EVAL", offline_script, "1", key, pushd.instance_id,
                              now, BUS_CHANNEL_PRESENCE, message};

        status = bus_command(on_script_reply, NULL, 8, argv, NULL);
    }
    if (status != 0)
        log_debug("presence: Redis down; user %lld %s not recorded",
                  change->user_id, change->online ? "online" : "offline");
    free(message);
}

static void on_audience(PGresult *result, void *arg)
{
    struct presence_change *change = arg;
    const char *last_seen = NULL, *audience = "{}";

    if (result != NULL && PQresultStatus(result) == PGRES_TUPLES_OK &&
        PQntuples(result) == 1) {
        if (!PQgetisnull(result, 0, 0))
            last_seen = PQgetvalue(result, 0, 0);
        audience = PQgetvalue(result, 0, 1);
    } else {
        log_warn("presence: reading the audience of user %lld failed (%s); "
                 "the change reaches no one live", change->user_id,
                 result ? PQresultErrorMessage(result) : "connection lost");
    }
    run_script(change, last_seen, audience);
    free(change);
}

static void announce(long long user_id, int online)
{
    char id[24], limit[24];
    const char *params[2] = {id, limit};
    struct presence_change *change = malloc(sizeof(*change));

    if (change == NULL) {
        log_error("presence: out of memory for user %lld", user_id);
        return;
    }
    change->user_id = user_id;
    change->online = online;
    snprintf(id, sizeof(id), "%lld", user_id);
    snprintf(limit, sizeof(limit), "%lld", pushd.presence_group_limit);
    if (db_query(queries_db(),
                 online ? QUERY_PRESENCE_ONLINE : QUERY_PRESENCE_OFFLINE, params,
                 on_audience, change) == NULL)
        on_audience(NULL, change);
}

/* ---- local users ---------------------------------------------------------- */

static void close_timer(uv_handle_t *handle)
{
    free(handle);
}

static void cancel_grace(struct user *user)
{
    uv_timer_stop(user->grace_timer);
    uv_close((uv_handle_t *)user->grace_timer, close_timer);
    user->grace_timer = NULL;
}

static void on_grace_over(uv_timer_t *timer)
{
    struct user *user = timer->data;

    cancel_grace(user);
    announce(user->id, 0);
    users_release(user);
}

void presence_user_connected(struct user *user)
{
    if (user->grace_timer != NULL) {
        cancel_grace(user); /* back within the grace period: no change */
        return;
    }
    announce(user->id, 1);
}

void presence_user_disconnected(struct user *user)
{
    if (pushd.shutting_down) {
        users_release(user);
        return;
    }
    user->grace_timer = malloc(sizeof(*user->grace_timer));
    if (user->grace_timer == NULL) {
        announce(user->id, 0);
        users_release(user);
        return;
    }
    uv_timer_init(pushd.loop, user->grace_timer);
    user->grace_timer->data = user;
    uv_timer_start(user->grace_timer, on_grace_over, PRESENCE_GRACE_MS, 0);
}

/* ---- leases --------------------------------------------------------------- */

static void refresh_lease(struct user *user, void *arg)
{
    char key[48], expiry[24], lease[16];
    const char *zadd[] = {"ZADD", key, expiry, pushd.instance_id};
    const char *pexpire[] = {"PEXPIRE", key, lease};

    (void)arg;
    presence_key(user->id, key, sizeof(key));
    snprintf(expiry, sizeof(expiry), "%lld", pushd_now_ms() + PRESENCE_LEASE_MS);
    snprintf(lease, sizeof(lease), "%d", PRESENCE_LEASE_MS);
    if (bus_command(NULL, NULL, 4, zadd, NULL) == 0)
        bus_command(NULL, NULL, 3, pexpire, NULL);
}

static void on_refresh_timer(uv_timer_t *timer)
{
    (void)timer;
    if (bus_ready())
        users_for_each(refresh_lease, NULL);
}

void presence_redis_connected(void)
{
    users_for_each(refresh_lease, NULL);
}

void presence_start(uv_loop_t *loop)
{
    uv_timer_init(loop, &refresh_timer);
    uv_timer_start(&refresh_timer, on_refresh_timer, PRESENCE_REFRESH_MS,
                   PRESENCE_REFRESH_MS);
    started = 1;
}

static void stop_grace(struct user *user, void *arg)
{
    (void)arg;
    if (user->grace_timer != NULL)
        cancel_grace(user);
}

void presence_stop(void)
{
    if (!started)
        return;
    started = 0;
    uv_timer_stop(&refresh_timer);
    uv_close((uv_handle_t *)&refresh_timer, NULL);
    users_for_each(stop_grace, NULL);
}

/* ---- delivery ---------------------------------------------------------------- */

/* Builds the client frame from the channel message's fields. */
static struct frame *build_frame(json_object *user_id, json_object *online,
                                 json_object *last_seen)
{
    json_object *frame_object = json_object_new_object();
    struct frame *frame = NULL;
    const char *text;
    size_t len;

    if (frame_object == NULL)
        return NULL;
    json_object_object_add(frame_object, "type", json_object_new_string("presence"));
    json_object_object_add(frame_object, "user_id", json_object_get(user_id));
    json_object_object_add(frame_object, "online", json_object_get(online));
    if (last_seen != NULL)
        json_object_object_add(frame_object, "last_seen_at", json_object_get(last_seen));
    text = json_object_to_json_string_length(
        frame_object, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (text != NULL)
        frame = frame_new(text, len, NULL);
    json_object_put(frame_object);
    return frame;
}

static void deliver(struct frame *frame, json_object *audience)
{
    size_t count = json_object_array_length(audience);

    for (size_t i = 0; i < count; i++) {
        json_object *id = json_object_array_get_idx(audience, i);
        struct user *user;

        if (!json_object_is_type(id, json_type_int))
            continue;
        user = users_find(json_object_get_int64(id));
        if (user == NULL)
            continue;
        for (struct push_socket *s = user->sockets; s != NULL; s = s->next_of_user) {
            if (s->state != SOCKET_LOADING && s->state != SOCKET_CLOSING)
                socket_send(s, frame);
        }
    }
}

void presence_on_message(const char *payload, size_t len)
{
    json_object *root = frame_parse_json(payload, len, BUS_JSON_MAX_DEPTH);
    json_object *user_id, *online, *last_seen = NULL, *audience;
    struct frame *frame;

    if (root == NULL || !json_object_object_get_ex(root, "user_id", &user_id) ||
        !json_object_is_type(user_id, json_type_int) ||
        !json_object_object_get_ex(root, "online", &online) ||
        !json_object_is_type(online, json_type_boolean) ||
        !json_object_object_get_ex(root, "to", &audience) ||
        !json_object_is_type(audience, json_type_array) ||
        (json_object_object_get_ex(root, "last_seen_at", &last_seen) &&
         !json_object_is_type(last_seen, json_type_string))) {
        log_warn("presence: ignored an invalid message on %s", BUS_CHANNEL_PRESENCE);
        json_object_put(root);
        return;
    }
    frame = build_frame(user_id, online, last_seen);
    if (frame == NULL) {
        log_error("presence: out of memory");
    } else {
        deliver(frame, audience);
        frame_unref(frame);
    }
    json_object_put(root);
}
