/*
 * The hiredis event hooks: hiredis asks for read and write readiness, a
 * uv_poll handle on the connection's socket reports it.
 */
#define _POSIX_C_SOURCE 200809L
#include "redis_uv.h"

#include <stdlib.h>

struct redis_uv {
    redisAsyncContext *context; /* NULL once hiredis has cleaned up */
    uv_poll_t handle;
    int events; /* UV_READABLE | UV_WRITABLE as hiredis asked */
};

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct redis_uv *p = handle->data;

    if (p->context == NULL)
        return;
    if (status < 0) {
        /* libuv stopped the handle on POLLERR. Reading or writing now
         * makes hiredis see the socket error and disconnect; a connect
         * in progress is checked by the write handler. */
        events = (p->context->c.flags & REDIS_CONNECTED) ? UV_READABLE : UV_WRITABLE;
    }
    if (events & UV_READABLE)
        redisAsyncHandleRead(p->context);
    if (p->context != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->context);
    if (status < 0 && p->context != NULL && p->events != 0)
        uv_poll_start(&p->handle, p->events, on_poll);
}

static void update(struct redis_uv *p, int events)
{
    p->events = events;
    if (events != 0)
        uv_poll_start(&p->handle, events, on_poll);
    else
        uv_poll_stop(&p->handle);
}

static void add_read(void *data)
{
    struct redis_uv *p = data;

    update(p, p->events | UV_READABLE);
}

static void del_read(void *data)
{
    struct redis_uv *p = data;

    update(p, p->events & ~UV_READABLE);
}

static void add_write(void *data)
{
    struct redis_uv *p = data;

    update(p, p->events | UV_WRITABLE);
}

static void del_write(void *data)
{
    struct redis_uv *p = data;

    update(p, p->events & ~UV_WRITABLE);
}

static void free_hooks(uv_handle_t *handle)
{
    free(handle->data);
}

/* hiredis is freeing the context: the handle goes with the next loop turn. */
static void cleanup(void *data)
{
    struct redis_uv *p = data;

    p->context = NULL;
    uv_close((uv_handle_t *)&p->handle, free_hooks);
}

int redis_uv_attach(redisAsyncContext *context, uv_loop_t *loop)
{
    struct redis_uv *p;

    if (context->ev.data != NULL)
        return REDIS_ERR;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return REDIS_ERR;
    if (uv_poll_init(loop, &p->handle, context->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->handle.data = p;
    p->context = context;
    context->ev.addRead = add_read;
    context->ev.delRead = del_read;
    context->ev.addWrite = add_write;
    context->ev.delWrite = del_write;
    context->ev.cleanup = cleanup;
    context->ev.data = p;
    return REDIS_OK;
}
