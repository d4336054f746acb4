/* Request helpers: JSON bodies, fields, query parameters and paging. The
 * source is included so its static helpers are reachable. */
#define _POSIX_C_SOURCE 200809L
#include "../../fcgi/request.c"

#include "unit.h"

/* Presence needs Redis, which the integration tests cover; here every user
 * is reported offline. */
void cache_fill_presence(json_object **objects, int count)
{
    for (int i = 0; i < count; i++)
        json_object_object_add(objects[i], "online", json_object_new_boolean(0));
}

static void set_body(struct request *req, const char *body, const char *type)
{
    req->body = strdup(body);
    req->content_length = (long long)strlen(body);
    req->content_type = type;
}

static const char *error_code(struct request *req)
{
    static char code[64];
    json_object *obj = json_tokener_parse(req->out.data), *err, *c;

    code[0] = '\0';
    if (obj && json_object_object_get_ex(obj, "error", &err) &&
        json_object_object_get_ex(err, "code", &c))
        snprintf(code, sizeof(code), "%s", json_object_get_string(c));
    json_object_put(obj);
    return code;
}

static void json_body_accepted(void)
{
    struct request req;
    const char *s;
    size_t len;
    long long id;

    request_init(&req);
    set_body(&req, "{\"a\":\"x\\u00e9\",\"n\":7}", "application/json; charset=utf-8");
    CHECK(request_parse_json(&req) == 0);
    CHECK(json_field_string(&req, "a", &s, &len) == 0);
    CHECK(len == 3);
    CHECK(json_field_id(&req, "n", &id) == 0);
    CHECK(id == 7);
    CHECK(json_field_id(&req, "missing", &id) == 1);
    request_free(&req);
}

static void json_body_errors(void)
{
    static const struct {
        const char *body, *type, *code;
        int status;
    } cases[] = {
        {"{\"a\":1}", "text/plain", "unsupported_media_type", 415},
        {"{\"a\":1}", NULL, "unsupported_media_type", 415},
        {"{\"a\":1}", "application/jsonx", "unsupported_media_type", 415},
        {"{\"a\":", "application/json", "invalid_json", 400},
        {"[1,2]", "application/json", "invalid_json", 400},
        {"{\"a\":1} x", "application/json", "invalid_json", 400},
        {"{\"a\":\"\xff\"}", "application/json", "invalid_json", 400},
        {"{'a':1}", "application/json", "invalid_json", 400},
        {"", "application/json", "invalid_json", 400},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
         "application/json", "invalid_json", 400},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct request req;

        request_init(&req);
        set_body(&req, cases[i].body, cases[i].type);
        CHECK(request_parse_json(&req) == -1);
        CHECK(req.status == cases[i].status);
        CHECK_STR(error_code(&req), cases[i].code);
        request_free(&req);
    }
}

static void json_body_with_nul_rejected(void)
{
    struct request req;
    static const char body[] = "{\"a\":\"x\0\"}";

    request_init(&req);
    req.body = malloc(sizeof(body) - 1);
    memcpy(req.body, body, sizeof(body) - 1);
    req.content_length = sizeof(body) - 1;
    req.content_type = "application/json";
    CHECK(request_parse_json(&req) == -1);
    CHECK(req.status == 400);
    request_free(&req);
}

static void json_field_wrong_type(void)
{
    struct request req;
    const char *s;
    size_t len;
    long long id;

    request_init(&req);
    set_body(&req, "{\"a\":5,\"b\":\"7\",\"c\":1.5,\"d\":-3,\"e\":null}", "application/json");
    CHECK(request_parse_json(&req) == 0);
    CHECK(json_field_string(&req, "a", &s, &len) == -1);
    CHECK_STR(error_code(&req), "invalid_body");
    CHECK(json_field_id(&req, "b", &id) == -1);
    CHECK(json_field_id(&req, "c", &id) == -1);
    CHECK(json_field_id(&req, "d", &id) == -1);
    CHECK(json_field_string(&req, "e", &s, &len) == 1);
    request_free(&req);
}

