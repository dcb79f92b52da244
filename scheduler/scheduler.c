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

#define SC_TRACK_BUCKETS 1024
#define SC_SCAN_COUNT "500"

/* What the leader last saw of a running job's progress, to time it out. */
struct sc_track {
    struct sc_track *next;
    char *job_id;
    char *state;   /* "<attempt>|<progress>|<step>": a change is progress */
    int64_t since; /* monotonic ms when state last changed */
    uint64_t gen;  /* the survey that last saw it */
};

/* The job hash fields a survey reads of each held job (store/jobhash.h), by position. */
enum { SF_STATUS, SF_ATTEMPTS, SF_ATTEMPT, SF_PROGRESS, SF_STEP, SF_ALGORITHM, SF_STARTED_AT };
static const enum st_job_field survey_fields[] = {
    [SF_STATUS] = ST_JF_STATUS,        [SF_ATTEMPTS] = ST_JF_ATTEMPTS,
    [SF_ATTEMPT] = ST_JF_ATTEMPT,      [SF_PROGRESS] = ST_JF_PROGRESS,
    [SF_STEP] = ST_JF_CURRENT_STEP,    [SF_ALGORITHM] = ST_JF_ALGORITHM,
    [SF_STARTED_AT] = ST_JF_STARTED_AT};
#define NFIELDS (sizeof(survey_fields) / sizeof(survey_fields[0]))

struct sc_job {
    char *raw;
    size_t raw_len;
    struct pr_msg spec; /* PR_JOB, when raw decoded */
    bool decoded;
    bool have_hash;   /* the HMGET below answered */
    char *f[NFIELDS]; /* the job hash's survey_fields (NULL: absent) */
};

struct sc_worker {
    char *id;
    bool alive;
    double gpu_util, gpu_used, gpu_total;
    bool has_gpu, has_util;
    struct sc_job *jobs;
    size_t njobs;
};

struct sc;

/* One survey and what it does, alive while its commands are in flight. */
struct sc_survey {
    struct sc *s;
    int round;   /* 1..4 */
    int pending; /* replies still due in this round */
    bool failed; /* a reply was lost (connection down): act on nothing */
    long long queue_length;
    struct sc_worker *workers;
    size_t nworkers;
};

struct sc {
    struct sc_config *cfg;
    char id[160];
    struct event_base *base;
    struct cm_rconn_loop loop_ops;
    struct cm_rconn cmd;
    struct cm_http http;
    struct event *tick_ev, *status_ev, *sig_term, *sig_int;
    char *k_leader, *k_jobs, *k_workers, *k_dead, *k_bcast, *k_cancel, *k_nojob;
    char lease_ms[16], max_attempts[16], status_maxlen[16], stream_maxlen[16], stream_ttl[16],
        ended_ttl[16];
    bool leader;
    bool lease_pending;
    bool stopping;
    int64_t leader_until; /* monotonic ms: the lease is ours until then, at least */
    bool status_due;      /* system_status goes out with the next survey */
    struct sc_survey *survey;
    uint64_t gen;
    struct sc_track *track[SC_TRACK_BUCKETS];
    char scan_cursor[2][32]; /* job hashes, session streams */
    /* figures of the last survey, and counters, for /metrics */
    long long last_queue, last_active, last_online;
    uint64_t statuses, requeued, retried, dead, timeouts, forgotten, expired, lease_gained,
        lease_lost, errors;
};

/* ---- small helpers ----------------------------------------------------------------------------
 */

static uint64_t hash_str(const char *p)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static bool is_leader(const struct sc *s)
{
    return s->leader && cm_time_mono_ms() < s->leader_until;
}

/* The seconds of algo in a per-algorithm table, or def. */
static int algo_secs(const struct sc_algo_secs *tab, int n, const char *algo, int def)
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

