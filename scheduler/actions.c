/* What the leader does with a survey: system_status, recovery of the jobs of lost workers
 * (RECOVER), forgetting them (FORGET), timeouts (TIMEOUT) and the progress tracking that decides
 * them. Each script re-checks the lease and what the survey read. Loop thread. */
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

void sc__emit_status(struct sc_survey *sv)
{
    struct sc *s = sv->s;
    long long online = 0, active = 0, ngpu = 0;
    double util = 0, used = 0, total = 0;
    for (size_t i = 0; i < sv->nworkers; i++) {
        struct sc_worker *wk = &sv->workers[i];
        if (!wk->alive)
            continue;
        online++;
        active += (long long)wk->njobs;
        if (wk->has_gpu) {
            used += wk->gpu_used, total += wk->gpu_total;
            if (wk->has_util)
                util += wk->gpu_util, ngpu++;
        }
    }
    s->last_queue = sv->queue_length, s->last_active = active, s->last_online = online;
    struct pr_msg ev;
    pr_msg_init(&ev, PR_SYSTEM_STATUS);
    struct pr_system_status *st = &ev.u.system_status;
    st->gpu_utilization = ngpu ? util / (double)ngpu : 0;
    st->gpu_memory_used_mb = (long long)used;
    st->gpu_memory_total_mb = (long long)total;
    st->queue_length = sv->queue_length;
    st->active_processing_count = active;
    st->workers_online = online;
    struct cm_buf mp = CM_BUF_INIT;
    if (sc__encode_event(&ev, NULL, NULL, &mp) == 0) {
        struct st_call sc__call;
        st_call_init(&sc__call, ST_SCRIPT_EMIT);
        st_call_arg(&sc__call, ST_EMIT_A_STREAM_MAXLEN, s->status_maxlen, (size_t)-1);
        st_call_arg(&sc__call, ST_EMIT_A_STREAM_TTL_S, "", 0);
        st_call_arg(&sc__call, ST_EMIT_A_RESULT_TTL_S, "", 0);
        st_call_item(&sc__call, 'p');
        st_call_key(&sc__call, ST_EMIT_P_IK_JOB, s->k_nojob);
        st_call_key(&sc__call, ST_EMIT_P_IK_STREAM, s->k_bcast);
        st_call_key(&sc__call, ST_EMIT_P_IK_CHANNEL, s->k_bcast);
        st_call_arg(&sc__call, ST_EMIT_P_IA_KIND, "p", 1);
        st_call_arg(&sc__call, ST_EMIT_P_IA_ATTEMPT, "", 0);
        st_call_arg(&sc__call, ST_EMIT_P_IA_SEQ, "", 0);
        st_call_arg(&sc__call, ST_EMIT_P_IA_EVENT, mp.data, mp.len);
        st_call_arg(&sc__call, ST_EMIT_P_IA_NFIELDS, "0", 1);
        sc__script(sv, NULL, NULL, &sc__call);
        s->statuses++;
    }
    cm_buf_deinit(&mp);
    pr_msg_deinit(&ev);
}

struct sc_act {
    struct sc *s;
    char *job_id, *worker_id;
    int attempt;
};

static struct sc_act *act_new(struct sc *s, const char *job_id, const char *worker_id, int attempt)
{
    struct sc_act *a = cm_xcalloc(1, sizeof(*a));
    a->s = s;
    a->job_id = cm_xstrdup(job_id ? job_id : "(no id)");
    a->worker_id = cm_xstrdup(worker_id);
    a->attempt = attempt;
    return a;
}

static void act_free(struct sc_act *a)
{
    free(a->job_id);
    free(a->worker_id);
    free(a);
}

static void on_recover(struct sc_survey *sv, redisReply *r, void *arg)
{
    struct sc_act *a = arg;
    struct sc *s = sv->s;
    const char *what = r && r->type == REDIS_REPLY_STRING ? r->str : "";
    int m = s->cfg->max_attempts;
    if (strcmp(what, "retry") == 0) {
        s->retried++;
        cm_log(CM_LOG_WARN, "job %s: requeued, worker %s was lost (attempt %d of %d)", a->job_id,
               a->worker_id, a->attempt, m);
    } else if (strcmp(what, "dead") == 0) {
        s->dead++;
        cm_log(CM_LOG_ERROR,
               "job %s: dead letter, worker %s was lost during its last attempt (%d of %d)",
               a->job_id, a->worker_id, a->attempt, m);
    } else if (strcmp(what, "requeued") == 0) {
        s->requeued++;
        cm_log(CM_LOG_WARN, "job %s: back to the queue, worker %s was lost before it started",
               a->job_id, a->worker_id);
    } else if (strcmp(what, "notleader") == 0) {
        s->leader = false;
    } else {
        cm_log(CM_LOG_DEBUG, "job %s of worker %s: recovery: %s", a->job_id, a->worker_id, what);
    }
    act_free(a);
}

