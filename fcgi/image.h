/*
 * Validation and re-encoding of uploaded images with libvips. The type of
 * a file is decided by its content alone: its magic bytes, a walk over
 * its container structure (no truncation, nothing after the end of the
 * image) and a full decode. What is served is never the uploaded file but
 * two new encodings without metadata: a display version and a thumbnail.
 */
#ifndef BLINKCHAT_IMAGE_H
#define BLINKCHAT_IMAGE_H

#include <stddef.h>

/* Maximum length, in pixels, of the longer side of the two encodings. */
#define IMAGE_DISPLAY_MAX 1280
#define IMAGE_THUMB_MAX 320
/* Larger images are rejected after reading their header, before any
 * pixel is decoded: a 40-megapixel RGBA image is 160 MB once decoded. */
#define IMAGE_PIXELS_MAX 40000000LL

enum image_status {
    IMAGE_OK,
    IMAGE_UNSUPPORTED,     /* not a complete JPEG, PNG, GIF or WebP */
    IMAGE_TOO_MANY_PIXELS, /* over IMAGE_PIXELS_MAX */
    IMAGE_FAILED,          /* libvips failed for another reason */
};

/* One encoding; data is owned (freed by image_free). */
struct image_encoding {
    void *data;
    size_t len;
    int width;
    int height;
};

struct image {
    const char *source_format; /* "jpeg", "png", "gif" or "webp" */
    const char *content_type;  /* of both encodings: image/jpeg or image/png */
    const char *extension;     /* "jpg" or "png" */
    struct image_encoding display;
    struct image_encoding thumb;
};

/* Starts libvips once per process, limited to one worker thread and no
 * operation cache, with every loader blocked but the four accepted ones.
 * Returns 0, or -1 after logging. Later calls return at once. */
int image_init(void);

/*
 * Validates the file at path and encodes its display version and
 * thumbnail into *out. Returns IMAGE_OK, or another status after writing
 * a message for the client into message (the details go to the log).
 * On success the caller frees *out with image_free().
 */
enum image_status image_process(const char *path, struct image *out, char *message,
                                size_t message_size);

void image_free(struct image *img);

#endif
