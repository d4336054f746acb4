/*
 * Configuration loading. The table below is the single list of settings;
 * deploy/blinkchat.conf.example documents the same keys for operators.
 */
#define _POSIX_C_SOURCE 200809L
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cfg_key {
    const char *name;
    const char *default_value;
    int is_integer;
    char *value; /* owned; NULL until loaded */
};

static struct cfg_key keys[] = {
    {"BLINKCHAT_DATABASE_URL", "postgresql:///blinkchat", 0, NULL},
    {"BLINKCHAT_REDIS_URL", "redis://127.0.0.1:6379/0", 0, NULL},
    {"BLINKCHAT_JWT_SECRET", "", 0, NULL},
    {"BLINKCHAT_PUBLIC_ORIGIN", "http://localhost:8080", 0, NULL},
    {"BLINKCHAT_SESSION_TTL_SECONDS", "2592000", 1, NULL},
    {"BLINKCHAT_PUSHD_HOST", "127.0.0.1", 0, NULL},
    {"BLINKCHAT_PUSHD_PORT", "8081", 1, NULL},
    /* Seconds an idle WebSocket waits for a ping; twice that without a
     * pong closes it. */
    {"BLINKCHAT_PUSHD_PING_SECONDS", "30", 1, NULL},
    {"BLINKCHAT_MEDIA_DIR", "var/media", 0, NULL},
    {"BLINKCHAT_MEDIA_URL", "/media/", 0, NULL},
    {"BLINKCHAT_UPLOAD_MAX_BYTES", "10485760", 1, NULL},
    {"BLINKCHAT_CLOUDINARY_CLOUD_NAME", "", 0, NULL},
    {"BLINKCHAT_CLOUDINARY_API_KEY", "", 0, NULL},
    {"BLINKCHAT_CLOUDINARY_API_SECRET", "", 0, NULL},
    {"BLINKCHAT_CLOUDINARY_UPLOAD_URL", "", 0, NULL},
    {"BLINKCHAT_LOGIN_MAX_FAILURES_PER_USER", "10", 1, NULL},
    {"BLINKCHAT_LOGIN_MAX_FAILURES_PER_ADDRESS", "100", 1, NULL},
    {"BLINKCHAT_LOGIN_WINDOW_SECONDS", "900", 1, NULL},
    {"BLINKCHAT_PASSWORD_MEMLIMIT_KIB", "65536", 1, NULL},
    {"BLINKCHAT_PASSWORD_OPSLIMIT", "2", 1, NULL},
    {"BLINKCHAT_PRESENCE_GROUP_LIMIT", "50", 1, NULL},
    {"BLINKCHAT_CACHE", "on", 0, NULL},
    {"BLINKCHAT_LOG_LEVEL", "info", 0, NULL},
};

#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]))

static struct cfg_key *find_key(const char *name)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    }
    return NULL;
}

static int set_value(struct cfg_key *key, const char *value)
{
    char *copy = strdup(value);

    if (copy == NULL)
        return -1;
    free(key->value);
    key->value = copy;
    return 0;
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Parses one "KEY=VALUE" line; blank lines and '#' comments are skipped. */
static int parse_line(char *line, const char *path, int lineno, char *err,
                      size_t err_size)
{
    char *eq, *name, *value;
    struct cfg_key *key;

    name = trim(line);
    if (*name == '\0' || *name == '#')
        return 0;
    eq = strchr(name, '=');
    if (eq == NULL) {
        snprintf(err, err_size, "%s:%d: expected KEY=VALUE", path, lineno);
        return -1;
    }
    *eq = '\0';
    name = trim(name);
    value = trim(eq + 1);
    key = find_key(name);
    if (key == NULL) {
        snprintf(err, err_size, "%s:%d: unknown setting %s", path, lineno,
                 name);
        return -1;
    }
    if (set_value(key, value) != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

static int load_file(const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int lineno = 0;
    int status = 0;

    if (f == NULL) {
        snprintf(err, err_size, "cannot open configuration %s: %s", path,
                 strerror(errno));
        return -1;
    }
    while (status == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        status = parse_line(line, path, lineno, err, err_size);
    }
    fclose(f);
    return status;
}

static int check_integers(char *err, size_t err_size)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const char *v = cfg_str(keys[i].name);
        char *end;

        if (!keys[i].is_integer)
            continue;
        errno = 0;
        if (strtoll(v, &end, 10) < 0 || errno != 0 || end == v ||
            *end != '\0') {
            snprintf(err, err_size, "%s must be a non-negative integer, got '%s'",
                     keys[i].name, v);
            return -1;
        }
    }
    return 0;
}

int cfg_load(const char *path, char *err, size_t err_size)
{
    if (path == NULL)
        path = getenv("BLINKCHAT_CONFIG");
    if (path != NULL && *path != '\0' && load_file(path, err, err_size) != 0)
        return -1;

    for (size_t i = 0; i < KEY_COUNT; i++) {
        const char *env = getenv(keys[i].name);

        if (env != NULL && set_value(&keys[i], env) != 0) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
    }
    if (check_integers(err, err_size) != 0)
        return -1;

    /* HS256 needs a key at least as long as its 256-bit output (RFC 7518
     * section 3.2); a missing secret is fatal, never a silent default. */
    if (strlen(cfg_str("BLINKCHAT_JWT_SECRET")) < 32) {
        snprintf(err, err_size,
                 "BLINKCHAT_JWT_SECRET is missing or shorter than 32 "
                 "characters; set it in the configuration file or the "
                 "environment (e.g. from `openssl rand -hex 32`)");
        return -1;
    }
    return 0;
}

const char *cfg_str(const char *key)
{
    struct cfg_key *k = find_key(key);

    if (k == NULL)
        return "";
    return k->value ? k->value : k->default_value;
}

long long cfg_int(const char *key)
{
    struct cfg_key *k = find_key(key);
    const char *v = cfg_str(key);
    char *end;
    long long n;

    if (k == NULL)
        return 0;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0')
        n = strtoll(k->default_value, NULL, 10);
    return n;
}

int cfg_cookie_secure(void)
{
    return strncmp(cfg_str("BLINKCHAT_PUBLIC_ORIGIN"), "https://", 8) == 0;
}

void cfg_free(void)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        free(keys[i].value);
        keys[i].value = NULL;
    }
}