/* A lost worker's job: back to the queue (or to the dead letters) with its event. */
void sc__recover_job(struct sc_survey *sv, struct sc_worker *wk, struct sc_job *j)
{
    struct sc *s = sv->s;
    const char *prefix = s->cfg->common.prefix;
    const struct pr_job *spec = j->decoded ? &j->spec.u.job : NULL;
    const char *job_id = spec ? spec->job_id : NULL, *session = spec ? spec->session_id : NULL;
    const char *attempts = hash_field(j, SF_ATTEMPTS);
    int n = attempts ? atoi(attempts) : 0, m = s->cfg->max_attempts;
    char *k_job = job_id ? cm_key_new(prefix, CM_KEY_JOB, job_id) : cm_xstrdup(s->k_nojob);
    char *k_stream = session ? cm_key_new(prefix, CM_KEY_EVENTS, session) : cm_xstrdup(s->k_bcast);
    char *k_chan = session ? cm_key_new(prefix, CM_KEY_CHANNEL, session) : cm_xstrdup(s->k_bcast);
    char *k_worker = cm_key_new(prefix, CM_KEY_WORKER, wk->id);
    char *k_active = cm_key_new(prefix, CM_KEY_ACTIVE, wk->id);
    char step[256], error[256], ts[CM_RFC3339_LEN];
    snprintf(step, sizeof(step), "Requeued: worker %s was lost (attempt %d of %d)", wk->id, n, m);
    snprintf(error, sizeof(error),
             "worker %s was lost during attempt %d of %d; the job is in the dead letters", wk->id,
             n, m);
    struct cm_buf requeue_ev = CM_BUF_INIT, dead_ev = CM_BUF_INIT, dead = CM_BUF_INIT;
    if (spec) {
        struct pr_msg ev;
        pr_msg_init(&ev, PR_PROCESSING_PROGRESS);
        pr_set_str(&ev.u.processing_progress.image_id, spec->image_id);
        ev.u.processing_progress.progress = 0;
        pr_set_str(&ev.u.processing_progress.current_step, step);
        ev.u.processing_progress.eta_seconds = NAN;
        sc__encode_event(&ev, job_id, session, &requeue_ev);
        pr_msg_deinit(&ev);
        pr_msg_init(&ev, PR_PROCESSING_FAILED);
        pr_set_str(&ev.u.processing_failed.image_id, spec->image_id);
        pr_set_str(&ev.u.processing_failed.error, error);
        pr_set_str(&ev.u.processing_failed.error_code, "WORKER_LOST");
        ev.u.processing_failed.retry_available = true;
        sc__encode_event(&ev, job_id, session, &dead_ev);
        pr_msg_deinit(&ev);
        cm_buf_puts(&dead, "{\"raw\":");
        cm_buf_append_json_str(&dead, j->raw, j->raw_len);
        cm_buf_puts(&dead, ",\"job_id\":");
        cm_buf_append_json_str(&dead, job_id, strlen(job_id));
        cm_buf_puts(&dead, ",\"error_code\":\"WORKER_LOST\",\"error\":");
        cm_buf_append_json_str(&dead, error, strlen(error));
        cm_buf_puts(&dead, ",\"worker\":");
        cm_buf_append_json_str(&dead, wk->id, strlen(wk->id));
        cm_buf_printf(&dead, ",\"attempts\":%d,\"failed_at\":\"%s\"}", n,
                      cm_time_rfc3339(cm_time_now_ms(), ts));
    }
    struct st_call sc__call;
    st_call_init(&sc__call, ST_SCRIPT_RECOVER);
    st_call_key(&sc__call, ST_RECOVER_K_LEADER, s->k_leader);
    st_call_key(&sc__call, ST_RECOVER_K_WORKER, k_worker);
    st_call_key(&sc__call, ST_RECOVER_K_ACTIVE, k_active);
    st_call_key(&sc__call, ST_RECOVER_K_QUEUE, s->k_jobs);
    st_call_key(&sc__call, ST_RECOVER_K_JOB, k_job);
    st_call_key(&sc__call, ST_RECOVER_K_STREAM, k_stream);
    st_call_key(&sc__call, ST_RECOVER_K_CHANNEL, k_chan);
    st_call_key(&sc__call, ST_RECOVER_K_DEAD, s->k_dead);
    st_call_arg(&sc__call, ST_RECOVER_A_SCHEDULER_ID, s->id, (size_t)-1);
    st_call_arg(&sc__call, ST_RECOVER_A_RAW_JOB, j->raw, j->raw_len);
    st_call_arg(&sc__call, ST_RECOVER_A_ATTEMPTS_READ,
                hash_field(j, SF_STATUS) ? (attempts ? attempts : "0") : "", (size_t)-1);
    st_call_arg(&sc__call, ST_RECOVER_A_MAX_ATTEMPTS, s->max_attempts, (size_t)-1);
    st_call_arg_ll(&sc__call, ST_RECOVER_A_NOW_MS, cm_time_now_ms());
    st_call_arg(&sc__call, ST_RECOVER_A_STREAM_MAXLEN, s->stream_maxlen, (size_t)-1);
    st_call_arg(&sc__call, ST_RECOVER_A_STREAM_TTL_S, s->stream_ttl, (size_t)-1);
    st_call_arg(&sc__call, ST_RECOVER_A_REQUEUE_EVENT, requeue_ev.data ? requeue_ev.data : "",
                requeue_ev.len);
    st_call_arg(&sc__call, ST_RECOVER_A_DEAD_EVENT, dead_ev.data ? dead_ev.data : "", dead_ev.len);
    st_call_arg(&sc__call, ST_RECOVER_A_DEAD_ENTRY, dead.data ? dead.data : "", dead.len);
    st_call_arg(&sc__call, ST_RECOVER_A_WORKER_ID, wk->id, (size_t)-1);
    st_call_arg(&sc__call, ST_RECOVER_A_ERROR, error, (size_t)-1);
    sc__script(sv, on_recover, act_new(s, job_id, wk->id, n), &sc__call);
    cm_buf_deinit(&requeue_ev);
    cm_buf_deinit(&dead_ev);
    cm_buf_deinit(&dead);
    free(k_job), free(k_stream), free(k_chan), free(k_worker), free(k_active);
}