/* Encodes a job event of the scheduler (envelope completed here) as MessagePack. */
static int encode_event(struct pr_msg *ev, const char *job_id, const char *session,
                        struct cm_buf *out)
{
    char ts[CM_RFC3339_LEN];
    struct pr_err err = {0};
    pr_set_str(&ev->timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    if (session)
        pr_set_str(&ev->session_id, session);
    if (job_id)
        pr_set_str(&ev->job_id, job_id);
    if (pr_encode_msgpack(ev, out, &err) != 0) {
        cm_log(CM_LOG_ERROR, "%s event not sent: %s: %s", pr_msgdesc(ev->type)->name, err.field,
               err.text);
        return -1;
    }
    return 0;
}

/* ---- surveys: sending and counting ------------------------------------------------------------
 */

static void survey_advance(struct sc_survey *sv);

static void survey_free(struct sc_survey *sv)
{
    for (size_t i = 0; i < sv->nworkers; i++) {
        struct sc_worker *wk = &sv->workers[i];
        for (size_t j = 0; j < wk->njobs; j++) {
            free(wk->jobs[j].raw);
            if (wk->jobs[j].decoded)
                pr_msg_deinit(&wk->jobs[j].spec);
            for (size_t k = 0; k < NFIELDS; k++)
                free(wk->jobs[j].f[k]);
        }
        free(wk->jobs);
        free(wk->id);
    }
    free(sv->workers);
    free(sv);
}

/* A reply came for the survey; when the round's last is in, the next round starts. */
static void survey_reply_done(struct sc_survey *sv, redisReply *r)
{
    if (!r)
        sv->failed = true;
    if (--sv->pending == 0)
        survey_advance(sv);
}

struct sc_call {
    struct sc_survey *sv;
    void (*fn)(struct sc_survey *sv, redisReply *r, void *arg);
    void *arg;
};

static void call_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct sc_call *c = priv;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR) {
        c->sv->s->errors++;
        cm_log(CM_LOG_ERROR, "redis: %s", r->str);
    }
    if (c->fn) /* also without a reply: it frees its arg */
        c->fn(c->sv, r, c->arg);
    struct sc_survey *sv = c->sv;
    free(c);
    survey_reply_done(sv, r);
}

/* Sends a command for the survey; fn (may be NULL) gets its reply, or NULL when none will come
 * (the connection is down), once. */
static void call(struct sc_survey *sv, void (*fn)(struct sc_survey *, redisReply *, void *),
                 void *arg, int argc, const char **argv, const size_t *argvlen)
{
    struct sc_call *c = cm_xcalloc(1, sizeof(*c));
    c->sv = sv, c->fn = fn, c->arg = arg;
    sv->pending++;
    if (!sv->s->cmd.ready ||
        redisAsyncCommandArgv(sv->s->cmd.ac, call_cb, c, argc, argv, argvlen) != REDIS_OK) {
        free(c);
        sv->failed = true;
        sv->pending--;
        if (fn)
            fn(sv, NULL, arg);
    }
}

/* A script call for the survey (store/scripts.h: EVALSHA, EVAL on NOSCRIPT), taken over; fn
 * as for call(). */
struct sc_script_call {
    struct sc_call c; /* first: call_cb frees it as a struct sc_call */
    bool *unsent;     /* while st_call_async runs: where to say that it called back at once */
};

static void script_cb(redisReply *r, void *priv)
{
    struct sc_script_call *k = priv;
    if (k->unsent) { /* not sent: answered as call() answers when the connection is down */
        struct sc_survey *sv = k->c.sv;
        *k->unsent = true;
        sv->failed = true;
        sv->pending--;
        if (k->c.fn)
            k->c.fn(sv, NULL, k->c.arg);
        free(k);
        return;
    }
    call_cb(NULL, r, &k->c);
}

static void script(struct sc_survey *sv, void (*fn)(struct sc_survey *, redisReply *, void *),
                   void *arg, struct st_call *call)
{
    struct sc_script_call *k = cm_xcalloc(1, sizeof(*k));
    bool unsent = false;
    k->c.sv = sv, k->c.fn = fn, k->c.arg = arg, k->unsent = &unsent;
    sv->pending++;
    st_call_async(sv->s->cmd.ready ? sv->s->cmd.ac : NULL, call, script_cb, k);
    if (!unsent)
        k->unsent = NULL; /* in flight */
}

/* ---- round 1: the registry and the queue ----------------------------------------------------- */

