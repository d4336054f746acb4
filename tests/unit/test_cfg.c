/* Configuration loading from a file and the environment. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cfg.h"
#include "unit.h"

static int write_config(char *path, size_t size, const char *text)
{
    int fd;
    FILE *f;

    snprintf(path, size, "/tmp/blinkchat-unit-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0)
        return -1;
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return 0;
}

static void cfg_file_and_environment(void)
{
    char path[64], err[256];

    CHECK(write_config(path, sizeof(path),
                       "# comment\n\nBLINKCHAT_PUSHD_PORT = 9001\n"
                       "BLINKCHAT_LOG_LEVEL=debug\n") == 0);
    setenv("BLINKCHAT_LOG_LEVEL", "warn", 1);
    CHECK(cfg_load(path, err, sizeof(err)) == 0);
    CHECK(cfg_int("BLINKCHAT_PUSHD_PORT") == 9001);
    CHECK_STR(cfg_str("BLINKCHAT_LOG_LEVEL"), "warn");
    CHECK_STR(cfg_str("BLINKCHAT_MEDIA_URL"), "/media/");
    unsetenv("BLINKCHAT_LOG_LEVEL");
    unlink(path);
    cfg_free();
}

static void cfg_rejects_unknown_key(void)
{
    char path[64], err[256];

    CHECK(write_config(path, sizeof(path), "BLINKCHAT_PUSHD_PROT=1\n") == 0);
    CHECK(cfg_load(path, err, sizeof(err)) == -1);
    CHECK(strstr(err, "unknown setting BLINKCHAT_PUSHD_PROT") != NULL);
    unlink(path);
    cfg_free();
}

static void cfg_rejects_bad_integer(void)
{
    char err[256];

    setenv("BLINKCHAT_UPLOAD_MAX_BYTES", "10MB", 1);
    CHECK(cfg_load(NULL, err, sizeof(err)) == -1);
    CHECK(strstr(err, "BLINKCHAT_UPLOAD_MAX_BYTES") != NULL);
    unsetenv("BLINKCHAT_UPLOAD_MAX_BYTES");
    cfg_free();
}

static void cfg_requires_secret(void)
{
    char err[256];
    char *saved = strdup(getenv("BLINKCHAT_JWT_SECRET"));

    setenv("BLINKCHAT_JWT_SECRET", "short", 1);
    CHECK(cfg_load(NULL, err, sizeof(err)) == -1);
    CHECK(strstr(err, "BLINKCHAT_JWT_SECRET") != NULL);
    setenv("BLINKCHAT_JWT_SECRET", saved, 1);
    free(saved);
    cfg_free();
    CHECK(cfg_load(NULL, err, sizeof(err)) == 0);
}

const struct unit_test cfg_tests[] = {
    {"cfg file and environment", cfg_file_and_environment},
    {"cfg rejects unknown key", cfg_rejects_unknown_key},
    {"cfg rejects bad integer", cfg_rejects_bad_integer},
    {"cfg requires secret", cfg_requires_secret},
    {NULL, NULL},
};
