/* Keyset cursor encoding. */
#include "cursor.h"
#include "unit.h"

static void cursor_round_trip(void)
{
    struct cursor in = {1796420955123456LL, 987654321LL}, out = {0, 0};
    char encoded[CURSOR_MAX];

    cursor_encode(&in, encoded, sizeof(encoded));
    CHECK(cursor_decode(encoded, &out) == 0);
    CHECK(out.time_us == in.time_us);
    CHECK(out.id == in.id);
}

static void cursor_rejects_garbage(void)
{
    struct cursor c;

    CHECK(cursor_decode("", &c) == -1);
    CHECK(cursor_decode("zzz", &c) == -1);
    CHECK(cursor_decode("not a cursor at all", &c) == -1);
    /* base64url of "v2:1:2", "v1:1", "v1:01:2", "v1:1:0", "v1:-1:2" */
    CHECK(cursor_decode("djI6MToy", &c) == -1);
    CHECK(cursor_decode("djE6MQ", &c) == -1);
    CHECK(cursor_decode("djE6MDE6Mg", &c) == -1);
    CHECK(cursor_decode("djE6MTow", &c) == -1);
    CHECK(cursor_decode("djE6LTE6Mg", &c) == -1);
    /* padded standard base64 is not what the encoder writes */
    CHECK(cursor_decode("djE6MToy==", &c) == -1);
}

static void cursor_accepts_epoch_zero(void)
{
    struct cursor c;

    /* base64url of "v1:0:5" */
    CHECK(cursor_decode("djE6MDo1", &c) == 0);
    CHECK(c.time_us == 0);
    CHECK(c.id == 5);
}

const struct unit_test cursor_tests[] = {
    {"cursor round trip", cursor_round_trip},
    {"cursor rejects garbage", cursor_rejects_garbage},
    {"cursor accepts epoch zero", cursor_accepts_epoch_zero},
    {NULL, NULL},
};
