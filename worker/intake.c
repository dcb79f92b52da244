/* The worker's intake: BLMOVE into its active list, validation, the TAKE script's claim, the
 * slots, requeues, dead-lettered duplicates and malformed entries, recovery of what a previous
 * run of this worker held, and per-algorithm duration estimates. Loop thread. */
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

/* ---- per-algorithm duration estimates (a cache of <prefix>:algo:<name>) ------------------- */

static double algo_estimate(const struct wk_worker *w, const struct za_algo *a)
{
    for (int i = 0; i < WK_ALGO_CACHE; i++)
        if (w->algo_est[i].algo == a)
            return w->algo_est[i].seconds;
    return 0;
}

void wk__algo_estimate_set(struct wk_worker *w, const struct za_algo *a, double seconds)
{
    int slot = 0;
    for (int i = 0; i < WK_ALGO_CACHE; i++) {
        if (w->algo_est[i].algo == a || !w->algo_est[i].algo) {
            slot = i;
            break;
        }
    }
    w->algo_est[slot].algo = a;
    w->algo_est[slot].seconds = seconds;
}

/* ---- intake -------------------------------------------------------------------------------- */

static struct wk_slot *free_slot(struct wk_worker *w)
{
    for (int i = 0; i < w->cfg->slots; i++) {
        if (!w->slots[i].job)
            return &w->slots[i];
    }
    return NULL;
}

/* Queues a whole (not batched) script call in the outbox, taking the call. */
static void push_call(struct wk_worker *w, struct st_call *c)
{
    const char **argv;
    size_t *lens;
    char err[200];
    int argc = st_call_argv(c, false, &argv, &lens, err, sizeof(err));
    if (argc < 0) {
        cm_log(CM_LOG_ERROR, "%s (not sent)", err);
    } else {
        wk_outbox_push(&w->outbox, wk_op_new(argc, argv, lens));
        free(argv);
        free(lens);
    }
    st_call_deinit(c);
}

void wk__requeue_raw(struct wk_worker *w, const char *raw, size_t rawlen, const char *job_id,
                     bool uncount)
{
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_REQUEUE);
    st_call_key(&call, ST_REQUEUE_K_ACTIVE, w->k_active);
    st_call_key(&call, ST_REQUEUE_K_QUEUE, w->k_jobs);
    st_call_key_of(&call, ST_REQUEUE_K_JOB, w->cfg->common.prefix, CM_KEY_JOB,
                   job_id ? job_id : "-");
    st_call_arg(&call, ST_REQUEUE_A_RAW_JOB, raw, rawlen);
    st_call_arg(&call, ST_REQUEUE_A_UNCOUNT, uncount ? "1" : "0", 1);
    push_call(w, &call);
    w->jobs_requeued++;
}

/* A taken entry whose job_id another job holds (running or ended): dead-lettered with
 * DUPLICATE_JOB, no event (the job's clients follow the other one), the other job untouched. */
static void drop_duplicate(struct wk_worker *w, struct wk_job *job)
{
    struct cm_buf dead = CM_BUF_INIT;
    const char *reason = "another job with this job_id is running or has ended; this entry was "
                         "not run (submit it with a new job_id, or retry the other job)";
    wk__dead_entry(w, &dead, job->raw, job->raw_len, job->job_id, "DUPLICATE_JOB", reason);
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_DROP_DUPLICATE);
    st_call_key(&call, ST_DROP_DUPLICATE_K_ACTIVE, w->k_active);
    st_call_key(&call, ST_DROP_DUPLICATE_K_DEAD, w->k_dead);
    st_call_arg(&call, ST_DROP_DUPLICATE_A_RAW_JOB, job->raw, job->raw_len);
    st_call_arg(&call, ST_DROP_DUPLICATE_A_DEAD_ENTRY, dead.data, dead.len);
    push_call(w, &call);
    cm_buf_deinit(&dead);
    w->jobs_invalid++;
    cm_log(CM_LOG_WARN,
           "job %s: a second entry with this id was taken; dead-lettered "
           "(DUPLICATE_JOB), the job itself is untouched",
           job->job_id);
}

static void start_job(struct wk_worker *w, struct wk_job *job)
{
    struct wk_slot *s = free_slot(w);
    if (!s) { /* cannot happen: intake only runs with a free slot */
        cm_log(CM_LOG_ERROR, "job %s: no free slot; giving it back", job->job_id);
        wk__requeue_raw(w, job->raw, job->raw_len, job->job_id, true);
        wk__job_free(job);
        return;
    }
    w->busy++;
    job->start_ms = cm_time_now_ms();
    job->start_s = (double)cm_time_mono_ns() / 1e9;
    wk_eta_init(&job->eta, job->start_s, job->prior_s);
    cm_log(CM_LOG_INFO, "job %s: started %s on slot %d (attempt %d, estimate %.1f s)", job->job_id,
           job->algo->name, s->index, job->attempt, job->prior_s);
    wk_compute_assign(s, job);
}

