/*
 * POST /api/uploads: one image in the multipart/form-data field "file".
 * The router leaves the body unread, so this handler streams the file part
 * into a temporary file in the media folder. It then validates and
 * re-encodes it (image.c), stores the encodings (media_store.c) and
 * records the upload.
 * Every failure leaves no row, no stored file and no temporary file.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cfg.h"
#include "db.h"
#include "image.h"
#include "log.h"
#include "media_store.h"
#include "multipart.h"

/* Room for the multipart boundaries and part headers around the file, so
 * a file of exactly the maximum size is accepted. */
#define UPLOAD_FRAMING_MAX (64 * 1024)
#define UPLOAD_READ_CHUNK (64 * 1024)
/* After an early rejection the rest of the body is read and dropped, up
 * to this much, so the web server is not cut off while still sending it
 * and gets the error response intact. */
#define UPLOAD_DRAIN_MAX (64LL * 1024 * 1024)

/* Values returned by the multipart callbacks to stop parsing. */
enum upload_stop {
    STOP_TOO_LARGE = 1,
    STOP_WRITE_FAILED,
    STOP_DUPLICATE_FILE,
};

struct upload {
    FILE *file; /* the temporary file of the raw upload */
    long long max_bytes;
    long long file_bytes; /* bytes of the "file" part so far */
    int file_parts;       /* parts named "file" seen */
    int in_file;          /* the current part is "file" */
    long long consumed;   /* body bytes read */
};

static int on_part_begin(void *ctx, const struct multipart_part *part)
{
    struct upload *up = ctx;

    up->in_file = strcmp(part->name, "file") == 0;
    if (up->in_file && ++up->file_parts > 1)
        return STOP_DUPLICATE_FILE;
    return 0;
}

/* Writes the file part to the temporary file; other fields are dropped. */
static int on_part_data(void *ctx, const char *data, size_t len)
{
    struct upload *up = ctx;

    if (!up->in_file)
        return 0;
    up->file_bytes += (long long)len;
    if (up->file_bytes > up->max_bytes)
        return STOP_TOO_LARGE;
    if (fwrite(data, 1, len, up->file) != len)
        return STOP_WRITE_FAILED;
    return 0;
}

static int on_part_end(void *ctx)
{
    ((struct upload *)ctx)->in_file = 0;
    return 0;
}

static const struct multipart_callbacks upload_callbacks = {on_part_begin, on_part_data,
                                                            on_part_end};

static void respond_too_large(struct request *req, long long max_bytes)
{
    char message[160];

    snprintf(message, sizeof(message),
             "the file is larger than the upload limit of %lld bytes (%.1f MiB)", max_bytes,
             (double)max_bytes / (1024 * 1024));
    respond_error(req, ERR_TOO_LARGE, message);
}

/* Maps a stop of the multipart parser to its response. */
static void respond_stopped(struct request *req, const struct upload *up,
                            const struct multipart *parser, int result)
{
    char message[200];

    switch (result) {
    case STOP_TOO_LARGE:
        respond_too_large(req, up->max_bytes);
        break;
    case STOP_WRITE_FAILED:
        log_error("uploads: writing the temporary file failed");
        respond_error(req, ERR_INTERNAL, "the server could not save the upload; try again later");
        break;
    case STOP_DUPLICATE_FILE:
        respond_error(req, ERR_INVALID_BODY, "the form has more than one field named file");
        break;
    default:
        snprintf(message, sizeof(message), "the multipart/form-data body is malformed: %s",
                 parser->error != NULL ? parser->error : "unknown error");
        respond_error(req, ERR_INVALID_BODY, message);
        break;
    }
}

/*
 * Reads the whole body through the multipart parser, writing the file part
 * to up->file. Returns 0, or -1 after responding.
 */
static int receive_body(struct request *req, struct upload *up, const char *boundary)
{
    static char chunk[UPLOAD_READ_CHUNK];
    struct multipart parser;

    multipart_init(&parser, boundary, &upload_callbacks, up);
    while (up->consumed < req->content_length) {
        long long left = req->content_length - up->consumed;
        int want = left < UPLOAD_READ_CHUNK ? (int)left : UPLOAD_READ_CHUNK;
        int n = req->read_body != NULL ? req->read_body(req->read_ctx, chunk, want) : 0;
        int result;

        if (n <= 0) {
            respond_error(req, ERR_INVALID_BODY, "the request body ended before Content-Length");
            return -1;
        }
        up->consumed += n;
        result = multipart_feed(&parser, chunk, (size_t)n);
        if (result != MULTIPART_OK) {
            respond_stopped(req, up, &parser, result);
            return -1;
        }
    }

    if (!multipart_done(&parser)) {
        respond_error(req, ERR_INVALID_BODY,
                      "the multipart/form-data body ends without its closing boundary");
        return -1;
    }
    if (up->file_parts == 0) {
        respond_error(req, ERR_INVALID_BODY, "the form has no field named file");
        return -1;
    }
    return 0;
}

/* Reads and drops what is left of the body, up to UPLOAD_DRAIN_MAX. */
static void drain_body(struct request *req, long long consumed)
{
    static char sink[UPLOAD_READ_CHUNK];
    long long left = req->content_length - consumed;

    if (req->read_body == NULL || left <= 0 || left > UPLOAD_DRAIN_MAX)
        return;
    while (left > 0) {
        int n = req->read_body(req->read_ctx, sink,
                               left < UPLOAD_READ_CHUNK ? (int)left : UPLOAD_READ_CHUNK);

        if (n <= 0)
            return;
        left -= n;
    }
}

