/* zsa-scheduler core. Everything runs on the one libevent loop of the main thread.
 *
 * Every --check-interval-ms the lease is taken or renewed (LEASE script); the leader then
 * surveys Redis in three pipelined rounds — (1) the worker registry and the queue length,
 * (2) each worker's heartbeat hash and active list, (3) the hash of each held job — and acts on
 * what it found: system_status when due (EMIT script, to the broadcast stream and channel),
 * RECOVER for each job of a worker whose heartbeat expired and FORGET for the worker once its
 * list is empty, TIMEOUT for a job whose progress has not moved for its algorithm's timeout, and
 * one SCAN step of housekeeping (EXPIRE_ENDED). Each script re-checks the lease and what the
 * survey read, atomically, so a stale survey or a deposed leader changes nothing. */
#include "scheduler/scheduler.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/alloc.h"
#include "common/buf.h"
#include "common/http.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/rconn.h"
#include "store/jobhash.h"
#include "store/scripts.h"
#include "common/text.h"
#include "common/time.h"
#include "proto/proto.h"
#include "scheduler/internal.h"

/* ---- small helpers ----------------------------------------------------------------------------
 */

bool sc__is_leader(const struct sc *s)
{
    return s->leader && cm_time_mono_ms() < s->leader_until;
}

/* The seconds of algo in a per-algorithm table, or def. */
int sc__algo_secs(const struct sc_algo_secs *tab, int n, const char *algo, int def)
{
    for (int i = 0; algo && i < n; i++)
        if (strcmp(tab[i].name, algo) == 0)
            return tab[i].seconds;
    return def;
}