static void on_llen(struct sc_survey *sv, redisReply *r, void *arg)
{
    (void)arg;
    if (r && r->type == REDIS_REPLY_INTEGER)
        sv->queue_length = r->integer;
}

static void on_members(struct sc_survey *sv, redisReply *r, void *arg)
{
    (void)arg;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return;
    sv->workers = cm_xcalloc(r->elements ? r->elements : 1, sizeof(*sv->workers));
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            cm_id_valid(r->element[i]->str, r->element[i]->len, CM_ID_MAX))
            sv->workers[sv->nworkers++].id = cm_xstrdup(r->element[i]->str);
}

/* ---- round 2: heartbeats and active lists -----------------------------------------------------
 */

static void on_heartbeat(struct sc_survey *sv, redisReply *r, void *arg)
{
    (void)sv;
    struct sc_worker *wk = arg;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
        return;
    wk->alive = r->element[0]->type == REDIS_REPLY_STRING; /* the hash exists while it beats */
    if (!wk->alive)
        return;
    const char *v[4];
    for (int i = 0; i < 4; i++)
        v[i] = r->element[i + 1]->type == REDIS_REPLY_STRING ? r->element[i + 1]->str : NULL;
    wk->has_gpu = v[0] && atoi(v[0]) > 0;
    wk->has_util = wk->has_gpu && v[1];
    wk->gpu_util = v[1] ? atof(v[1]) : 0;
    wk->gpu_used = v[2] ? atof(v[2]) : 0;
    wk->gpu_total = v[3] ? atof(v[3]) : 0;
}

static void on_active(struct sc_survey *sv, redisReply *r, void *arg)
{
    (void)sv;
    struct sc_worker *wk = arg;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return;
    wk->jobs = cm_xcalloc(r->elements ? r->elements : 1, sizeof(*wk->jobs));
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING)
            continue;
        struct sc_job *j = &wk->jobs[wk->njobs++];
        j->raw = cm_xmemdup0(r->element[i]->str, r->element[i]->len);
        j->raw_len = r->element[i]->len;
        struct pr_err err = {0};
        j->decoded = pr_decode_json(j->raw, j->raw_len, PR_WIRE_JOB, &j->spec, &err) == 0;
        if (j->decoded && !j->spec.u.job.job_id) {
            pr_msg_deinit(&j->spec); /* never claimed: no hash to look at */
            j->decoded = false;
        }
    }
}

/* ---- round 3: the held jobs' hashes ---------------------------------------------------------- */

static void on_job_hash(struct sc_survey *sv, redisReply *r, void *arg)
{
    (void)sv;
    struct sc_job *j = arg;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != NFIELDS)
        return;
    j->have_hash = true;
    for (size_t i = 0; i < NFIELDS; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            j->f[i] = cm_xmemdup0(r->element[i]->str, r->element[i]->len);
}

static const char *hash_field(const struct sc_job *j, int i)
{
    return j->f[i];
}

/* ---- round 4: acting ------------------------------------------------------------------------- */

