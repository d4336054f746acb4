/*
 * Image validation and re-encoding for uploads. The checks run from the
 * cheapest to the most expensive: magic bytes, a walk over the container
 * structure, the libvips header (loader and dimensions), then a full
 * decode while the display version is made. Only the new encodings leave
 * this file; the uploaded bytes are never served.
 */
#define _POSIX_C_SOURCE 200809L
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vips/vips.h>

#include "log.h"

#define JPEG_QUALITY 85
#define PNG_COMPRESSION 6
/* A JPEG file may carry further JPEG streams after its first one, as in
 * the Multi-Picture Format of phone cameras. A file with more streams is
 * rejected. NOTE: other camera trailers, such as the SEF block of some
 * Samsung phones, are rejected as data after the image. */
#define JPEG_STREAMS_MAX 8

static const char TRUNCATED[] = "it is truncated";
static const char TRAILING[] = "it has data after the end of the image";

/* ------------------------------------------------------------------------
 * Container structure. Each walker checks that the file is one complete
 * image and that nothing follows it, so a file cannot be an image and an
 * HTML page at once. Returns NULL when the structure is sound, else the
 * problem as a clause for the client's message.
 */

static uint32_t be16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Returns 1 when d[0..n) is empty or all NUL bytes, the padding some
 * encoders leave after the end of an image. */
static int only_padding(const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] != 0)
            return 0;
    }
    return 1;
}

static int is_restart_or_stuffing(unsigned char c)
{
    return c == 0x00 || (c >= 0xD0 && c <= 0xD7) || c == 0xFF;
}

/* Skips entropy-coded scan data from *pos to the next marker (ITU-T T.81
 * section B.1.1.5: a 0xFF in the data is followed by a stuffed 0x00, a
 * restart marker or a fill byte). */
static const char *skip_scan_data(const unsigned char *d, size_t n, size_t *pos)
{
    size_t p = *pos;

    for (;;) {
        const unsigned char *ff = memchr(d + p, 0xFF, n - p);

        if (ff == NULL || (size_t)(ff - d) + 1 >= n)
            return TRUNCATED;
        p = (size_t)(ff - d);
        if (!is_restart_or_stuffing(d[p + 1])) {
            *pos = p;
            return NULL;
        }
        p++;
    }
}

/* Walks one JPEG stream, SOI to EOI, at the start of d[0..n) and sets
 * *end just past its EOI marker. */
static const char *walk_jpeg_stream(const unsigned char *d, size_t n, size_t *end)
{
    size_t pos = 2;
    int seen_scan = 0;

    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8)
        return "it does not start with a JPEG SOI marker";
    for (;;) {
        unsigned char marker;
        size_t length;
        const char *problem;

        if (pos >= n)
            return TRUNCATED;
        if (d[pos] != 0xFF)
            return "it has bytes outside any JPEG segment";
        while (pos < n && d[pos] == 0xFF)
            pos++;
        if (pos >= n)
            return TRUNCATED;
        marker = d[pos++];

        if (marker == 0xD9) {
            *end = pos;
            return seen_scan ? NULL : "it has no JPEG scan";
        }
        if (marker == 0x00 || marker == 0xD8)
            return "it has an invalid JPEG marker";
        if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01)
            continue; /* markers without a length */

        if (n - pos < 2)
            return TRUNCATED;
        length = be16(d + pos);
        if (length < 2)
            return "it has an invalid JPEG segment length";
        if (n - pos < length)
            return TRUNCATED;
        pos += length;
        if (marker == 0xDA) {
            seen_scan = 1;
            if ((problem = skip_scan_data(d, n, &pos)) != NULL)
                return problem;
        }
    }
}

/*
 * Returns 1 when d[0..n) is a sequence of ISO base media file format boxes
 * (ISO/IEC 14496-12 section 4.2) that starts with "ftyp" and fills it
 * exactly: the MP4 video that motion photos append to their JPEG.
 */
