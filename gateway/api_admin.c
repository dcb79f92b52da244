/* REST: dead letters (list, requeue, purge), /readyz, /ws/stats and /metrics. Loop thread
 * only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/text.h"
#include "common/time.h"
#include "gateway/gateway.h"
#include "gateway/http.h"

/* ---- dead letters ------------------------------------------------------------------------ */

/* A page of a list endpoint holds at most this many bytes of entries (at least one entry):
 * no answer needs megabytes of gateway memory; the client follows next_cursor. */
#define GW_PAGE_MAX_BYTES (1024 * 1024)

static void dead_list_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    redisReply *r = reply;
    struct gw_http *h = gw__reply_target(priv);
    if (!h || gw__redis_failed(h, r))
        return;
    /* EXEC: [LLEN, LRANGE] */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_ARRAY) {
        gw__respond_error(h, 503, "UNAVAILABLE", NULL, "unexpected reply from Redis; try again");
        return;
    }
    long long len = r->element[0]->integer;
    const redisReply *range = r->element[1];
    /* entries newest first; the cursor counts the entries older than those returned (an index
     * from the tail: LPUSHes of new dead letters do not move it) */
    long long older = h->page_cursor > 0 ? h->page_cursor : len;
    if (older > len)
        older = len;
    struct cm_buf b = CM_BUF_INIT;
    cm_buf_puts(&b, "{\"dead\":[");
    size_t n = 0;
    for (size_t i = 0; i < range->elements; i++) {
        const redisReply *e = range->element[i];
        if (n > 0 && b.len + e->len > GW_PAGE_MAX_BYTES)
            break;
        n++;
        if (e->type != REDIS_REPLY_STRING)
            continue;
        struct pr_value v;
        struct pr_err err;
        if (b.data[b.len - 1] != '[')
            cm_buf_putc(&b, ',');
        bool parsed = pr_value_parse_json(e->str, e->len, &v, &err) == 0;
        if (parsed && v.type == PR_V_OBJECT)
            cm_buf_append(&b, e->str, e->len); /* the entries are JSON objects */
        else
            cm_buf_append_json_str(&b, e->str, e->len);
        if (parsed)
            pr_value_deinit(&v);
    }
    long long next = older - (long long)n;
    gw__respond_page(h, &b, n, len, n > 0 ? next : 0);
}

/* GET /api/dead?limit=N&cursor=C: dead letters newest first, N per page (default 100, at most
 * 1000, and at most GW_PAGE_MAX_BYTES); next_cursor continues with older ones. */
void gw__api_dead_list(struct gw_http *h)
{
    long long limit, cursor;
    if (gw__page_args(h, 1000, 100, &limit, &cursor) != 0)
        return;
    char key[128], start[32], stop[32];
    cm_key_fmt(key, sizeof(key), h->g->cfg->common.prefix, CM_KEY_DEAD, NULL);
    h->page_cursor = cursor;
    if (cursor == 0) { /* the newest */
        snprintf(start, sizeof(start), "0");
        snprintf(stop, sizeof(stop), "%lld", limit - 1);
    } else { /* tail indexes cursor-1 down to cursor-limit */
        long long last = cursor - limit + 1;
        snprintf(start, sizeof(start), "%lld", -cursor);
        snprintf(stop, sizeof(stop), "%lld", -(last > 1 ? last : 1));
    }
    gw__wait_redis(h);
    redisAsyncContext *ac = h->g->cmd.ac;
    if (!h->g->cmd.ready) {
        dead_list_reply(NULL, NULL, h);
        return;
    }
    redisAsyncCommand(ac, NULL, NULL, "MULTI");
    redisAsyncCommand(ac, NULL, NULL, "LLEN %s", key);
    redisAsyncCommand(ac, NULL, NULL, "LRANGE %s %s %s", key, start, stop);
    redisAsyncCommand(ac, dead_list_reply, h, "EXEC");
}