/* "name=seconds[,name=seconds...]" into tab (at most SC_MAX_ALGO_TIMEOUTS). */
static int algo_secs_parse(const char *v, struct sc_algo_secs *tab, int *n, char *err,
                           size_t errlen)
{
    *n = 0;
    for (const char *p = v; p && *p;) {
        const char *end = strchr(p, ','), *eq = strchr(p, '=');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *num_end = NULL;
        long secs = eq && eq < p + len ? strtol(eq + 1, &num_end, 10) : -1;
        size_t nl = eq && eq < p + len ? (size_t)(eq - p) : 0;
        if (nl == 0 || nl >= sizeof(tab[0].name) || num_end != p + len || secs < 1 ||
            secs > 31536000 || *n == SC_MAX_ALGO_TIMEOUTS) {
            snprintf(err, errlen,
                     "expected algorithm=seconds[,algorithm=seconds...] (at most %d, seconds "
                     "1..31536000), got \"%.*s\"",
                     SC_MAX_ALGO_TIMEOUTS, (int)len, p);
            return -1;
        }
        memcpy(tab[*n].name, p, nl);
        tab[*n].name[nl] = '\0';
        tab[(*n)++].seconds = (int)secs;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

int sc_job_timeouts_check(const char *v, char *err, size_t errlen)
{
    struct sc_algo_secs tab[SC_MAX_ALGO_TIMEOUTS];
    int n;
    return algo_secs_parse(v, tab, &n, err, errlen);
}

int sc_job_timeouts_parse(struct sc_config *cfg, char *err, size_t errlen)
{
    return algo_secs_parse(cfg->job_timeouts, cfg->algo_timeouts, &cfg->nalgo_timeouts, err,
                           errlen) ||
           algo_secs_parse(cfg->job_max_runtimes, cfg->algo_runtimes, &cfg->nalgo_runtimes, err,
                           errlen);
}

/* A job event of the scheduler, as MessagePack (proto's pr_event_encode); logged when it cannot
 * be (a bug: not sent). */
int sc__encode_event(struct pr_msg *ev, const char *job_id, const char *session, struct cm_buf *out)
{
    struct pr_err err = {0};
    if (pr_event_encode(ev, job_id, session, cm_time_now_ms(), out, &err) == 0)
        return 0;
    cm_log(CM_LOG_ERROR, "%s event not sent: %s: %s", pr_msgdesc(ev->type)->name, err.field,
           err.text);
    return -1;
}

/* ---- the lease ------------------------------------------------------------------------------- */

struct sc_lease_call {
    struct sc *s;
    int64_t sent; /* monotonic ms */
};

static void lease_cb(redisReply *reply, void *priv)
{
    struct sc_lease_call *lc = priv;
    struct sc *s = lc->s;
    redisReply *r = reply;
    s->lease_pending = false;
    bool held = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r && r->type == REDIS_REPLY_ERROR)
        cm_log(CM_LOG_ERROR, "redis: lease: %s", r->str);
    if (held) {
        /* counted from when the renewal was sent: the lease is ours at least that long */
        s->leader_until = lc->sent + s->cfg->lease_ms;
        if (!s->leader) {
            s->leader = true;
            s->lease_gained++;
            s->status_due = true; /* a new leader says so at once */
            sc__track_sweep(s, true);
            cm_log(CM_LOG_INFO, "leader: this scheduler (%s) holds the lease", s->id);
        }
        if (!s->stopping)
            sc__survey_start(s);
    } else if (r && s->leader) {
        s->leader = false;
        s->lease_lost++;
        cm_log(CM_LOG_WARN, "leader: the lease went to another scheduler; standing by");
    }
    free(lc);
}

static void lease_release_cb(redisReply *reply, void *priv)
{
    (void)reply, (void)priv;
}

static void lease_send(struct sc *s, bool release)
{
    if (!s->cmd.ready || (s->lease_pending && !release))
        return;
    struct st_call sc__call;
    st_call_init(&sc__call, ST_SCRIPT_LEASE);
    st_call_key(&sc__call, ST_LEASE_K_LEADER, s->k_leader);
    st_call_arg(&sc__call, ST_LEASE_A_SCHEDULER_ID, s->id, (size_t)-1);
    st_call_arg(&sc__call, ST_LEASE_A_LEASE_MS, s->lease_ms, (size_t)-1);
    st_call_arg(&sc__call, ST_LEASE_A_RELEASE, release ? "release" : "hold", (size_t)-1);
    if (release) { /* at shutdown: nobody waits for the answer */
        st_call_async(s->cmd.ac, &sc__call, lease_release_cb, NULL);
        return;
    }
    struct sc_lease_call *lc = cm_xcalloc(1, sizeof(*lc));
    lc->s = s;
    lc->sent = cm_time_mono_ms();
    s->lease_pending = true; /* lease_cb clears it, also when the call could not be sent */
    st_call_async(s->cmd.ac, &sc__call, lease_cb, lc);
}

/* Every --status-interval-ms on the dot (a persistent libevent timer keeps its cadence): a
 * survey that ends with system_status. It was sent by the 1 s checks when "now + interval" had
 * passed, so 5 s became 5-6 s. */
static void status_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct sc *s = arg;
    if (!s->leader || s->stopping)
        return;
    s->status_due = true;
    sc__survey_start(s); /* one in flight already: it sends the status when it ends */
}

static void retention_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    sc__retention_pass(arg);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct sc *s = arg;
    if (s->leader && cm_time_mono_ms() >= s->leader_until) {
        s->leader = false;
        s->lease_lost++;
        cm_log(CM_LOG_WARN, "leader: could not renew the lease in time; standing by");
    }
    lease_send(s, false);
}

/* ---- connection, metrics, signals ------------------------------------------------------------ */

static void cmd_ready(struct cm_rconn *c)
{
    struct sc *s = c->owner;
    lease_send(s, false);
}

static void cmd_lost(struct cm_rconn *c)
{
    struct sc *s = c->owner;
    s->lease_pending = false;
}