static int is_appended_video(const unsigned char *d, size_t n)
{
    size_t pos = 0;

    while (pos < n) {
        uint64_t size;
        size_t header = 8;

        if (n - pos < header)
            return 0;
        size = be32(d + pos);
        for (int i = 4; i < 8; i++) {
            if (d[pos + i] < 0x20 || d[pos + i] > 0x7E)
                return 0;
        }
        if (pos == 0 && memcmp(d + 4, "ftyp", 4) != 0)
            return 0;
        if (size == 1) {
            header = 16;
            if (n - pos < header)
                return 0;
            size = (uint64_t)be32(d + pos + 8) << 32 | be32(d + pos + 12);
        } else if (size == 0) {
            size = n - pos; /* the last box runs to the end of the file */
        }
        if (size < header || size > n - pos)
            return 0;
        pos += (size_t)size;
    }
    return 1;
}

/*
 * A JPEG file is one JPEG stream, optionally followed by further JPEG
 * streams (the Multi-Picture Format of phone cameras), then by an MP4
 * video (motion photos) or NUL padding. Any other data after the image is
 * rejected.
 */
static const char *walk_jpeg(const unsigned char *d, size_t n)
{
    size_t pos = 0;

    for (int streams = 0; streams < JPEG_STREAMS_MAX; streams++) {
        size_t end;
        const char *problem = walk_jpeg_stream(d + pos, n - pos, &end);

        if (problem != NULL)
            return streams == 0 ? problem : TRAILING;
        pos += end;
        if (only_padding(d + pos, n - pos) || is_appended_video(d + pos, n - pos))
            return NULL;
    }
    return TRAILING;
}

/* PNG: the signature, then chunks of length, type, data and CRC from IHDR
 * to IEND (RFC 2083 section 3). The decoder checks the CRCs. */
static const char *walk_png(const unsigned char *d, size_t n)
{
    size_t pos = 8;

    for (int first = 1;; first = 0) {
        uint32_t length;
        const unsigned char *type;

        if (n - pos < 12)
            return TRUNCATED;
        length = be32(d + pos);
        type = d + pos + 4;
        for (int i = 0; i < 4; i++) {
            if (!((type[i] >= 'A' && type[i] <= 'Z') || (type[i] >= 'a' && type[i] <= 'z')))
                return "it has an invalid PNG chunk type";
        }
        if (length > 0x7FFFFFFFu || n - pos - 12 < length)
            return TRUNCATED;
        if (first && memcmp(type, "IHDR", 4) != 0)
            return "it does not start with a PNG IHDR chunk";
        pos += 12 + (size_t)length;
        if (memcmp(type, "IEND", 4) == 0)
            return pos == n ? NULL : TRAILING;
    }
}

/* Skips GIF data sub-blocks (a size byte, then that many bytes) up to the
 * terminating empty block. */
static const char *skip_gif_sub_blocks(const unsigned char *d, size_t n, size_t *pos)
{
    for (;;) {
        size_t size;

        if (*pos >= n)
            return TRUNCATED;
        size = d[(*pos)++];
        if (size == 0)
            return NULL;
        if (n - *pos < size)
            return TRUNCATED;
        *pos += size;
    }
}

/* GIF89a: header, logical screen descriptor, optional global colour
 * table, then extensions and images up to the trailer byte 0x3B. */
static const char *walk_gif(const unsigned char *d, size_t n)
{
    size_t pos = 13;
    int images = 0;
    const char *problem;

    if (n < 13)
        return TRUNCATED;
    if (d[10] & 0x80)
        pos += (size_t)3 << ((d[10] & 7) + 1);
    for (;;) {
        unsigned char block;

        if (pos >= n)
            return TRUNCATED;
        block = d[pos++];
        if (block == 0x3B)
            break;
        if (block == 0x21) {
            pos++; /* the extension label */
        } else if (block == 0x2C) {
            unsigned char flags;

            if (n - pos < 10)
                return TRUNCATED;
            flags = d[pos + 8];
            pos += 9;
            if (flags & 0x80)
                pos += (size_t)3 << ((flags & 7) + 1);
            pos++; /* the LZW minimum code size */
            images++;
        } else {
            return "it has an unknown GIF block";
        }
        if ((problem = skip_gif_sub_blocks(d, n, &pos)) != NULL)
            return problem;
    }
    if (images == 0)
        return "it has no GIF image";
    return only_padding(d + pos, n - pos) ? NULL : TRAILING;
}

/* WebP: a RIFF container whose size covers the whole file, holding chunks
 * padded to an even length. */
