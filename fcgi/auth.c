/*
 * Accounts and sessions: registration, login with throttling, logout, and
 * the session check every authenticated route runs first.
 */
#define _POSIX_C_SOURCE 200809L
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "text.h"

/* A hash of a random password, verified against when the username does not
 * exist, so that an unknown user costs the same time as a wrong password. */
static char dummy_hash[crypto_pwhash_STRBYTES];

static unsigned long long opslimit(void)
{
    return (unsigned long long)cfg_int("BLINKCHAT_PASSWORD_OPSLIMIT");
}

static size_t memlimit(void)
{
    return (size_t)cfg_int("BLINKCHAT_PASSWORD_MEMLIMIT_KIB") * 1024;
}

int api_init(void)
{
    char password[33];
    unsigned char random[16];

    if (sodium_init() < 0) {
        log_error("auth: libsodium failed to initialise");
        return -1;
    }
    if (opslimit() < crypto_pwhash_OPSLIMIT_MIN || memlimit() < crypto_pwhash_MEMLIMIT_MIN) {
        log_error("auth: BLINKCHAT_PASSWORD_OPSLIMIT must be at least %d and "
                  "BLINKCHAT_PASSWORD_MEMLIMIT_KIB at least %d",
                  (int)crypto_pwhash_OPSLIMIT_MIN, (int)(crypto_pwhash_MEMLIMIT_MIN / 1024));
        return -1;
    }
    randombytes_buf(random, sizeof(random));
    sodium_bin2hex(password, sizeof(password), random, sizeof(random));
    if (crypto_pwhash_str(dummy_hash, password, strlen(password), opslimit(), memlimit()) != 0) {
        log_error("auth: password hashing failed (out of memory?)");
        return -1;
    }
    return 0;
}

static long long now_seconds(void)
{
    return (long long)time(NULL);
}

/* Issues a session for the user and sets its cookie. Returns 0 or -1 after
 * responding. */
static int start_session(struct request *req, long long user_id, long long version)
{
    struct session_claims claims;
    long long ttl = cfg_int("BLINKCHAT_SESSION_TTL_SECONDS");
    char *token = NULL;

    if (session_issue(cfg_str("BLINKCHAT_JWT_SECRET"), user_id, version, now_seconds(),
                      ttl, &token, &claims) != 0) {
        log_error("auth: session token could not be issued");
        respond_error(req, ERR_INTERNAL, NULL);
        return -1;
    }
    respond_session_cookie(req, token, ttl);
    free(token);
    return 0;
}

static void respond_user(struct request *req, int status, const char *user_json)
{
    respond_raw_json(req, status, "{\"user\":");
    if (append_with_presence(req, &user_json, 1) == 0)
        buf_puts(&req->out, "}");
}

/* Validates the register body; responds 400 and returns -1 on failure. */
static int validate_registration(struct request *req, const char **username, size_t *ulen,
                                 const char **password, size_t *plen,
                                 const char **display, size_t *dlen)
{
    int rc;

    if ((rc = json_field_string(req, "username", username, ulen)) < 0)
        return -1;
    if (rc > 0 || !text_valid_username(*username, *ulen)) {
        respond_error(req, ERR_INVALID_BODY,
                      "username must be 3 to 32 characters of a-z, 0-9, '_', '.' and '-'");
        return -1;
    }
    if ((rc = json_field_string(req, "password", password, plen)) < 0)
        return -1;
    if (rc > 0 || *plen < 8 || *plen > 1024 || memchr(*password, '\0', *plen) != NULL) {
        respond_error(req, ERR_INVALID_BODY, "password must be 8 to 1024 bytes without NUL");
        return -1;
    }
    if ((rc = json_field_string(req, "display_name", display, dlen)) < 0)
        return -1;
    if (rc > 0) {
        *display = *username;
        *dlen = *ulen;
    } else if (!text_valid_name(*display, *dlen, 1, 64)) {
        respond_error(req, ERR_INVALID_BODY,
                      "display_name must be 1 to 64 characters, not only spaces, without control "
                      "or text-direction characters");
        return -1;
    }
    return 0;
}

