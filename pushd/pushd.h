/*
 * State of the push daemon shared by its modules: the loop, the
 * libwebsockets context and the settings read at start. Each module keeps
 * its own state private; this header holds only what several of them read.
 */
#ifndef PUSHD_PUSHD_H
#define PUSHD_PUSHD_H

#include <uv.h>

struct lws_context;

/* A frame from a client may not exceed this (RFC 6455 close code 1009). */
#define PUSHD_MAX_FRAME_BYTES (64 * 1024)
/* Pending frames per socket; past this the socket is closed with 1008. */
#define PUSHD_MAX_QUEUED_BYTES (1024 * 1024)

struct pushd {
    uv_loop_t *loop;
    struct lws_context *lws;
    /* Random per start; names this process in the Redis presence sets. */
    char instance_id[33];
    const char *public_origin;
    const char *jwt_secret;
    long long presence_group_limit;
    int shutting_down;
};

extern struct pushd pushd;

/* Returns the wall-clock time in milliseconds since the Unix epoch. */
long long pushd_now_ms(void);

/* Begins an orderly stop: sockets close with 1001 and the loop ends. */
void pushd_shutdown(void);

#endif