static void emit_status(struct sc_survey *sv)
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
    if (encode_event(&ev, NULL, NULL, &mp) == 0) {
        struct st_call call;
        st_call_init(&call, ST_SCRIPT_EMIT);
        st_call_arg(&call, ST_EMIT_A_STREAM_MAXLEN, s->status_maxlen, (size_t)-1);
        st_call_arg(&call, ST_EMIT_A_STREAM_TTL_S, "", 0);
        st_call_arg(&call, ST_EMIT_A_RESULT_TTL_S, "", 0);
        st_call_item(&call, 'p');
        st_call_key(&call, ST_EMIT_P_IK_JOB, s->k_nojob);
        st_call_key(&call, ST_EMIT_P_IK_STREAM, s->k_bcast);
        st_call_key(&call, ST_EMIT_P_IK_CHANNEL, s->k_bcast);
        st_call_arg(&call, ST_EMIT_P_IA_KIND, "p", 1);
        st_call_arg(&call, ST_EMIT_P_IA_ATTEMPT, "", 0);
        st_call_arg(&call, ST_EMIT_P_IA_SEQ, "", 0);
        st_call_arg(&call, ST_EMIT_P_IA_EVENT, mp.data, mp.len);
        st_call_arg(&call, ST_EMIT_P_IA_NFIELDS, "0", 1);
        script(sv, NULL, NULL, &call);
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
static void recover_job(struct sc_survey *sv, struct sc_worker *wk, struct sc_job *j)
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
        encode_event(&ev, job_id, session, &requeue_ev);
        pr_msg_deinit(&ev);
        pr_msg_init(&ev, PR_PROCESSING_FAILED);
        pr_set_str(&ev.u.processing_failed.image_id, spec->image_id);
        pr_set_str(&ev.u.processing_failed.error, error);
        pr_set_str(&ev.u.processing_failed.error_code, "WORKER_LOST");
        ev.u.processing_failed.retry_available = true;
        encode_event(&ev, job_id, session, &dead_ev);
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
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_RECOVER);
    st_call_key(&call, ST_RECOVER_K_LEADER, s->k_leader);
    st_call_key(&call, ST_RECOVER_K_WORKER, k_worker);
    st_call_key(&call, ST_RECOVER_K_ACTIVE, k_active);
    st_call_key(&call, ST_RECOVER_K_QUEUE, s->k_jobs);
    st_call_key(&call, ST_RECOVER_K_JOB, k_job);
    st_call_key(&call, ST_RECOVER_K_STREAM, k_stream);
    st_call_key(&call, ST_RECOVER_K_CHANNEL, k_chan);
    st_call_key(&call, ST_RECOVER_K_DEAD, s->k_dead);
    st_call_arg(&call, ST_RECOVER_A_SCHEDULER_ID, s->id, (size_t)-1);
    st_call_arg(&call, ST_RECOVER_A_RAW_JOB, j->raw, j->raw_len);
    st_call_arg(&call, ST_RECOVER_A_ATTEMPTS_READ,
                hash_field(j, SF_STATUS) ? (attempts ? attempts : "0") : "", (size_t)-1);
    st_call_arg(&call, ST_RECOVER_A_MAX_ATTEMPTS, s->max_attempts, (size_t)-1);
    st_call_arg_ll(&call, ST_RECOVER_A_NOW_MS, cm_time_now_ms());
    st_call_arg(&call, ST_RECOVER_A_STREAM_MAXLEN, s->stream_maxlen, (size_t)-1);
    st_call_arg(&call, ST_RECOVER_A_STREAM_TTL_S, s->stream_ttl, (size_t)-1);
    st_call_arg(&call, ST_RECOVER_A_REQUEUE_EVENT, requeue_ev.data ? requeue_ev.data : "",
                requeue_ev.len);
    st_call_arg(&call, ST_RECOVER_A_DEAD_EVENT, dead_ev.data ? dead_ev.data : "", dead_ev.len);
    st_call_arg(&call, ST_RECOVER_A_DEAD_ENTRY, dead.data ? dead.data : "", dead.len);
    st_call_arg(&call, ST_RECOVER_A_WORKER_ID, wk->id, (size_t)-1);
    st_call_arg(&call, ST_RECOVER_A_ERROR, error, (size_t)-1);
    script(sv, on_recover, act_new(s, job_id, wk->id, n), &call);
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

