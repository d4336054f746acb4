/* Route matching, method and origin checks. The handlers are replaced by
 * recorders, and the session check by one that trusts any cookie. */
#include "../../fcgi/router.c"

#include <stdlib.h>

#include "unit.h"

static const char *called;

#define RECORDER(name)                                                     \
    void name(struct request *req)                                         \
    {                                                                      \
        called = #name;                                                    \
        req->status = 200;                                                 \
    }

RECORDER(auth_register)
RECORDER(auth_login)
RECORDER(auth_logout)
RECORDER(auth_logout_all)
RECORDER(users_me)
RECORDER(users_update)
RECORDER(users_search)
RECORDER(conversations_list)
RECORDER(conversations_create)
RECORDER(conversations_get)
RECORDER(messages_list)
RECORDER(messages_create)
RECORDER(messages_mark_read)
RECORDER(reactions_put)
RECORDER(reactions_delete)
RECORDER(uploads_create)

int auth_require_session(struct request *req)
{
    if (req->cookie == NULL) {
        respond_error(req, ERR_UNAUTHENTICATED, NULL);
        return -1;
    }
    req->user_id = 1;
    return 0;
}

static const char *dispatch(const char *method, const char *uri, const char *origin,
                            struct request *req)
{
    request_init(req);
    req->method = method;
    req->uri = uri;
    req->origin = origin;
    req->cookie = "blinkchat_session=x";
    called = NULL;
    router_dispatch(req);
    return called;
}

static void routes_match(void)
{
    struct request req;

    CHECK_STR(dispatch("GET", "/api/conversations/12/messages?limit=3", NULL, &req),
              "messages_list");
    CHECK_STR(req.params[0], "12");
    CHECK_STR(req.query, "limit=3");
    request_free(&req);
    CHECK_STR(dispatch("PUT", "/api/messages/5/reactions/%F0%9F%94%A5", NULL, &req),
              "reactions_put");
    CHECK_STR(req.params[1], "\xF0\x9F\x94\xA5");
    request_free(&req);
    CHECK_STR(dispatch("GET", "/api/me/", NULL, &req), "users_me");
    request_free(&req);
}

static void routes_reject_bad_ids(void)
{
    static const char *const uris[] = {
        "/api/conversations/0", "/api/conversations/-1", "/api/conversations/abc",
        "/api/conversations/01", "/api/conversations/1234567890123456789",
        "/api/conversations//messages", "/api/conversations/1/messages/extra",
    };

    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        struct request req;

        CHECK(dispatch("GET", uris[i], NULL, &req) == NULL);
        CHECK(req.status == 404);
        request_free(&req);
    }
}

static void wrong_method_is_405(void)
{
    struct request req;

    CHECK(dispatch("DELETE", "/api/conversations/3", NULL, &req) == NULL);
    CHECK(req.status == 405);
    CHECK_STR(req.headers.data, "Allow: GET\r\n");
    request_free(&req);
}

static void foreign_origin_is_403(void)
{
    struct request req;

    CHECK(dispatch("POST", "/api/conversations", "http://evil.example", &req) == NULL);
    CHECK(req.status == 403);
    request_free(&req);
    CHECK_STR(dispatch("POST", "/api/conversations", "http://localhost:8080", &req),
              "conversations_create");
    request_free(&req);
    /* Reads are not state changes, so a foreign Origin may read nothing
     * more than the cookie policy already allows. */
    CHECK_STR(dispatch("GET", "/api/conversations", "http://evil.example", &req),
              "conversations_list");
    request_free(&req);
}

static void cross_site_fetch_is_403(void)
{
    struct request req;

    request_init(&req);
    req.method = "POST";
    req.uri = "/api/auth/login";
    req.fetch_site = "cross-site";
    router_dispatch(&req);
    CHECK(req.status == 403);
    request_free(&req);
}

static void session_required(void)
{
    struct request req;

    request_init(&req);
    req.method = "GET";
    req.uri = "/api/me";
    called = NULL;
    router_dispatch(&req);
    CHECK(called == NULL);
    CHECK(req.status == 401);
    request_free(&req);
}

const struct unit_test router_tests[] = {
    {"routes match", routes_match},
    {"routes reject bad ids", routes_reject_bad_ids},
    {"wrong method is 405", wrong_method_is_405},
    {"foreign origin is 403", foreign_origin_is_403},
    {"cross site fetch is 403", cross_site_fetch_is_403},
    {"session required", session_required},
    {NULL, NULL},
};
