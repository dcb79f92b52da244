/* /metrics (Prometheus text) and /healthz of the worker, on libevent's evhttp, on the worker's
 * loop. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/net.h"
#include "common/time.h"
#include "worker/worker.h"

static void metrics_cb(struct evhttp_request *req, void *arg)
{
    struct wk_worker *w = arg;
    struct evbuffer *b = evbuffer_new();
    const char *id = w->id;
#define COUNTER(name, help, v)                                                                     \
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s{worker=\"%s\"} %llu\n", name,      \
                        help, name, name, id, (unsigned long long)(v))
#define GAUGE(name, help, v)                                                                       \
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s{worker=\"%s\"} %lld\n", name, help,  \
                        name, name, id, (long long)(v))
    evbuffer_add_printf(b, "# HELP zsa_worker_jobs_total Jobs ended, by outcome.\n"
                           "# TYPE zsa_worker_jobs_total counter\n");
    evbuffer_add_printf(b, "zsa_worker_jobs_total{worker=\"%s\",outcome=\"complete\"} %llu\n", id,
                        (unsigned long long)w->jobs_done);
    evbuffer_add_printf(b, "zsa_worker_jobs_total{worker=\"%s\",outcome=\"failed\"} %llu\n", id,
                        (unsigned long long)w->jobs_failed);
    evbuffer_add_printf(b, "zsa_worker_jobs_total{worker=\"%s\",outcome=\"cancelled\"} %llu\n", id,
                        (unsigned long long)w->jobs_cancelled);
    evbuffer_add_printf(b, "zsa_worker_jobs_total{worker=\"%s\",outcome=\"invalid\"} %llu\n", id,
                        (unsigned long long)w->jobs_invalid);
    evbuffer_add_printf(b, "zsa_worker_jobs_total{worker=\"%s\",outcome=\"requeued\"} %llu\n", id,
                        (unsigned long long)w->jobs_requeued);
    COUNTER("zsa_worker_events_total", "Events queued for Redis.", w->events);
    COUNTER("zsa_worker_events_dropped_total", "Progress events dropped while Redis was away.",
            w->outbox.dropped);
    COUNTER("zsa_worker_redis_reconnects_total", "Redis reconnections, all connections.",
            w->cmd.losses + w->intake.losses + w->sub.losses);
    COUNTER("zsa_worker_redis_errors_total", "Error replies to queued commands.", w->outbox.errors);
    GAUGE("zsa_worker_outbox_commands", "Commands waiting for Redis.", w->outbox.n);
    GAUGE("zsa_worker_busy_slots", "Slots running a job.", w->busy);
    GAUGE("zsa_worker_slots", "Job slots.", w->cfg->slots);
    GAUGE("zsa_worker_redis_up", "1 when the commands connection is up.", w->cmd.ready);
    GAUGE("zsa_worker_draining", "1 while shutting down.", w->draining);
    GAUGE("zsa_worker_gpus", "Usable CUDA devices.", w->cfg->cpu_only ? 0 : w->gpu.count);
#undef COUNTER
#undef GAUGE
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void healthz_cb(struct evhttp_request *req, void *arg)
{
    struct wk_worker *w = arg;
    struct evbuffer *b = evbuffer_new();
    bool ok = w->cmd.ready && !w->draining;
    evbuffer_add_printf(b, "{\"status\":\"%s\",\"redis\":%s,\"draining\":%s,\"busy\":%d}\n",
                        ok ? "ok" : "degraded", w->cmd.ready ? "true" : "false",
                        w->draining ? "true" : "false", w->busy);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", b);
    evbuffer_free(b);
}

static void notfound_cb(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(
        b, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"try /metrics or /healthz\"}}\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 404, "Not Found", b);
    evbuffer_free(b);
}

int wk_http_start(struct wk_worker *w)
{
    if (!w->cfg->metrics_listen[0])
        return 0;
    char host[256], err[160];
    int port;
    if (cm_hostport_parse(w->cfg->metrics_listen, host, sizeof(host), &port, err, sizeof(err)) != 0)
        return -1; /* the option's check already refused this */
    w->http = evhttp_new(w->base);
    evhttp_set_cb(w->http, "/metrics", metrics_cb, w);
    evhttp_set_cb(w->http, "/healthz", healthz_cb, w);
    evhttp_set_gencb(w->http, notfound_cb, w);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(w->http, host[0] ? host : "0.0.0.0", (ev_uint16_t)port);
    if (!bs) {
        cm_log(CM_LOG_ERROR, "metrics: cannot listen on %s (in use?)", w->cfg->metrics_listen);
        evhttp_free(w->http);
        w->http = NULL;
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int bound = port;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len) == 0)
        bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    w->http_port = bound;
    cm_log(CM_LOG_INFO, "metrics: http://%s:%d/metrics and /healthz", host[0] ? host : "0.0.0.0",
           bound);
    return 0;
}

void wk_http_stop(struct wk_worker *w)
{
    if (w->http)
        evhttp_free(w->http);
    w->http = NULL;
}
