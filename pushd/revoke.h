/*
 * Closing the sockets of ended sessions. The API and the admin functions
 * send a notification on SESSIONS_CHANNEL: "jti:JTI" when one session is
 * logged out, "user:ID" when all of a user's sessions end (logout
 * everywhere, bans). The outbox listener passes the payload here.
 */
#ifndef PUSHD_REVOKE_H
#define PUSHD_REVOKE_H

#define SESSIONS_CHANNEL "blinkchat_sessions"

/* Closes every local socket of the sessions the payload names, with 1008
 * (policy), so the client's next upgrade gets 401. Unknown payloads are
 * logged and ignored. */
void revoke_sessions(const char *payload);

#endif
