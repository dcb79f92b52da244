/* Reconnecting Redis connection on any loop (see rconn.h). Loop thread only. */
#include "common/rconn.h"

#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"

static void connect_now(struct cm_rconn *c);
static int wd_period(const struct cm_rconn *c);

static void timer_cb(void *arg)
{
    struct cm_rconn *c = arg;
    if (c->ac && !c->ready) { /* connect deadline passed */
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        cm_log(CM_LOG_WARN, "redis %s: no answer within %d ms", c->name, c->timeout_ms);
        redisAsyncFree(ac);
    }
    if (!c->ac && !c->closing)
        connect_now(c);
}

static void schedule(struct cm_rconn *c, int ms)
{
    c->lp->timer_start(c->timer, ms);
}

static void retry_later(struct cm_rconn *c)
{
    if (c->closing)
        return;
    int ms = cm_backoff_next(&c->backoff);
    cm_log(CM_LOG_INFO, "redis %s: reconnecting in %d ms", c->name, ms);
    schedule(c, ms);
}

static void handshake_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cm_rconn *c = priv;
    redisReply *r = reply;
    if (c->ac != ac || !r)
        return; /* a stale context, or the connection is going away */
    if (r->type == REDIS_REPLY_ERROR) {
        cm_log(CM_LOG_ERROR, "redis %s: handshake refused: %s", c->name, r->str);
        redisAsyncDisconnect(ac);
        return;
    }
    c->lp->timer_stop(c->timer);
    c->ready = true;
    c->connects++;
    c->probe_inflight = false;
    c->probe_ok_ms = c->progress_ms = cm_time_mono_ms();
    if (c->watch)
        c->lp->timer_start(c->wd_timer, wd_period(c));
    cm_backoff_reset(&c->backoff);
    if (c->connects > 1)
        cm_log(CM_LOG_INFO, "redis %s: reconnected", c->name);
    if (c->on_ready)
        c->on_ready(c);
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    struct cm_rconn *c = ac->data;
    if (status == REDIS_OK || c->ac != ac)
        return;
    cm_log(CM_LOG_WARN, "redis %s: connect failed: %s", c->name, ac->errstr);
    c->ac = NULL; /* hiredis frees it after this callback */
    c->lp->timer_stop(c->timer);
    retry_later(c);
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct cm_rconn *c = ac->data;
    if (c->ac != ac)
        return;
    bool was_ready = c->ready;
    c->ac = NULL;
    c->ready = false;
    c->probe_inflight = false;
    c->lp->timer_stop(c->timer);
    if (c->wd_timer)
        c->lp->timer_stop(c->wd_timer);
    if (c->closing)
        return;
    if (status != REDIS_OK)
        cm_log(CM_LOG_WARN, "redis %s: connection lost: %s", c->name, ac->errstr);
    c->losses++;
    if (was_ready && c->on_lost)
        c->on_lost(c);
    retry_later(c);
}

static void connect_now(struct cm_rconn *c)
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
    if (c->lp->attach(ac, c->lp->loop) != 0) {
        c->ac = NULL;
        redisAsyncFree(ac);
        cm_log(CM_LOG_ERROR, "redis %s: cannot attach to the loop", c->name);
        retry_later(c);
        return;
    }
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    cm_redis_async_handshake(ac, c->url, handshake_cb, c);
    schedule(c, c->timeout_ms);
}

/* ---- command deadline ---------------------------------------------------------------------- */

#define CM_RCONN_KEEPALIVE_MS 1000 /* a probe at least this often, so an idle hang is seen too */

static int wd_period(const struct cm_rconn *c)
{
    int ms = c->timeout_ms / 4;
    return ms < 10 ? 10 : ms > 250 ? 250 : ms;
}

static void probe_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cm_rconn *c = priv;
    if (c->ac != ac)
        return;
    c->probe_inflight = false;
    if (reply)
        c->probe_ok_ms = cm_time_mono_ms();
}

static void wd_cb(void *arg)
{
    struct cm_rconn *c = arg;
    if (c->closing)
        return;
    c->lp->timer_start(c->wd_timer, wd_period(c));
    if (!c->ready || !c->ac)
        return;
    int64_t now = cm_time_mono_ms();
    const redisReader *rd = c->ac->c.reader;
    if (c->ac->replies.head != c->seen_head || rd->len != c->seen_len || rd->pos != c->seen_pos) {
        c->seen_head = c->ac->replies.head;
        c->seen_len = rd->len, c->seen_pos = rd->pos;
        c->progress_ms = now;
    }
    if (c->probe_inflight) {
        if (now - c->probe_sent_ms < c->timeout_ms || now - c->progress_ms < c->timeout_ms)
            return;
        cm_log(CM_LOG_WARN,
               "redis %s: no reply within %d ms (server hung or unreachable); "
               "dropping the connection",
               c->name, c->timeout_ms);
        c->hangs++;
        cm_rconn_drop(c);
        return;
    }
    if (c->ac->replies.head || now - c->probe_ok_ms >= CM_RCONN_KEEPALIVE_MS) {
        /* replies come in order: the probe's is due once every earlier one came */
        if (redisAsyncCommand(c->ac, probe_cb, c, "PING") == REDIS_OK) {
            c->probe_inflight = true;
            c->probe_sent_ms = now;
        }
    }
}

void cm_rconn_watch(struct cm_rconn *c)
{
    c->watch = true;
    if (!c->wd_timer)
        c->wd_timer = c->lp->timer_new(c->lp->loop, wd_cb, c);
}

void cm_rconn_drop(struct cm_rconn *c)
{
    redisAsyncContext *ac = c->ac;
    if (!ac)
        return;
    if (!c->ready) { /* still connecting: the connect deadline's path */
        c->ac = NULL;
        redisAsyncFree(ac);
        c->lp->timer_stop(c->timer);
        if (!c->closing)
            connect_now(c);
        return;
    }
    /* pending callbacks get NULL, then disconnect_cb (REDIS_OK) runs on_lost and reconnects */
    redisAsyncFree(ac);
}

void cm_rconn_init(struct cm_rconn *c, const char *name, const struct cm_rconn_loop *lp,
                   const struct cm_redis_url *url, int timeout_ms, void *owner)
{
    *c = (struct cm_rconn){
        .name = name, .lp = lp, .url = url, .timeout_ms = timeout_ms, .owner = owner};
    cm_backoff_init(&c->backoff, 100, 5000, (unsigned)getpid() ^ (unsigned)(uintptr_t)c);
    c->timer = lp->timer_new(lp->loop, timer_cb, c);
}

void cm_rconn_start(struct cm_rconn *c)
{
    c->closing = false;
    connect_now(c);
}

void cm_rconn_close(struct cm_rconn *c)
{
    c->closing = true;
    c->lp->timer_stop(c->timer);
    if (c->wd_timer)
        c->lp->timer_stop(c->wd_timer);
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

void cm_rconn_reset(struct cm_rconn *c)
{
    if (c->ac)
        redisAsyncDisconnect(c->ac);
}

void cm_rconn_deinit(struct cm_rconn *c)
{
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        redisAsyncFree(ac);
    }
    if (c->timer)
        c->lp->timer_free(c->timer);
    c->timer = NULL;
    if (c->wd_timer)
        c->lp->timer_free(c->wd_timer);
    c->wd_timer = NULL;
}