void auth_register(struct request *req)
{
    const char *username, *password, *display;
    size_t ulen, plen, dlen;
    char hash[crypto_pwhash_STRBYTES];
    char *display_copy = NULL;
    const char *params[3];
    PGresult *res = NULL;
    int unavailable;

    if (request_parse_json(req) != 0)
        return;
    if (validate_registration(req, &username, &ulen, &password, &plen, &display, &dlen) != 0)
        return;

    if (crypto_pwhash_str(hash, password, plen, opslimit(), memlimit()) != 0) {
        log_error("auth: password hashing failed (out of memory?)");
        respond_error(req, ERR_INTERNAL, NULL);
        return;
    }
    display_copy = strndup(display, dlen);
    if (display_copy == NULL) {
        respond_error(req, ERR_INTERNAL, NULL);
        return;
    }
    params[0] = username;
    params[1] = display_copy;
    params[2] = hash;
    res = db_exec(STMT_REGISTER, 3, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        goto done;
    }
    if (PQntuples(res) == 0) {
        respond_error(req, ERR_USERNAME_TAKEN, NULL);
        goto done;
    }

    if (start_session(req, atoll(PQgetvalue(res, 0, 0)), atoll(PQgetvalue(res, 0, 1))) != 0)
        goto done;
    log_info("auth: registered user %s", PQgetvalue(res, 0, 0));
    respond_user(req, 201, PQgetvalue(res, 0, 2));
done:
    sodium_memzero(hash, sizeof(hash));
    free(display_copy);
    PQclear(res);
}

/*
 * Failed logins are counted under three keys. The tight per-user limit
 * counts one username from one address, so nobody can lock a user out from
 * elsewhere; the same username from all addresses together may fail ten
 * times as often, which still slows a distributed guessing attack; and one
 * address has its own limit across all usernames.
 */
struct login_keys {
    char user_from_address[360];
    char address[80];
    char user[48];
};

#define LOGIN_ALL_ADDRESSES_FACTOR 10

