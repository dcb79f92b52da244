/* zsa-worker core: the loop, its connections (commands with heartbeat, cancel subscription),
 * the GPU sampler, graceful shutdown. Everything here runs on the one libevent loop thread;
 * algorithms run on the slot threads of compute.c and come back through wk__on_progress /
 * wk__on_done (events.c). */
#include "worker/worker.h"

#include <errno.h>
#include <event2/http.h>
#include <math.h>
#include <signal.h>
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
#include "store/scripts.h"
#include "worker/internal.h"

#define WK_FLUSH_MS 5000 /* after the grace period: how long to wait for Redis to take the rest */

/* ---- cancel subscription ------------------------------------------------------------------- */

static void cancel_msg_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct wk_worker *w = priv;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        strcmp(r->element[0]->str, "message") != 0)
        return;
    const char *job_id = r->element[2]->str;
    for (int i = 0; i < w->cfg->slots; i++) {
        struct wk_job *job = w->slots[i].job;
        if (job && strcmp(job->job_id, job_id) == 0) {
            cm_log(CM_LOG_INFO, "job %s: cancel requested", job_id);
            atomic_store(&w->slots[i].cancel, true);
            if (!w->slots[i].cancel_ms)
                w->slots[i].cancel_ms = cm_time_now_ms();
        }
    }
}

/* A cancelled job whose analysis has not stopped within this long (a read blocked on a file
 * server that stopped answering: the kernel does not let go of such a thread) ends CANCELLED
 * without it. Its slot stays taken until the analysis returns (its result is dropped), so the
 * worker never runs more analyses at once than --slots. */
#define WK_CANCEL_WAIT_MS 5000

static void abandon_stuck(struct wk_worker *w)
{
    int64_t now = cm_time_now_ms();
    for (int i = 0; i < w->cfg->slots; i++) {
        struct wk_slot *s = &w->slots[i];
        if (!s->job || !s->cancel_ms || s->abandoned || s->job->fenced ||
            now - s->cancel_ms < WK_CANCEL_WAIT_MS)
            continue;
        struct za_algo_result res = {.retry_available = true};
        snprintf(res.error_code, sizeof(res.error_code), "CANCELLED");
        snprintf(res.error, sizeof(res.error),
                 "cancelled; its analysis did not stop within %d s (blocked in a read?) and is "
                 "left to finish on its own",
                 WK_CANCEL_WAIT_MS / 1000);
        wk__emit_failed(w, s->job, &res);
        s->abandoned = true;
        w->jobs_abandoned++;
        cm_log(CM_LOG_WARN,
               "job %s: cancelled, but its analysis has not stopped after %d s; ended it without "
               "the analysis (slot %d stays taken until it returns)",
               s->job->job_id, WK_CANCEL_WAIT_MS / 1000, i);
    }
}

static void sub_ready(struct cm_rconn *c)
{
    struct wk_worker *w = c->owner;
    const char *argv[] = {"SUBSCRIBE", w->k_cancel};
    redisAsyncCommandArgv(c->ac, cancel_msg_cb, w, 2, argv, NULL);
}

/* ---- commands connection, heartbeat --------------------------------------------------------
 */

