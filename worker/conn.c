/* Reconnecting Redis connection on a libevent loop. Loop thread only. */
#include "worker/conn.h"

#include <hiredis/adapters/libevent.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"

static void connect_now(struct wk_conn *c);

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct wk_conn *c = arg;
    if (c->ac && !c->ready) { /* connect deadline passed */
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        cm_log(CM_LOG_WARN, "redis %s: no answer within %d ms", c->name, c->timeout_ms);
        redisAsyncFree(ac);
    }
    if (!c->ac && !c->closing)
        connect_now(c);
}

static void schedule(struct wk_conn *c, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

static void retry_later(struct wk_conn *c)
{
    if (c->closing)
        return;
    int ms = cm_backoff_next(&c->backoff);
    cm_log(CM_LOG_INFO, "redis %s: reconnecting in %d ms", c->name, ms);
    schedule(c, ms);
}

static void handshake_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct wk_conn *c = priv;
    redisReply *r = reply;
    if (c->ac != ac || !r)
        return; /* a stale context, or the connection is going away */
    if (r->type == REDIS_REPLY_ERROR) {
        cm_log(CM_LOG_ERROR, "redis %s: handshake refused: %s", c->name, r->str);
        redisAsyncDisconnect(ac);
        return;
    }
    evtimer_del(c->timer);
    c->ready = true;
    c->connects++;
    cm_backoff_reset(&c->backoff);
    if (c->connects > 1)
        cm_log(CM_LOG_INFO, "redis %s: reconnected", c->name);
    if (c->on_ready)
        c->on_ready(c);
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    struct wk_conn *c = ac->data;
    if (status == REDIS_OK || c->ac != ac)
        return;
    cm_log(CM_LOG_WARN, "redis %s: connect failed: %s", c->name, ac->errstr);
    c->ac = NULL; /* hiredis frees it after this callback */
    evtimer_del(c->timer);
    retry_later(c);
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct wk_conn *c = ac->data;
    if (c->ac != ac)
        return;
    bool was_ready = c->ready;
    c->ac = NULL;
    c->ready = false;
    evtimer_del(c->timer);
    if (c->closing)
        return;
    if (status != REDIS_OK)
        cm_log(CM_LOG_WARN, "redis %s: connection lost: %s", c->name, ac->errstr);
    c->losses++;
    if (was_ready && c->on_lost)
        c->on_lost(c);
    retry_later(c);
}

static void connect_now(struct wk_conn *c)
{
    char err[256];
    redisAsyncContext *ac = cm_redis_async_connect(c->url, err, sizeof(err));
    if (!ac) {
        cm_log(CM_LOG_WARN, "redis %s: %s", c->name, err);
        retry_later(c);
        return;
    }
    ac->data = c;
    c->ac = ac;
    redisLibeventAttach(ac, c->base);
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    cm_redis_async_handshake(ac, c->url, handshake_cb, c);
    schedule(c, c->timeout_ms);
}

void wk_conn_init(struct wk_conn *c, const char *name, struct event_base *base,
                  const struct cm_redis_url *url, int timeout_ms, void *owner)
{
    *c = (struct wk_conn){
        .name = name, .base = base, .url = url, .timeout_ms = timeout_ms, .owner = owner};
    cm_backoff_init(&c->backoff, 100, 5000, (unsigned)getpid() ^ (unsigned)(uintptr_t)c);
    c->timer = evtimer_new(base, timer_cb, c);
}

void wk_conn_start(struct wk_conn *c)
{
    c->closing = false;
    connect_now(c);
}

void wk_conn_close(struct wk_conn *c)
{
    c->closing = true;
    evtimer_del(c->timer);
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        if (!c->ready) {
            c->ac = NULL;
            redisAsyncFree(ac);
        } else {
            redisAsyncDisconnect(ac);
        }
    }
}

void wk_conn_reset(struct wk_conn *c)
{
    if (c->ac)
        redisAsyncDisconnect(c->ac);
}

void wk_conn_deinit(struct wk_conn *c)
{
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        redisAsyncFree(ac);
    }
    if (c->timer)
        event_free(c->timer);
    c->timer = NULL;
}
