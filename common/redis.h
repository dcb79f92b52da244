/* Redis-client helpers shared by every daemon: connecting from a parsed URL (AUTH, SELECT),
 * reply checks, and reconnect backoff. Sync calls are for start-up checks, the CLI and tests;
 * loops use the async variant with their own adapter and never block. */
#ifndef CM_REDIS_H
#define CM_REDIS_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stddef.h>

#include "common/redis_url.h"

/* Blocking connect with a connect and I/O timeout, then AUTH and SELECT as the URL says.
 * Returns a context the caller frees with redisFree(), or NULL with the reason in err
 * ("connect 127.0.0.1:6379/0: Connection refused"). Never from a loop thread. */
redisContext *cm_redis_connect(const struct cm_redis_url *u, int timeout_ms, char *err,
                               size_t errlen);

/* Runs a blocking command and checks the reply type (REDIS_REPLY_*, or -1 for any non-error).
 * Returns the reply (caller frees with freeReplyObject) or NULL with the reason in err. */
redisReply *cm_redis_cmd(redisContext *c, int expect, char *err, size_t errlen, const char *fmt,
                         ...);

/* Starts a non-blocking connect. The caller attaches its loop adapter, sets its connect and
 * disconnect callbacks, then calls cm_redis_async_handshake(). Returns NULL with the reason in
 * err when the context cannot even be created. */
redisAsyncContext *cm_redis_async_connect(const struct cm_redis_url *u, char *err, size_t errlen);

/* Queues AUTH (when the URL has a password) and SELECT (when db != 0). cb gets the reply of the
 * last queued command, or of PING when there is none: a non-error reply means the connection is
 * ready. Loop thread. */
int cm_redis_async_handshake(redisAsyncContext *ac, const struct cm_redis_url *u,
                             redisCallbackFn *cb, void *privdata);

/* "string", "array", ... for logs. */
const char *cm_redis_reply_type_name(int type);

/* Exponential backoff with jitter for reconnects: each delay is uniformly drawn from
 * [d/2, d] where d doubles from base_ms up to max_ms. Not thread-safe per instance. */
struct cm_backoff {
    int base_ms;   /* first delay's upper bound */
    int max_ms;    /* cap */
    int cur_ms;    /* current upper bound; 0 before the first call */
    unsigned seed; /* rand_r state */
};

void cm_backoff_init(struct cm_backoff *b, int base_ms, int max_ms, unsigned seed);
int cm_backoff_next(struct cm_backoff *b);   /* the next delay in ms */
void cm_backoff_reset(struct cm_backoff *b); /* after a success */

#endif