/* The claim was recorded: run the job, or end it when it was cancelled while queued. */
static void take_done(struct wk_op *op, redisReply *r, void *arg)
{
    (void)op;
    struct wk_job *job = arg;
    struct wk_worker *w = job->w;
    w->claiming--;
    for (int k = 0; k < w->cfg->slots; k++)
        if (w->claims[k] == job)
            w->claims[k] = NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 4) {
        cm_log(CM_LOG_ERROR, "job %s: claim failed; giving it back", job->job_id);
        wk__requeue_raw(w, job->raw, job->raw_len, job->job_id, false);
        wk__job_free(job);
        wk__intake_next(w);
        return;
    }
    job->attempt = (int)r->element[1]->integer;
    job->seq = r->element[2]->integer;
    if (job->renamed && strcmp(r->element[0]->str, "duplicate") !=
                            0) { /* the active list now holds the normalized job (see TAKE) */
        free(job->raw);
        job->raw = cm_xstrdup(job->json);
        job->raw_len = strlen(job->json);
        job->renamed = false;
    }
    if (r->element[3]->type == REDIS_REPLY_STRING && atof(r->element[3]->str) > 0)
        wk__algo_estimate_set(w, job->algo, atof(r->element[3]->str)); /* for the next job */
    if (strcmp(r->element[0]->str, "duplicate") == 0) {
        drop_duplicate(w, job);
        wk__job_free(job);
    } else if (strcmp(r->element[0]->str, "cancelled") == 0) {
        char now[24];
        struct pr_msg ev;
        pr_msg_init(&ev, PR_PROCESSING_FAILED);
        pr_set_str(&ev.u.processing_failed.image_id, job->spec.u.job.image_id);
        pr_set_str(&ev.u.processing_failed.error, "cancelled before it started");
        pr_set_str(&ev.u.processing_failed.error_code, "CANCELLED");
        ev.u.processing_failed.retry_available = true;
        const char *fields[] = {"status",      "cancelled",
                                "error_code",  "CANCELLED",
                                "finished_at", cm_fmt_ll(now, sizeof(now), cm_time_now_ms())};
        struct emit_opts o = {
            .lrem_raw = job->raw, .lrem_len = job->raw_len, .fields = fields, .nfields = 6};
        wk__job_emit(w, job, &ev, &o);
        pr_msg_deinit(&ev);
        w->jobs_cancelled++;
        cm_log(CM_LOG_INFO, "job %s: skipped, it was cancelled while queued", job->job_id);
        wk__job_free(job);
    } else if (w->draining) {
        wk__requeue_raw(w, job->raw, job->raw_len, job->job_id, true);
        wk__job_free(job);
    } else {
        start_job(w, job);
    }
    wk__intake_next(w);
}

