/* The multipart/form-data parser: boundaries, framing, chunking and
 * malformed bodies. The source is included so the tests need no other
 * module. */
#define _POSIX_C_SOURCE 200809L
#include "../../fcgi/multipart.c"

#include <stdlib.h>

#include "unit.h"

/* Records what the parser reports as "[name|filename|type]data" per part. */
struct recorder {
    char out[4096];
    size_t len;
    int ends;
    int stop_after_bytes; /* part_data returns 7 once this many bytes came; 0: never */
    int data_bytes;
};

static void record(struct recorder *r, const char *s, size_t n)
{
    if (r->len + n < sizeof(r->out)) {
        memcpy(r->out + r->len, s, n);
        r->len += n;
        r->out[r->len] = '\0';
    }
}

static int on_begin(void *ctx, const struct multipart_part *part)
{
    struct recorder *r = ctx;
    char line[600];

    snprintf(line, sizeof(line), "[%s|%s%s|%s]", part->name, part->has_filename ? "f:" : "",
             part->filename, part->content_type);
    record(r, line, strlen(line));
    return 0;
}

static int on_data(void *ctx, const char *data, size_t len)
{
    struct recorder *r = ctx;

    record(r, data, len);
    r->data_bytes += (int)len;
    if (r->stop_after_bytes > 0 && r->data_bytes >= r->stop_after_bytes)
        return 7;
    return 0;
}

static int on_end(void *ctx)
{
    struct recorder *r = ctx;

    r->ends++;
    record(r, "$", 1);
    return 0;
}

static const struct multipart_callbacks callbacks = {on_begin, on_data, on_end};

/* Parses body in chunks of chunk bytes (0: all at once); returns the last
 * result of multipart_feed() and fills r and *done. */
static int parse(const char *boundary, const char *body, size_t body_len, size_t chunk,
                 struct recorder *r, int *done)
{
    struct multipart parser;
    int rc = MULTIPART_OK;

    memset(r, 0, sizeof(*r));
    multipart_init(&parser, boundary, &callbacks, r);
    if (chunk == 0)
        chunk = body_len;
    for (size_t i = 0; i < body_len && rc == MULTIPART_OK; i += chunk) {
        size_t n = body_len - i < chunk ? body_len - i : chunk;

        rc = multipart_feed(&parser, body + i, n);
    }
    *done = multipart_done(&parser);
    return rc;
}

static int parse_text(const char *boundary, const char *body, size_t chunk, struct recorder *r,
                      int *done)
{
    return parse(boundary, body, strlen(body), chunk, r, done);
}

static void boundary_token_and_quoted(void)
{
    char b[MULTIPART_BOUNDARY_MAX + 1];

    CHECK(multipart_boundary("multipart/form-data; boundary=abc123", b, sizeof(b)) == 0);
    CHECK_STR(b, "abc123");
    CHECK(multipart_boundary("Multipart/Form-Data;BOUNDARY=\"a b:c\"", b, sizeof(b)) == 0);
    CHECK_STR(b, "a b:c");
    CHECK(multipart_boundary(
              "multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
              b, sizeof(b)) == 0);
    CHECK_STR(b, "----WebKitFormBoundary7MA4YWxkTrZu0gW");
    CHECK(multipart_boundary("multipart/form-data ; boundary = x ;", b, sizeof(b)) == 0);
    CHECK_STR(b, "x");
}

static void boundary_rejected(void)
{
    char b[MULTIPART_BOUNDARY_MAX + 1];
    char long_type[200];

    CHECK(multipart_boundary(NULL, b, sizeof(b)) == 1);
    CHECK(multipart_boundary("application/json", b, sizeof(b)) == 1);
    CHECK(multipart_boundary("multipart/form-data-x; boundary=a", b, sizeof(b)) == 1);
    CHECK(multipart_boundary("multipart/mixed; boundary=a", b, sizeof(b)) == 1);
    CHECK(multipart_boundary("multipart/form-data", b, sizeof(b)) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=", b, sizeof(b)) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=\"\"", b, sizeof(b)) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=\"a \"", b, sizeof(b)) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=\"a\rb\"", b, sizeof(b)) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=\"open", b, sizeof(b)) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=a; boundary=b", b, sizeof(b)) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary", b, sizeof(b)) == -1);

    snprintf(long_type, sizeof(long_type), "multipart/form-data; boundary=%071d", 0);
    CHECK(multipart_boundary(long_type, b, sizeof(b)) == -1);
    snprintf(long_type, sizeof(long_type), "multipart/form-data; boundary=%070d", 0);
    CHECK(multipart_boundary(long_type, b, sizeof(b)) == 0);
}

