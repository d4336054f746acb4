/*
 * A streaming parser of multipart/form-data bodies (RFC 7578, with the
 * framing of RFC 2046 section 5.1). The caller feeds the body in chunks of
 * any size; the parser calls back at the start of each part with its
 * headers, with the part's data in pieces as they arrive, and at its end.
 * It holds at most one header block (MULTIPART_HEADER_MAX bytes) and never
 * a copy of a part's data, so a large file goes straight to its consumer.
 */
#ifndef BLINKCHAT_MULTIPART_H
#define BLINKCHAT_MULTIPART_H

#include <stddef.h>

/* RFC 2046 section 5.1.1: a boundary is 1 to 70 characters. */
#define MULTIPART_BOUNDARY_MAX 70
/* Bytes of one part's header block, blank line included. */
#define MULTIPART_HEADER_MAX 8192
/* Parts in one body, so a body of empty parts cannot loop for long. */
#define MULTIPART_PARTS_MAX 32

/* The headers of one part that form-data needs. Values are NUL-terminated
 * and empty when the header or parameter is absent. */
struct multipart_part {
    char name[128];     /* Content-Disposition name parameter */
    char filename[256]; /* Content-Disposition filename parameter */
    int has_filename;
    char content_type[128]; /* as sent; never trusted for the file type */
};

/* Callbacks; each returns 0 to go on, or a non-zero value that stops the
 * parser and is returned by multipart_feed(). Any may be NULL. */
struct multipart_callbacks {
    int (*part_begin)(void *ctx, const struct multipart_part *part);
    int (*part_data)(void *ctx, const char *data, size_t len);
    int (*part_end)(void *ctx);
};

enum multipart_state {
    MP_PREAMBLE,       /* before the first delimiter; data is discarded */
    MP_AFTER_BOUNDARY, /* "--" for the close delimiter, or padding then CRLF */
    MP_BOUNDARY_LF,    /* a CR after the boundary, waiting for its LF */
    MP_CLOSE_DASH,     /* the first '-' of the close delimiter was seen */
    MP_HEADERS,        /* collecting a part's header block */
    MP_DATA,           /* a part's data */
    MP_EPILOGUE,       /* after the close delimiter; data is discarded */
    MP_FAILED,
};

struct multipart {
    /* "\r\n--" followed by the boundary: what ends a part's data. */
    char delimiter[4 + MULTIPART_BOUNDARY_MAX + 1];
    size_t delimiter_len;
    /* Bytes of the delimiter matched so far. They are held back from the
     * part's data until the match fails or completes. */
    size_t matched;
    enum multipart_state state;
    char header[MULTIPART_HEADER_MAX];
    size_t header_len;
    struct multipart_part part;
    int parts;
    struct multipart_callbacks callbacks;
    void *ctx;
    const char *error; /* static text describing the first failure */
    int stop_code;     /* the value of the callback that stopped parsing */
};

enum multipart_result {
    MULTIPART_OK = 0,     /* more input expected */
    MULTIPART_ERROR = -1, /* malformed body; see parser->error */
};

/*
 * Extracts the boundary parameter of a Content-Type that names
 * multipart/form-data (RFC 7578 section 4.1), unquoting it, into out.
 * Returns 0, 1 when the media type is not multipart/form-data, or -1 when
 * it is but the boundary is missing or invalid.
 */
int multipart_boundary(const char *content_type, char *out, size_t out_size);

/* Prepares parser for a body with the given boundary (validated by
 * multipart_boundary()). */
void multipart_init(struct multipart *parser, const char *boundary,
                    const struct multipart_callbacks *callbacks, void *ctx);

/*
 * Parses the next len bytes of the body. Returns MULTIPART_OK,
 * MULTIPART_ERROR after setting parser->error, or the non-zero value of a
 * callback that stopped the parser. After a failure every later call
 * fails the same way.
 */
int multipart_feed(struct multipart *parser, const char *data, size_t len);

/* Returns 1 when the close delimiter was seen, so the body is complete. */
int multipart_done(const struct multipart *parser);

#endif
