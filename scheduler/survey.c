/* The leader's survey: three pipelined rounds of reads (the registry and the queue; each
 * worker's heartbeat and active list; each held job's hash), then the actions, then one step of
 * housekeeping. Loop thread. */
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

static void survey_advance(struct sc_survey *sv);

/* ---- surveys: sending and counting ------------------------------------------------------------
 */

void sc__survey_free(struct sc_survey *sv)
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
void sc__call(struct sc_survey *sv, void (*fn)(struct sc_survey *, redisReply *, void *), void *arg,
              int argc, const char **argv, const size_t *argvlen)
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

void sc__script(struct sc_survey *sv, void (*fn)(struct sc_survey *, redisReply *, void *),
                void *arg, struct st_call *sc__call)
{
    struct sc_script_call *k = cm_xcalloc(1, sizeof(*k));
    bool unsent = false;
    k->c.sv = sv, k->c.fn = fn, k->c.arg = arg, k->unsent = &unsent;
    sv->pending++;
    st_call_async(sv->s->cmd.ready ? sv->s->cmd.ac : NULL, sc__call, script_cb, k);
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

/* ---- round 4: acting ------------------------------------------------------------------------- */

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
    struct st_call sc__call;
    int n = 0;
    for (size_t i = 0; i < ks->elements; i++) {
        if (ks->element[i]->type == REDIS_REPLY_STRING) {
            if (n == 0) {
                st_call_init(&sc__call, ST_SCRIPT_EXPIRE_ENDED);
                st_call_arg(&sc__call, ST_EXPIRE_ENDED_A_TTL_S,
                            k == 0 ? s->ended_ttl : s->stream_ttl, (size_t)-1);
                st_call_arg(&sc__call, ST_EXPIRE_ENDED_A_KIND, k == 0 ? "job" : "stream",
                            (size_t)-1);
            }
            st_call_more_key(&sc__call, ks->element[i]->str);
            n++;
        }
        if (n == 50 || (i + 1 == ks->elements && n > 0)) {
            sc__script(sv, on_expired, NULL, &sc__call);
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
        sc__call(sv, on_scan, &scan_kinds[k], 6, argv, NULL);
        free(pattern);
    }
}

void sc__act(struct sc_survey *sv)
{
    struct sc *s = sv->s;
    if (s->status_due) {
        sc__emit_status(sv);
        s->status_due = false;
    }
    for (size_t i = 0; i < sv->nworkers; i++) {
        struct sc_worker *wk = &sv->workers[i];
        if (!wk->alive) {
            if (wk->njobs)
                cm_log(CM_LOG_WARN, "worker %s: heartbeat expired; recovering %zu job%s", wk->id,
                       wk->njobs, wk->njobs == 1 ? "" : "s");
            for (size_t j = 0; j < wk->njobs; j++)
                sc__recover_job(sv, wk, &wk->jobs[j]);
            if (wk->njobs == 0)
                sc__forget_worker(sv, wk);
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
            int secs = sc__algo_secs(cfg->algo_timeouts, cfg->nalgo_timeouts,
                                     hash_field(job, SF_ALGORITHM), cfg->job_timeout_s);
            int max = sc__algo_secs(cfg->algo_runtimes, cfg->nalgo_runtimes,
                                    hash_field(job, SF_ALGORITHM), cfg->job_max_runtime_s);
            int64_t still = sc__track(s, job->spec.u.job.job_id, state);
            long long started =
                hash_field(job, SF_STARTED_AT) ? atoll(hash_field(job, SF_STARTED_AT)) : 0;
            cm_log(CM_LOG_DEBUG, "job %s on %s: %s for %lld ms (timeout %d s, run-time limit %d s)",
                   job->spec.u.job.job_id, wk->id, state, (long long)still, secs, max);
            if (still >= (int64_t)secs * 1000)
                sc__timeout_job(sv, wk, job, secs, false);
            else if (started > 0 && cm_time_now_ms() - started >= (int64_t)max * 1000)
                sc__timeout_job(sv, wk, job, max, true);
        }
    }
    sc__track_sweep(s, false);
    housekeeping(sv);
}

/* The survey's rounds; each starts when the previous one's replies are all in. */
static void survey_advance(struct sc_survey *sv)
{
    struct sc *s = sv->s;
    const char *prefix = s->cfg->common.prefix;
    while (sv->pending == 0) {
        if (sv->failed || sv->round >= 4 || !sc__is_leader(s)) {
            s->survey = NULL;
            sc__survey_free(sv);
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
                sc__call(sv, on_heartbeat, wk, 7, hm, NULL);
                sc__call(sv, on_active, wk, 4, lr, NULL);
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
                    sc__call(sv, on_job_hash, job, (int)(2 + NFIELDS), hm, NULL);
                    free(kj);
                }
        } else {
            sc__act(sv);
        }
    }
}

void sc__survey_start(struct sc *s)
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
    sc__call(sv, on_members, NULL, 2, sm, NULL);
    sc__call(sv, on_llen, NULL, 2, ll, NULL);
    if (sv->pending == 0)
        survey_advance(sv); /* nothing went out: it ends here */
}