static void query_param_decodes(void)
{
    char out[32];

    CHECK(query_param("q=al%20ice&limit=5", "q", out, sizeof(out)) == 0);
    CHECK_STR(out, "al ice");
    CHECK(query_param("q=a+b", "q", out, sizeof(out)) == 0);
    CHECK_STR(out, "a b");
    CHECK(query_param("limit=5", "q", out, sizeof(out)) == 1);
    CHECK(query_param("qq=1&q=2", "q", out, sizeof(out)) == 0);
    CHECK_STR(out, "2");
    CHECK(query_param("q=%zz", "q", out, sizeof(out)) == -1);
    CHECK(query_param("q=%4", "q", out, sizeof(out)) == -1);
    CHECK(query_param("q=%00", "q", out, sizeof(out)) == -1);
    CHECK(query_param("q=0123456789", "q", out, 5) == -1);
}

static void page_params_bounds(void)
{
    struct request req;
    struct cursor c;
    int limit, has;

    request_init(&req);
    req.query = "";
    CHECK(page_params(&req, 30, 100, &limit, &c, &has) == 0);
    CHECK(limit == 30);
    CHECK(has == 0);
    req.query = "limit=100";
    CHECK(page_params(&req, 30, 100, &limit, &c, &has) == 0);
    CHECK(limit == 100);
    req.query = "limit=101";
    CHECK(page_params(&req, 30, 100, &limit, &c, &has) == -1);
    CHECK_STR(error_code(&req), "invalid_query");
    req.query = "limit=0";
    CHECK(page_params(&req, 30, 100, &limit, &c, &has) == -1);
    req.query = "before=nope";
    CHECK(page_params(&req, 30, 100, &limit, &c, &has) == -1);
    CHECK(req.status == 400);
    CHECK_STR(error_code(&req), "invalid_cursor");
    req.query = "before=djE6MTAwOjc";  /* "v1:100:7" */
    CHECK(page_params(&req, 30, 100, &limit, &c, &has) == 0);
    CHECK(has == 1);
    CHECK(c.time_us == 100);
    CHECK(c.id == 7);
    request_free(&req);
}

static void error_body_shape(void)
{
    struct request req;

    request_init(&req);
    respond_error(&req, ERR_CONVERSATION_NOT_FOUND, NULL);
    CHECK(req.status == 404);
    CHECK_STR(req.out.data,
              "{\"error\":{\"code\":\"conversation_not_found\",\"message\":\"no such conversation\"}}");
    respond_error(&req, ERR_INVALID_BODY, "x \"quoted\"");
    CHECK_STR(req.out.data, "{\"error\":{\"code\":\"invalid_body\",\"message\":\"x \\\"quoted\\\"\"}}");
    request_free(&req);
}

static void every_error_has_a_code(void)
{
    for (int e = ERR_INVALID_JSON; e <= ERR_DATABASE_UNAVAILABLE; e++) {
        const struct api_error_info *info = api_error_info((enum api_error)e);

        CHECK(info->code != NULL);
        CHECK(info->default_message != NULL);
        CHECK(info->http_status >= 400);
        CHECK(info->http_status <= 599);
    }
}

static void cookie_attributes(void)
{
    struct request req;

    request_init(&req);
    respond_session_cookie(&req, "tok", 60);
    CHECK_STR(req.headers.data,
              "Set-Cookie: blinkchat_session=tok; Path=/; Max-Age=60; HttpOnly; SameSite=Lax\r\n");
    request_free(&req);
}

const struct unit_test request_tests[] = {
    {"json body accepted", json_body_accepted},
    {"json body errors", json_body_errors},
    {"json body with nul rejected", json_body_with_nul_rejected},
    {"json field wrong type", json_field_wrong_type},
    {"query param decodes", query_param_decodes},
    {"page params bounds", page_params_bounds},
    {"error body shape", error_body_shape},
    {"every error has a code", every_error_has_a_code},
    {"cookie attributes", cookie_attributes},
    {NULL, NULL},
};