static const char *walk_webp(const unsigned char *d, size_t n)
{
    uint64_t riff_end;
    size_t pos = 12;

    if (n < 20)
        return TRUNCATED;
    riff_end = (uint64_t)le32(d + 4) + 8;
    if (riff_end > n)
        return TRUNCATED;
    if (riff_end < n)
        return TRAILING;
    if (memcmp(d + 12, "VP8 ", 4) != 0 && memcmp(d + 12, "VP8L", 4) != 0 &&
        memcmp(d + 12, "VP8X", 4) != 0)
        return "it does not start with a WebP image chunk";
    while (pos < n) {
        uint64_t size;

        if (n - pos < 8)
            return TRUNCATED;
        size = le32(d + pos + 4);
        size += size & 1;
        if (n - pos - 8 < size)
            return TRUNCATED;
        pos += 8 + (size_t)size;
    }
    return NULL;
}

struct format {
    const char *name;
    const char *magic;
    size_t magic_len;
    const char *loader; /* the libvips loader that must read it */
    const char *(*walk)(const unsigned char *d, size_t n);
};

static const struct format formats[] = {
    {"jpeg", "\xFF\xD8\xFF", 3, "jpegload", walk_jpeg},
    {"png", "\x89PNG\r\n\x1A\n", 8, "pngload", walk_png},
    {"gif", "GIF87a", 6, "gifload", walk_gif},
    {"gif", "GIF89a", 6, "gifload", walk_gif},
    {"webp", "RIFF", 4, "webpload", walk_webp},
};

#define FORMAT_COUNT (sizeof(formats) / sizeof(formats[0]))

static const struct format *sniff(const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < FORMAT_COUNT; i++) {
        const struct format *f = &formats[i];

        if (n < f->magic_len || memcmp(d, f->magic, f->magic_len) != 0)
            continue;
        if (f->walk == walk_webp && (n < 12 || memcmp(d + 8, "WEBP", 4) != 0))
            continue;
        return f;
    }
    return NULL;
}

/* Maps the file read-only and checks its magic bytes and structure. */
static enum image_status check_file(const char *path, const struct format **format, char *message,
                                    size_t message_size)
{
    struct stat st;
    void *map;
    const char *problem;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) != 0) {
        log_error("image: cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        snprintf(message, message_size, "the server could not read the upload");
        return IMAGE_FAILED;
    }
    if (st.st_size == 0) {
        close(fd);
        snprintf(message, message_size, "the file is empty");
        return IMAGE_UNSUPPORTED;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        log_error("image: cannot map %s: %s", path, strerror(errno));
        snprintf(message, message_size, "the server could not read the upload");
        return IMAGE_FAILED;
    }

    *format = sniff(map, (size_t)st.st_size);
    problem = *format != NULL ? (*format)->walk(map, (size_t)st.st_size) : NULL;
    munmap(map, (size_t)st.st_size);

    if (*format == NULL) {
        snprintf(message, message_size, "the file is not a JPEG, PNG, GIF or WebP image");
        return IMAGE_UNSUPPORTED;
    }
    if (problem != NULL) {
        snprintf(message, message_size, "the file is not a valid %s image: %s", (*format)->name,
                 problem);
        return IMAGE_UNSUPPORTED;
    }
    return IMAGE_OK;
}

/* ------------------------------------------------------------------------
 * libvips.
 */

/* Logs the libvips error buffer as one line and clears it. */
static void log_vips_error(const char *what)
{
    char line[512];
    size_t len;

    snprintf(line, sizeof(line), "%s", vips_error_buffer());
    vips_error_clear();
    for (len = 0; line[len] != '\0'; len++) {
        if (line[len] == '\n')
            line[len] = ' ';
    }
    while (len > 0 && line[len - 1] == ' ')
        line[--len] = '\0';
    log_warn("image: %s: %s", what, line[0] != '\0' ? line : "no details from libvips");
}

/* Loaders left usable; every other loader (SVG, PDF, TIFF, ImageMagick...)
 * is blocked, so libvips cannot be talked into parsing other formats. */
static const char *const allowed_loaders[] = {
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadWebp",
};

static void image_shutdown(void)
{
    vips_shutdown();
}