static void forget_worker(struct sc_survey *sv, struct sc_worker *wk)
{
    struct sc *s = sv->s;
    char *k_worker = cm_key_new(s->cfg->common.prefix, CM_KEY_WORKER, wk->id);
    char *k_active = cm_key_new(s->cfg->common.prefix, CM_KEY_ACTIVE, wk->id);
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_FORGET);
    st_call_key(&call, ST_FORGET_K_LEADER, s->k_leader);
    st_call_key(&call, ST_FORGET_K_WORKER, k_worker);
    st_call_key(&call, ST_FORGET_K_ACTIVE, k_active);
    st_call_key(&call, ST_FORGET_K_WORKERS, s->k_workers);
    st_call_arg(&call, ST_FORGET_A_SCHEDULER_ID, s->id, (size_t)-1);
    st_call_arg(&call, ST_FORGET_A_WORKER_ID, wk->id, (size_t)-1);
    script(sv, on_forget, act_new(s, NULL, wk->id, 0), &call);
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
static void timeout_job(struct sc_survey *sv, struct sc_worker *wk, struct sc_job *j, int secs,
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
    if (encode_event(&ev, spec->job_id, session, &mp) == 0) {
        struct st_call call;
        st_call_init(&call, ST_SCRIPT_TIMEOUT);
        st_call_key(&call, ST_TIMEOUT_K_LEADER, s->k_leader);
        st_call_key(&call, ST_TIMEOUT_K_ACTIVE, k_active);
        st_call_key(&call, ST_TIMEOUT_K_JOB, k_job);
        st_call_key(&call, ST_TIMEOUT_K_STREAM, k_stream);
        st_call_key(&call, ST_TIMEOUT_K_CHANNEL, k_chan);
        st_call_key(&call, ST_TIMEOUT_K_CANCEL_CHANNEL, s->k_cancel);
        st_call_arg(&call, ST_TIMEOUT_A_SCHEDULER_ID, s->id, (size_t)-1);
        st_call_arg(&call, ST_TIMEOUT_A_RAW_JOB, j->raw, j->raw_len);
        st_call_arg(&call, ST_TIMEOUT_A_ATTEMPT_READ, hash_field(j, SF_ATTEMPT), (size_t)-1);
        st_call_arg(&call, ST_TIMEOUT_A_EVENT, mp.data, mp.len);
        st_call_arg_ll(&call, ST_TIMEOUT_A_NOW_MS, cm_time_now_ms());
        st_call_arg(&call, ST_TIMEOUT_A_STREAM_MAXLEN, s->stream_maxlen, (size_t)-1);
        st_call_arg(&call, ST_TIMEOUT_A_STREAM_TTL_S, s->stream_ttl, (size_t)-1);
        st_call_arg(&call, ST_TIMEOUT_A_JOB_ID, spec->job_id, (size_t)-1);
        st_call_arg(&call, ST_TIMEOUT_A_ERROR, error, (size_t)-1);
        script(sv, on_timeout, act_new(s, spec->job_id, wk->id, 0), &call);
    }
    pr_msg_deinit(&ev);
    cm_buf_deinit(&mp);
    free(k_job), free(k_stream), free(k_chan), free(k_active);
}

/* Notes a running job's progress; returns how long (ms) it has not moved. */
static int64_t track(struct sc *s, const char *job_id, const char *state)
{
    struct sc_track **b = &s->track[hash_str(job_id) % SC_TRACK_BUCKETS], *t;
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
static void track_sweep(struct sc *s, bool all)
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

static void on_expired(struct sc_survey *sv, redisReply *r, void *arg)
{
    (void)arg;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        sv->s->expired += (uint64_t)r->integer;
        cm_log(CM_LOG_DEBUG, "housekeeping: %lld keys got a TTL", r->integer);
    }
}

static int scan_kinds[2] = {0, 1}; /* scan_cursor index: job hashes, session streams */

/* One SCAN step over job hashes or session streams (arg: its scan_kinds entry); the keys found
 * without a TTL get one (hashes only when their job has ended). */
static void on_scan(struct sc_survey *sv, redisReply *r, void *arg)
{
    struct sc *s = sv->s;
    int k = *(int *)arg;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    snprintf(s->scan_cursor[k], sizeof(s->scan_cursor[k]), "%s", r->element[0]->str);
    redisReply *ks = r->element[1];
    struct st_call call;
    int n = 0;
    for (size_t i = 0; i < ks->elements; i++) {
        if (ks->element[i]->type == REDIS_REPLY_STRING) {
            if (n == 0) {
                st_call_init(&call, ST_SCRIPT_EXPIRE_ENDED);
                st_call_arg(&call, ST_EXPIRE_ENDED_A_TTL_S, k == 0 ? s->ended_ttl : s->stream_ttl,
                            (size_t)-1);
                st_call_arg(&call, ST_EXPIRE_ENDED_A_KIND, k == 0 ? "job" : "stream", (size_t)-1);
            }
            st_call_more_key(&call, ks->element[i]->str);
            n++;
        }
        if (n == 50 || (i + 1 == ks->elements && n > 0)) {
            script(sv, on_expired, NULL, &call);
            n = 0;
        }
    }
}

