/*
 * The two media stores. Local files get 128-bit random names, so a URL
 * cannot be guessed, and are written with O_EXCL and synced before the
 * database row that names them commits. Cloudinary gets the display
 * version through a signed call of its upload API; the thumbnail is the
 * same asset resized by a Cloudinary delivery URL.
 */
#define _POSIX_C_SOURCE 200809L
#include "media_store.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"

#define CLOUDINARY_DEFAULT_BASE "https://api.cloudinary.com"
#define CLOUDINARY_THUMB_TRANSFORMATION "c_limit,w_320,h_320"
#define CLOUDINARY_TIMEOUT_SECONDS 30L
#define CLOUDINARY_CONNECT_TIMEOUT_SECONDS 10L
#define CLOUDINARY_REPLY_MAX (64 * 1024)
/* The folder of uploads being received, inside the media folder. */
#define TEMP_DIR_NAME ".incoming"
#define TEMP_MAX_AGE_SECONDS 3600

/* 16 random bytes as hex: the name of a stored image or temporary file. */
static void random_name(char out[33])
{
    unsigned char random[16];

    randombytes_buf(random, sizeof(random));
    sodium_bin2hex(out, 33, random, sizeof(random));
}

static int join_path(char *out, size_t out_size, const char *dir, const char *name)
{
    int n = snprintf(out, out_size, "%s/%s", dir, name);

    return n > 0 && (size_t)n < out_size ? 0 : -1;
}

/*
 * Removes temporary files older than TEMP_MAX_AGE_SECONDS, left by a
 * process that died during an upload. Younger ones may belong to uploads
 * that other processes are receiving now.
 */
static void remove_stale_temp_files(const char *temp_dir)
{
    DIR *dir = opendir(temp_dir);
    struct dirent *entry;
    time_t now = time(NULL);

    if (dir == NULL)
        return;
    while ((entry = readdir(dir)) != NULL) {
        char path[4096];
        struct stat st;

        if (strncmp(entry->d_name, "upload-", 7) != 0 ||
            join_path(path, sizeof(path), temp_dir, entry->d_name) != 0 || stat(path, &st) != 0 ||
            now - st.st_mtime < TEMP_MAX_AGE_SECONDS)
            continue;
        if (unlink(path) == 0)
            log_warn("media: removed the stale temporary file %s", path);
    }
    closedir(dir);
}

