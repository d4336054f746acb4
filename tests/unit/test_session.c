/* Session tokens: issue, verification and the cookie header. */
#include <jwt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "unit.h"

#define SECRET "unit-test-secret-unit-test-secret-0123"
#define NOW 1796420955LL

static void session_round_trip(void)
{
    struct session_claims issued, verified;
    char *token = NULL;

    CHECK(session_issue(SECRET, 42, 3, NOW, 3600, &token, &issued) == 0);
    CHECK(token != NULL);
    CHECK(session_verify(SECRET, token, NOW + 10, &verified) == SESSION_OK);
    CHECK(verified.user_id == 42);
    CHECK(verified.token_version == 3);
    CHECK(verified.expires_at == NOW + 3600);
    CHECK_STR(verified.jti, issued.jti);
    CHECK(strlen(issued.jti) == SESSION_JTI_LEN);
    free(token);
}

static void session_expires(void)
{
    struct session_claims claims;
    char *token = NULL;

    CHECK(session_issue(SECRET, 42, 0, NOW, 60, &token, &claims) == 0);
    CHECK(session_verify(SECRET, token, NOW + 60, &claims) == SESSION_EXPIRED);
    CHECK(session_verify(SECRET, token, NOW + 59, &claims) == SESSION_OK);
    free(token);
}

static void session_rejects_other_secret(void)
{
    struct session_claims claims;
    char *token = NULL;

    CHECK(session_issue(SECRET, 42, 0, NOW, 60, &token, &claims) == 0);
    CHECK(session_verify("another-secret-another-secret-012345", token, NOW, &claims) ==
          SESSION_MALFORMED);
    CHECK(claims.user_id == 0);
    free(token);
}

static void session_rejects_tampering(void)
{
    struct session_claims claims;
    char *token = NULL;
    char *dot;

    CHECK(session_issue(SECRET, 42, 0, NOW, 60, &token, &claims) == 0);
    /* Change one character of the payload. */
    dot = strchr(token, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    CHECK(session_verify(SECRET, token, NOW, &claims) == SESSION_MALFORMED);
    free(token);
}

static char *base64url(const char *s)
{
    size_t size = sodium_base64_ENCODED_LEN(strlen(s), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(size);

    sodium_bin2base64(out, size, (const unsigned char *)s, strlen(s),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

static void session_rejects_alg_none(void)
{
    struct session_claims claims;
    char *header = base64url("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    char *payload = base64url("{\"sub\":\"42\",\"ver\":0,\"iat\":1796420955,"
                              "\"exp\":4102444800,\"jti\":\"0123456789abcdef0123456789abcdef\"}");
    char token[512];

    snprintf(token, sizeof(token), "%s.%s.", header, payload);
    CHECK(session_verify(SECRET, token, NOW, &claims) == SESSION_MALFORMED);
    snprintf(token, sizeof(token), "%s.%s", header, payload);
    CHECK(session_verify(SECRET, token, NOW, &claims) == SESSION_MALFORMED);
    free(header);
    free(payload);
}

static void session_rejects_other_algorithm(void)
{
    struct session_claims claims;
    jwt_t *jwt = NULL;
    char *token;

    CHECK(jwt_new(&jwt) == 0);
    jwt_add_grant(jwt, "sub", "42");
    jwt_add_grant_int(jwt, "ver", 0);
    jwt_add_grant_int(jwt, "iat", (long)NOW);
    jwt_add_grant_int(jwt, "exp", (long)NOW + 60);
    jwt_add_grant(jwt, "jti", "0123456789abcdef0123456789abcdef");
    jwt_set_alg(jwt, JWT_ALG_HS512, (const unsigned char *)SECRET, (int)strlen(SECRET));
    token = jwt_encode_str(jwt);
    CHECK(token != NULL);
    CHECK(session_verify(SECRET, token, NOW, &claims) == SESSION_MALFORMED);
    free(token);
    jwt_free(jwt);
}

static void session_rejects_missing_claims(void)
{
    struct session_claims claims;
    jwt_t *jwt = NULL;
    char *token;

    CHECK(jwt_new(&jwt) == 0);
    jwt_add_grant(jwt, "sub", "42");
    jwt_add_grant_int(jwt, "exp", (long)NOW + 60);
    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)SECRET, (int)strlen(SECRET));
    token = jwt_encode_str(jwt);
    CHECK(session_verify(SECRET, token, NOW, &claims) == SESSION_MALFORMED);
    free(token);
    jwt_free(jwt);
}

static void cookie_value_found(void)
{
    char out[64];

    CHECK(session_cookie_value("blinkchat_session=abc.def", out, sizeof(out)) == 0);
    CHECK_STR(out, "abc.def");
    CHECK(session_cookie_value("a=1; blinkchat_session=xyz; b=2", out, sizeof(out)) == 0);
    CHECK_STR(out, "xyz");
    CHECK(session_cookie_value("xblinkchat_session=1", out, sizeof(out)) == -1);
    CHECK(session_cookie_value("blinkchat_session=", out, sizeof(out)) == -1);
    CHECK(session_cookie_value(NULL, out, sizeof(out)) == -1);
    CHECK(session_cookie_value("blinkchat_session=0123456789", out, 5) == -1);
}

const struct unit_test session_tests[] = {
    {"session round trip", session_round_trip},
    {"session expires", session_expires},
    {"session rejects other secret", session_rejects_other_secret},
    {"session rejects tampering", session_rejects_tampering},
    {"session rejects alg none", session_rejects_alg_none},
    {"session rejects other algorithm", session_rejects_other_algorithm},
    {"session rejects missing claims", session_rejects_missing_claims},
    {"cookie value found", cookie_value_found},
    {NULL, NULL},
};