/* Records the claim of a valid job with TAKE; take_done continues. */
static void claim(struct wk_worker *w, struct wk_job *job)
{
    const char *prefix = w->cfg->common.prefix;
    char *akey = cm_key_new(prefix, CM_KEY_ALGO, job->algo->name);
    struct pr_value empty = {.type = PR_V_OBJECT};
    const struct pr_value *params =
        job->spec.u.job.parameters ? job->spec.u.job.parameters : &empty;
    double est = job->algo->estimate ? job->algo->estimate(params) : 0;
    double measured = algo_estimate(w, job->algo);
    job->prior_s = est > 0 ? est : measured > 0 ? measured : job->algo->default_seconds;
    struct pr_msg ev;
    pr_msg_init(&ev, PR_PROCESSING_STARTED);
    pr_set_str(&ev.u.processing_started.image_id, job->spec.u.job.image_id);
    pr_set_str(&ev.u.processing_started.algorithm, job->algo->name);
    ev.u.processing_started.estimated_time_seconds = job->prior_s;
    ev.u.processing_started.parameters = (struct pr_value *)params; /* borrowed */
    struct cm_buf started = CM_BUF_INIT;
    int erc = wk__encode_event(job->job_id, job->spec.u.job.session_id, &ev, &started);
    ev.u.processing_started.parameters = NULL;
    pr_msg_deinit(&ev);
    if (erc != 0) {
        wk__requeue_raw(w, job->raw, job->raw_len, job->job_id, false);
        cm_buf_deinit(&started);
        free(akey);
        wk__job_free(job);
        return;
    }
    wk__job_keys(w, job->job_id, job->spec.u.job.session_id, job->keys);
    job->serial = ++w->job_counter;
    snprintf(job->token, sizeof(job->token), "%s/%llu", w->id, (unsigned long long)job->serial);
    const char *session = job->spec.u.job.session_id;
    char *ikey = session ? cm_key_new(w->cfg->common.prefix, CM_KEY_SESSION_JOBS, session) : NULL;
    struct st_call call;
    st_call_init_item(&call, ST_SCRIPT_TAKE, '*');
    st_call_key(&call, ST_TAKE_IK_JOB, job->keys[0]);
    st_call_key(&call, ST_TAKE_IK_ALGO, akey);
    st_call_key(&call, ST_TAKE_IK_STREAM, job->keys[1]);
    st_call_key(&call, ST_TAKE_IK_CHANNEL, job->keys[2]);
    st_call_key(&call, ST_TAKE_IK_ACTIVE, w->k_active);
    st_call_key(&call, ST_TAKE_IK_SESSION_JOBS, ikey ? ikey : w->k_noresult);
    st_call_arg(&call, ST_TAKE_IA_TOKEN, job->token, (size_t)-1);
    st_call_arg(&call, ST_TAKE_IA_WORKER_ID, w->id, (size_t)-1);
    st_call_arg_ll(&call, ST_TAKE_IA_NOW_MS, cm_time_now_ms());
    st_call_arg(&call, ST_TAKE_IA_JOB_JSON, job->json, (size_t)-1);
    st_call_arg(&call, ST_TAKE_IA_IMAGE_ID, job->spec.u.job.image_id, (size_t)-1);
    st_call_arg(&call, ST_TAKE_IA_ALGORITHM, job->algo->name, (size_t)-1);
    st_call_arg(&call, ST_TAKE_IA_SESSION_ID, session ? session : "", (size_t)-1);
    st_call_arg(&call, ST_TAKE_IA_STARTED_EVENT, started.data, started.len);
    st_call_arg(&call, ST_TAKE_IA_RAW_JOB, job->renamed ? job->raw : "",
                job->renamed ? job->raw_len : 0);
    st_call_arg(&call, ST_TAKE_IA_JOB_ID, job->job_id, (size_t)-1);
    struct wk_op *op = wk__op_of_item(&call);
    if (!op) { /* a bug, logged: the job goes back rather than hang */
        free(ikey);
        wk__requeue_raw(w, job->raw, job->raw_len, job->job_id, false);
        cm_buf_deinit(&started);
        free(akey);
        wk__job_free(job);
        return;
    }
    free(ikey);
    op->done = take_done;
    op->arg = job;
    w->claiming++;
    for (int k = 0; k < w->cfg->slots; k++) {
        if (!w->claims[k]) {
            w->claims[k] = job;
            break;
        }
    }
    wk_outbox_push(&w->outbox, op);
    cm_buf_deinit(&started);
    free(akey);
}

/* A job arrived from the queue: validate it, then claim it. Bad jobs end here. */
static void handle_raw(struct wk_worker *w, const char *raw, size_t rawlen)
{
    struct pr_err err;
    struct wk_job *job = cm_xcalloc(1, sizeof(*job));
    job->w = w;
    job->raw = cm_xmemdup0(raw, rawlen);
    job->raw_len = rawlen;
    char gen_id[CM_ID_MAX + 1];
    snprintf(gen_id, sizeof(gen_id), "%.80s-%lld-%llu", w->id, (long long)cm_time_now_ms(),
             (unsigned long long)++w->job_counter);
    if (pr_decode_json(raw, rawlen, PR_WIRE_JOB, &job->spec, &err) != 0) {
        wk__fail_invalid(w, raw, rawlen, gen_id, NULL, NULL, "INVALID_JOB", err.text);
        goto out_free;
    }
    struct pr_job *spec = &job->spec.u.job;
    if (!spec->job_id) {
        pr_set_str(&spec->job_id, gen_id);
        job->renamed = true;
    }
    job->job_id = spec->job_id;
    if (w->draining) {
        wk__requeue_raw(w, job->raw, job->raw_len, job->job_id, false);
        goto out_free;
    }
    job->algo = za_algo_find(spec->algorithm);
    if (!job->algo) {
        char why[256];
        snprintf(why, sizeof(why), "algorithm: unknown algorithm \"%s\" (known: %s)",
                 spec->algorithm, za_algo_names());
        wk__fail_invalid(w, raw, rawlen, job->job_id, spec->session_id, spec->image_id,
                         "UNKNOWN_ALGORITHM", why);
        goto out_free;
    }
    char why[256];
    struct pr_value empty = {.type = PR_V_OBJECT};
    if (job->algo->check &&
        job->algo->check(spec->parameters ? spec->parameters : &empty, why, sizeof(why)) != 0) {
        char full[300];
        snprintf(full, sizeof(full), "parameters.%s", why);
        wk__fail_invalid(w, raw, rawlen, job->job_id, spec->session_id, spec->image_id,
                         "INVALID_PARAMETERS", full);
        goto out_free;
    }
    if (spec->file_path)
        job->input_path = cm_xstrdup(spec->file_path);
    bool needs_file =
        job->algo->needs_file || pr_value_equal(pr_value_get(spec->parameters, "require_file"),
                                                &(struct pr_value){.type = PR_V_BOOL, .u.b = true});
    if (needs_file) { /* refused now, before a slot is taken: missing, outside, not a file */
        const char *code = "FILE_NOT_FOUND";
        char msg[400] = "file_path: missing";
        int fd = job->input_path ? za_file_open(&w->roots, job->input_path, &code, msg, sizeof(msg))
                                 : -1;
        if (fd < 0) {
            wk__fail_invalid(w, raw, rawlen, job->job_id, spec->session_id, spec->image_id, code,
                             msg);
            goto out_free;
        }
        close(fd);
    }
    struct cm_buf json = CM_BUF_INIT;
    pr_encode_json(&job->spec, &json, &err);
    job->json = cm_buf_steal(&json);
    claim(w, job);
    return;
out_free:
    wk__job_free(job);
}