static void make_login_keys(struct login_keys *keys, const char *username, const char *address)
{
    snprintf(keys->user, sizeof(keys->user), "user:%s", username);
    for (char *p = keys->user; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    snprintf(keys->address, sizeof(keys->address), "addr:%s", address ? address : "-");
    snprintf(keys->user_from_address, sizeof(keys->user_from_address), "%s@%s", keys->user,
             keys->address + 5);
}

/* Returns the seconds a login must wait (0: may try), or -1 after
 * responding 503/500. */
static int login_wait_seconds(struct request *req, const struct login_keys *keys)
{
    char max_user[24], max_addr[24], max_user_all[24], window[24];
    const char *params[7] = {keys->user_from_address, keys->address, keys->user,
                             max_user, max_addr, max_user_all, window};
    PGresult *res;
    int unavailable, wait;

    snprintf(max_user, sizeof(max_user), "%lld", cfg_int("BLINKCHAT_LOGIN_MAX_FAILURES_PER_USER"));
    snprintf(max_addr, sizeof(max_addr), "%lld", cfg_int("BLINKCHAT_LOGIN_MAX_FAILURES_PER_ADDRESS"));
    snprintf(max_user_all, sizeof(max_user_all), "%lld",
             cfg_int("BLINKCHAT_LOGIN_MAX_FAILURES_PER_USER") * LOGIN_ALL_ADDRESSES_FACTOR);
    snprintf(window, sizeof(window), "%lld", cfg_int("BLINKCHAT_LOGIN_WINDOW_SECONDS"));
    res = db_exec(STMT_LOGIN_THROTTLE, 7, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return -1;
    }
    wait = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return wait > 0 ? wait : 0;
}

static void record_login_failure(const struct login_keys *keys)
{
    char window[24];
    const char *params[4] = {keys->user_from_address, keys->address, keys->user, window};
    PGresult *res;
    int unavailable;

    snprintf(window, sizeof(window), "%lld", cfg_int("BLINKCHAT_LOGIN_WINDOW_SECONDS"));
    res = db_exec(STMT_LOGIN_FAILURE, 4, params, &unavailable);
    PQclear(res);
}

static void respond_rate_limited(struct request *req, int wait)
{
    char seconds[16], message[128];

    snprintf(seconds, sizeof(seconds), "%d", wait);
    snprintf(message, sizeof(message),
             "too many failed logins; try again in %d seconds", wait);
    respond_header(req, "Retry-After", seconds);
    respond_error(req, ERR_RATE_LIMITED, message);
}

void auth_login(struct request *req)
{
    const char *username, *password;
    size_t ulen, plen;
    struct login_keys keys;
    const char *params[1];
    PGresult *res = NULL;
    const char *hash;
    int unavailable, wait, found, verified;

    if (request_parse_json(req) != 0)
        return;
    if (json_field_string(req, "username", &username, &ulen) != 0 ||
        json_field_string(req, "password", &password, &plen) != 0) {
        if (req->status != 400)
            respond_error(req, ERR_INVALID_BODY, "username and password are required strings");
        return;
    }
    if (!text_valid_username(username, ulen) || plen > 1024 || memchr(password, '\0', plen)) {
        respond_error(req, ERR_INVALID_CREDENTIALS, NULL);
        return;
    }

    make_login_keys(&keys, username, req->remote_addr);
    wait = login_wait_seconds(req, &keys);
    if (wait < 0)
        return;
    if (wait > 0) {
        log_warn("auth: login throttled for %s from %s", keys.user + 5, keys.address + 5);
        respond_rate_limited(req, wait);
        return;
    }

    params[0] = username;
    res = db_exec(STMT_LOGIN_LOOKUP, 1, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    found = PQntuples(res) == 1;
    hash = found ? PQgetvalue(res, 0, 1) : dummy_hash;
    verified = crypto_pwhash_str_verify(hash, password, plen) == 0 && found;
    if (!verified) {
        record_login_failure(&keys);
        log_info("auth: failed login for %s from %s", keys.user + 5, keys.address + 5);
        respond_error(req, ERR_INVALID_CREDENTIALS, NULL);
        goto done;
    }
    if (strcmp(PQgetvalue(res, 0, 3), "t") == 0) {
        respond_error(req, ERR_ACCOUNT_DISABLED, NULL);
        goto done;
    }
    if (start_session(req, atoll(PQgetvalue(res, 0, 0)), atoll(PQgetvalue(res, 0, 2))) != 0)
        goto done;
    log_info("auth: user %s logged in", PQgetvalue(res, 0, 0));
    respond_user(req, 200, PQgetvalue(res, 0, 4));
done:
    PQclear(res);
}

void auth_logout(struct request *req)
{
    char expires[24], ended[8 + SESSION_JTI_LEN];
    const char *params[2] = {req->session.jti, expires};
    PGresult *res;
    int unavailable;

    snprintf(expires, sizeof(expires), "%lld", req->session.expires_at);
    res = db_exec(STMT_REVOKE_SESSION, 2, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    PQclear(res);
    snprintf(ended, sizeof(ended), "jti:%s", req->session.jti);
    db_notify_session_end(ended);
    respond_session_cookie(req, NULL, 0);
    respond_no_content(req);
}

void auth_logout_all(struct request *req)
{
    char user[32];
    const char *params[1] = {user};
    PGresult *res;
    int unavailable;

    snprintf(user, sizeof(user), "%lld", req->user_id);
    res = db_exec(STMT_LOGOUT_ALL, 1, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    PQclear(res);
    snprintf(user, sizeof(user), "user:%lld", req->user_id);
    db_notify_session_end(user);
    respond_session_cookie(req, NULL, 0);
    respond_no_content(req);
}

int auth_require_session(struct request *req)
{
    char token[SESSION_TOKEN_MAX + 1];
    char user[24];
    const char *params[2] = {user, req->session.jti};
    PGresult *res;
    int unavailable, valid;

    if (session_cookie_value(req->cookie, token, sizeof(token)) != 0 ||
        session_verify(cfg_str("BLINKCHAT_JWT_SECRET"), token, now_seconds(), &req->session) !=
            SESSION_OK) {
        respond_error(req, ERR_UNAUTHENTICATED, NULL);
        return -1;
    }

    snprintf(user, sizeof(user), "%lld", req->session.user_id);
    res = db_exec(STMT_SESSION, 2, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return -1;
    }
    valid = PQntuples(res) == 1 &&
            atoll(PQgetvalue(res, 0, 0)) == req->session.token_version &&
            strcmp(PQgetvalue(res, 0, 1), "f") == 0 && strcmp(PQgetvalue(res, 0, 2), "f") == 0;
    PQclear(res);
    if (!valid) {
        respond_error(req, ERR_UNAUTHENTICATED, NULL);
        return -1;
    }
    req->user_id = req->session.user_id;
    log_set_context(req->request_id, req->user_id);
    return 0;
}