static void dead_ctl_reply(struct gw *g, redisReply *r, void *priv)
{
    (void)g;
    struct gw_http *h = gw__reply_target(priv);
    if (!h || gw__redis_failed(h, r))
        return;
    bool purge = h->route->op == GW_OP_PURGE;
    const char *v = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? r->str : "";
    if (purge ? r->type == REDIS_REPLY_INTEGER && r->integer > 0 : strcmp(v, "ok") == 0) {
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_puts(&b, "{\"job_id\":");
        cm_buf_append_json_str(&b, h->id, strlen(h->id));
        cm_buf_puts(&b, purge ? ",\"status\":\"purged\"}\n" : ",\"status\":\"queued\"}\n");
        gw__respond_json(h, purge ? 200 : 202, &b);
        cm_buf_deinit(&b);
    } else if (purge || strcmp(v, "unknown") == 0) {
        gw__respond_error(h, 404, "UNKNOWN_JOB", NULL, "no dead letter for this job");
    } else {
        gw__respond_error(h, 409, "INVALID_STATE", NULL,
                          "the dead letter holds no job that can run again (purge it instead)");
    }
}

/* POST /api/dead/{id}/requeue or /purge. */
void gw__api_dead_control(struct gw_http *h)
{
    bool purge = h->route->op == GW_OP_PURGE;
    struct gw *g = h->g;
    const char *prefix = g->cfg->common.prefix;
    struct st_call call;
    if (purge) {
        st_call_init(&call, ST_SCRIPT_DEAD_PURGE);
        st_call_key_of(&call, ST_DEAD_PURGE_K_DEAD, prefix, CM_KEY_DEAD, NULL);
        st_call_arg(&call, ST_DEAD_PURGE_A_JOB_ID, h->id, (size_t)-1);
    } else {
        st_call_init(&call, ST_SCRIPT_DEAD_REQUEUE);
        st_call_key_of(&call, ST_DEAD_REQUEUE_K_DEAD, prefix, CM_KEY_DEAD, NULL);
        st_call_key_of(&call, ST_DEAD_REQUEUE_K_QUEUE, prefix, CM_KEY_JOBS, NULL);
        st_call_key_of(&call, ST_DEAD_REQUEUE_K_JOB, prefix, CM_KEY_JOB, h->id);
        st_call_arg(&call, ST_DEAD_REQUEUE_A_JOB_ID, h->id, (size_t)-1);
        st_call_arg_ll(&call, ST_DEAD_REQUEUE_A_NOW_MS, cm_time_now_ms());
    }
    gw__wait_redis(h);
    gw_script(g, &call, dead_ctl_reply, h);
}

static void ready_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    redisReply *r = reply;
    struct gw_http *h = gw__reply_target(priv);
    if (!h)
        return;
    bool ok = r && r->type != REDIS_REPLY_ERROR && h->g->pubsub.ready;
    char body[256];
    snprintf(body, sizeof(body), "{\"ready\":%s%s%s}\n",
             ok ? "true" : "false,\"redis\":\"unreachable\"",
             h->g->keys ? ",\"auth\":\"required\"" : ",\"auth\":\"off\"",
             h->g->keys ? ""
                        : ",\"warning\":\"--auth off: anyone who reaches this gateway can read "
                          "and control every session\"");
    gw__respond(h, ok ? 200 : 503, "application/json", body, strlen(body));
}

/* ---- stats -------------------------------------------------------------------------------- */

/* publish-to-send latency buckets, seconds */
static const double lat_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NLAT (sizeof(lat_le) / sizeof(lat_le[0]))

void gw_observe_latency(struct gw *g, double s)
{
    size_t i = 0;
    while (i < NLAT && s > lat_le[i])
        i++;
    g->st.lat_buckets[i]++;
    g->st.lat_sum_s += s;
    g->st.lat_count++;
}