static void housekeeping(struct sc_survey *sv)
{
    struct sc *s = sv->s;
    for (int k = 0; k < 2; k++) {
        char *pattern = cm_xasprintf("%s:%s:*", s->cfg->common.prefix,
                                     cm_key_name(k == 0 ? CM_KEY_JOB : CM_KEY_EVENTS));
        const char *argv[] = {"SCAN", s->scan_cursor[k], "MATCH", pattern, "COUNT", SC_SCAN_COUNT};
        call(sv, on_scan, &scan_kinds[k], 6, argv, NULL);
        free(pattern);
    }
}

static void act(struct sc_survey *sv)
{
    struct sc *s = sv->s;
    if (s->status_due) {
        emit_status(sv);
        s->status_due = false;
    }
    for (size_t i = 0; i < sv->nworkers; i++) {
        struct sc_worker *wk = &sv->workers[i];
        if (!wk->alive) {
            if (wk->njobs)
                cm_log(CM_LOG_WARN, "worker %s: heartbeat expired; recovering %zu job%s", wk->id,
                       wk->njobs, wk->njobs == 1 ? "" : "s");
            for (size_t j = 0; j < wk->njobs; j++)
                recover_job(sv, wk, &wk->jobs[j]);
            if (wk->njobs == 0)
                forget_worker(sv, wk);
            continue;
        }
        for (size_t j = 0; j < wk->njobs; j++) {
            struct sc_job *job = &wk->jobs[j];
            const char *st = hash_field(job, SF_STATUS), *attempt = hash_field(job, SF_ATTEMPT);
            if (!job->decoded || !st || strcmp(st, "running") != 0 || !attempt)
                continue;
            char state[400];
            snprintf(state, sizeof(state), "%s|%s|%s", attempt,
                     hash_field(job, SF_PROGRESS) ? hash_field(job, SF_PROGRESS) : "",
                     hash_field(job, SF_STEP) ? hash_field(job, SF_STEP) : "");
            const struct sc_config *cfg = s->cfg;
            int secs = algo_secs(cfg->algo_timeouts, cfg->nalgo_timeouts,
                                 hash_field(job, SF_ALGORITHM), cfg->job_timeout_s);
            int max = algo_secs(cfg->algo_runtimes, cfg->nalgo_runtimes,
                                hash_field(job, SF_ALGORITHM), cfg->job_max_runtime_s);
            int64_t still = track(s, job->spec.u.job.job_id, state);
            long long started =
                hash_field(job, SF_STARTED_AT) ? atoll(hash_field(job, SF_STARTED_AT)) : 0;
            cm_log(CM_LOG_DEBUG, "job %s on %s: %s for %lld ms (timeout %d s, run-time limit %d s)",
                   job->spec.u.job.job_id, wk->id, state, (long long)still, secs, max);
            if (still >= (int64_t)secs * 1000)
                timeout_job(sv, wk, job, secs, false);
            else if (started > 0 && cm_time_now_ms() - started >= (int64_t)max * 1000)
                timeout_job(sv, wk, job, max, true);
        }
    }
    track_sweep(s, false);
    housekeeping(sv);
}

