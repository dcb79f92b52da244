/* Redis-client helpers. Sync functions: any thread but never a loop thread. Async: loop thread. */
#include "common/redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/alloc.h"

const char *cm_redis_reply_type_name(int type)
{
    switch (type) {
    case REDIS_REPLY_STRING: return "string";
    case REDIS_REPLY_ARRAY: return "array";
    case REDIS_REPLY_INTEGER: return "integer";
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_STATUS: return "status";
    case REDIS_REPLY_ERROR: return "error";
    default: return "unknown";
    }
}

static redisReply *vcmd(redisContext *c, int expect, char *err, size_t errlen, const char *fmt,
                        va_list ap)
{
    redisReply *r = redisvCommand(c, fmt, ap);
    if (!r) {
        snprintf(err, errlen, "%s", c->errstr[0] ? c->errstr : "connection lost");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s", r->str);
    } else if (expect >= 0 && r->type != expect) {
        snprintf(err, errlen, "expected a reply of type %s, got %s",
                 cm_redis_reply_type_name(expect), cm_redis_reply_type_name(r->type));
    } else {
        return r;
    }
    freeReplyObject(r);
    return NULL;
}

redisReply *cm_redis_cmd(redisContext *c, int expect, char *err, size_t errlen, const char *fmt,
                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, expect, err, errlen, fmt, ap);
    va_end(ap);
    return r;
}

static int sync_handshake(redisContext *c, const struct cm_redis_url *u, char *err, size_t errlen)
{
    char why[128];
    redisReply *r = NULL;
    if (u->password && u->username)
        r = cm_redis_cmd(c, -1, why, sizeof(why), "AUTH %s %s", u->username, u->password);
    else if (u->password)
        r = cm_redis_cmd(c, -1, why, sizeof(why), "AUTH %s", u->password);
    else
        r = cm_redis_cmd(c, -1, why, sizeof(why), "PING");
    if (!r) {
        snprintf(err, errlen, "%s: %s", u->password ? "AUTH" : "PING", why);
        return -EACCES;
    }
    freeReplyObject(r);
    if (u->db != 0) {
        r = cm_redis_cmd(c, -1, why, sizeof(why), "SELECT %d", u->db);
        if (!r) {
            snprintf(err, errlen, "SELECT %d: %s", u->db, why);
            return -EINVAL;
        }
        freeReplyObject(r);
    }
    return 0;
}

redisContext *cm_redis_connect(const struct cm_redis_url *u, int timeout_ms, char *err,
                               size_t errlen)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = u->path ? redisConnectUnixWithTimeout(u->path, tv)
                              : redisConnectWithTimeout(u->host, u->port, tv);
    char *where = cm_redis_url_describe(u);
    char why[160];
    if (!c || c->err) {
        snprintf(err, errlen, "connect %s: %s", where, c ? c->errstr : "cannot allocate context");
        goto err_free;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, errlen, "connect %s: cannot set timeout: %s", where, c->errstr);
        goto err_free;
    }
    if (sync_handshake(c, u, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "connect %s: %s", where, why);
        goto err_free;
    }
    free(where);
    return c;
err_free:
    free(where);
    if (c)
        redisFree(c);
    return NULL;
}

redisAsyncContext *cm_redis_async_connect(const struct cm_redis_url *u, char *err, size_t errlen)
{
    redisAsyncContext *ac =
        u->path ? redisAsyncConnectUnix(u->path) : redisAsyncConnect(u->host, u->port);
    if (!ac || ac->err) {
        char *where = cm_redis_url_describe(u);
        snprintf(err, errlen, "connect %s: %s", where, ac ? ac->errstr : "cannot allocate context");
        free(where);
        if (ac)
            redisAsyncFree(ac);
        return NULL;
    }
    return ac;
}

int cm_redis_async_handshake(redisAsyncContext *ac, const struct cm_redis_url *u,
                             redisCallbackFn *cb, void *privdata)
{
    int last_is_auth = u->password && u->db == 0;
    if (u->password) {
        int rc = u->username ? redisAsyncCommand(ac, last_is_auth ? cb : NULL, privdata,
                                                 "AUTH %s %s", u->username, u->password)
                             : redisAsyncCommand(ac, last_is_auth ? cb : NULL, privdata, "AUTH %s",
                                                 u->password);
        if (rc != REDIS_OK)
            return -EIO;
    }
    if (u->db != 0)
        return redisAsyncCommand(ac, cb, privdata, "SELECT %d", u->db) == REDIS_OK ? 0 : -EIO;
    if (!u->password)
        return redisAsyncCommand(ac, cb, privdata, "PING") == REDIS_OK ? 0 : -EIO;
    return 0;
}

void cm_backoff_init(struct cm_backoff *b, int base_ms, int max_ms, unsigned seed)
{
    b->base_ms = base_ms > 0 ? base_ms : 1;
    b->max_ms = max_ms > b->base_ms ? max_ms : b->base_ms;
    b->cur_ms = 0;
    b->seed = seed;
}

int cm_backoff_next(struct cm_backoff *b)
{
    b->cur_ms =
        b->cur_ms == 0 ? b->base_ms : (b->cur_ms > b->max_ms / 2 ? b->max_ms : b->cur_ms * 2);
    int half = b->cur_ms / 2;
    return half + rand_r(&b->seed) % (b->cur_ms - half + 1);
}

void cm_backoff_reset(struct cm_backoff *b)
{
    b->cur_ms = 0;
}
