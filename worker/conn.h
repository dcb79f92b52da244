/* A Redis connection of the worker's libevent loop that reconnects by itself: connect, AUTH and
 * SELECT from the URL, a connect timeout of its own (hiredis 0.14 has none), jittered exponential
 * backoff after a loss. Loop thread only. */
#ifndef WK_CONN_H
#define WK_CONN_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/redis.h"

struct wk_conn;
typedef void (*wk_conn_cb)(struct wk_conn *c);

struct wk_conn {
    const char *name; /* for logs: "commands", "intake", "cancel" */
    struct event_base *base;
    const struct cm_redis_url *url; /* borrowed */
    int timeout_ms;                 /* connect + handshake deadline */
    redisAsyncContext *ac;          /* NULL while down */
    bool ready;                     /* connected and handshake done */
    bool closing;                   /* wk_conn_close called: no reconnect */
    struct cm_backoff backoff;
    struct event *timer; /* reconnect delay, or connect deadline */
    wk_conn_cb on_ready; /* after each (re)connect */
    wk_conn_cb on_lost;  /* after a loss (pending callbacks already got NULL) */
    void *owner;
    uint64_t connects; /* successful handshakes */
    uint64_t losses;
};

void wk_conn_init(struct wk_conn *c, const char *name, struct event_base *base,
                  const struct cm_redis_url *url, int timeout_ms, void *owner);
void wk_conn_start(struct wk_conn *c);
/* Disconnects after pending replies and stops reconnecting. */
void wk_conn_close(struct wk_conn *c);
/* Drops the connection now and reconnects (e.g. after a protocol surprise). */
void wk_conn_reset(struct wk_conn *c);
void wk_conn_deinit(struct wk_conn *c);

#endif
