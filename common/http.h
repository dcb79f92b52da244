/* /metrics (Prometheus text) and /healthz for the libevent daemons (worker, scheduler), on
 * libevent's evhttp and the daemon's own loop; anything else gets a 404 with a JSON body.
 * Loop thread only. */
#ifndef CM_HTTP_H
#define CM_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evbuffer;
struct evhttp;

/* Appends the metrics text to b. */
typedef void (*cm_http_metrics_fn)(struct evbuffer *b, void *arg);
/* Appends the health JSON to b; returns true when healthy (200), false for 503. */
typedef bool (*cm_http_health_fn)(struct evbuffer *b, void *arg);

struct cm_http {
    struct evhttp *http; /* NULL when off */
    int port;            /* the bound port (the kernel's pick for port 0) */
    cm_http_metrics_fn metrics;
    cm_http_health_fn health;
    void *arg;
};

/* Listens on listen ("host:port"; "" leaves it off and returns 0). Returns 0, or -1 after
 * logging when the address cannot be bound. */
int cm_http_start(struct cm_http *h, struct event_base *base, const char *listen);
void cm_http_stop(struct cm_http *h);

/* Prometheus helpers: one metric with its HELP and TYPE lines and one labelled sample. labels is
 * the text inside the braces (e.g. "worker=\"w1\""), or "" for none. */
void cm_http_counter(struct evbuffer *b, const char *name, const char *help, const char *labels,
                     unsigned long long v);
void cm_http_gauge(struct evbuffer *b, const char *name, const char *help, const char *labels,
                   double v);

/* One counter with one sample per value of an extra label (e.g. outcome="complete"). */
void cm_http_counters_by(struct evbuffer *b, const char *name, const char *help, const char *labels,
                         const char *label, const char *const *values,
                         const unsigned long long *counts, size_t n);

#endif