void gw_stats_json(struct gw *g, struct cm_buf *b)
{
    cm_buf_printf(b,
                  "{\"pid\":%d,\"connections\":%d,\"sessions\":%zu,\"connections_total\":%llu,"
                  "\"messages_sent\":%llu,\"bytes_sent\":%llu,\"messages_dropped\":%llu,"
                  "\"closed_slow\":%llu,\"replays\":%llu,\"replayed_events\":%llu,"
                  "\"events_in\":%llu,\"redis_reconnects\":%llu,\"redis\":\"%s\","
                  "\"sockets\":%d,\"refused_connections\":%llu,\"body_timeouts\":%llu}\n",
                  (int)getpid(), g->nclients, g->nsessions,
                  (unsigned long long)g->st.connections_total,
                  (unsigned long long)g->st.messages_out, (unsigned long long)g->st.bytes_out,
                  (unsigned long long)(g->st.coalesced + g->st.dropped),
                  (unsigned long long)g->st.closed_slow, (unsigned long long)g->st.replays,
                  (unsigned long long)g->st.replayed_events, (unsigned long long)g->st.events_in,
                  (unsigned long long)g->st.redis_reconnects,
                  g->cmd.ready && g->pubsub.ready ? "connected" : "disconnected", g->nconns,
                  (unsigned long long)g->st.refused_conns, (unsigned long long)g->st.body_timeouts);
}

