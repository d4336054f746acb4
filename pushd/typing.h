/*
 * Typing indicators. A client's typing frame is checked for membership
 * and rate limited here, then published on Redis so that every daemon
 * delivers it to its own sockets of the conversation's other members.
 * Each daemon ends a typing state itself after TYPING_TIMEOUT_MS without
 * a refresh by sending typing:false.
 */
#ifndef PUSHD_TYPING_H
#define PUSHD_TYPING_H

#include <stddef.h>

struct push_socket;
struct conversation;

#define TYPING_TIMEOUT_MS 6000
/* Typing frames a socket may send per second; the excess is dropped. */
#define TYPING_FRAMES_PER_SECOND 3

/* Handles {"type":"typing","conversation_id":C,"typing":B} from s. */
void typing_from_client(struct push_socket *s, long long conversation_id,
                        int typing);

/* Handles a message from the Redis typing channel. */
void typing_on_message(const char *payload, size_t len);

/* Stops the typing timers of a conversation leaving the cache. */
void typing_conversation_freed(struct conversation *c);

#endif