static void blmove_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct wk_worker *w = priv;
    redisReply *r = reply;
    if (w->intake_pending > 0)
        w->intake_pending--;
    if (!r)
        return; /* connection lost: intake restarts when it is back */
    w->queue_busy = r->type == REDIS_REPLY_STRING;
    if (r->type == REDIS_REPLY_STRING)
        handle_raw(w, r->str, r->len);
    else if (r->type == REDIS_REPLY_ERROR)
        cm_log(CM_LOG_ERROR, "redis intake: BLMOVE: %s", r->str);
    wk__intake_next(w);
}

/* Issues BLMOVEs while slots are free (counting jobs being claimed) and not draining: one at a
 * time while the queue is empty (a blocked BLMOVE holds the connection), up to
 * WK_INTAKE_PIPELINE at once while it has jobs, so that intake is not one round trip per job. */
void wk__intake_next(struct wk_worker *w)
{
    if (w->draining || !w->intake.ready || !w->recovered)
        return;
    int limit = w->queue_busy ? WK_INTAKE_PIPELINE : 1;
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%.3f", w->cfg->poll_ms / 1000.0);
    const char *argv[] = {"BLMOVE", w->k_jobs, w->k_active, "RIGHT", "LEFT", timeout};
    while (w->intake_pending < limit && w->busy + w->claiming + w->intake_pending < w->cfg->slots &&
           redisAsyncCommandArgv(w->intake.ac, blmove_cb, w, 6, argv, NULL) == REDIS_OK)
        w->intake_pending++;
}

/* Jobs in our active list that no slot runs were moved there by a BLMOVE whose reply was lost:
 * give them back to the queue before taking more. */
static void recover_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct wk_worker *w = priv;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return;
    /* what this worker holds: jobs in slots and jobs whose claim is in flight */
    int n = w->cfg->slots;
    struct wk_job **mine = cm_xcalloc(2 * (size_t)n, sizeof(*mine));
    for (int k = 0; k < n; k++)
        mine[k] = w->slots[k].job, mine[n + k] = w->claims[k];
    for (size_t i = 0; i < r->elements; i++) {
        const char *raw = r->element[i]->str;
        bool held = false;
        for (int k = 0; k < 2 * n && !held; k++) {
            /* a claim in flight may have renamed its entry already */
            if (mine[k] && ((mine[k]->raw_len == r->element[i]->len &&
                             memcmp(mine[k]->raw, raw, mine[k]->raw_len) == 0) ||
                            (mine[k]->renamed && strcmp(mine[k]->json, raw) == 0))) {
                mine[k] = NULL; /* each entry accounts for one held job */
                held = true;
            }
        }
        if (!held) {
            cm_log(CM_LOG_WARN, "found a job in %s that this worker does not hold; putting it back",
                   w->k_active);
            wk__requeue_raw(w, raw, r->element[i]->len, NULL, false);
        }
    }
    free(mine);
    w->recovered = true;
    wk__intake_next(w);
}

void wk__intake_ready(struct cm_rconn *c)
{
    struct wk_worker *w = c->owner;
    w->recovered = false;
    const char *argv[] = {"LRANGE", w->k_active, "0", "-1"};
    redisAsyncCommandArgv(c->ac, recover_cb, w, 4, argv, NULL);
}

void wk__intake_lost(struct cm_rconn *c)
{
    struct wk_worker *w = c->owner;
    w->intake_pending = 0;
    w->recovered = false;
}