/* Sends libvips' own warnings (such as each corrupt tile of a rejected
 * upload) to the debug log as single lines: the failure that matters is
 * logged once from the error buffer. */
static void on_vips_message(const gchar *domain, GLogLevelFlags level, const gchar *message,
                            gpointer data)
{
    (void)domain;
    (void)level;
    (void)data;
    log_debug("image: libvips: %s", message);
}

int image_init(void)
{
    static int started;

    if (started)
        return 0;
    if (VIPS_INIT("blinkchat-api") != 0) {
        log_vips_error("libvips failed to start");
        return -1;
    }
    /* The web server runs several API processes, each serving one request
     * at a time, so one libvips worker thread each is enough. The operation
     * cache would keep decoded images of past requests in memory. */
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO,
                      on_vips_message, NULL);
    vips_concurrency_set(1);
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    for (size_t i = 0; i < sizeof(allowed_loaders) / sizeof(allowed_loaders[0]); i++)
        vips_operation_block_set(allowed_loaders[i], FALSE);
    atexit(image_shutdown);
    started = 1;
    log_info("image: libvips %s started", vips_version_string());
    return 0;
}

/* Reads the header only (sequential access decodes nothing yet) and checks
 * the loader and the pixel count. */
static enum image_status check_header(const char *path, const struct format *format, char *message,
                                      size_t message_size)
{
    VipsImage *header = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    const char *loader = NULL;
    long long width, height;

    if (header == NULL) {
        log_vips_error("header rejected");
        snprintf(message, message_size, "the file is not a valid %s image", format->name);
        return IMAGE_UNSUPPORTED;
    }
    if (vips_image_get_string(header, "vips-loader", &loader) != 0 || loader == NULL ||
        strcmp(loader, format->loader) != 0) {
        log_warn("image: %s file read by loader %s", format->name, loader ? loader : "-");
        vips_error_clear();
        g_object_unref(header);
        snprintf(message, message_size, "the file is not a valid %s image", format->name);
        return IMAGE_UNSUPPORTED;
    }
    width = vips_image_get_width(header);
    height = vips_image_get_page_height(header);
    g_object_unref(header);

    if (width * height > IMAGE_PIXELS_MAX) {
        snprintf(message, message_size,
                 "the image is %lld x %lld pixels; images may have at most %lld megapixels", width,
                 height, IMAGE_PIXELS_MAX / 1000000);
        return IMAGE_TOO_MANY_PIXELS;
    }
    return IMAGE_OK;
}

/*
 * Decodes the whole file into a display version of at most
 * IMAGE_DISPLAY_MAX pixels a side, upright per its EXIF orientation and
 * held in memory. Any libjpeg, libpng, libnsgif or libwebp warning fails
 * the decode: libjpeg reports a scan cut short by a marker only as a
 * warning, so a truncated JPEG with an EOI marker appended would pass
 * otherwise.
 */
static enum image_status make_display(const char *path, const struct format *format,
                                      VipsImage **out, char *message, size_t message_size)
{
    VipsImage *pipeline = NULL;

    if (vips_thumbnail(path, &pipeline, IMAGE_DISPLAY_MAX, "height", IMAGE_DISPLAY_MAX, "size",
                       VIPS_SIZE_DOWN, "fail_on", VIPS_FAIL_ON_WARNING, NULL) != 0 ||
        (*out = vips_image_copy_memory(pipeline)) == NULL) {
        log_vips_error("decode failed");
        if (pipeline != NULL)
            g_object_unref(pipeline);
        snprintf(message, message_size, "the %s image data is corrupt or truncated", format->name);
        return IMAGE_UNSUPPORTED;
    }
    g_object_unref(pipeline);
    return IMAGE_OK;
}

/*
 * Converts an image with an embedded ICC profile to sRGB, because the
 * encodings carry no profile and browsers show untagged images as sRGB.
 * A profile that libvips cannot use is ignored and the pixels kept as
 * they are.
 */
static void convert_to_srgb(VipsImage **img)
{
    VipsImage *converted = NULL;

    if (vips_image_get_typeof(*img, VIPS_META_ICC_NAME) == 0)
        return;
    if (vips_icc_transform(*img, &converted, "srgb", "embedded", TRUE, NULL) != 0) {
        log_vips_error("embedded ICC profile ignored");
        return;
    }
    g_object_unref(*img);
    *img = converted;
}

