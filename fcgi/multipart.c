/*
 * Streaming multipart/form-data parser. The body is a preamble followed by
 * parts. Each part starts with a line of CRLF "--" boundary, optional
 * padding and CRLF, then has header lines, a blank line and the data. The
 * close delimiter is the boundary followed by "--" (RFC 2046 section
 * 5.1.1).
 *
 * Part data is scanned for the delimiter "\r\n--BOUNDARY". A boundary
 * never contains CR, so a partial match can only restart at a CR: the
 * bytes held back during a match are always a prefix of the delimiter,
 * and the parser needs no buffer for them.
 */
#define _POSIX_C_SOURCE 200809L
#include "multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 2046 section 5.1.1, bcharsnospace, plus space (not as the last). */
static int is_boundary_char(char c)
{
    return isalnum((unsigned char)c) || strchr("'()+_,-./:=? ", c) != NULL;
}

static int valid_boundary(const char *s, size_t len)
{
    if (len == 0 || len > MULTIPART_BOUNDARY_MAX || s[len - 1] == ' ')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0' || !is_boundary_char(s[i]))
            return 0;
    }
    return 1;
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static int is_token_char(char c)
{
    return c > ' ' && c < 127 && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

/*
 * Reads one parameter value at *s, a token or a quoted-string (RFC 9110
 * section 5.6.6), into out, truncating it to out_size - 1 bytes. Inside
 * quotes a backslash escapes only '"' and '\': browsers send Windows paths
 * with bare backslashes. Advances *s past the value. Returns 0, or -1 when
 * the value is empty or an opening quote is never closed.
 */
static int read_param_value(const char **s, char *out, size_t out_size)
{
    const char *p = *s;
    size_t n = 0;

    if (*p == '"') {
        for (p++; *p != '"'; p++) {
            if (*p == '\0')
                return -1;
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            if (n + 1 < out_size)
                out[n++] = *p;
        }
        p++;
    } else {
        for (; is_token_char(*p); p++) {
            if (n + 1 < out_size)
                out[n++] = *p;
        }
        if (p == *s)
            return -1;
    }
    out[n] = '\0';
    *s = p;
    return 0;
}

/*
 * Walks the ";name=value" parameters at s, calling found() for each.
 * Returns 0, or -1 when a parameter is malformed.
 */
static int each_param(const char *s,
                      int (*found)(void *ctx, const char *name, size_t name_len, const char *value),
                      void *ctx)
{
    char value[512];

    for (;;) {
        const char *name;
        size_t name_len;

        s = skip_space(s);
        if (*s == '\0')
            return 0;
        if (*s++ != ';')
            return -1;
        s = skip_space(s);
        if (*s == '\0')
            return 0; /* a trailing ';' */
        name = s;
        while (is_token_char(*s))
            s++;
        name_len = (size_t)(s - name);
        s = skip_space(s);
        if (name_len == 0 || *s++ != '=')
            return -1;
        s = skip_space(s);
        if (read_param_value(&s, value, sizeof(value)) != 0)
            return -1;
        if (found(ctx, name, name_len, value) != 0)
            return -1;
    }
}

/* Compares the media type at *s (up to ';' or the end, case-insensitive)
 * with type and advances *s past it. */
static int media_type_is(const char **s, const char *type)
{
    const char *p = skip_space(*s);
    const char *end = p;
    size_t len;

    while (*end != '\0' && *end != ';' && *end != ' ' && *end != '\t')
        end++;
    len = (size_t)(end - p);
    *s = end;
    return len == strlen(type) && strncasecmp(p, type, len) == 0;
}

struct boundary_param {
    char *out;
    size_t out_size;
    int found;
    int invalid;
};

static int on_content_type_param(void *ctx, const char *name, size_t name_len, const char *value)
{
    struct boundary_param *b = ctx;
    size_t len = strlen(value);

    if (name_len != 8 || strncasecmp(name, "boundary", 8) != 0)
        return 0;
    if (b->found || !valid_boundary(value, len) || len >= b->out_size)
        b->invalid = 1;
    else
        memcpy(b->out, value, len + 1);
    b->found = 1;
    return 0;
}

int multipart_boundary(const char *content_type, char *out, size_t out_size)
{
    struct boundary_param b = {out, out_size, 0, 0};
    const char *s = content_type;

    if (s == NULL || !media_type_is(&s, "multipart/form-data"))
        return 1;
    if (each_param(s, on_content_type_param, &b) != 0 || !b.found || b.invalid)
        return -1;
    return 0;
}

void multipart_init(struct multipart *parser, const char *boundary,
                    const struct multipart_callbacks *callbacks, void *ctx)
{
    memset(parser, 0, sizeof(*parser));
    parser->delimiter_len =
        (size_t)snprintf(parser->delimiter, sizeof(parser->delimiter), "\r\n--%s", boundary);
    if (parser->delimiter_len >= sizeof(parser->delimiter))
        parser->delimiter_len = sizeof(parser->delimiter) - 1;
    /* The first delimiter may open the body without a CRLF before it: act
     * as if that CRLF had been seen. */
    parser->matched = 2;
    parser->state = MP_PREAMBLE;
    parser->callbacks = *callbacks;
    parser->ctx = ctx;
}

static int fail(struct multipart *parser, const char *error)
{
    parser->state = MP_FAILED;
    parser->error = error;
    return MULTIPART_ERROR;
}

/* Records a callback's non-zero result as the parser's final result. */
static int stop(struct multipart *parser, int code)
{
    parser->state = MP_FAILED;
    parser->stop_code = code;
    parser->error = "stopped by the consumer";
    return code;
}

static int on_disposition_param(void *ctx, const char *name, size_t name_len, const char *value)
{
    struct multipart_part *part = ctx;

    if (name_len == 4 && strncasecmp(name, "name", 4) == 0) {
        snprintf(part->name, sizeof(part->name), "%s", value);
    } else if (name_len == 8 && strncasecmp(name, "filename", 8) == 0) {
        snprintf(part->filename, sizeof(part->filename), "%s", value);
        part->has_filename = 1;
    }
    return 0;
}

/* Returns 1 when line[0..len) is the header name followed by ':', and
 * points *value at the text after the colon. */
static int header_is(const char *line, size_t len, const char *name, const char **value)
{
    size_t n = strlen(name);

    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
        return 0;
    *value = line + n + 1;
    return 1;
}

/*
 * Parses the header block in parser->header (lines ending in CRLF, NUL
 * terminated, the blank line removed) into parser->part. Returns 0, or -1
 * after setting the error.
 */
static int parse_headers(struct multipart *parser)
{
    struct multipart_part *part = &parser->part;
    char *line = parser->header;
    int has_disposition = 0;

    memset(part, 0, sizeof(*part));
    while (*line != '\0') {
        char *end = strstr(line, "\r\n");
        const char *value;
        size_t len;

        if (end == NULL)
            return fail(parser, "a part header line does not end with CRLF");
        *end = '\0';
        len = (size_t)(end - line);
        if (memchr(line, ':', len) == NULL)
            return fail(parser, "a part header line has no ':'");

        if (header_is(line, len, "Content-Disposition", &value)) {
            if (has_disposition || !media_type_is(&value, "form-data") ||
                each_param(value, on_disposition_param, part) != 0)
                return fail(parser, "a part has an invalid Content-Disposition header");
            has_disposition = 1;
        } else if (header_is(line, len, "Content-Type", &value)) {
            snprintf(part->content_type, sizeof(part->content_type), "%s", skip_space(value));
        }
        line = end + 2;
    }
    if (!has_disposition || part->name[0] == '\0')
        return fail(parser, "a part has no Content-Disposition: form-data header with a name");
    return 0;
}

/* Consumes one byte of a part's header block; at the blank line that ends
 * it, starts the part. */
static int header_byte(struct multipart *parser, char c)
{
    size_t n;

    if (c == '\0')
        return fail(parser, "a part header contains a NUL byte");
    if (parser->header_len + 1 >= sizeof(parser->header))
        return fail(parser, "a part's headers are larger than 8 KiB");
    parser->header[parser->header_len++] = c;
    n = parser->header_len;
    if (c != '\n' || n < 2 || parser->header[n - 2] != '\r')
        return MULTIPART_OK;
    /* A blank line: the block is either empty or ends in CRLF CRLF. */
    if (n != 2 && (n < 4 || memcmp(parser->header + n - 4, "\r\n\r\n", 4) != 0))
        return MULTIPART_OK;

    parser->header[n - 2] = '\0';
    if (parse_headers(parser) != 0)
        return MULTIPART_ERROR;
    if (++parser->parts > MULTIPART_PARTS_MAX)
        return fail(parser, "the body has more than 32 parts");
    parser->state = MP_DATA;
    parser->matched = 0;
    if (parser->callbacks.part_begin != NULL) {
        int rc = parser->callbacks.part_begin(parser->ctx, &parser->part);

        if (rc != 0)
            return stop(parser, rc);
    }
    return MULTIPART_OK;
}

/* Passes data of the current part to the consumer; preamble bytes are
 * dropped. */
static int emit(struct multipart *parser, const char *data, size_t len)
{
    int rc;

    if (parser->state != MP_DATA || len == 0 || parser->callbacks.part_data == NULL)
        return MULTIPART_OK;
    rc = parser->callbacks.part_data(parser->ctx, data, len);
    return rc == 0 ? MULTIPART_OK : stop(parser, rc);
}

/*
 * Scans preamble or part data for the delimiter, passing data on in runs.
 * Sets *used to the bytes consumed, which stop after a complete delimiter.
 */
static void scan_data(struct multipart *parser, const char *s, size_t n, size_t *used)
{
    size_t i = 0;
    int rc = MULTIPART_OK;

    while (i < n && rc == MULTIPART_OK) {
        if (parser->matched == 0) {
            const char *cr = memchr(s + i, '\r', n - i);
            size_t end = cr != NULL ? (size_t)(cr - s) : n;

            rc = emit(parser, s + i, end - i);
            i = end;
            if (cr != NULL) {
                parser->matched = 1;
                i++;
            }
        } else if (s[i] == parser->delimiter[parser->matched]) {
            i++;
            if (++parser->matched == parser->delimiter_len) {
                parser->matched = 0;
                if (parser->state == MP_DATA && parser->callbacks.part_end != NULL &&
                    (rc = parser->callbacks.part_end(parser->ctx)) != 0)
                    rc = stop(parser, rc);
                else
                    parser->state = MP_AFTER_BOUNDARY;
                break;
            }
        } else {
            /* Not the delimiter after all: the held-back bytes are data,
             * and s[i] is examined again from the start of a match. */
            rc = emit(parser, parser->delimiter, parser->matched);
            parser->matched = 0;
        }
    }
    *used = i;
}

static int result(const struct multipart *parser)
{
    if (parser->state != MP_FAILED)
        return MULTIPART_OK;
    return parser->stop_code != 0 ? parser->stop_code : MULTIPART_ERROR;
}

int multipart_feed(struct multipart *parser, const char *data, size_t len)
{
    size_t i = 0;

    while (i < len && parser->state != MP_FAILED) {
        size_t used;
        char c;

        switch (parser->state) {
        case MP_PREAMBLE:
        case MP_DATA:
            scan_data(parser, data + i, len - i, &used);
            i += used;
            break;
        case MP_AFTER_BOUNDARY:
            c = data[i++];
            if (c == '-')
                parser->state = MP_CLOSE_DASH;
            else if (c == '\r')
                parser->state = MP_BOUNDARY_LF;
            else if (c != ' ' && c != '\t')
                fail(parser, "a boundary line has text after the boundary");
            break;
        case MP_CLOSE_DASH:
            if (data[i++] == '-')
                parser->state = MP_EPILOGUE;
            else
                fail(parser, "a boundary line has text after the boundary");
            break;
        case MP_BOUNDARY_LF:
            if (data[i++] == '\n') {
                parser->state = MP_HEADERS;
                parser->header_len = 0;
            } else {
                fail(parser, "a boundary line does not end with CRLF");
            }
            break;
        case MP_HEADERS:
            header_byte(parser, data[i++]);
            break;
        case MP_EPILOGUE:
        case MP_FAILED:
            i = len;
            break;
        }
    }
    return result(parser);
}

int multipart_done(const struct multipart *parser)
{
    return parser->state == MP_EPILOGUE;
}
