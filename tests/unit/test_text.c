/* UTF-8 and field validation. */
#include <string.h>

#include "text.h"
#include "unit.h"

#define LEN(s) (sizeof(s) - 1)

static void utf8_counts_code_points(void)
{
    CHECK(text_utf8_length("abc", 3) == 3);
    CHECK(text_utf8_length("\xC3\xA9", 2) == 1);                 /* é */
    CHECK(text_utf8_length("\xF0\x9F\x94\xA5", 4) == 1);         /* fire */
    CHECK(text_utf8_length("\xE2\x9D\xA4\xEF\xB8\x8F", 6) == 2); /* heart + VS16 */
    CHECK(text_utf8_length("", 0) == 0);
}

static void utf8_rejects_malformed(void)
{
    CHECK(text_utf8_length("\xFF", 1) == -1);
    CHECK(text_utf8_length("\xC0\xAF", 2) == -1);         /* overlong '/' */
    CHECK(text_utf8_length("\xE0\x80\xAF", 3) == -1);     /* overlong */
    CHECK(text_utf8_length("\xED\xA0\x80", 3) == -1);     /* surrogate */
    CHECK(text_utf8_length("\xF4\x90\x80\x80", 4) == -1); /* past U+10FFFF */
    CHECK(text_utf8_length("\xC3", 1) == -1);             /* truncated */
    CHECK(text_utf8_length("a\0b", 3) == -1);             /* NUL */
}

static void blank_detects_unicode_spaces(void)
{
    CHECK(text_is_blank(" \t\n", 3) == 1);
    CHECK(text_is_blank("\xE3\x80\x80", 3) == 1); /* ideographic space */
    CHECK(text_is_blank("\xC2\xA0", 2) == 1);     /* no-break space */
    CHECK(text_is_blank(" a ", 3) == 0);
}

static void username_rules(void)
{
    CHECK(text_valid_username("abc", 3) == 1);
    CHECK(text_valid_username("Alice.B-c_9", LEN("Alice.B-c_9")) == 1);
    CHECK(text_valid_username("ab", 2) == 0);
    CHECK(text_valid_username("a b", 3) == 0);
    CHECK(text_valid_username("abcdefghijabcdefghijabcdefghijab", 32) == 1);
    CHECK(text_valid_username("abcdefghijabcdefghijabcdefghijabc", 33) == 0);
    CHECK(text_valid_username("\xC3\xA9t\xC3\xA9", 6) == 0);
}

static void length_counts_characters(void)
{
    char body[4 * 4001];

    for (int i = 0; i < 4001; i++)
        memcpy(body + 4 * i, "\xF0\x9F\x94\xA5", 4);
    CHECK(text_valid_length(body, 4 * 4000, 1, 4000) == 1);
    CHECK(text_valid_length(body, 4 * 4001, 1, 4000) == 0);
    CHECK(text_valid_length("   ", 3, 1, 4000) == 0);
    CHECK(text_valid_length("", 0, 1, 4000) == 0);
}

static void uuid_form(void)
{
    CHECK(text_valid_uuid("6f1c2b1e-4c1d-4a5e-9b8f-0c1d2e3f4a5b", 36) == 1);
    CHECK(text_valid_uuid("6F1C2B1E-4C1D-4A5E-9B8F-0C1D2E3F4A5B", 36) == 1);
    CHECK(text_valid_uuid("6f1c2b1e4c1d4a5e9b8f0c1d2e3f4a5b", 32) == 0);
    CHECK(text_valid_uuid("6f1c2b1e-4c1d-4a5e-9b8f-0c1d2e3f4a5g", 36) == 0);
}

static void names_reject_controls(void)
{
    CHECK(text_valid_name("Ana B", LEN("Ana B"), 1, 64) == 1);
    CHECK(text_valid_name("a\x07", LEN("a\x07"), 1, 64) == 0);                         /* BEL */
    CHECK(text_valid_name("a\nb", LEN("a\nb"), 1, 64) == 0);
    CHECK(text_valid_name("a\xE2\x80\xAEgnp.exe", LEN("a\xE2\x80\xAEgnp.exe"), 1, 64) == 0);         /* U+202E */
    CHECK(text_valid_name("a\xE2\x81\xA6" "b", LEN("a\xE2\x81\xA6" "b"), 1, 64) == 0);                /* U+2066 */
    CHECK(text_valid_name("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", LEN("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D"), 1, 64) == 1); /* Hebrew */
}

static void bodies_keep_line_breaks(void)
{
    CHECK(text_valid_body("a\nb\tc\r\n", LEN("a\nb\tc\r\n"), 1, 4000) == 1);
    CHECK(text_valid_body("a\x1b[31m", LEN("a\x1b[31m"), 1, 4000) == 0);                   /* ESC */
    CHECK(text_valid_body("a\xC2\x85", LEN("a\xC2\x85"), 1, 4000) == 0);                   /* U+0085 */
    CHECK(text_valid_body("a\xE2\x80\xAE" "b", LEN("a\xE2\x80\xAE" "b"), 1, 4000) == 1);
}

static void zero_width_text_is_blank(void)
{
    CHECK(text_is_blank("\xE2\x80\x8B", LEN("\xE2\x80\x8B")) == 1);                           /* U+200B */
    CHECK(text_is_blank("\xC2\xA0\xE2\x80\x8B\xE3\x80\x80", LEN("\xC2\xA0\xE2\x80\x8B\xE3\x80\x80")) == 1);
    CHECK(text_is_blank("\xEF\xBB\xBF", LEN("\xEF\xBB\xBF")) == 1);                           /* U+FEFF */
}

const struct unit_test text_tests[] = {
    {"names reject controls", names_reject_controls},
    {"bodies keep line breaks", bodies_keep_line_breaks},
    {"zero width text is blank", zero_width_text_is_blank},
    {"utf8 counts code points", utf8_counts_code_points},
    {"utf8 rejects malformed", utf8_rejects_malformed},
    {"blank detects unicode spaces", blank_detects_unicode_spaces},
    {"username rules", username_rules},
    {"length counts characters", length_counts_characters},
    {"uuid form", uuid_form},
    {NULL, NULL},
};
