/* Bounded buffer and JSON string escaping. */
#include "buf.h"
#include "unit.h"

static void buf_escapes_json(void)
{
    struct buf b;

    buf_init(&b, 1024);
    buf_json_string(&b, "a\"b\\c\n\x01", 7);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\"");
    buf_free(&b);
}

static void buf_stops_at_maximum(void)
{
    struct buf b;

    buf_init(&b, 8);
    CHECK(buf_puts(&b, "1234567") == 0);
    CHECK(buf_puts(&b, "8") == -1);
    CHECK(b.failed == 1);
    CHECK(b.len == 7);
    CHECK(buf_puts(&b, "") == -1);
    buf_free(&b);
}

static void buf_printf_appends(void)
{
    struct buf b;

    buf_init(&b, 64);
    buf_printf(&b, "%d-%s", 12, "ab");
    buf_printf(&b, "+%lld", 5LL);
    CHECK_STR(b.data, "12-ab+5");
    buf_free(&b);
}

const struct unit_test buf_tests[] = {
    {"buf escapes json", buf_escapes_json},
    {"buf stops at maximum", buf_stops_at_maximum},
    {"buf printf appends", buf_printf_appends},
    {NULL, NULL},
};
