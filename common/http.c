/* /metrics and /healthz on evhttp for the libevent daemons. Loop thread only. */
#include "common/http.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/net.h"

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
                  struct evbuffer *b)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void metrics_cb(struct evhttp_request *req, void *arg)
{
    struct cm_http *h = arg;
    struct evbuffer *b = evbuffer_new();
    h->metrics(b, h->arg);
    reply(req, 200, "OK", "text/plain; version=0.0.4", b);
}

static void healthz_cb(struct evhttp_request *req, void *arg)
{
    struct cm_http *h = arg;
    struct evbuffer *b = evbuffer_new();
    bool ok = h->health(b, h->arg);
    reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "application/json", b);
}

static void notfound_cb(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(
        b, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"try /metrics or /healthz\"}}\n");
    reply(req, 404, "Not Found", "application/json", b);
}

int cm_http_start(struct cm_http *h, struct event_base *base, const char *listen)
{
    h->http = NULL;
    h->port = 0;
    if (!listen[0])
        return 0;
    char host[256], err[160];
    int port;
    if (cm_hostport_parse(listen, host, sizeof(host), &port, err, sizeof(err)) != 0) {
        cm_log(CM_LOG_ERROR, "metrics: %s: %s", listen, err);
        return -1;
    }
    h->http = evhttp_new(base);
    evhttp_set_cb(h->http, "/metrics", metrics_cb, h);
    evhttp_set_cb(h->http, "/healthz", healthz_cb, h);
    evhttp_set_gencb(h->http, notfound_cb, h);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(h->http, host[0] ? host : "0.0.0.0", (ev_uint16_t)port);
    if (!bs) {
        cm_log(CM_LOG_ERROR, "metrics: cannot listen on %s (in use?)", listen);
        evhttp_free(h->http);
        h->http = NULL;
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    h->port = port;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len) == 0)
        h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    cm_log(CM_LOG_INFO, "metrics: http://%s:%d/metrics and /healthz", host[0] ? host : "0.0.0.0",
           h->port);
    return 0;
}

void cm_http_stop(struct cm_http *h)
{
    if (h->http)
        evhttp_free(h->http);
    h->http = NULL;
}

void cm_http_counter(struct evbuffer *b, const char *name, const char *help, const char *labels,
                     unsigned long long v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s%s%s%s %llu\n", name, help, name,
                        name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "", v);
}

void cm_http_gauge(struct evbuffer *b, const char *name, const char *help, const char *labels,
                   double v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s%s%s%s %.17g\n", name, help, name,
                        name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "", v);
}

void cm_http_counters_by(struct evbuffer *b, const char *name, const char *help, const char *labels,
                         const char *label, const char *const *values,
                         const unsigned long long *counts, size_t n)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < n; i++)
        evbuffer_add_printf(b, "%s{%s%s%s=\"%s\"} %llu\n", name, labels, labels[0] ? "," : "",
                            label, values[i], counts[i]);
}