/* Checks the Content-Type and Content-Length before any byte is read.
 * Returns 0, or -1 after responding 415, 413 or 400. */
static int check_request(struct request *req, long long max_bytes, char *boundary,
                         size_t boundary_size)
{
    int rc = multipart_boundary(req->content_type, boundary, boundary_size);

    if (rc > 0) {
        respond_error(req, ERR_UNSUPPORTED_MEDIA_TYPE,
                      "send the image as multipart/form-data with a field named file");
        return -1;
    }
    if (rc < 0) {
        respond_error(req, ERR_UNSUPPORTED_MEDIA_TYPE,
                      "the multipart/form-data Content-Type needs a boundary parameter of "
                      "1 to 70 valid characters");
        return -1;
    }
    if (req->content_length > max_bytes + UPLOAD_FRAMING_MAX) {
        respond_too_large(req, max_bytes);
        return -1;
    }
    if (req->content_length <= 0) {
        respond_error(req, ERR_INVALID_BODY,
                      "the request body is empty; send a form with a field named file");
        return -1;
    }
    return 0;
}

/* Inserts the uploads row and responds 201 with the image object. Returns
 * 0, or -1 after responding 500 or 503. */
static int record_upload(struct request *req, const struct image *img,
                         const struct stored_image *stored)
{
    char user[24], bytes[24], width[16], height[16];
    const char *params[9] = {user,
                             stored->store,
                             stored->storage_key,
                             stored->url,
                             stored->thumb_url,
                             img->content_type,
                             bytes,
                             width,
                             height};
    PGresult *res;
    int unavailable;

    snprintf(user, sizeof(user), "%lld", req->user_id);
    snprintf(bytes, sizeof(bytes), "%zu", img->display.len);
    snprintf(width, sizeof(width), "%d", img->display.width);
    snprintf(height, sizeof(height), "%d", img->display.height);
    res = db_exec(STMT_UPLOAD_CREATE, 9, params, &unavailable);
    if (res == NULL || PQntuples(res) != 1) {
        PQclear(res);
        respond_db_error(req, unavailable);
        return -1;
    }
    respond_raw_json(req, 201, "{\"image\":");
    buf_puts(&req->out, PQgetvalue(res, 0, 0));
    buf_puts(&req->out, "}");
    PQclear(res);
    return 0;
}

static enum api_error image_error(enum image_status status)
{
    switch (status) {
    case IMAGE_UNSUPPORTED:
        return ERR_UNSUPPORTED_MEDIA_TYPE;
    case IMAGE_TOO_MANY_PIXELS:
        return ERR_TOO_LARGE;
    default:
        return ERR_INTERNAL;
    }
}

/* Runs the validated temporary file through image.c and the store, then
 * records it. Responds in every case. */
static void store_upload(struct request *req, const char *temp_path)
{
    struct image img;
    struct stored_image stored;
    char message[200];
    enum image_status status = image_process(temp_path, &img, message, sizeof(message));

    if (status != IMAGE_OK) {
        log_info("uploads: image rejected: %s", message);
        respond_error(req, image_error(status), message);
        return;
    }
    if (media_store_save(&img, &stored, message, sizeof(message)) != 0) {
        respond_error(req, ERR_STORE_FAILED, message);
        image_free(&img);
        return;
    }
    if (record_upload(req, &img, &stored) != 0) {
        media_store_remove(&stored);
    } else {
        log_info("uploads: stored %s image as %s %dx%d (%zu bytes) in the %s store",
                 img.source_format, img.content_type, img.display.width, img.display.height,
                 img.display.len, stored.store);
    }
    image_free(&img);
}

void uploads_create(struct request *req)
{
    struct upload up;
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    char temp_path[4096] = "";
    int fd;

    memset(&up, 0, sizeof(up));
    up.max_bytes = cfg_int("BLINKCHAT_UPLOAD_MAX_BYTES");
    if (check_request(req, up.max_bytes, boundary, sizeof(boundary)) != 0)
        goto done;
    if (image_init() != 0) {
        respond_error(req, ERR_INTERNAL, "image processing is unavailable on this server");
        goto done;
    }

    fd = media_store_create_temp(temp_path, sizeof(temp_path));
    if (fd < 0)
        temp_path[0] = '\0';
    if (fd < 0 || (up.file = fdopen(fd, "wb")) == NULL) {
        if (fd >= 0)
            close(fd);
        respond_error(req, ERR_INTERNAL, "the server could not save the upload; try again later");
        goto done;
    }
    if (receive_body(req, &up, boundary) != 0)
        goto done;
    if (fclose(up.file) != 0) {
        up.file = NULL;
        log_error("uploads: writing the temporary file %s failed", temp_path);
        respond_error(req, ERR_INTERNAL, "the server could not save the upload; try again later");
        goto done;
    }
    up.file = NULL;

    store_upload(req, temp_path);
done:
    if (up.file != NULL)
        fclose(up.file);
    if (temp_path[0] != '\0' && unlink(temp_path) != 0)
        log_error("uploads: cannot remove the temporary file %s", temp_path);
    drain_body(req, up.consumed);
}