static void on_forget(struct sc_survey *sv, redisReply *r, void *arg)
{
    struct sc_act *a = arg;
    if (r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "forgotten") == 0) {
        sv->s->forgotten++;
        cm_log(CM_LOG_INFO, "worker %s: heartbeat expired, nothing left to recover; forgotten",
               a->worker_id);
    }
    act_free(a);
}

void sc__forget_worker(struct sc_survey *sv, struct sc_worker *wk)
{
    struct sc *s = sv->s;
    char *k_worker = cm_key_new(s->cfg->common.prefix, CM_KEY_WORKER, wk->id);
    char *k_active = cm_key_new(s->cfg->common.prefix, CM_KEY_ACTIVE, wk->id);
    struct st_call sc__call;
    st_call_init(&sc__call, ST_SCRIPT_FORGET);
    st_call_key(&sc__call, ST_FORGET_K_LEADER, s->k_leader);
    st_call_key(&sc__call, ST_FORGET_K_WORKER, k_worker);
    st_call_key(&sc__call, ST_FORGET_K_ACTIVE, k_active);
    st_call_key(&sc__call, ST_FORGET_K_WORKERS, s->k_workers);
    st_call_arg(&sc__call, ST_FORGET_A_SCHEDULER_ID, s->id, (size_t)-1);
    st_call_arg(&sc__call, ST_FORGET_A_WORKER_ID, wk->id, (size_t)-1);
    sc__script(sv, on_forget, act_new(s, NULL, wk->id, 0), &sc__call);
    free(k_worker);
    free(k_active);
}

static void on_timeout(struct sc_survey *sv, redisReply *r, void *arg)
{
    struct sc_act *a = arg;
    if (r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "timeout") == 0) {
        sv->s->timeouts++;
        cm_log(CM_LOG_ERROR,
               "job %s on worker %s: past its timeout or run-time limit; failed "
               "(TIMEOUT)",
               a->job_id, a->worker_id);
    }
    act_free(a);
}

/* Fails a running job with TIMEOUT: no progress for secs (stalled), or running for more than
 * secs whatever its progress (runtime: its algorithm's run-time limit). */