int media_store_create_temp(char *path, size_t path_size)
{
    static int cleaned;
    char temp_dir[4096], file[64], name[33];
    int fd;

    /* The web server serves the media folder, so the name must not be
     * guessable while the file exists. The folder is on the same file
     * system as the media and its name starts with a dot. */
    if (join_path(temp_dir, sizeof(temp_dir), cfg_str("BLINKCHAT_MEDIA_DIR"), TEMP_DIR_NAME) != 0) {
        log_error("media: BLINKCHAT_MEDIA_DIR is too long");
        return -1;
    }
    if (mkdir(temp_dir, 0700) != 0 && errno != EEXIST) {
        log_error("media: cannot create %s: %s", temp_dir, strerror(errno));
        return -1;
    }
    if (!cleaned) {
        remove_stale_temp_files(temp_dir);
        cleaned = 1;
    }

    random_name(name);
    snprintf(file, sizeof(file), "upload-%s.part", name);
    if (join_path(path, path_size, temp_dir, file) != 0) {
        log_error("media: BLINKCHAT_MEDIA_DIR is too long");
        return -1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        log_error("media: cannot create %s: %s", path, strerror(errno));
    return fd;
}

/* ------------------------------------------------------------------------
 * Local folder.
 */

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes a new file readable by the web server; removes it on failure. */
static int write_file(const char *dir, const char *name, const struct image_encoding *enc)
{
    char path[4096];
    int fd, ok;

    if (join_path(path, sizeof(path), dir, name) != 0) {
        log_error("media: BLINKCHAT_MEDIA_DIR is too long");
        return -1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error("media: cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    ok = write_all(fd, enc->data, enc->len) == 0 && fsync(fd) == 0;
    if (!ok)
        log_error("media: cannot write %s: %s", path, strerror(errno));
    if (close(fd) != 0 && ok) {
        log_error("media: cannot write %s: %s", path, strerror(errno));
        ok = 0;
    }
    if (!ok)
        unlink(path);
    return ok ? 0 : -1;
}

/* The thumbnail of display file NAME.EXT is NAME-thumb.EXT. */
static void thumb_name(const char *display_name, char *out, size_t out_size)
{
    const char *dot = strrchr(display_name, '.');
    int stem = dot != NULL ? (int)(dot - display_name) : (int)strlen(display_name);

    snprintf(out, out_size, "%.*s-thumb%s", stem, display_name, dot != NULL ? dot : "");
}

static void media_url(const char *name, char *out, size_t out_size)
{
    const char *base = cfg_str("BLINKCHAT_MEDIA_URL");
    size_t len = strlen(base);

    snprintf(out, out_size, "%s%s%s", base, len > 0 && base[len - 1] == '/' ? "" : "/", name);
}

static int save_local(const struct image *img, struct stored_image *out)
{
    const char *dir = cfg_str("BLINKCHAT_MEDIA_DIR");
    char name[33], thumb[64];

    random_name(name);
    out->store = "local";
    snprintf(out->storage_key, sizeof(out->storage_key), "%s.%s", name, img->extension);
    thumb_name(out->storage_key, thumb, sizeof(thumb));

    if (write_file(dir, out->storage_key, &img->display) != 0)
        return -1;
    if (write_file(dir, thumb, &img->thumb) != 0) {
        char path[4096];

        if (join_path(path, sizeof(path), dir, out->storage_key) == 0)
            unlink(path);
        return -1;
    }
    media_url(out->storage_key, out->url, sizeof(out->url));
    media_url(thumb, out->thumb_url, sizeof(out->thumb_url));
    return 0;
}

static void remove_local(const struct stored_image *stored)
{
    const char *dir = cfg_str("BLINKCHAT_MEDIA_DIR");
    char thumb[300], path[4096];
    const char *names[2] = {stored->storage_key, thumb};

    thumb_name(stored->storage_key, thumb, sizeof(thumb));
    for (int i = 0; i < 2; i++) {
        if (join_path(path, sizeof(path), dir, names[i]) == 0 && unlink(path) != 0)
            log_error("media: cannot remove %s: %s", path, strerror(errno));
    }
}

/* ------------------------------------------------------------------------
 * Cloudinary upload API.
 */

struct cloudinary {
    const char *cloud_name;
    const char *api_key;
    const char *api_secret;
    char endpoint_base[512];
};

/* Fills c from the configuration. Returns 1 when Cloudinary is
 * configured, 0 when none of its credentials are set, and -1 after
 * logging when only some are or the cloud name is invalid. */
static int cloudinary_config(struct cloudinary *c)
{
    const char *base = cfg_str("BLINKCHAT_CLOUDINARY_UPLOAD_URL");
    size_t len;
    int set;

    c->cloud_name = cfg_str("BLINKCHAT_CLOUDINARY_CLOUD_NAME");
    c->api_key = cfg_str("BLINKCHAT_CLOUDINARY_API_KEY");
    c->api_secret = cfg_str("BLINKCHAT_CLOUDINARY_API_SECRET");
    set = (c->cloud_name[0] != '\0') + (c->api_key[0] != '\0') + (c->api_secret[0] != '\0');
    if (set == 0)
        return 0;
    if (set != 3) {
        log_error("media: set all of BLINKCHAT_CLOUDINARY_CLOUD_NAME, _API_KEY and "
                  "_API_SECRET, or none of them to store images locally");
        return -1;
    }
    if (strspn(c->cloud_name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "0123456789_-") != strlen(c->cloud_name)) {
        log_error("media: BLINKCHAT_CLOUDINARY_CLOUD_NAME may contain only letters, "
                  "digits, '_' and '-'");
        return -1;
    }
    if (base[0] == '\0')
        base = CLOUDINARY_DEFAULT_BASE;
    len = strlen(base);
    while (len > 0 && base[len - 1] == '/')
        len--;
    snprintf(c->endpoint_base, sizeof(c->endpoint_base), "%.*s", (int)len, base);
    return 1;
}

struct signed_param {
    const char *name;
    const char *value;
};

static int compare_params(const void *a, const void *b)
{
    return strcmp(((const struct signed_param *)a)->name, ((const struct signed_param *)b)->name);
}

/*
 * Computes the Cloudinary request signature: the hex SHA-1 of the signed
 * parameters sorted by name, joined as "name=value" with '&', followed by
 * the API secret. file, api_key, resource_type and cloud_name are never
 * signed. Sorts params in place; returns 0 or -1.
 */
static int cloudinary_sign(struct signed_param *params, size_t count, const char *secret,
                           char signature[41])
{
    struct buf text;
    gchar *digest;
    int rc = -1;

    qsort(params, count, sizeof(params[0]), compare_params);
    buf_init(&text, 4096);
    for (size_t i = 0; i < count; i++)
        buf_printf(&text, "%s%s=%s", i > 0 ? "&" : "", params[i].name, params[i].value);
    buf_puts(&text, secret);
    if (!text.failed && (digest = g_compute_checksum_for_data(
                             G_CHECKSUM_SHA1, (const guchar *)text.data, text.len)) != NULL) {
        snprintf(signature, 41, "%s", digest);
        g_free(digest);
        rc = 0;
    }
    if (text.data != NULL)
        sodium_memzero(text.data, text.cap);
    buf_free(&text);
    return rc;
}

static size_t collect_reply(char *data, size_t size, size_t count, void *ctx)
{
    struct buf *reply = ctx;

    /* Returning less than given makes libcurl stop with CURLE_WRITE_ERROR. */
    return buf_append(reply, data, size * count) == 0 ? size * count : 0;
}

static void add_field(curl_mime *mime, const char *name, const char *value)
{
    curl_mimepart *part = curl_mime_addpart(mime);

    curl_mime_name(part, name);
    curl_mime_data(part, value, CURL_ZERO_TERMINATED);
}

/*
 * Sends a signed multipart POST to ENDPOINT_BASE/v1_1/CLOUD/image/ACTION
 * with the signed params, api_key and signature, plus the display version
 * of img as the file when img is not NULL. Returns the parsed JSON reply
 * of a 200 response (the caller puts it), or NULL after logging.
 */
static json_object *cloudinary_call(const struct cloudinary *c, const char *action,
                                    struct signed_param *params, size_t count,
                                    const struct image *img)
{
    static int curl_started;
    char url[1024], signature[41];
    CURL *curl = NULL;
    curl_mime *mime = NULL;
    struct buf reply;
    json_object *json = NULL;
    long http_status = 0;
    CURLcode code;

    buf_init(&reply, CLOUDINARY_REPLY_MAX);
    if (!curl_started) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            log_error("media: libcurl failed to start");
            goto done;
        }
        curl_started = 1;
    }
    snprintf(url, sizeof(url), "%s/v1_1/%s/image/%s", c->endpoint_base, c->cloud_name, action);
    if (cloudinary_sign(params, count, c->api_secret, signature) != 0 ||
        (curl = curl_easy_init()) == NULL || (mime = curl_mime_init(curl)) == NULL) {
        log_error("media: cannot prepare the Cloudinary %s request", action);
        goto done;
    }

    if (img != NULL) {
        curl_mimepart *file = curl_mime_addpart(mime);

        curl_mime_name(file, "file");
        curl_mime_data(file, img->display.data, img->display.len);
        curl_mime_filename(file, strcmp(img->extension, "png") == 0 ? "image.png" : "image.jpg");
        curl_mime_type(file, img->content_type);
    }
    for (size_t i = 0; i < count; i++)
        add_field(mime, params[i].name, params[i].value);
    add_field(mime, "api_key", c->api_key);
    add_field(mime, "signature", signature);

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, CLOUDINARY_TIMEOUT_SECONDS);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CLOUDINARY_CONNECT_TIMEOUT_SECONDS);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "blinkchat-api");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_reply);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);

    code = curl_easy_perform(curl);
    if (code != CURLE_OK) {
        log_error("media: Cloudinary %s request to %s failed: %s", action, c->endpoint_base,
                  curl_easy_strerror(code));
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status);
    json = reply.len > 0 ? json_tokener_parse(reply.data) : NULL;
    if (http_status != 200 || json == NULL || !json_object_is_type(json, json_type_object)) {
        json_object *error = NULL, *message = NULL;

        json_object_object_get_ex(json, "error", &error);
        json_object_object_get_ex(error, "message", &message);
        log_error("media: Cloudinary %s failed with HTTP %ld: %.300s", action, http_status,
                  message != NULL ? json_object_get_string(message) : "no error message");
        json_object_put(json);
        json = NULL;
    }