/* Removes an alpha band that is opaque everywhere, as libvips' GIF loader
 * gives some GIFs, so the image can be saved as JPEG. Returns 0 or -1. */
static int drop_opaque_alpha(VipsImage **img)
{
    VipsImage *alpha = NULL, *opaque = NULL;
    int bands = vips_image_get_bands(*img);
    VipsBandFormat band_format = vips_image_get_format(*img);
    double max = band_format == VIPS_FORMAT_UCHAR ? 255 : 65535;
    double min;

    if (!vips_image_hasalpha(*img) ||
        (band_format != VIPS_FORMAT_UCHAR && band_format != VIPS_FORMAT_USHORT))
        return 0;
    if (vips_extract_band(*img, &alpha, bands - 1, NULL) != 0 || vips_min(alpha, &min, NULL) != 0) {
        if (alpha != NULL)
            g_object_unref(alpha);
        return -1;
    }
    g_object_unref(alpha);
    if (min < max)
        return 0;
    if (vips_extract_band(*img, &opaque, 0, "n", bands - 1, NULL) != 0)
        return -1;
    g_object_unref(*img);
    *img = opaque;
    return 0;
}

/* Encodes img without any metadata (EXIF, XMP, IPTC, ICC) into enc. */
static int encode(VipsImage *img, int as_png, struct image_encoding *enc)
{
    int rc;

    if (as_png)
        rc = vips_pngsave_buffer(img, &enc->data, &enc->len, "strip", TRUE, "compression",
                                 PNG_COMPRESSION, NULL);
    else
        rc = vips_jpegsave_buffer(img, &enc->data, &enc->len, "strip", TRUE, "Q", JPEG_QUALITY,
                                  "optimize_coding", TRUE, NULL);
    if (rc != 0)
        return -1;
    enc->width = vips_image_get_width(img);
    enc->height = vips_image_get_height(img);
    return 0;
}

/* Encodes the display version and its thumbnail: JPEG, or PNG when the
 * image has transparency. */
static enum image_status encode_both(VipsImage *display, struct image *out, char *message,
                                     size_t message_size)
{
    VipsImage *thumb = NULL;
    int as_png = vips_image_hasalpha(display);
    enum image_status status = IMAGE_FAILED;

    out->content_type = as_png ? "image/png" : "image/jpeg";
    out->extension = as_png ? "png" : "jpg";
    if (encode(display, as_png, &out->display) != 0 ||
        vips_thumbnail_image(display, &thumb, IMAGE_THUMB_MAX, "height", IMAGE_THUMB_MAX, "size",
                             VIPS_SIZE_DOWN, NULL) != 0 ||
        encode(thumb, as_png, &out->thumb) != 0) {
        log_vips_error("encoding failed");
        snprintf(message, message_size, "the server failed to encode the image");
        goto done;
    }
    status = IMAGE_OK;
done:
    if (thumb != NULL)
        g_object_unref(thumb);
    return status;
}

enum image_status image_process(const char *path, struct image *out, char *message,
                                size_t message_size)
{
    const struct format *format = NULL;
    VipsImage *display = NULL;
    enum image_status status;

    memset(out, 0, sizeof(*out));
    status = check_file(path, &format, message, message_size);
    if (status == IMAGE_OK)
        status = check_header(path, format, message, message_size);
    if (status == IMAGE_OK)
        status = make_display(path, format, &display, message, message_size);
    if (status == IMAGE_OK)
        convert_to_srgb(&display);
    if (status == IMAGE_OK && drop_opaque_alpha(&display) != 0) {
        log_vips_error("alpha check failed");
        snprintf(message, message_size, "the server failed to encode the image");
        status = IMAGE_FAILED;
    }
    if (status == IMAGE_OK)
        status = encode_both(display, out, message, message_size);

    if (display != NULL)
        g_object_unref(display);
    if (status != IMAGE_OK)
        image_free(out);
    else
        out->source_format = format->name;
    return status;
}

void image_free(struct image *img)
{
    g_free(img->display.data);
    g_free(img->thumb.data);
    memset(img, 0, sizeof(*img));
}
