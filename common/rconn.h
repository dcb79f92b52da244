/* A Redis connection that reconnects by itself, for any event loop: connect, AUTH and SELECT
 * from the URL, a connect timeout of its own (hiredis 0.14 has none), jittered exponential
 * backoff after a loss. The loop is reached through struct cm_rconn_loop (hiredis adapter and
 * one timer), so the worker (libevent) and the gateway (libuv) share this code. Loop thread
 * only. */
#ifndef CM_RCONN_H
#define CM_RCONN_H

#include <hiredis/async.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/redis.h"

/* What a connection needs from its loop. */
struct cm_rconn_loop {
    void *loop;
    int (*attach)(redisAsyncContext *ac, void *loop); /* the hiredis adapter; 0 or -1 */
    void *(*timer_new)(void *loop, void (*cb)(void *arg), void *arg);
    void (*timer_start)(void *timer, int ms); /* one-shot; restarts a running one */
    void (*timer_stop)(void *timer);
    void (*timer_free)(void *timer);
};

struct cm_rconn;
typedef void (*cm_rconn_cb)(struct cm_rconn *c);

struct cm_rconn {
    const char *name;               /* for logs: "commands", "intake", "cancel", "pubsub" */
    const struct cm_rconn_loop *lp; /* borrowed */
    const struct cm_redis_url *url; /* borrowed */
    int timeout_ms;                 /* connect + handshake deadline */
    redisAsyncContext *ac;          /* NULL while down */
    bool ready;                     /* connected and handshake done */
    bool closing;                   /* cm_rconn_close called: no reconnect */
    struct cm_backoff backoff;
    void *timer;          /* reconnect delay, or connect deadline */
    cm_rconn_cb on_ready; /* after each (re)connect */
    cm_rconn_cb on_lost;  /* after a loss (pending callbacks already got NULL) */
    void *owner;
    uint64_t connects; /* successful handshakes */
    uint64_t losses;
    /* command deadline (cm_rconn_watch): a PING probe while commands are pending, and every
     * second otherwise; a probe unanswered for timeout_ms while no reply moved either (nothing
     * read, nothing parsed: a long reply still streaming is not a hang) means a hung server
     * (SIGSTOP, a partition without RST): the connection is dropped (every pending callback
     * gets NULL) */
    bool watch;
    void *wd_timer;
    bool probe_inflight;
    int64_t probe_sent_ms, probe_ok_ms;
    int64_t progress_ms;       /* when replies last moved (a long reply is not a hang) */
    const void *seen_head;     /* the oldest pending callback, and the reader's buffer, as last */
    size_t seen_len, seen_pos; /* sampled */
    uint64_t hangs;            /* connections dropped by the deadline */
};

void cm_rconn_init(struct cm_rconn *c, const char *name, const struct cm_rconn_loop *lp,
                   const struct cm_redis_url *url, int timeout_ms, void *owner);
void cm_rconn_start(struct cm_rconn *c);
/* Disconnects after pending replies and stops reconnecting. */
void cm_rconn_close(struct cm_rconn *c);
/* Drops the connection now and reconnects (e.g. after a protocol surprise). */
void cm_rconn_reset(struct cm_rconn *c);
/* Drops the connection at once, even with replies pending (their callbacks get NULL), and
 * reconnects; on_lost runs when it was ready. */
void cm_rconn_drop(struct cm_rconn *c);
/* Gives every command on c a deadline of timeout_ms (see the watch fields); call before start.
 * Not for connections that run blocking commands (BLMOVE) or SUBSCRIBE. */
void cm_rconn_watch(struct cm_rconn *c);
void cm_rconn_deinit(struct cm_rconn *c);

/* The loops zsa uses: libevent (worker, scheduler; rconn_libevent.c) and libuv (gateway;
 * rconn_libuv.c, with an adapter of our own: hiredis 0.14's ignores poll errors, so a refused
 * connect would never call back). */
struct event_base;
void cm_rconn_libevent(struct cm_rconn_loop *lp, struct event_base *base);
struct uv_loop_s;
void cm_rconn_libuv(struct cm_rconn_loop *lp, struct uv_loop_s *loop);

#endif
