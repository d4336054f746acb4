/*
 * Session token issue and verification on libjwt 1.10. That version has no
 * claim validation of its own, so the algorithm and every claim are checked
 * here explicitly.
 */
#define _POSIX_C_SOURCE 200809L
#include "session.h"
#include "text.h"

#include <errno.h>
#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int session_issue(const char *secret, long long user_id, long long version,
                  long long now, long long ttl, char **token,
                  struct session_claims *claims)
{
    jwt_t *jwt = NULL;
    unsigned char random[SESSION_JTI_LEN / 2];
    char subject[24];
    int status = -1;

    *token = NULL;
    randombytes_buf(random, sizeof(random));
    sodium_bin2hex(claims->jti, sizeof(claims->jti), random, sizeof(random));
    claims->user_id = user_id;
    claims->token_version = version;
    claims->issued_at = now;
    claims->expires_at = now + ttl;
    snprintf(subject, sizeof(subject), "%lld", user_id);

    if (jwt_new(&jwt) != 0)
        goto done;
    if (jwt_add_grant(jwt, "sub", subject) != 0 ||
        jwt_add_grant_int(jwt, "ver", (long)version) != 0 ||
        jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)claims->expires_at) != 0 ||
        jwt_add_grant(jwt, "jti", claims->jti) != 0)
        goto done;
    if (jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret,
                    (int)strlen(secret)) != 0)
        goto done;
    *token = jwt_encode_str(jwt);
    if (*token != NULL)
        status = 0;
done:
    jwt_free(jwt);
    return status;
}

static int is_hex(const char *s, size_t len)
{
    if (s == NULL || strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

enum session_result session_verify(const char *secret, const char *token,
                                   long long now,
                                   struct session_claims *claims)
{
    jwt_t *jwt = NULL;
    enum session_result result = SESSION_MALFORMED;
    int rc;

    memset(claims, 0, sizeof(*claims));
    if (token == NULL || *token == '\0' || strlen(token) > SESSION_TOKEN_MAX)
        return SESSION_MALFORMED;

    rc = jwt_decode(&jwt, token, (const unsigned char *)secret,
                    (int)strlen(secret));
    if (rc == ENOMEM)
        return SESSION_ERROR;
    if (rc != 0 || jwt == NULL)
        goto done;
    /* libjwt accepts "alg":"none" when it finds no signature, so the
     * algorithm is checked after decoding, before any claim is trusted. */
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        goto done;

    errno = 0;
    claims->expires_at = jwt_get_grant_int(jwt, "exp");
    if (errno != 0)
        goto done;
    claims->issued_at = jwt_get_grant_int(jwt, "iat");
    if (errno != 0)
        goto done;
    claims->token_version = jwt_get_grant_int(jwt, "ver");
    if (errno != 0 || claims->token_version < 0)
        goto done;
    claims->user_id = text_parse_id(jwt_get_grant(jwt, "sub"));
    if (claims->user_id <= 0)
        goto done;
    if (!is_hex(jwt_get_grant(jwt, "jti"), SESSION_JTI_LEN))
        goto done;
    memcpy(claims->jti, jwt_get_grant(jwt, "jti"), SESSION_JTI_LEN + 1);

    if (claims->expires_at <= now) {
        result = SESSION_EXPIRED;
        goto done;
    }
    result = SESSION_OK;
done:
    if (result != SESSION_OK) {
        long long keep_user = result == SESSION_EXPIRED ? claims->user_id : 0;

        memset(claims, 0, sizeof(*claims));
        claims->user_id = keep_user;
    }
    jwt_free(jwt);
    return result;
}

int session_cookie_value(const char *cookie_header, char *out,
                         size_t out_size)
{
    const char *p = cookie_header;
    size_t name_len = strlen(SESSION_COOKIE_NAME);

    if (p == NULL)
        return -1;
    while (*p) {
        const char *end;
        size_t len;

        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        end = strchr(p, ';');
        if (end == NULL)
            end = p + strlen(p);
        if ((size_t)(end - p) > name_len && p[name_len] == '=' &&
            strncmp(p, SESSION_COOKIE_NAME, name_len) == 0) {
            p += name_len + 1;
            len = (size_t)(end - p);
            while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                len--;
            if (len == 0 || len >= out_size)
                return -1;
            memcpy(out, p, len);
            out[len] = '\0';
            return 0;
        }
        p = end;
    }
    return -1;
}