/* The survey's rounds; each starts when the previous one's replies are all in. */
static void survey_advance(struct sc_survey *sv)
{
    struct sc *s = sv->s;
    const char *prefix = s->cfg->common.prefix;
    while (sv->pending == 0) {
        if (sv->failed || sv->round >= 4 || !is_leader(s)) {
            s->survey = NULL;
            survey_free(sv);
            return;
        }
        sv->round++;
        if (sv->round == 2) {
            for (size_t i = 0; i < sv->nworkers; i++) {
                struct sc_worker *wk = &sv->workers[i];
                char *kw = cm_key_new(prefix, CM_KEY_WORKER, wk->id);
                char *ka = cm_key_new(prefix, CM_KEY_ACTIVE, wk->id);
                const char *hm[] = {"HMGET",
                                    kw,
                                    "heartbeat_at",
                                    "gpu_count",
                                    "gpu_utilization",
                                    "gpu_memory_used_mb",
                                    "gpu_memory_total_mb"};
                const char *lr[] = {"LRANGE", ka, "0", "-1"};
                call(sv, on_heartbeat, wk, 7, hm, NULL);
                call(sv, on_active, wk, 4, lr, NULL);
                free(kw);
                free(ka);
            }
        } else if (sv->round == 3) {
            for (size_t i = 0; i < sv->nworkers; i++)
                for (size_t j = 0; j < sv->workers[i].njobs; j++) {
                    struct sc_job *job = &sv->workers[i].jobs[j];
                    if (!job->decoded)
                        continue;
                    char *kj = cm_key_new(prefix, CM_KEY_JOB, job->spec.u.job.job_id);
                    const char *hm[2 + NFIELDS] = {"HMGET", kj};
                    for (size_t f = 0; f < NFIELDS; f++)
                        hm[2 + f] = st_job_field(survey_fields[f])->name;
                    call(sv, on_job_hash, job, (int)(2 + NFIELDS), hm, NULL);
                    free(kj);
                }
        } else {
            act(sv);
        }
    }
}

static void survey_start(struct sc *s)
{
    if (s->survey || !s->cmd.ready)
        return;
    struct sc_survey *sv = cm_xcalloc(1, sizeof(*sv));
    sv->s = s;
    sv->round = 1;
    s->survey = sv;
    s->gen++;
    const char *sm[] = {"SMEMBERS", s->k_workers};
    const char *ll[] = {"LLEN", s->k_jobs};
    call(sv, on_members, NULL, 2, sm, NULL);
    call(sv, on_llen, NULL, 2, ll, NULL);
    if (sv->pending == 0)
        survey_advance(sv); /* nothing went out: it ends here */
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
            track_sweep(s, true);
            cm_log(CM_LOG_INFO, "leader: this scheduler (%s) holds the lease", s->id);
        }
        if (!s->stopping)
            survey_start(s);
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
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_LEASE);
    st_call_key(&call, ST_LEASE_K_LEADER, s->k_leader);
    st_call_arg(&call, ST_LEASE_A_SCHEDULER_ID, s->id, (size_t)-1);
    st_call_arg(&call, ST_LEASE_A_LEASE_MS, s->lease_ms, (size_t)-1);
    st_call_arg(&call, ST_LEASE_A_RELEASE, release ? "release" : "hold", (size_t)-1);
    if (release) { /* at shutdown: nobody waits for the answer */
        st_call_async(s->cmd.ac, &call, lease_release_cb, NULL);
        return;
    }
    struct sc_lease_call *lc = cm_xcalloc(1, sizeof(*lc));
    lc->s = s;
    lc->sent = cm_time_mono_ms();
    s->lease_pending = true; /* lease_cb clears it, also when the call could not be sent */
    st_call_async(s->cmd.ac, &call, lease_cb, lc);
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
    survey_start(s); /* one in flight already: it sends the status when it ends */
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
                  is_leader(s));
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
                        is_leader(s) ? "true" : "false");
    return s->cmd.ready;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct sc *s = arg;
    if (s->stopping) {
        cm_log(CM_LOG_WARN, "second signal: exiting now");
        _exit(1);
    }
    s->stopping = true;
    cm_log(CM_LOG_INFO, "%s: %sstopping", sig == SIGTERM ? "SIGTERM" : "SIGINT",
           is_leader(s) ? "giving the lease back and " : "");
    if (s->leader)
        lease_send(s, true); /* a standby takes over at its next check instead of a lease later */
    s->leader = false;
    cm_rconn_close(&s->cmd); /* after the pending replies */
    event_del(s->tick_ev);
    event_del(s->status_ev);
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
        survey_free(s->survey);
    track_sweep(s, true);
    cm_http_stop(&s->http);
    if (s->tick_ev)
        event_free(s->tick_ev);
    if (s->status_ev)
        event_free(s->status_ev);
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
