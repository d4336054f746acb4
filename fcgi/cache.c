/*
 * Redis access for the API: presence reads and the conversation cache.
 *
 * Keys (all but presence live under the current epoch, "bc:EPOCH:"):
 *   bc:epoch                 random id of the current cache generation
 *   bc:E:v:C                 "TOKEN:UPDATED_US" version and activity time
 *                            of conversation C (":" alone when unknown)
 *   bc:E:mv:U                version token of user U's membership list
 *   bc:E:m:U                 "TOKEN|C1,C2,..." U's conversation ids
 *   bc:E:e:U:C               "TOKEN|JSON" conversation C as shown to U
 *   blinkchat:online:U       presence, a sorted set of push daemon leases
 *
 * A reader takes the version token before it queries PostgreSQL and tags
 * what it stores with it; a writer replaces the token after its commit. So
 * a stored value either reflects every change whose token replacement came
 * before the read, or carries a token that is no longer current.
 *
 * Every (re)connection starts a new epoch, which abandons every key of the
 * old one (they expire). Writes made while this process could not reach
 * Redis were not recorded there, and a Redis restored from an old snapshot
 * holds stale tokens: a new epoch makes both harmless.
 */
#define _POSIX_C_SOURCE 200809L
#include "cache.h"

#include <hiredis.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "log.h"

#define ENTRY_TTL_SECONDS 3600
#define VERSION_TTL_SECONDS 86400
#define RETRY_INTERVAL_SECONDS 1

static redisContext *redis;
static int outage_logged;
static time_t next_attempt;
static int enabled;
static char host[256] = "127.0.0.1";
static int port = 6379;
static int database;
static char password[256];

/* Replaces the token and moves the activity time forward, atomically with
 * the read of the current epoch. ARGV: conversation, new token, activity
 * time in microseconds or 0, then the ids of users whose lists changed. */
static const char invalidate_script[] =
    "local e = redis.call('GET', 'bc:epoch')\n"
    "if not e then return 0 end\n"
    "local p = 'bc:' .. e .. ':'\n"
    "local key = p .. 'v:' .. ARGV[1]\n"
    "local at = tonumber(ARGV[3])\n"
    "local old = redis.call('GET', key)\n"
    "if old then\n"
    "  local old_at = tonumber(string.match(old, ':(%d+)$'))\n"
    "  if old_at and old_at > at then at = old_at end\n"
    "end\n"
    "if at > 0 then\n"
    "  redis.call('SET', key, ARGV[2] .. ':' .. string.format('%.0f', at), 'EX', ARGV[4])\n"
    "else\n"
    "  redis.call('DEL', key)\n"
    "end\n"
    "for i = 5, #ARGV do\n"
    "  redis.call('SET', p .. 'mv:' .. ARGV[i], ARGV[2], 'EX', ARGV[4])\n"
    "end\n"
    "return 1\n";

/* Parses redis://[:PASSWORD@]HOST[:PORT][/DB]. */
static void parse_url(const char *url)
{
    const char *p = url, *at, *colon, *slash;
    size_t len;

    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    at = strchr(p, '@');
    if (at != NULL) {
        const char *pw = memchr(p, ':', (size_t)(at - p));

        pw = pw ? pw + 1 : p;
        len = (size_t)(at - pw);
        if (len < sizeof(password)) {
            memcpy(password, pw, len);
            password[len] = '\0';
        }
        p = at + 1;
    }
    slash = strchr(p, '/');
    colon = strchr(p, ':');
    if (colon != NULL && slash != NULL && colon > slash)
        colon = NULL;
    if (colon != NULL)
        len = (size_t)(colon - p);
    else if (slash != NULL)
        len = (size_t)(slash - p);
    else
        len = strlen(p);
    if (len > 0 && len < sizeof(host)) {
        memcpy(host, p, len);
        host[len] = '\0';
    }
    if (colon != NULL)
        port = atoi(colon + 1);
    if (slash != NULL)
        database = atoi(slash + 1);
}

void cache_init(void)
{
    const char *setting = cfg_str("BLINKCHAT_CACHE");

    enabled = strcasecmp(setting, "off") != 0 && strcmp(setting, "0") != 0;
    parse_url(cfg_str("BLINKCHAT_REDIS_URL"));
}