done:
    curl_mime_free(mime);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    buf_free(&reply);
    return json;
}

static const char *json_string_field(json_object *obj, const char *name)
{
    json_object *field;

    if (!json_object_object_get_ex(obj, name, &field) ||
        !json_object_is_type(field, json_type_string))
        return NULL;
    return json_object_get_string(field);
}

/* The delivery URL of the asset resized to a thumbnail: the transformation
 * goes after "/image/upload/". Returns the URL unchanged when it has no
 * such part. */
static void cloudinary_thumb_url(const char *url, char *out, size_t out_size)
{
    const char *marker = "/image/upload/";
    const char *at = strstr(url, marker);

    if (at == NULL) {
        snprintf(out, out_size, "%s", url);
        return;
    }
    at += strlen(marker);
    snprintf(out, out_size, "%.*s%s/%s", (int)(at - url), url, CLOUDINARY_THUMB_TRANSFORMATION, at);
}

static void cloudinary_destroy(const struct cloudinary *c, const char *public_id)
{
    char timestamp[24];
    struct signed_param params[] = {{"public_id", public_id}, {"timestamp", timestamp}};
    json_object *reply;

    snprintf(timestamp, sizeof(timestamp), "%lld", (long long)time(NULL));
    reply = cloudinary_call(c, "destroy", params, 2, NULL);
    if (reply != NULL) {
        const char *result = json_string_field(reply, "result");

        if (result == NULL || strcmp(result, "ok") != 0)
            log_error("media: Cloudinary did not destroy %s: result %s", public_id,
                      result != NULL ? result : "missing");
        json_object_put(reply);
    }
}