void gw_metrics(struct gw *g, struct cm_buf *b)
{
#define GW_METRIC(name, type, help, value)                                                         \
    cm_buf_printf(b, "# HELP " name " " help "\n# TYPE " name " " type "\n" name " %llu\n",        \
                  (unsigned long long)(value))
    GW_METRIC("zsa_gateway_connections", "gauge", "WebSocket clients connected.", g->nclients);
    GW_METRIC("zsa_gateway_sessions", "gauge", "Sessions with clients here.", g->nsessions);
    GW_METRIC("zsa_gateway_sockets", "gauge",
              "Open connections of any kind (WebSocket, HTTP, requests still arriving).",
              g->nconns);
    GW_METRIC("zsa_gateway_connections_refused_total", "counter",
              "Connections refused with 503 past --max-connections.", g->st.refused_conns);
    GW_METRIC("zsa_gateway_bad_requests_total", "counter",
              "Requests refused before routing (400, 408, 431, 501).", g->st.bad_requests);
    GW_METRIC("zsa_gateway_oversized_heads_total", "counter",
              "Requests whose line and headers were over 16 KB (431).", g->st.heads_too_large);
    GW_METRIC("zsa_gateway_auth_refused_total", "counter",
              "Requests and WebSockets refused for a missing or bad token (401, close 4001).",
              g->st.auth_refused);
    GW_METRIC("zsa_gateway_auth_forbidden_total", "counter",
              "Requests and WebSockets a valid token does not allow (403, close 4003).",
              g->st.auth_forbidden);
    GW_METRIC("zsa_gateway_auth_expired_total", "counter",
              "WebSockets closed 4001 because their token expired.", g->st.auth_expired);
    GW_METRIC("zsa_gateway_rate_limited_total", "counter",
              "Submits refused 429 RATE_LIMITED (--submit-rate) and WebSocket clients told "
              "RATE_LIMITED (--client-msg-rate).",
              g->st.rate_limited + g->st.ws_rate_limited);
    GW_METRIC("zsa_gateway_quota_refused_total", "counter",
              "Submits refused 429 QUOTA_EXCEEDED (--max-session-jobs).", g->st.quota_refused);
    GW_METRIC("zsa_gateway_jobs_too_large_total", "counter",
              "Submits refused 413 JOB_TOO_LARGE (--max-job-kb).", g->st.jobs_too_large);
    GW_METRIC("zsa_gateway_artifacts_sent_total", "counter",
              "Artifacts answered 200 or 206 (GET /api/results/{id}/artifacts/{name}).",
              g->st.artifacts_sent);
    GW_METRIC("zsa_gateway_artifact_bytes_total", "counter",
              "Bytes of artifact bodies written (what downloads cost this gateway).",
              g->st.artifact_bytes);
    GW_METRIC("zsa_gateway_previews_pushed_total", "counter",
              "Previews sent to WebSocket clients that asked for them.", g->st.previews_pushed);
    GW_METRIC("zsa_gateway_request_timeouts_total", "counter",
              "Requests closed with 408: the body did not arrive in time.", g->st.body_timeouts);
    GW_METRIC("zsa_gateway_connections_total", "counter", "WebSocket clients accepted.",
              g->st.connections_total);
    GW_METRIC("zsa_gateway_messages_sent_total", "counter", "WebSocket messages written.",
              g->st.messages_out);
    GW_METRIC("zsa_gateway_bytes_sent_total", "counter", "WebSocket payload bytes written.",
              g->st.bytes_out);
    GW_METRIC("zsa_gateway_messages_dropped_total", "counter",
              "Progress events superseded in a slow client's queue.", g->st.coalesced);
    GW_METRIC("zsa_gateway_slow_closed_total", "counter",
              "Clients closed with 1013 at the queue bound.", g->st.closed_slow);
    GW_METRIC("zsa_gateway_replays_total", "counter", "Replays served.", g->st.replays);
    GW_METRIC("zsa_gateway_replayed_events_total", "counter", "Events sent by replays.",
              g->st.replayed_events);
    GW_METRIC("zsa_gateway_events_received_total", "counter", "Events received from Redis.",
              g->st.events_in);
    GW_METRIC("zsa_gateway_redis_reconnects_total", "counter", "Redis reconnections.",
              g->st.redis_reconnects);
    GW_METRIC("zsa_gateway_http_requests_total", "counter", "REST requests.", g->st.rest_requests);
    GW_METRIC("zsa_gateway_http_errors_total", "counter", "REST answers with status >= 400.",
              g->st.rest_errors);
    GW_METRIC("zsa_gateway_redis_up", "gauge", "1 while both Redis connections are up.",
              g->cmd.ready && g->pubsub.ready);
    GW_METRIC("zsa_gateway_clients_paused_total", "counter",
              "Times the gateway stopped reading a client over its message budget.",
              g->rx_paused_total);
    GW_METRIC("zsa_gateway_redis_hangs_total", "counter",
              "Redis connections dropped for a reply past --redis-timeout-ms.", g->cmd.hangs);
#undef GW_METRIC
    cm_buf_puts(b, "# HELP zsa_gateway_publish_to_send_seconds Event timestamp to WebSocket "
                   "write.\n# TYPE zsa_gateway_publish_to_send_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t i = 0; i <= NLAT; i++) {
        cum += g->st.lat_buckets[i];
        if (i < NLAT)
            cm_buf_printf(b, "zsa_gateway_publish_to_send_seconds_bucket{le=\"%g\"} %llu\n",
                          lat_le[i], cum);
        else
            cm_buf_printf(b, "zsa_gateway_publish_to_send_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    cm_buf_printf(b, "zsa_gateway_publish_to_send_seconds_sum %.6f\n", g->st.lat_sum_s);
    cm_buf_printf(b, "zsa_gateway_publish_to_send_seconds_count %llu\n",
                  (unsigned long long)g->st.lat_count);
}

void gw__api_readyz(struct gw_http *h)
{
    const char *argv[] = {"PING"};
    gw__command(h, ready_reply, 1, argv);
}

void gw__api_stats(struct gw_http *h)
{
    struct cm_buf b = CM_BUF_INIT;
    gw_stats_json(h->g, &b);
    gw__respond_json(h, 200, &b);
    cm_buf_deinit(&b);
}

void gw__api_metrics(struct gw_http *h)
{
    struct cm_buf b = CM_BUF_INIT;
    gw_metrics(h->g, &b);
    gw__respond(h, 200, "text/plain; version=0.0.4", b.data, b.len);
    cm_buf_deinit(&b);
}