int cache_enabled(void)
{
    return enabled;
}

static void random_token(char out[CACHE_TOKEN_LEN + 1])
{
    unsigned char random[CACHE_TOKEN_LEN / 2];

    randombytes_buf(random, sizeof(random));
    sodium_bin2hex(out, CACHE_TOKEN_LEN + 1, random, sizeof(random));
}

/* Drops the connection after a failure; the outage is logged once. */
static void drop_connection(const char *what)
{
    if (!outage_logged) {
        log_warn("redis: %s failed (%s); reading from PostgreSQL until it is reachable again", what,
                 redis && redis->errstr[0] ? redis->errstr : "no connection");
        outage_logged = 1;
    }
    if (redis != NULL)
        redisFree(redis);
    redis = NULL;
    next_attempt = time(NULL) + RETRY_INTERVAL_SECONDS;
}

/* Runs one command built from argv; returns the reply (caller frees) or
 * NULL after dropping the connection. Error replies count as failures. */
static redisReply *run_argv(int argc, const char **argv)
{
    redisReply *reply = redisCommandArgv(redis, argc, argv, NULL);

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply != NULL)
            log_error("redis: %s: %s", argv[0], reply->str);
        freeReplyObject(reply);
        drop_connection(argv[0]);
        return NULL;
    }
    return reply;
}

/* Starts a new epoch on a fresh connection (see the file comment). */
static int start_epoch(void)
{
    char token[CACHE_TOKEN_LEN + 1];
    const char *argv[3] = {"SET", "bc:epoch", token};
    redisReply *reply;

    random_token(token);
    reply = run_argv(3, argv);
    freeReplyObject(reply);
    return reply ? 0 : -1;
}

/* Returns a usable connection, or NULL while Redis is unreachable (retried
 * at most once a second, so an outage does not slow every request). */
static redisContext *connection(void)
{
    struct timeval connect_timeout = {0, 200000}, command_timeout = {0, 500000};

    if (redis != NULL && redis->err == 0)
        return redis;
    if (redis != NULL)
        drop_connection("connection");
    if (time(NULL) < next_attempt)
        return NULL;

    redis = redisConnectWithTimeout(host, port, connect_timeout);
    if (redis == NULL || redis->err != 0) {
        drop_connection("connect");
        return NULL;
    }
    redisSetTimeout(redis, command_timeout);
    if (password[0] != '\0') {
        const char *argv[2] = {"AUTH", password};
        redisReply *reply = run_argv(2, argv);

        if (reply == NULL)
            return NULL;
        freeReplyObject(reply);
    }
    if (database != 0) {
        char db[16];
        const char *argv[2] = {"SELECT", db};
        redisReply *reply;

        snprintf(db, sizeof(db), "%d", database);
        reply = run_argv(2, argv);
        if (reply == NULL)
            return NULL;
        freeReplyObject(reply);
    }
    if (start_epoch() != 0)
        return NULL;
    if (outage_logged)
        log_info("redis: connected again; cache epoch restarted");
    else
        log_info("redis: connected to %s:%d", host, port);
    outage_logged = 0;
    return redis;
}

/*
 * Sends the queued commands and reads n replies into replies[] (each owned
 * by the caller). Returns 0, or -1 after dropping the connection, with
 * every reply freed.
 */
