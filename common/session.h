/*
 * Session tokens: HS256 JWTs (RFC 7519) carried in the blinkchat_session
 * cookie. The token names the user, the user's token version at issue time
 * and a random id (jti); the caller compares the version and the revocation
 * list with the database, since a signature alone cannot express logout.
 */
#ifndef BLINKCHAT_SESSION_H
#define BLINKCHAT_SESSION_H

#include <stddef.h>

#define SESSION_COOKIE_NAME "blinkchat_session"
#define SESSION_TOKEN_MAX 2048
#define SESSION_JTI_LEN 32

struct session_claims {
    long long user_id;
    long long token_version;
    long long issued_at;
    long long expires_at;
    char jti[SESSION_JTI_LEN + 1];
};

enum session_result {
    SESSION_OK,
    SESSION_MALFORMED,    /* not a JWT, bad signature, wrong algorithm */
    SESSION_EXPIRED,
    SESSION_ERROR         /* out of memory or a library failure */
};

/*
 * Issues a token for user_id valid from now for ttl seconds. On success
 * returns 0 and stores a malloc'd token in *token (the caller frees it) and
 * the claims in *claims; returns -1 on failure.
 */
int session_issue(const char *secret, long long user_id, long long version,
                  long long now, long long ttl, char **token,
                  struct session_claims *claims);

/*
 * Verifies token against secret at time now. Only HS256 is accepted: an
 * "alg":"none" or any other algorithm is SESSION_MALFORMED (RFC 8725
 * section 3.1), and so is a token without exp, sub, ver or jti.
 */
enum session_result session_verify(const char *secret, const char *token,
                                   long long now,
                                   struct session_claims *claims);

/*
 * Copies the value of the session cookie from a Cookie header (RFC 6265
 * section 5.4 syntax) into out. Returns 0, or -1 when absent or too long.
 */
int session_cookie_value(const char *cookie_header, char *out,
                         size_t out_size);

#endif
