/*
 * hiredis event hooks on a libuv loop. hiredis 0.14.1 ships such an
 * adapter (adapters/libuv.h), but it ignores a poll error: when a
 * non-blocking connect is refused or a connection is reset, libuv stops
 * the poll handle and reports UV_EBADF, the adapter returns, and hiredis
 * never learns that the connection failed, so no callback fires and the
 * daemon never reconnects. These hooks hand such errors to hiredis.
 */
#ifndef PUSHD_REDIS_UV_H
#define PUSHD_REDIS_UV_H

#include <hiredis.h>
#include <async.h>
#include <uv.h>

/* Attaches context to loop. Returns REDIS_OK, or REDIS_ERR when the context
 * is attached already or memory is short. hiredis frees what this
 * allocates through the cleanup hook. */
int redis_uv_attach(redisAsyncContext *context, uv_loop_t *loop);

#endif