static const char two_parts[] =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"caption\"\r\n"
    "\r\n"
    "hello\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"cat.png\"\r\n"
    "Content-Type: image/png\r\n"
    "\r\n"
    "\x89PNG\r\n\x1a\n\r\n--XyZ\r\n";

static void parts_whole_body(void)
{
    struct recorder r;
    char body[512];
    int done;

    snprintf(body, sizeof(body), "%s", two_parts);
    body[strlen(body) - 2] = '\0'; /* the last delimiter becomes "--XyZ" */
    strcat(body, "--\r\n");
    CHECK(parse_text("XyZ", body, 0, &r, &done) == MULTIPART_OK);
    CHECK(done);
    CHECK(r.ends == 2);
    CHECK_STR(r.out, "[caption||]hello$[file|f:cat.png|image/png]\x89PNG\r\n\x1a\n$");
}

static void parts_byte_by_byte(void)
{
    struct recorder whole, split;
    const char *body = "preamble text\r\n--bound\r\n"
                       "content-disposition: form-data; name=file; filename=\"a.bin\"\r\n\r\n"
                       "x\r\n-\r\n--\r\n--boun\r\r\n--bou\r\n--c\r\n--bound  \t\r\n"
                       "Content-Disposition: form-data; name=\"second\"\r\n\r\n"
                       "\r\n--bound--\r\nepilogue\r\n--bound\r\n";
    int done_whole, done_split;

    CHECK(parse_text("bound", body, 0, &whole, &done_whole) == MULTIPART_OK);
    for (size_t chunk = 1; chunk <= 7; chunk++) {
        CHECK(parse_text("bound", body, chunk, &split, &done_split) == MULTIPART_OK);
        CHECK(done_split);
        CHECK_STR(split.out, whole.out);
    }
    CHECK(done_whole);
    CHECK_STR(whole.out, "[file|f:a.bin|]x\r\n-\r\n--\r\n--boun\r\r\n--bou\r\n--c$[second||]$");
}

static void binary_data_kept(void)
{
    char body[2048];
    char data[256];
    struct recorder r;
    size_t len = 0;
    int done;

    for (int i = 0; i < 256; i++)
        data[i] = (char)i;
    len += (size_t)snprintf(body, sizeof(body),
                            "--q\r\nContent-Disposition: form-data; name=file\r\n\r\n");
    memcpy(body + len, data, sizeof(data));
    len += sizeof(data);
    memcpy(body + len, "\r\n--q--", 7);
    len += 7;

    CHECK(parse("q", body, len, 3, &r, &done) == MULTIPART_OK);
    CHECK(done);
    CHECK(r.data_bytes == 256);
    CHECK(memcmp(r.out + strlen("[file||]"), data, sizeof(data)) == 0);
}

static void filename_quoting(void)
{
    struct recorder r;
    int done;
    const char *body = "--b\r\nContent-Disposition: form-data; name=\"file\"; "
                       "filename=\"C:\\dir\\say \\\"hi\\\".png\"\r\n\r\nd\r\n--b--";

    CHECK(parse_text("b", body, 0, &r, &done) == MULTIPART_OK);
    CHECK_STR(r.out, "[file|f:C:\\dir\\say \"hi\".png|]d$");
}

static void missing_close_delimiter(void)
{
    struct recorder r;
    int done;

    CHECK(parse_text("b", "--b\r\nContent-Disposition: form-data; name=file\r\n\r\nabc", 0, &r,
                     &done) == MULTIPART_OK);
    CHECK(!done);
    CHECK(r.ends == 0);
    CHECK(parse_text("b", "no delimiter at all", 0, &r, &done) == MULTIPART_OK);
    CHECK(!done);
    CHECK(r.len == 0);
}