static void metrics(struct evbuffer *b, void *arg)
{
    struct sc *s = arg;
    char l[200];
    snprintf(l, sizeof(l), "scheduler=\"%s\"", s->id);
    cm_http_gauge(b, "zsa_scheduler_leader", "1 while this scheduler holds the lease.", l,
                  sc__is_leader(s));
    cm_http_gauge(b, "zsa_scheduler_redis_up", "1 when the Redis connection is up.", l,
                  s->cmd.ready);
    cm_http_counter(b, "zsa_scheduler_status_broadcasts_total", "system_status events sent.", l,
                    s->statuses);
    const char *outcomes[] = {"retry", "dead", "requeued"};
    const unsigned long long counts[] = {s->retried, s->dead, s->requeued};
    cm_http_counters_by(b, "zsa_scheduler_recovered_jobs_total",
                        "Jobs taken back from lost workers, by outcome.", l, "outcome", outcomes,
                        counts, 3);
    cm_http_counter(b, "zsa_scheduler_timeouts_total", "Jobs failed with TIMEOUT.", l, s->timeouts);
    cm_http_counter(b, "zsa_scheduler_workers_forgotten_total",
                    "Lost workers removed from the registry.", l, s->forgotten);
    cm_http_counter(b, "zsa_scheduler_keys_expired_total",
                    "Keys of ended jobs and idle streams given a TTL.", l, s->expired);
    cm_http_counter(b, "zsa_scheduler_lease_gained_total", "Times this scheduler became leader.", l,
                    s->lease_gained);
    cm_http_counter(b, "zsa_scheduler_lease_lost_total",
                    "Times this scheduler stood down (lease taken or not renewed in time).", l,
                    s->lease_lost);
    cm_http_counter(b, "zsa_scheduler_redis_reconnects_total", "Redis reconnections.", l,
                    s->cmd.losses);
    cm_http_counter(b, "zsa_scheduler_redis_errors_total", "Error replies.", l, s->errors);
    cm_http_counter(b, "zsa_scheduler_results_pruned_total",
                    "Result directories removed by retention (--results-retention-days).", l,
                    s->pruned);
    cm_http_gauge(b, "zsa_queue_length", "Jobs waiting (last survey).", l, (double)s->last_queue);
    cm_http_gauge(b, "zsa_active_jobs", "Jobs held by live workers (last survey).", l,
                  (double)s->last_active);
    cm_http_gauge(b, "zsa_workers_online", "Workers with a live heartbeat (last survey).", l,
                  (double)s->last_online);
}

static bool health(struct evbuffer *b, void *arg)
{
    struct sc *s = arg;
    evbuffer_add_printf(b, "{\"status\":\"%s\",\"redis\":%s,\"leader\":%s}\n",
                        s->cmd.ready ? "ok" : "degraded", s->cmd.ready ? "true" : "false",
                        sc__is_leader(s) ? "true" : "false");
    return s->cmd.ready;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct sc *s = arg;
    if (!cm_stop_signal(sig, &s->stop_ms, cm_time_mono_ms(), ""))
        return;
    s->stopping = true;
    cm_log(CM_LOG_INFO, "%s: %sstopping", sig == SIGTERM ? "SIGTERM" : "SIGINT",
           sc__is_leader(s) ? "giving the lease back and " : "");
    if (s->leader)
        lease_send(s, true); /* a standby takes over at its next check instead of a lease later */
    s->leader = false;
    cm_rconn_close(&s->cmd); /* after the pending replies */
    event_del(s->tick_ev);
    event_del(s->status_ev);
    if (s->retention_ev)
        event_del(s->retention_ev);
    event_del(s->sig_term);
    event_del(s->sig_int);
    cm_http_stop(&s->http);
}