static int save_cloudinary(const struct cloudinary *c, const struct image *img,
                           struct stored_image *out)
{
    char timestamp[24];
    struct signed_param params[] = {{"timestamp", timestamp}};
    const char *secure_url, *public_id;
    json_object *reply;
    int rc = -1;

    snprintf(timestamp, sizeof(timestamp), "%lld", (long long)time(NULL));
    reply = cloudinary_call(c, "upload", params, 1, img);
    if (reply == NULL)
        return -1;

    secure_url = json_string_field(reply, "secure_url");
    public_id = json_string_field(reply, "public_id");
    if (secure_url == NULL || public_id == NULL || strncmp(secure_url, "https://", 8) != 0 ||
        strlen(secure_url) + sizeof(CLOUDINARY_THUMB_TRANSFORMATION) >= sizeof(out->url) ||
        strlen(public_id) >= sizeof(out->storage_key)) {
        log_error("media: the Cloudinary upload reply lacks a valid secure_url or public_id");
        if (public_id != NULL && strlen(public_id) < sizeof(out->storage_key))
            cloudinary_destroy(c, public_id);
        goto done;
    }
    out->store = "cloudinary";
    snprintf(out->storage_key, sizeof(out->storage_key), "%s", public_id);
    snprintf(out->url, sizeof(out->url), "%s", secure_url);
    cloudinary_thumb_url(secure_url, out->thumb_url, sizeof(out->thumb_url));
    rc = 0;
done:
    json_object_put(reply);
    return rc;
}

/* ------------------------------------------------------------------------
 * The store in use.
 */

int media_store_save(const struct image *img, struct stored_image *out, char *message,
                     size_t message_size)
{
    struct cloudinary c;
    int configured = cloudinary_config(&c);

    memset(out, 0, sizeof(*out));
    if (configured < 0) {
        snprintf(message, message_size,
                 "the image store is misconfigured; ask the administrator to check the "
                 "Cloudinary settings");
        return -1;
    }
    if (configured == 1 ? save_cloudinary(&c, img, out) != 0 : save_local(img, out) != 0) {
        snprintf(message, message_size, "the image could not be stored (%s store); try again later",
                 configured == 1 ? "Cloudinary" : "local");
        return -1;
    }
    return 0;
}

void media_store_remove(const struct stored_image *stored)
{
    struct cloudinary c;

    if (stored->store == NULL)
        return;
    if (strcmp(stored->store, "local") == 0)
        remove_local(stored);
    else if (cloudinary_config(&c) == 1)
        cloudinary_destroy(&c, stored->storage_key);
}
