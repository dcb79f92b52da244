/* The worker's /metrics (Prometheus text) and /healthz, served by common/http.c on the worker's
 * loop. */
#include <event2/buffer.h>
#include <stdio.h>

#include "common/http.h"
#include "worker/worker.h"

static void metrics(struct evbuffer *b, void *arg)
{
    struct wk_worker *w = arg;
    char l[200];
    const char *id = w->id;
    snprintf(l, sizeof(l), "worker=\"%s\"", id);
    const char *outcomes[] = {"complete", "failed", "cancelled", "invalid", "requeued", "fenced"};
    const unsigned long long counts[] = {w->jobs_done,    w->jobs_failed,   w->jobs_cancelled,
                                         w->jobs_invalid, w->jobs_requeued, w->jobs_fenced};
    cm_http_counters_by(b, "zsa_worker_jobs_total", "Jobs ended, by outcome.", l, "outcome",
                        outcomes, counts, 6);
    cm_http_counter(b, "zsa_worker_jobs_abandoned_total",
                    "Cancelled jobs ended without their analysis, which did not stop in 5 s "
                    "(its slot stays taken until it does).",
                    l, w->jobs_abandoned);
    cm_http_counter(b, "zsa_worker_events_total", "Events queued for Redis.", l, w->events);
    cm_http_counter(b, "zsa_worker_events_dropped_total",
                    "Progress events dropped while Redis was away.", l, w->outbox.dropped);
    cm_http_counter(b, "zsa_worker_redis_reconnects_total", "Redis reconnections, all connections.",
                    l, w->cmd.losses + w->intake.losses + w->sub.losses);
    cm_http_counter(b, "zsa_worker_redis_errors_total", "Error replies to queued commands.", l,
                    w->outbox.errors);
    cm_http_gauge(b, "zsa_worker_outbox_commands", "Commands waiting for Redis.", l,
                  (double)w->outbox.n);
    cm_http_gauge(b, "zsa_worker_busy_slots", "Slots running a job.", l, w->busy);
    cm_http_gauge(b, "zsa_worker_slots", "Job slots.", l, w->cfg->slots);
    cm_http_gauge(b, "zsa_worker_redis_up", "1 when the commands connection is up.", l,
                  w->cmd.ready);
    cm_http_gauge(b, "zsa_worker_draining", "1 while shutting down.", l, w->draining);
    cm_http_gauge(b, "zsa_worker_gpus", "Usable CUDA devices.", l,
                  w->cfg->cpu_only ? 0 : w->gpu.count);
}

static bool health(struct evbuffer *b, void *arg)
{
    struct wk_worker *w = arg;
    bool ok = w->cmd.ready && !w->draining;
    evbuffer_add_printf(b, "{\"status\":\"%s\",\"redis\":%s,\"draining\":%s,\"busy\":%d}\n",
                        ok ? "ok" : "degraded", w->cmd.ready ? "true" : "false",
                        w->draining ? "true" : "false", w->busy);
    return ok;
}

int wk_http_start(struct wk_worker *w)
{
    w->http.metrics = metrics, w->http.health = health, w->http.arg = w;
    return cm_http_start(&w->http, w->base, w->cfg->metrics_listen);
}

void wk_http_stop(struct wk_worker *w)
{
    cm_http_stop(&w->http);
}