int sc_run(struct sc_config *cfg)
{
    struct sc *s = cm_xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    cm_daemon_id(cfg->scheduler_id, s->id, sizeof(s->id), NULL, 0);
    const char *p = cfg->common.prefix;
    s->k_leader = cm_key_new(p, CM_KEY_LEADER, NULL);
    s->k_jobs = cm_key_new(p, CM_KEY_JOBS, NULL);
    s->k_workers = cm_key_new(p, CM_KEY_WORKERS, NULL);
    s->k_dead = cm_key_new(p, CM_KEY_DEAD, NULL);
    s->k_bcast = cm_key_new(p, CM_KEY_BCAST, NULL);
    s->k_cancel = cm_key_new(p, CM_KEY_CANCEL, NULL);
    s->k_nojob = cm_key_new(p, CM_KEY_JOB, "-");
    snprintf(s->lease_ms, sizeof(s->lease_ms), "%d", cfg->lease_ms);
    snprintf(s->max_attempts, sizeof(s->max_attempts), "%d", cfg->max_attempts);
    snprintf(s->status_maxlen, sizeof(s->status_maxlen), "%d", cfg->status_maxlen);
    snprintf(s->stream_maxlen, sizeof(s->stream_maxlen), "%d", cfg->stream_maxlen);
    snprintf(s->stream_ttl, sizeof(s->stream_ttl), "%d", cfg->stream_ttl_s);
    snprintf(s->ended_ttl, sizeof(s->ended_ttl), "%d", cfg->ended_ttl_s);
    snprintf(s->scan_cursor[0], sizeof(s->scan_cursor[0]), "0");
    snprintf(s->scan_cursor[1], sizeof(s->scan_cursor[1]), "0");
    st_script_init();
    s->base = event_base_new();
    cm_rconn_libevent(&s->loop_ops, s->base);
    cm_rconn_init(&s->cmd, "commands", &s->loop_ops, &cfg->common.url, cfg->common.redis_timeout_ms,
                  s);
    s->cmd.on_ready = cmd_ready, s->cmd.on_lost = cmd_lost;
    s->http.metrics = metrics, s->http.health = health, s->http.arg = s;
    int code = 0;
    if (cm_http_start(&s->http, s->base, cfg->metrics_listen) != 0) {
        code = 1;
        goto out;
    }
    s->tick_ev = event_new(s->base, -1, EV_PERSIST, tick_cb, s);
    struct timeval tv = {cfg->check_interval_ms / 1000, (cfg->check_interval_ms % 1000) * 1000};
    evtimer_add(s->tick_ev, &tv);
    s->status_ev = event_new(s->base, -1, EV_PERSIST, status_cb, s);
    struct timeval stv = {cfg->status_interval_ms / 1000, (cfg->status_interval_ms % 1000) * 1000};
    evtimer_add(s->status_ev, &stv);
    if (cfg->results_dir[0] && cfg->results_retention_days > 0) {
        s->retention_ev = event_new(s->base, -1, EV_PERSIST, retention_cb, s);
        struct timeval rtv = {cfg->retention_interval_s, 0};
        evtimer_add(s->retention_ev, &rtv);
        cm_log(CM_LOG_INFO,
               "retention: the leader removes result directories under %s older than %d days "
               "whose result has left Redis, every %d s",
               cfg->results_dir, cfg->results_retention_days, cfg->retention_interval_s);
    }
    s->sig_term = evsignal_new(s->base, SIGTERM, signal_cb, s);
    s->sig_int = evsignal_new(s->base, SIGINT, signal_cb, s);
    event_add(s->sig_term, NULL);
    event_add(s->sig_int, NULL);
    char *where = cm_redis_url_describe(&cfg->common.url);
    cm_log(CM_LOG_INFO,
           "scheduler %s: redis %s; lease %d ms, checks every %d ms, system_status every %d ms, "
           "%d attempts, job timeout %d s",
           s->id, where, cfg->lease_ms, cfg->check_interval_ms, cfg->status_interval_ms,
           cfg->max_attempts, cfg->job_timeout_s);
    free(where);
    cm_rconn_start(&s->cmd);
    event_base_dispatch(s->base);
    cm_log(CM_LOG_INFO, "stopped");
out:
    cm_rconn_deinit(&s->cmd);
    if (s->survey) /* replies never came: the connection is gone */
        sc__survey_free(s->survey);
    sc__track_sweep(s, true);
    cm_http_stop(&s->http);
    if (s->tick_ev)
        event_free(s->tick_ev);
    if (s->status_ev)
        event_free(s->status_ev);
    if (s->retention_ev)
        event_free(s->retention_ev);
    if (s->sig_term)
        event_free(s->sig_term);
    if (s->sig_int)
        event_free(s->sig_int);
    event_base_free(s->base);
    free(s->k_leader), free(s->k_jobs), free(s->k_workers), free(s->k_dead), free(s->k_bcast),
        free(s->k_cancel), free(s->k_nojob);
    free(s);
    return code;
}
