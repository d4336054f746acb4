/*
 * Configuration shared by the API and the push daemon: a file of KEY=VALUE
 * lines (path in $BLINKCHAT_CONFIG), where the environment variable of the
 * same name overrides each key. Every known key, its default and its
 * meaning are listed in the table in cfg.c; unknown keys in the file are
 * an error so that a typo does not silently fall back to a default.
 */
#ifndef BLINKCHAT_CFG_H
#define BLINKCHAT_CFG_H

#include <stddef.h>

/*
 * Loads the configuration from path (NULL: $BLINKCHAT_CONFIG, or none) and
 * the environment. Returns 0, or -1 after writing a message to err.
 */
int cfg_load(const char *path, char *err, size_t err_size);

/* Returns the value of key; never NULL for a key in the table. */
const char *cfg_str(const char *key);

/* Returns the value of key as an integer, or the default if it is invalid. */
long long cfg_int(const char *key);

/* Returns 1 when the public origin is https, so cookies get Secure. */
int cfg_cookie_secure(void);

/* Releases the values loaded by cfg_load. */
void cfg_free(void);

#endif