static void malformed_framing(void)
{
    struct recorder r;
    int done;

    /* Text after the boundary on its line. */
    CHECK(parse_text("b", "--bx\r\n", 0, &r, &done) == MULTIPART_ERROR);
    CHECK(parse_text("b", "--b-x", 0, &r, &done) == MULTIPART_ERROR);
    /* A bare CR after the boundary. */
    CHECK(parse_text("b", "--b\rX", 0, &r, &done) == MULTIPART_ERROR);
    /* No Content-Disposition, or not form-data, or no name. */
    CHECK(parse_text("b", "--b\r\n\r\ndata\r\n--b--", 0, &r, &done) == MULTIPART_ERROR);
    CHECK(parse_text("b", "--b\r\nContent-Type: text/plain\r\n\r\nd\r\n--b--", 0, &r, &done) ==
          MULTIPART_ERROR);
    CHECK(parse_text("b", "--b\r\nContent-Disposition: attachment; name=a\r\n\r\n", 0, &r, &done) ==
          MULTIPART_ERROR);
    CHECK(parse_text("b", "--b\r\nContent-Disposition: form-data\r\n\r\n", 0, &r, &done) ==
          MULTIPART_ERROR);
    CHECK(parse_text("b", "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\n", 0, &r,
                     &done) == MULTIPART_ERROR);
    /* A header line without a colon, and one ending in a bare LF. */
    CHECK(parse_text("b", "--b\r\nContent-Disposition: form-data; name=a\r\nbad\r\n\r\n", 0, &r,
                     &done) == MULTIPART_ERROR);
    CHECK(parse_text("b", "--b\r\nX: 1\nContent-Disposition: form-data; name=a\r\n\r\n", 0, &r,
                     &done) == MULTIPART_ERROR);
    CHECK(r.len == 0);
}

static void header_block_bounded(void)
{
    struct multipart parser;
    struct recorder r;
    char filler[1024];
    int rc = MULTIPART_OK;

    memset(&r, 0, sizeof(r));
    memset(filler, 'a', sizeof(filler));
    multipart_init(&parser, "b", &callbacks, &r);
    CHECK(multipart_feed(&parser, "--b\r\nX-Long: ", 13) == MULTIPART_OK);
    for (int i = 0; i < 16 && rc == MULTIPART_OK; i++)
        rc = multipart_feed(&parser, filler, sizeof(filler));
    CHECK(rc == MULTIPART_ERROR);
    CHECK(parser.error != NULL && strstr(parser.error, "8 KiB") != NULL);
}

static void part_count_bounded(void)
{
    char body[4096];
    size_t len = 0;
    struct recorder r;
    int done;

    for (int i = 0; i <= MULTIPART_PARTS_MAX; i++)
        len += (size_t)snprintf(body + len, sizeof(body) - len,
                                "--b\r\nContent-Disposition: form-data; name=p\r\n\r\n\r\n");
    len += (size_t)snprintf(body + len, sizeof(body) - len, "--b--");
    CHECK(parse("b", body, len, 0, &r, &done) == MULTIPART_ERROR);
    CHECK(r.ends == MULTIPART_PARTS_MAX);
}

static void callback_stop_is_sticky(void)
{
    struct multipart parser;
    struct recorder r;
    const char *body = "--b\r\nContent-Disposition: form-data; name=file\r\n\r\n0123456789";

    memset(&r, 0, sizeof(r));
    r.stop_after_bytes = 4;
    multipart_init(&parser, "b", &callbacks, &r);
    CHECK(multipart_feed(&parser, body, strlen(body) - 8) == MULTIPART_OK);
    CHECK(multipart_feed(&parser, body + strlen(body) - 8, 8) == 7);
    CHECK(multipart_feed(&parser, "more", 4) == 7);
    CHECK(multipart_feed(&parser, "", 0) == 7);
    CHECK(!multipart_done(&parser));
}

const struct unit_test multipart_tests[] = {
    {"multipart boundary token and quoted", boundary_token_and_quoted},
    {"multipart boundary rejected", boundary_rejected},
    {"multipart parts whole body", parts_whole_body},
    {"multipart parts byte by byte", parts_byte_by_byte},
    {"multipart binary data kept", binary_data_kept},
    {"multipart filename quoting", filename_quoting},
    {"multipart missing close delimiter", missing_close_delimiter},
    {"multipart malformed framing", malformed_framing},
    {"multipart header block bounded", header_block_bounded},
    {"multipart part count bounded", part_count_bounded},
    {"multipart callback stop is sticky", callback_stop_is_sticky},
    {NULL, NULL},
};
