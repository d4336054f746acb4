/* UTF-8 and field validation for request bodies. */
#include "text.h"

#include <stdint.h>
#include <string.h>

/* Decodes one code point at s, which has len bytes left. Returns the
 * number of bytes used, or 0 when the sequence is malformed. */
static size_t decode_utf8(const unsigned char *s, size_t len, uint32_t *cp)
{
    size_t need;
    uint32_t min;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xE0) == 0xC0) {
        need = 2, min = 0x80, *cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        need = 3, min = 0x800, *cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        need = 4, min = 0x10000, *cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
        return 0;
    return need;
}

long text_utf8_length(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    long count = 0;
    size_t i = 0;

    while (i < len) {
        uint32_t cp;
        size_t used = decode_utf8(p + i, len - i, &cp);

        if (used == 0 || cp == 0)
            return -1;
        i += used;
        count++;
    }
    return count;
}

/* Unicode White_Space, and the zero-width characters that print nothing
 * either, so a text of only these looks empty. */
static int is_white_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 ||
           cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200D) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x2060 || cp == 0x3000 || cp == 0xFEFF;
}

static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* Embeddings, overrides and isolates, which reorder the text around them. */
static int is_bidi_control(uint32_t cp)
{
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Returns 1 when no code point of s[0..len) is rejected by reject(). */
static int none_of(const char *s, size_t len, int (*reject)(uint32_t))
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        uint32_t cp;
        size_t used = decode_utf8(p + i, len - i, &cp);

        if (used == 0 || reject(cp))
            return 0;
        i += used;
    }
    return 1;
}

static int is_name_forbidden(uint32_t cp)
{
    return is_control(cp) || is_bidi_control(cp);
}

/* Message bodies keep tabs and line breaks. */
static int is_body_forbidden(uint32_t cp)
{
    return is_control(cp) && cp != '\t' && cp != '\n' && cp != '\r';
}

int text_is_blank(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        uint32_t cp;
        size_t used = decode_utf8(p + i, len - i, &cp);

        if (used == 0 || !is_white_space(cp))
            return 0;
        i += used;
    }
    return 1;
}

int text_valid_username(const char *s, size_t len)
{
    if (len < 3 || len > 32)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int text_valid_length(const char *s, size_t len, long min, long max)
{
    long count = text_utf8_length(s, len);

    return count >= min && count <= max && !text_is_blank(s, len);
}

int text_valid_uuid(const char *s, size_t len)
{
    static const char layout[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    if (len != sizeof(layout) - 1)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (layout[i] == '-') {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                     (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

int text_valid_name(const char *s, size_t len, long min, long max)
{
    return text_valid_length(s, len, min, max) && none_of(s, len, is_name_forbidden);
}

int text_valid_body(const char *s, size_t len, long min, long max)
{
    return text_valid_length(s, len, min, max) && none_of(s, len, is_body_forbidden);
}

long long text_parse_id(const char *s)
{
    long long n = 0;

    if (s == NULL || *s < '1' || *s > '9' || strlen(s) > 18)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        n = n * 10 + (*s - '0');
    }
    return n;
}