void sc__timeout_job(struct sc_survey *sv, struct sc_worker *wk, struct sc_job *j, int secs,
                     bool runtime)
{
    struct sc *s = sv->s;
    const char *prefix = s->cfg->common.prefix;
    const struct pr_job *spec = &j->spec.u.job;
    const char *session = spec->session_id;
    char *k_job = cm_key_new(prefix, CM_KEY_JOB, spec->job_id);
    char *k_stream = session ? cm_key_new(prefix, CM_KEY_EVENTS, session) : cm_xstrdup(s->k_bcast);
    char *k_chan = session ? cm_key_new(prefix, CM_KEY_CHANNEL, session) : cm_xstrdup(s->k_bcast);
    char *k_active = cm_key_new(prefix, CM_KEY_ACTIVE, wk->id);
    char error[256];
    snprintf(error, sizeof(error),
             runtime ? "ran for more than %d s (the run-time limit of %s) on worker %s; the job "
                       "was stopped"
                     : "no progress for %d s (the timeout of %s) on worker %s; the job was stopped",
             secs, hash_field(j, SF_ALGORITHM) ? hash_field(j, SF_ALGORITHM) : "its algorithm",
             wk->id);
    struct pr_msg ev;
    pr_msg_init(&ev, PR_PROCESSING_FAILED);
    pr_set_str(&ev.u.processing_failed.image_id, spec->image_id);
    pr_set_str(&ev.u.processing_failed.error, error);
    pr_set_str(&ev.u.processing_failed.error_code, "TIMEOUT");
    ev.u.processing_failed.retry_available = true;
    struct cm_buf mp = CM_BUF_INIT;
    if (sc__encode_event(&ev, spec->job_id, session, &mp) == 0) {
        struct st_call sc__call;
        st_call_init(&sc__call, ST_SCRIPT_TIMEOUT);
        st_call_key(&sc__call, ST_TIMEOUT_K_LEADER, s->k_leader);
        st_call_key(&sc__call, ST_TIMEOUT_K_ACTIVE, k_active);
        st_call_key(&sc__call, ST_TIMEOUT_K_JOB, k_job);
        st_call_key(&sc__call, ST_TIMEOUT_K_STREAM, k_stream);
        st_call_key(&sc__call, ST_TIMEOUT_K_CHANNEL, k_chan);
        st_call_key(&sc__call, ST_TIMEOUT_K_CANCEL_CHANNEL, s->k_cancel);
        st_call_arg(&sc__call, ST_TIMEOUT_A_SCHEDULER_ID, s->id, (size_t)-1);
        st_call_arg(&sc__call, ST_TIMEOUT_A_RAW_JOB, j->raw, j->raw_len);
        st_call_arg(&sc__call, ST_TIMEOUT_A_ATTEMPT_READ, hash_field(j, SF_ATTEMPT), (size_t)-1);
        st_call_arg(&sc__call, ST_TIMEOUT_A_EVENT, mp.data, mp.len);
        st_call_arg_ll(&sc__call, ST_TIMEOUT_A_NOW_MS, cm_time_now_ms());
        st_call_arg(&sc__call, ST_TIMEOUT_A_STREAM_MAXLEN, s->stream_maxlen, (size_t)-1);
        st_call_arg(&sc__call, ST_TIMEOUT_A_STREAM_TTL_S, s->stream_ttl, (size_t)-1);
        st_call_arg(&sc__call, ST_TIMEOUT_A_JOB_ID, spec->job_id, (size_t)-1);
        st_call_arg(&sc__call, ST_TIMEOUT_A_ERROR, error, (size_t)-1);
        sc__script(sv, on_timeout, act_new(s, spec->job_id, wk->id, 0), &sc__call);
    }
    pr_msg_deinit(&ev);
    cm_buf_deinit(&mp);
    free(k_job), free(k_stream), free(k_chan), free(k_active);
}

/* Notes a running job's progress; returns how long (ms) it has not moved. */
int64_t sc__track(struct sc *s, const char *job_id, const char *state)
{
    struct sc_track **b = &s->track[cm_hash_fnv1a(job_id, strlen(job_id)) % SC_TRACK_BUCKETS], *t;
    int64_t now = cm_time_mono_ms();
    for (t = *b; t; t = t->next)
        if (strcmp(t->job_id, job_id) == 0)
            break;
    if (!t) {
        t = cm_xcalloc(1, sizeof(*t));
        t->job_id = cm_xstrdup(job_id);
        t->state = cm_xstrdup(state);
        t->since = now;
        t->next = *b;
        *b = t;
    } else if (strcmp(t->state, state) != 0) {
        free(t->state);
        t->state = cm_xstrdup(state);
        t->since = now;
    }
    t->gen = s->gen;
    return now - t->since;
}

/* Forgets jobs the last survey did not see running (ended, or on another leader's watch). */
void sc__track_sweep(struct sc *s, bool all)
{
    for (int i = 0; i < SC_TRACK_BUCKETS; i++)
        for (struct sc_track **p = &s->track[i]; *p;) {
            struct sc_track *t = *p;
            if (all || t->gen != s->gen) {
                *p = t->next;
                free(t->job_id);
                free(t->state);
                free(t);
            } else {
                p = &t->next;
            }
        }
}