/* GPU sampler thread: NVML may block for a moment, so the loop only reads the cached sample. */
static void *gpu_sampler(void *arg)
{
    struct wk_worker *w = arg;
    char err[160];
    pthread_mutex_lock(&w->lock);
    while (!w->gpu_quit) {
        pthread_mutex_unlock(&w->lock);
        struct wk_gpu_sample s;
        int rc = wk_gpu_sample(&s, err, sizeof(err));
        pthread_mutex_lock(&w->lock);
        if (rc != 0 && w->gpu_now_ok)
            cm_log(CM_LOG_WARN, "gpu: NVML sample failed: %s", err);
        w->gpu_now = s;
        w->gpu_now_ok = rc == 0;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += w->cfg->heartbeat_ms / 1000;
        until.tv_nsec += (long)(w->cfg->heartbeat_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&w->gpu_cond, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void gpu_sampler_start(struct wk_worker *w)
{
    pthread_cond_init(&w->gpu_cond, NULL);
    if (w->gpu.count == 0 || w->cfg->cpu_only)
        return;
    w->gpu_sampling = pthread_create(&w->gpu_thread, NULL, gpu_sampler, w) == 0;
}

static void gpu_sampler_stop(struct wk_worker *w)
{
    if (w->gpu_sampling) {
        pthread_mutex_lock(&w->lock);
        w->gpu_quit = true;
        pthread_cond_signal(&w->gpu_cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->gpu_thread, NULL);
    }
    pthread_cond_destroy(&w->gpu_cond);
}

/* Adds the NVML figures to the heartbeat when there are any. */
static void heartbeat_gpu(struct wk_worker *w)
{
    pthread_mutex_lock(&w->lock);
    struct wk_gpu_sample s = w->gpu_now;
    bool ok = w->gpu_now_ok;
    pthread_mutex_unlock(&w->lock);
    if (!ok)
        return;
    char util[32], used[24], total[24];
    snprintf(util, sizeof(util), "%.1f", s.utilization);
    snprintf(used, sizeof(used), "%lld", s.mem_used_mb);
    snprintf(total, sizeof(total), "%lld", s.mem_total_mb);
    const char *argv[] = {"HSET",
                          w->k_worker,
                          "gpu_utilization",
                          util,
                          "gpu_memory_used_mb",
                          used,
                          "gpu_memory_total_mb",
                          total};
    redisAsyncCommandArgv(w->cmd.ac, NULL, NULL, 8, argv, NULL);
}

void wk__heartbeat(struct wk_worker *w)
{
    abandon_stuck(w);
    if (!w->cmd.ready)
        return;
    char pid[16], slots[16], busy[16], done[24], failed[24], started[24], now[24], gpus[16],
        mem[24], ttl[16];
    struct cm_buf jobs = CM_BUF_INIT;
    for (int i = 0; i < w->cfg->slots; i++) {
        if (w->slots[i].job)
            cm_buf_printf(&jobs, "%s%s", jobs.len ? "," : "", w->slots[i].job->job_id);
    }
    bool gpu = w->gpu.count > 0 && !w->cfg->cpu_only;
    const char *argv[] = {
        "HSET",
        w->k_worker,
        "host",
        w->host,
        "pid",
        cm_fmt_ll(pid, sizeof(pid), getpid()),
        "device",
        gpu ? w->gpu.dev[0].name : "cpu",
        "gpu_count",
        cm_fmt_ll(gpus, sizeof(gpus), gpu ? w->gpu.count : 0),
        "gpu_memory_total_mb",
        cm_fmt_ll(mem, sizeof(mem), gpu ? (long long)w->gpu.dev[0].mem_total_mb : 0),
        "slots",
        cm_fmt_ll(slots, sizeof(slots), w->cfg->slots),
        "busy",
        cm_fmt_ll(busy, sizeof(busy), w->busy),
        "current_jobs",
        jobs.data ? jobs.data : "",
        "jobs_done",
        cm_fmt_ll(done, sizeof(done), (long long)w->jobs_done),
        "jobs_failed",
        cm_fmt_ll(failed, sizeof(failed), (long long)w->jobs_failed),
        "started_at",
        cm_fmt_ll(started, sizeof(started), w->started_ms),
        "heartbeat_at",
        cm_fmt_ll(now, sizeof(now), cm_time_now_ms()),
        "draining",
        w->draining ? "1" : "0"};
    redisAsyncCommandArgv(w->cmd.ac, NULL, NULL, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
    heartbeat_gpu(w);
    const char *exp[] = {"EXPIRE", w->k_worker,
                         cm_fmt_ll(ttl, sizeof(ttl), w->cfg->heartbeat_ttl_s)};
    redisAsyncCommandArgv(w->cmd.ac, NULL, NULL, 3, exp, NULL);
    const char *sadd[] = {"SADD", w->k_workers, w->id};
    redisAsyncCommandArgv(w->cmd.ac, NULL, NULL, 3, sadd, NULL);
    cm_buf_deinit(&jobs);
}

static void hb_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    wk__heartbeat(arg);
}

static void cmd_ready(struct cm_rconn *c)
{
    struct wk_worker *w = c->owner;
    /* the scripts first: the outbox pipelines EVALSHA behind them, and keeps its order, so its
     * NOSCRIPT is a reconnect that loads them again (store/scripts.h) */
    st_scripts_load(c->ac);
    wk__heartbeat(w);
    wk_outbox_resend(&w->outbox);
}

static void cmd_lost(struct cm_rconn *c)
{
    struct wk_worker *w = c->owner;
    wk_outbox_lost(&w->outbox);
}

/* ---- shutdown ------------------------------------------------------------------------------ */

static void finish(struct wk_worker *w)
{
    if (w->cmd.ready) { /* leave the registry at once instead of waiting for the TTL */
        const char *del[] = {"DEL", w->k_worker};
        const char *srem[] = {"SREM", w->k_workers, w->id};
        redisAsyncCommandArgv(w->cmd.ac, NULL, NULL, 2, del, NULL);
        redisAsyncCommandArgv(w->cmd.ac, NULL, NULL, 3, srem, NULL);
    }
    cm_rconn_close(&w->cmd);
    cm_rconn_close(&w->intake);
    cm_rconn_close(&w->sub);
    evtimer_del(w->hb_timer);
    evtimer_del(w->drain_timer);
    event_del(w->sig_term);
    event_del(w->sig_int);
    wk_http_stop(w);
    event_del(w->doorbell_ev);
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct wk_worker *w = arg;
    int64_t now = cm_time_now_ms();
    if (w->busy == 0 && w->outbox.n == 0 && w->intake_pending == 0) {
        cm_log(CM_LOG_INFO, "shutdown complete: %llu jobs done, %llu failed, %llu requeued",
               (unsigned long long)w->jobs_done, (unsigned long long)w->jobs_failed,
               (unsigned long long)w->jobs_requeued);
        finish(w);
        return;
    }
    if (now >= w->drain_deadline_ms && w->busy > 0) {
        for (int i = 0; i < w->cfg->slots; i++) {
            if (w->slots[i].job && !atomic_load(&w->slots[i].cancel)) {
                cm_log(CM_LOG_WARN, "job %s: grace period over; stopping it",
                       w->slots[i].job->job_id);
                atomic_store(&w->slots[i].cancel, true);
            }
        }
    }
    if (now >= w->drain_deadline_ms + WK_FLUSH_MS) {
        cm_log(CM_LOG_ERROR,
               "shutdown: %d analyses did not stop and redis did not take %zu pending commands; "
               "exiting anyway (jobs still held stay in %s for recovery)",
               w->busy, w->outbox.n, w->k_active);
        w->exit_code = 1;
        finish(w);
        event_base_loopbreak(w->base);
        return;
    }
    struct timeval tv = {0, 50000};
    evtimer_add(w->drain_timer, &tv);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct wk_worker *w = arg;
    char left[200];
    snprintf(left, sizeof(left), "(held jobs stay in %s)", w->k_active);
    if (!cm_stop_signal(sig, &w->stop_ms, cm_time_mono_ms(), left))
        return;
    w->draining = true;
    w->drain_deadline_ms = cm_time_now_ms() + w->cfg->grace_ms;
    cm_log(CM_LOG_INFO, "%s: no new jobs; waiting up to %d ms for %d running job%s",
           sig == SIGTERM ? "SIGTERM" : "SIGINT", w->cfg->grace_ms, w->busy,
           w->busy == 1 ? "" : "s");
    if (w->intake.ready)
        cm_rconn_close(&w->intake); /* a BLMOVE in flight still answers; its job goes back */
    wk__heartbeat(w);
    drain_cb(-1, 0, w);
}

/* ---- run ----------------------------------------------------------------------------------- */

static void keys_init(struct wk_worker *w)
{
    const char *p = w->cfg->common.prefix;
    w->k_jobs = cm_key_new(p, CM_KEY_JOBS, NULL);
    w->k_active = cm_key_new(p, CM_KEY_ACTIVE, w->id);
    w->k_worker = cm_key_new(p, CM_KEY_WORKER, w->id);
    w->k_workers = cm_key_new(p, CM_KEY_WORKERS, NULL);
    w->k_dead = cm_key_new(p, CM_KEY_DEAD, NULL);
    w->k_cancel = cm_key_new(p, CM_KEY_CANCEL, NULL);
    w->k_bcast = cm_key_new(p, CM_KEY_BCAST, NULL);
    w->k_noresult = cm_key_new(p, CM_KEY_RESULT, "-");
}

static void keys_deinit(struct wk_worker *w)
{
    free(w->k_jobs);
    free(w->k_active);
    free(w->k_worker);
    free(w->k_workers);
    free(w->k_dead);
    free(w->k_cancel);
    free(w->k_bcast);
    free(w->k_noresult);
}

int wk_worker_run(struct wk_config *cfg)
{
    struct wk_worker *w = cm_xcalloc(1, sizeof(*w));
    w->cfg = cfg;
    w->started_ms = cm_time_now_ms();
    cm_daemon_id(cfg->worker_id, w->id, sizeof(w->id), w->host, sizeof(w->host));
    wk_gpu_probe(&w->gpu);
    char rerr[256];
    if (za_roots_init(&w->roots, cfg->data_dir, rerr, sizeof(rerr)) != 0) {
        cm_log(CM_LOG_ERROR, "%s", rerr);
        free(w); /* nothing else exists yet */
        return 2;
    }
    st_script_init();
    keys_init(w);
    pthread_mutex_init(&w->lock, NULL);
    w->base = event_base_new();
    cm_rconn_libevent(&w->loop_ops, w->base);
    cm_rconn_init(&w->cmd, "commands", &w->loop_ops, &cfg->common.url, cfg->common.redis_timeout_ms,
                  w);
    cm_rconn_init(&w->intake, "intake", &w->loop_ops, &cfg->common.url,
                  cfg->common.redis_timeout_ms, w);
    cm_rconn_init(&w->sub, "cancel", &w->loop_ops, &cfg->common.url, cfg->common.redis_timeout_ms,
                  w);
    w->cmd.on_ready = cmd_ready, w->cmd.on_lost = cmd_lost;
    w->intake.on_ready = wk__intake_ready, w->intake.on_lost = wk__intake_lost;
    w->sub.on_ready = sub_ready;
    wk_outbox_init(&w->outbox, &w->cmd, (size_t)cfg->outbox_max);
    snprintf(w->emit_header[0], sizeof(w->emit_header[0]), "%d", cfg->stream_maxlen);
    snprintf(w->emit_header[1], sizeof(w->emit_header[1]), "%d", cfg->stream_ttl_s);
    snprintf(w->emit_header[2], sizeof(w->emit_header[2]), "%d", cfg->result_ttl_s);
    for (int i = 0; i < 3; i++)
        w->outbox.header[i] = w->emit_header[i];

    gpu_sampler_start(w);
    int rc = wk_compute_start(w);
    if (rc == 0 && wk_http_start(w) != 0)
        rc = -EADDRINUSE;
    if (rc != 0) {
        w->exit_code = 1;
        goto out;
    }
    w->hb_timer = event_new(w->base, -1, EV_PERSIST, hb_cb, w);
    struct timeval hb = {cfg->heartbeat_ms / 1000, (cfg->heartbeat_ms % 1000) * 1000};
    evtimer_add(w->hb_timer, &hb);
    w->drain_timer = evtimer_new(w->base, drain_cb, w);
    w->sig_term = evsignal_new(w->base, SIGTERM, signal_cb, w);
    w->sig_int = evsignal_new(w->base, SIGINT, signal_cb, w);
    event_add(w->sig_term, NULL);
    event_add(w->sig_int, NULL);
    char *where = cm_redis_url_describe(&cfg->common.url);
    cm_log(CM_LOG_INFO, "worker %s: %d slot%s, redis %s, queue %s, gpu: %s", w->id, cfg->slots,
           cfg->slots == 1 ? "" : "s", where, w->k_jobs,
           cfg->cpu_only ? "off (--cpu-only)" : w->gpu.message);
    free(where);
    cm_rconn_start(&w->cmd);
    cm_rconn_start(&w->intake);
    cm_rconn_start(&w->sub);
    event_base_dispatch(w->base);
out:
    if (w->busy > 0) { /* analyses that would not stop (blocked reads): do not wait for them */
        cm_log(CM_LOG_ERROR,
               "exiting with %d analyses still running; their jobs stay in %s for "
               "recovery",
               w->busy, w->k_active);
        fflush(NULL);
        _exit(1);
    }
    for (int k = 0; w->claims && k < cfg->slots; k++) /* claims Redis never answered */
        wk__job_free(w->claims[k]);
    wk_compute_stop(w);
    gpu_sampler_stop(w);
    cm_rconn_deinit(&w->cmd);
    cm_rconn_deinit(&w->intake);
    cm_rconn_deinit(&w->sub);
    wk_outbox_deinit(&w->outbox);
    if (w->hb_timer)
        event_free(w->hb_timer);
    if (w->drain_timer)
        event_free(w->drain_timer);
    if (w->sig_term)
        event_free(w->sig_term);
    if (w->sig_int)
        event_free(w->sig_int);
    wk_http_stop(w);
    event_base_free(w->base);
    pthread_mutex_destroy(&w->lock);
    keys_deinit(w);
    za_roots_deinit(&w->roots);
    int code = w->exit_code;
    free(w);
    return code;
}
