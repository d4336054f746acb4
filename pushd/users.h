/*
 * The membership cache: the users with sockets on this daemon, the
 * conversations each belongs to, and for each conversation the local
 * users to deliver its events to. A user's conversations are loaded from
 * PostgreSQL when their first socket connects and then kept current by
 * conversation events, which list the members they add.
 */
#ifndef PUSHD_USERS_H
#define PUSHD_USERS_H

#include <stddef.h>
#include <uv.h>

struct push_socket;
struct db_request;
struct typing_state;

struct user {
    long long id;
    int ready; /* conversations loaded and indexed */
    struct push_socket *sockets;
    unsigned socket_count;
    long long *conversations; /* sorted ids */
    size_t conversation_count, conversation_capacity;
    struct db_request *load;

    /* Presence, managed by presence.c. */
    uv_timer_t *grace_timer; /* offline announcement pending */
    int lease_held;          /* this daemon's entry is in the presence set */
};

struct conversation {
    long long id;
    struct user **members; /* local users with loaded membership */
    size_t member_count, member_capacity;
    struct typing_state *typing; /* owned by typing.c */
};

/*
 * Adds an authenticated socket to its user, creating the user and loading
 * their conversations if needed; the socket gets its hello once they are
 * loaded (at once when they already are). Returns 0, or -1 when the
 * membership cannot be loaded now (out of memory, PostgreSQL down).
 */
int users_attach(struct push_socket *s);

/* Removes a closing socket from its user. */
void users_detach(struct push_socket *s);

/* Frees a user that has no sockets left; presence calls it when the
 * offline grace period ends. */
void users_release(struct user *user);

struct user *users_find(long long user_id);

/* Returns the conversation when a local user is a member, or NULL. */
struct conversation *conversations_find(long long conversation_id);

/* Returns 1 when user belongs to the conversation. */
int user_is_member(const struct user *user, long long conversation_id);

/* Records that the users joined the conversation (a conversation event). */
void users_add_members(long long conversation_id, const long long *user_ids,
                       size_t count);

/*
 * Writes the user's conversation ids as a PostgreSQL array literal into a
 * malloc'd string the caller frees. Returns NULL when out of memory.
 */
char *user_conversation_array(const struct user *user);

/* Calls fn for each user; fn must not attach or release users. */
void users_for_each(void (*fn)(struct user *user, void *arg), void *arg);

/* Frees every user and conversation (at exit, after the sockets closed). */
void users_free_all(void);

#endif
