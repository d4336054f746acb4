/*
 * The Redis side of the API: presence (written by the push daemon, read
 * here) and a cache of each user's conversation list entries, which carry
 * the unread counts. PostgreSQL stays the truth: every cached entry is
 * tagged with the version token its conversation had before the entry was
 * read from PostgreSQL, and every committed change replaces that token, so
 * an entry built before a change can never be served after it.
 *
 * When Redis is unreachable, every function here reports it and the
 * callers answer from PostgreSQL; the outage is logged once.
 */
#ifndef BLINKCHAT_CACHE_H
#define BLINKCHAT_CACHE_H

#include <json-c/json.h>

#define CACHE_TOKEN_LEN 16

/* One conversation of a user's list, for sorting and paging. */
struct cache_slot {
    long long id;
    long long updated_us;               /* last activity, microseconds */
    char token[CACHE_TOKEN_LEN + 1];    /* version token, "" if none */
};

/* Reads the configuration; call once per process. */
void cache_init(void);

/* Returns 1 when the conversation cache is switched on (BLINKCHAT_CACHE). */
int cache_enabled(void);

/*
 * Sets "online" in user objects: each element of users that is a user
 * object, and each member of each element that has a "members" array.
 * Users are online when the push daemon holds a live lease for them. When
 * Redis is down everyone is reported offline.
 */
void cache_fill_presence(json_object **objects, int count);

/*
 * Loads the ids and activity times of user's conversations, from Redis or,
 * for what is missing there, from PostgreSQL. On success returns the count
 * and a malloc'd array in *slots (the caller frees it). Returns -1 when
 * Redis is unavailable (the caller uses PostgreSQL alone), and -2 after a
 * database failure, with *db_unavailable set when the database is down.
 */
int cache_user_conversations(long long user, struct cache_slot **slots, int *db_unavailable);

/*
 * Loads the conversation objects of slots[0..count) as user sees them,
 * into json[i] (malloc'd strings the caller frees). Returns 0, -1 when
 * Redis is unavailable, -2 after a database failure as above.
 */
int cache_conversation_entries(long long user, struct cache_slot *slots, int count, char **json,
                               int *db_unavailable);

/*
 * Records a committed change of a conversation: replaces its version token,
 * moves its activity time forward to updated_us (0: unchanged), and when
 * member_ids is given, marks those users' conversation lists as changed.
 * Call after the commit and before responding, so the writer reads its own
 * write. A failure is logged; the cache is then rebuilt after reconnecting.
 */
void cache_conversation_changed(long long conversation, long long updated_us,
                                const long long *member_ids, int member_count);

void cache_close(void);

#endif