static int pipeline_collect(int n, redisReply **replies)
{
    int status = 0;

    for (int i = 0; i < n; i++) {
        void *reply = NULL;

        if (status == 0 && redisGetReply(redis, &reply) != REDIS_OK)
            status = -1;
        replies[i] = reply;
        if (status == 0 && replies[i] != NULL && replies[i]->type == REDIS_REPLY_ERROR) {
            log_error("redis: pipelined command failed: %s", replies[i]->str);
            status = -1;
        }
    }
    if (status != 0) {
        for (int i = 0; i < n; i++) {
            freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
        drop_connection("pipeline");
    }
    return status;
}

/* Reads the current epoch into out, creating one if Redis lost it (a
 * flush). Returns 0 or -1 when Redis is unavailable. */
static int read_epoch(char out[CACHE_TOKEN_LEN + 1])
{
    char token[CACHE_TOKEN_LEN + 1];
    redisReply *replies[2];

    if (connection() == NULL)
        return -1;
    random_token(token);
    redisAppendCommand(redis, "SET bc:epoch %s NX", token);
    redisAppendCommand(redis, "GET bc:epoch");
    if (pipeline_collect(2, replies) != 0)
        return -1;
    snprintf(out, CACHE_TOKEN_LEN + 1, "%s",
             replies[1]->type == REDIS_REPLY_STRING ? replies[1]->str : "");
    freeReplyObject(replies[0]);
    freeReplyObject(replies[1]);
    return out[0] != '\0' ? 0 : -1;
}

/* Collects the user objects among objects into users (NULL: count only).
 * Returns their number. */
static size_t collect_users(json_object **objects, int count, json_object **users)
{
    size_t n = 0;

    for (int i = 0; i < count; i++) {
        json_object *members;

        if (json_object_object_get_ex(objects[i], "members", &members)) {
            size_t len = json_object_array_length(members);

            for (size_t j = 0; j < len; j++, n++) {
                if (users != NULL)
                    users[n] = json_object_array_get_idx(members, j);
            }
        } else {
            if (users != NULL)
                users[n] = objects[i];
            n++;
        }
    }
    return n;
}

/* Asks Redis whether each of users[0..n) holds a live lease, one pipeline
 * for all of them, and sets "online" accordingly. */
static void read_presence(json_object **users, size_t n)
{
    redisReply **replies = calloc(n, sizeof(*replies));
    struct timespec now;
    long long now_ms;

    if (replies == NULL || connection() == NULL) {
        free(replies);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    for (size_t i = 0; i < n; i++) {
        json_object *id;
        long long user = json_object_object_get_ex(users[i], "id", &id)
                             ? json_object_get_int64(id) : 0;

        redisAppendCommand(redis, "ZCOUNT blinkchat:online:%lld %lld +inf", user, now_ms);
    }
    if (pipeline_collect((int)n, replies) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (replies[i]->type == REDIS_REPLY_INTEGER && replies[i]->integer > 0)
                json_object_object_add(users[i], "online", json_object_new_boolean(1));
            freeReplyObject(replies[i]);
        }
    }
    free(replies);
}

void cache_fill_presence(json_object **objects, int count)
{
    size_t n = collect_users(objects, count, NULL);
    json_object **users;

    if (n == 0)
        return;
    users = calloc(n, sizeof(*users));
    if (users == NULL) {
        log_error("api: out of memory reading presence of %zu users", n);
        return;
    }
    collect_users(objects, count, users);
    for (size_t i = 0; i < n; i++)
        json_object_object_add(users[i], "online", json_object_new_boolean(0));
    read_presence(users, n);
    free(users);
}

/* Parses "TOKEN|rest" into token and returns rest, or NULL. */
static const char *split_tagged(const char *value, char token[CACHE_TOKEN_LEN + 1])
{
    const char *bar = strchr(value, '|');

    if (bar == NULL || bar - value != CACHE_TOKEN_LEN)
        return NULL;
    memcpy(token, value, CACHE_TOKEN_LEN);
    token[CACHE_TOKEN_LEN] = '\0';
    return bar + 1;
}

/* Reads the user's membership token, creating it when missing. */
static int membership_token(const char *prefix, long long user, char out[CACHE_TOKEN_LEN + 1])
{
    char token[CACHE_TOKEN_LEN + 1];
    redisReply *replies[2];

    random_token(token);
    redisAppendCommand(redis, "SET %smv:%lld %s NX EX %d", prefix, user, token, VERSION_TTL_SECONDS);
    redisAppendCommand(redis, "GET %smv:%lld", prefix, user);
    if (pipeline_collect(2, replies) != 0)
        return -1;
    snprintf(out, CACHE_TOKEN_LEN + 1, "%s",
             replies[1]->type == REDIS_REPLY_STRING ? replies[1]->str : "");
    freeReplyObject(replies[0]);
    freeReplyObject(replies[1]);
    return 0;
}

/* Parses "C1,C2,..." into a new slot array. Returns the count or -1. */
static int parse_id_list(const char *list, struct cache_slot **slots)
{
    int count = *list ? 1 : 0;
    const char *p = list;

    for (const char *c = list; *c; c++)
        count += *c == ',';
    *slots = calloc((size_t)count + 1, sizeof(**slots));
    if (*slots == NULL)
        return -1;
    for (int i = 0; i < count; i++) {
        char *end;

        (*slots)[i].id = strtoll(p, &end, 10);
        p = end + (*end == ',');
    }
    return count;
}

/* Loads the membership list from PostgreSQL and stores it tagged. */
static int load_membership(const char *prefix, long long user, const char *token,
                           struct cache_slot **slots, int *db_unavailable)
{
    char user_text[24];
    const char *params[1] = {user_text};
    struct buf list;
    PGresult *res;
    redisReply *reply;
    int count;

    snprintf(user_text, sizeof(user_text), "%lld", user);
    res = db_exec(STMT_CONVERSATION_IDS, 1, params, db_unavailable);
    if (res == NULL)
        return -2;
    buf_init(&list, 8 * 1024 * 1024);
    buf_printf(&list, "%s|", token);
    for (int i = 0; i < PQntuples(res); i++)
        buf_printf(&list, "%s%s", i > 0 ? "," : "", PQgetvalue(res, i, 0));
    PQclear(res);
    if (list.failed) {
        buf_free(&list);
        return -2;
    }
    count = parse_id_list(list.data + CACHE_TOKEN_LEN + 1, slots);
    if (token[0] != '\0') {
        reply = redisCommand(redis, "SET %sm:%lld %s EX %d", prefix, user, list.data,
                             ENTRY_TTL_SECONDS);
        if (reply == NULL)
            drop_connection("SET");
        freeReplyObject(reply);
    }
    buf_free(&list);
    return count < 0 ? -2 : count;
}

/* Fills updated_us and token of each slot from its version key. Slots
 * whose key is missing get their time from PostgreSQL and a new token.
 * Returns 0, -1 when Redis failed, -2 when the database failed. */
static int load_versions(const char *prefix, struct cache_slot *slots, int count,
                         int *db_unavailable);

int cache_user_conversations(long long user, struct cache_slot **slots, int *db_unavailable)
{
    char epoch[CACHE_TOKEN_LEN + 1], prefix[32], token[CACHE_TOKEN_LEN + 1];
    char tag[CACHE_TOKEN_LEN + 1];
    redisReply *reply;
    const char *list;
    int count;

    *slots = NULL;
    *db_unavailable = 0;
    if (read_epoch(epoch) != 0)
        return -1;
    snprintf(prefix, sizeof(prefix), "bc:%s:", epoch);
    if (membership_token(prefix, user, token) != 0)
        return -1;

    reply = redisCommand(redis, "GET %sm:%lld", prefix, user);
    if (reply == NULL) {
        drop_connection("GET");
        return -1;
    }
    list = reply->type == REDIS_REPLY_STRING ? split_tagged(reply->str, tag) : NULL;
    if (list != NULL && token[0] != '\0' && strcmp(tag, token) == 0)
        count = parse_id_list(list, slots);
    else
        count = load_membership(prefix, user, token, slots, db_unavailable);
    freeReplyObject(reply);
    if (count < 0) {
        free(*slots);
        *slots = NULL;
        return -2;
    }
    if (count > 0) {
        int status = load_versions(prefix, *slots, count, db_unavailable);

        if (status != 0) {
            free(*slots);
            *slots = NULL;
            return status;
        }
    }
    return count;
}

/* Parses "TOKEN:UPDATED_US" into the slot; returns 1 when both are set. */
static int parse_version(const char *value, struct cache_slot *slot)
{
    const char *colon = strchr(value, ':');

    if (colon == NULL || colon - value != CACHE_TOKEN_LEN || colon[1] == '\0')
        return 0;
    memcpy(slot->token, value, CACHE_TOKEN_LEN);
    slot->token[CACHE_TOKEN_LEN] = '\0';
    slot->updated_us = atoll(colon + 1);
    return 1;
}

/* Writes an id array literal "{1,2}" of the slots whose token is unset. */
static void missing_ids(struct cache_slot *slots, int count, struct buf *out)
{
    int first = 1;

    buf_puts(out, "{");
    for (int i = 0; i < count; i++) {
        if (slots[i].token[0] != '\0')
            continue;
        buf_printf(out, "%s%lld", first ? "" : ",", slots[i].id);
        first = 0;
    }
    buf_puts(out, "}");
}

static struct cache_slot *find_slot(struct cache_slot *slots, int count, long long id)
{
    for (int i = 0; i < count; i++) {
        if (slots[i].id == id)
            return &slots[i];
    }
    return NULL;
}

static int load_versions(const char *prefix, struct cache_slot *slots, int count,
                         int *db_unavailable)
{
    struct buf ids;
    redisReply **replies = NULL;
    const char *params[1];
    PGresult *res = NULL;
    int missing = 0, status = -1;

    replies = calloc((size_t)count, sizeof(*replies));
    if (replies == NULL)
        return -1;
    buf_init(&ids, 8 * 1024 * 1024);

    for (int i = 0; i < count; i++)
        redisAppendCommand(redis, "GET %sv:%lld", prefix, slots[i].id);
    if (pipeline_collect(count, replies) != 0)
        goto done;
    for (int i = 0; i < count; i++) {
        slots[i].token[0] = '\0';
        if (replies[i]->type != REDIS_REPLY_STRING || !parse_version(replies[i]->str, &slots[i]))
            missing++;
        freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
    if (missing == 0) {
        status = 0;
        goto done;
    }
    status = -2;

    /* Unknown activity times come from PostgreSQL, after which each slot
     * gets a token: its own (SET NX) or one a writer set meanwhile. */
    missing_ids(slots, count, &ids);
    params[0] = ids.data;
    res = db_exec(STMT_CONVERSATION_TIMES, 1, params, db_unavailable);
    if (res == NULL)
        goto done;
    status = -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct cache_slot *slot = find_slot(slots, count, atoll(PQgetvalue(res, i, 0)));
        char token[CACHE_TOKEN_LEN + 1];

        if (slot == NULL)
            continue;
        random_token(token);
        redisAppendCommand(redis, "SET %sv:%lld %s:%s NX EX %d", prefix, slot->id, token,
                           PQgetvalue(res, i, 1), VERSION_TTL_SECONDS);
        redisAppendCommand(redis, "GET %sv:%lld", prefix, slot->id);
    }
    {
        int n = 2 * PQntuples(res);
        redisReply **more = calloc((size_t)n + 1, sizeof(*more));

        if (more == NULL || pipeline_collect(n, more) != 0) {
            free(more);
            goto done;
        }
        for (int i = 0; i < PQntuples(res); i++) {
            struct cache_slot *slot = find_slot(slots, count, atoll(PQgetvalue(res, i, 0)));
            redisReply *value = more[2 * i + 1];

            if (slot != NULL && value->type == REDIS_REPLY_STRING && !parse_version(value->str, slot))
                slot->updated_us = atoll(PQgetvalue(res, i, 1));
            freeReplyObject(more[2 * i]);
            freeReplyObject(value);
        }
        free(more);
    }
    status = 0;
done:
    PQclear(res);
    buf_free(&ids);
    for (int i = 0; i < count; i++)
        freeReplyObject(replies[i]);
    free(replies);
    return status;
}

int cache_conversation_entries(long long user, struct cache_slot *slots, int count, char **json,
                               int *db_unavailable)
{
    char epoch[CACHE_TOKEN_LEN + 1], prefix[32], user_text[24];
    redisReply **replies;
    struct buf ids;
    PGresult *res = NULL;
    const char *params[2];
    int missing = 0, status = -1;

    *db_unavailable = 0;
    for (int i = 0; i < count; i++)
        json[i] = NULL;
    if (count == 0)
        return 0;
    if (read_epoch(epoch) != 0)
        return -1;
    snprintf(prefix, sizeof(prefix), "bc:%s:", epoch);
    replies = calloc((size_t)count, sizeof(*replies));
    if (replies == NULL)
        return -1;
    buf_init(&ids, 8 * 1024 * 1024);

    for (int i = 0; i < count; i++)
        redisAppendCommand(redis, "GET %se:%lld:%lld", prefix, user, slots[i].id);
    if (pipeline_collect(count, replies) != 0)
        goto done;
    buf_puts(&ids, "{");
    for (int i = 0; i < count; i++) {
        char tag[CACHE_TOKEN_LEN + 1];
        const char *value = replies[i]->type == REDIS_REPLY_STRING
                                ? split_tagged(replies[i]->str, tag) : NULL;

        if (value != NULL && slots[i].token[0] != '\0' && strcmp(tag, slots[i].token) == 0) {
            json[i] = strdup(value);
        } else {
            buf_printf(&ids, "%s%lld", missing > 0 ? "," : "", slots[i].id);
            missing++;
        }
    }
    buf_puts(&ids, "}");
    if (missing == 0) {
        status = 0;
        goto done;
    }

    snprintf(user_text, sizeof(user_text), "%lld", user);
    params[0] = user_text;
    params[1] = ids.data;
    res = db_exec(STMT_CONVERSATION_ENTRIES, 2, params, db_unavailable);
    if (res == NULL) {
        status = -2;
        goto done;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        long long id = atoll(PQgetvalue(res, r, 0));

        for (int i = 0; i < count; i++) {
            if (slots[i].id != id || json[i] != NULL)
                continue;
            json[i] = strdup(PQgetvalue(res, r, 1));
            if (slots[i].token[0] != '\0')
                redisAppendCommand(redis, "SET %se:%lld:%lld %s|%s EX %d", prefix, user, id,
                                   slots[i].token, json[i] ? json[i] : "", ENTRY_TTL_SECONDS);
            else
                redisAppendCommand(redis, "PING");
            missing--;
        }
    }
    {
        int n = PQntuples(res);
        redisReply **acks = calloc((size_t)n + 1, sizeof(*acks));

        if (acks != NULL && pipeline_collect(n, acks) == 0) {
            for (int i = 0; i < n; i++)
                freeReplyObject(acks[i]);
        }
        free(acks);
    }
    status = 0;
done:
    PQclear(res);
    buf_free(&ids);
    for (int i = 0; i < count; i++)
        freeReplyObject(replies[i]);
    free(replies);
    if (status != 0) {
        for (int i = 0; i < count; i++) {
            free(json[i]);
            json[i] = NULL;
        }
    }
    return status;
}

void cache_conversation_changed(long long conversation, long long updated_us,
                                const long long *member_ids, int member_count)
{
    char token[CACHE_TOKEN_LEN + 1], id[24], at[24], ttl[16];
    char (*member_text)[24] = NULL;
    const char **argv = NULL;
    int argc = 0;
    redisReply *reply;

    if (!enabled || connection() == NULL)
        return;
    argv = calloc((size_t)member_count + 8, sizeof(*argv));
    member_text = calloc((size_t)member_count + 1, sizeof(*member_text));
    if (argv == NULL || member_text == NULL) {
        log_error("redis: out of memory recording a change of conversation %lld", conversation);
        drop_connection("invalidation");
        goto done;
    }
    random_token(token);
    snprintf(id, sizeof(id), "%lld", conversation);
    snprintf(at, sizeof(at), "%lld", updated_us);
    snprintf(ttl, sizeof(ttl), "%d", VERSION_TTL_SECONDS);
    argv[argc++] = "EVAL";
    argv[argc++] = invalidate_script;
    argv[argc++] = "0";
    argv[argc++] = id;
    argv[argc++] = token;
    argv[argc++] = at;
    argv[argc++] = ttl;
    for (int i = 0; i < member_count; i++) {
        snprintf(member_text[i], sizeof(member_text[i]), "%lld", member_ids[i]);
        argv[argc++] = member_text[i];
    }
    reply = run_argv(argc, argv);
    freeReplyObject(reply);
    /* A lost invalidation must not leave a stale entry behind: connecting
     * again starts a new epoch, so try that at once. */
    if (reply == NULL) {
        next_attempt = 0;
        connection();
    }
done:
    free(argv);
    free(member_text);
}

void cache_close(void)
{
    if (redis != NULL)
        redisFree(redis);
    redis = NULL;
}
