/* zsa-worker core: intake (BLMOVE), claiming jobs (TAKE), events (EMIT), cancel, heartbeat,
 * graceful shutdown. Everything here runs on the one libevent loop thread; algorithms run on
 * the slot threads of compute.c and come back through wk__on_progress / wk__on_done. */
#include "worker/worker.h"

#include <errno.h>
#include <event2/http.h>
#include <math.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/keys.h"
#include "common/log.h"
#include "store/scripts.h"
#include "common/text.h"
#include "common/time.h"

#define WK_FLUSH_MS 5000 /* after the grace period: how long to wait for Redis to take the rest */
#define WK_INTAKE_PIPELINE 16 /* BLMOVEs in flight at most, while the queue has jobs */

/* ---- events -------------------------------------------------------------------------------- */

struct emit_opts {
    const char *attempt;     /* fencing: the job's attempt, or NULL */
    long long seq;           /* per-job sequence number, or -1 */
    const char *lrem_raw;    /* remove this entry from the active list, or NULL */
    size_t lrem_len;         /* its length (payloads may hold NUL bytes) */
    const char *progress[3]; /* a progress event: progress, current_step, eta_seconds values */
    const char *result;      /* store as the result, or NULL */
    const char *result_id;
    const char *dead;          /* push onto the dead-letter list, or NULL */
    char *const *keys;         /* the job's hash, stream and channel keys, or NULL to derive */
    const char *const *fields; /* job-hash field/value pairs */
    int nfields;               /* number of strings in fields (even) */
    bool droppable;
    uint64_t serial; /* the job's, for events of a running attempt (fencing); 0 for none */
};

/* The job hash, stream and channel of a job's events (new strings; the caller frees them). */
static void job_keys(const struct wk_worker *w, const char *job_id, const char *session,
                     char *keys[3])
{
    const char *prefix = w->cfg->common.prefix;
    keys[0] = cm_key_new(prefix, CM_KEY_JOB, job_id);
    keys[1] = session ? cm_key_new(prefix, CM_KEY_EVENTS, session) : cm_xstrdup(w->k_bcast);
    keys[2] = session ? cm_key_new(prefix, CM_KEY_CHANNEL, session) : cm_xstrdup(w->k_bcast);
}

static char *fmt_ll(char *buf, size_t n, long long v)
{
    snprintf(buf, n, "%lld", v);
    return buf;
}

/* Completes ev's envelope (timestamp, session, job) and encodes it as MessagePack into mp.
 * Returns 0, or -1 after logging (an invalid event is a bug; it is not sent). */
static int encode_event(const char *job_id, const char *session, struct pr_msg *ev,
                        struct cm_buf *mp)
{
    char ts[CM_RFC3339_LEN];
    struct pr_err err;
    pr_set_str(&ev->timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    if (session)
        pr_set_str(&ev->session_id, session);
    if (pr_msgdesc(ev->type)->fields[3].presence != PR_P_NO) /* job events carry job_id */
        pr_set_str(&ev->job_id, job_id);
    if (pr_encode_msgpack(ev, mp, &err) != 0) {
        cm_log(CM_LOG_ERROR, "job %s: %s event not sent: %s", job_id, pr_msgdesc(ev->type)->name,
               err.text);
        return -1;
    }
    return 0;
}

/* An event of a running attempt came back "fenced": the scheduler presumed this worker lost (a
 * stall longer than the heartbeat TTL) and gave the job to another worker, or ended it (timeout).
 * Nothing of this attempt is recorded any more, so stop computing it. */
static void emit_done(struct wk_op *op, redisReply *r, void *arg)
{
    struct wk_worker *w = arg;
    if (r->type != REDIS_REPLY_STRING || strcmp(r->str, "fenced") != 0)
        return;
    for (int i = 0; i < w->cfg->slots; i++) {
        struct wk_job *job = w->slots[i].job;
        if (job && job->serial == op->tag && !job->fenced) {
            job->fenced = true;
            atomic_store(&w->slots[i].cancel, true);
            cm_log(CM_LOG_WARN,
                   "job %s: attempt %d was taken away from this worker (presumed lost, or timed "
                   "out); stopping it, nothing more of it is recorded",
                   job->job_id, job->attempt);
        }
    }
}

_Static_assert((int)ST_EMIT_F_IK_CHANNEL == (int)ST_EMIT_P_IK_CHANNEL &&
                   (int)ST_EMIT_F_IK_CHANNEL == (int)ST_EMIT_Q_IK_CHANNEL &&
                   (int)ST_EMIT_F_IA_EVENT == (int)ST_EMIT_P_IA_EVENT &&
                   (int)ST_EMIT_F_IA_EVENT == (int)ST_EMIT_Q_IA_EVENT,
               "EMIT's item shapes share job, stream, channel, kind, attempt, seq and event");

/* The outbox op of one item of a batched script call (taking the call), or NULL when the item
 * does not match the script's declaration (logged: a bug). */
static struct wk_op *op_of_item(struct st_call *c)
{
    char err[200];
    if (st_call_check(c, err, sizeof(err)) != 0) {
        cm_log(CM_LOG_ERROR, "%s (not sent)", err);
        st_call_deinit(c);
        return NULL;
    }
    struct wk_op *op =
        wk_op_new_script(st_script(c->id)->sha1, c->keys.n, (const char *const *)c->keys.v,
                         c->args.n, (const char *const *)c->args.v, c->args.len);
    st_call_deinit(c);
    return op;
}

/* Sends ev (its envelope completed here) through the EMIT script. */
static void emit(struct wk_worker *w, const char *job_id, const char *session, struct pr_msg *ev,
                 const struct emit_opts *o)
{
    struct cm_buf mp = CM_BUF_INIT;
    if (encode_event(job_id, session, ev, &mp) != 0) {
        cm_buf_deinit(&mp);
        return;
    }
    char *derived[3] = {NULL, NULL, NULL};
    if (!o->keys) /* jobs that never ran have no cached keys */
        job_keys(w, job_id, session, derived);
    char *const *k3 = o->keys ? o->keys : derived;
    char *rkey =
        o->result_id ? cm_key_new(w->cfg->common.prefix, CM_KEY_RESULT, o->result_id) : NULL;
    /* a full event also ends or starts something: it refreshes the stream TTL too */
    bool full = o->lrem_raw || o->result || o->dead || ev->type == PR_PROCESSING_STARTED;
    bool prog = !full && o->progress[0];
    struct st_call call; /* the three shapes share their first keys and arguments */
    st_call_init_item(&call, ST_SCRIPT_EMIT, full ? 'f' : prog ? 'q' : 'p');
    st_call_key(&call, ST_EMIT_F_IK_JOB, k3[0]);
    st_call_key(&call, ST_EMIT_F_IK_STREAM, k3[1]);
    st_call_key(&call, ST_EMIT_F_IK_CHANNEL, k3[2]);
    st_call_arg(&call, ST_EMIT_F_IA_KIND, full ? "f" : prog ? "q" : "p", 1);
    st_call_arg(&call, ST_EMIT_F_IA_ATTEMPT, o->attempt ? o->attempt : "", (size_t)-1);
    if (o->seq >= 0)
        st_call_arg_ll(&call, ST_EMIT_F_IA_SEQ, o->seq);
    else
        st_call_arg(&call, ST_EMIT_F_IA_SEQ, "", 0);
    st_call_arg(&call, ST_EMIT_F_IA_EVENT, mp.data, mp.len);
    if (full) {
        st_call_key(&call, ST_EMIT_F_IK_ACTIVE, w->k_active);
        st_call_key(&call, ST_EMIT_F_IK_RESULT, rkey ? rkey : w->k_noresult);
        st_call_key(&call, ST_EMIT_F_IK_DEAD, w->k_dead);
        /* "=" + the raw entry: "" would mean "none", and "" is a payload too */
        char *lrem = NULL;
        if (o->lrem_raw) {
            lrem = cm_xmalloc(o->lrem_len + 2);
            lrem[0] = '=';
            memcpy(lrem + 1, o->lrem_raw, o->lrem_len);
            lrem[o->lrem_len + 1] = '\0';
        }
        st_call_arg(&call, ST_EMIT_F_IA_LREM, lrem ? lrem : "", lrem ? o->lrem_len + 1 : 0);
        free(lrem);
        st_call_arg(&call, ST_EMIT_F_IA_RESULT, o->result ? o->result : "", (size_t)-1);
        st_call_arg(&call, ST_EMIT_F_IA_DEAD_ENTRY, o->dead ? o->dead : "", (size_t)-1);
        st_call_arg_ll(&call, ST_EMIT_F_IA_NFIELDS, o->nfields);
    } else if (prog) {
        st_call_arg(&call, ST_EMIT_Q_IA_PROGRESS, o->progress[0], (size_t)-1);
        st_call_arg(&call, ST_EMIT_Q_IA_CURRENT_STEP, o->progress[1], (size_t)-1);
        st_call_arg(&call, ST_EMIT_Q_IA_ETA_SECONDS, o->progress[2], (size_t)-1);
    } else {
        st_call_arg_ll(&call, ST_EMIT_P_IA_NFIELDS, o->nfields);
    }
    for (int i = 0; !prog && i < o->nfields; i++)
        st_call_more_arg(&call, o->fields[i], (size_t)-1);
    struct wk_op *op = op_of_item(&call);
    if (!op) {
        cm_buf_deinit(&mp);
        free(rkey), free(derived[0]), free(derived[1]), free(derived[2]);
        return;
    }
    op->droppable = o->droppable;
    if (o->serial) {
        op->done = emit_done;
        op->arg = w;
        op->tag = o->serial;
    }
    if (wk_outbox_push(&w->outbox, op))
        w->events++;
    for (int i = 0; i < 3; i++)
        free(derived[i]);
    free(rkey);
    cm_buf_deinit(&mp);
}

/* A dead-letter entry for a payload that never ran: the raw bytes (base64 when not UTF-8), the
 * id, the code and the reason. */
static void dead_entry(const struct wk_worker *w, struct cm_buf *dead, const char *raw,
                       size_t rawlen, const char *job_id, const char *code, const char *reason)
{
    char ts[CM_RFC3339_LEN];
    cm_buf_puts(dead, "{");
    if (cm_utf8_valid(raw, rawlen, NULL)) {
        cm_buf_puts(dead, "\"raw\":");
        cm_buf_append_json_str(dead, raw, rawlen);
    } else { /* keep every byte: base64 */
        char *b64 = cm_xmalloc(4 * ((rawlen + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)raw, (int)rawlen);
        cm_buf_printf(dead, "\"raw_base64\":\"%s\"", b64);
        free(b64);
    }
    cm_buf_puts(dead, ",\"job_id\":");
    cm_buf_append_json_str(dead, job_id, strlen(job_id));
    cm_buf_printf(dead, ",\"error_code\":\"%s\",\"error\":", code);
    cm_buf_append_json_str(dead, reason, strlen(reason));
    cm_buf_puts(dead, ",\"worker\":");
    cm_buf_append_json_str(dead, w->id, strlen(w->id));
    cm_buf_printf(dead, ",\"failed_at\":\"%s\"}", cm_time_rfc3339(cm_time_now_ms(), ts));
}

/* Ends a job that never ran: processing_failed, the raw payload to the dead-letter list, the
 * active entry removed, in one step. */
static void fail_invalid(struct wk_worker *w, const char *raw, size_t rawlen, const char *job_id,
                         const char *session, const char *image_id, const char *code,
                         const char *reason)
{
    char now[24];
    struct cm_buf dead = CM_BUF_INIT;
    dead_entry(w, &dead, raw, rawlen, job_id, code, reason);

    struct pr_msg ev;
    pr_msg_init(&ev, PR_PROCESSING_FAILED);
    pr_set_str(&ev.u.processing_failed.image_id, image_id ? image_id : "unknown");
    pr_set_str(&ev.u.processing_failed.error, reason);
    pr_set_str(&ev.u.processing_failed.error_code, code);
    ev.u.processing_failed.retry_available = false;
    fmt_ll(now, sizeof(now), cm_time_now_ms());
    const char *fields[] = {"status", "failed",      "error", reason,   "error_code",
                            code,     "finished_at", now,     "worker", w->id};
    struct emit_opts o = {.seq = -1,
                          .lrem_raw = raw,
                          .lrem_len = rawlen,
                          .dead = dead.data,
                          .fields = fields,
                          .nfields = 10};
    emit(w, job_id, session, &ev, &o);
    pr_msg_deinit(&ev);
    cm_buf_deinit(&dead);
    w->jobs_invalid++;
    cm_log(CM_LOG_WARN, "job %s: refused (%s): %s", job_id, code, reason);
}

static void job_free(struct wk_job *job)
{
    if (!job)
        return;
    free(job->raw);
    free(job->json);
    free(job->input_path);
    for (int i = 0; i < 3; i++)
        free(job->keys[i]);
    pr_msg_deinit(&job->spec);
    za_algo_result_deinit(&job->res);
    free(job);
}

/* Sends a job event with the job's next sequence number and its attempt as fence. */
static void job_emit(struct wk_worker *w, struct wk_job *job, struct pr_msg *ev,
                     struct emit_opts *o)
{
    char attempt[16];
    o->attempt = fmt_ll(attempt, sizeof(attempt), job->attempt);
    o->seq = ++job->seq;
    o->serial = job->serial;
    if (!job->keys[0])
        job_keys(w, job->job_id, job->spec.u.job.session_id, job->keys);
    o->keys = job->keys;
    emit(w, job->job_id, job->spec.u.job.session_id, ev, o);
}

/* ---- per-algorithm duration estimates (a cache of <prefix>:algo:<name>) ------------------- */

static double algo_estimate(const struct wk_worker *w, const struct za_algo *a)
{
    for (int i = 0; i < WK_ALGO_CACHE; i++)
        if (w->algo_est[i].algo == a)
            return w->algo_est[i].seconds;
    return 0;
}

static void algo_estimate_set(struct wk_worker *w, const struct za_algo *a, double seconds)
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

static void intake_next(struct wk_worker *w);

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

static void requeue_raw(struct wk_worker *w, const char *raw, size_t rawlen, const char *job_id,
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
    dead_entry(w, &dead, job->raw, job->raw_len, job->job_id, "DUPLICATE_JOB", reason);
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
        requeue_raw(w, job->raw, job->raw_len, job->job_id, true);
        job_free(job);
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
        requeue_raw(w, job->raw, job->raw_len, job->job_id, false);
        job_free(job);
        intake_next(w);
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
        algo_estimate_set(w, job->algo, atof(r->element[3]->str)); /* for the next job */
    if (strcmp(r->element[0]->str, "duplicate") == 0) {
        drop_duplicate(w, job);
        job_free(job);
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
                                "finished_at", fmt_ll(now, sizeof(now), cm_time_now_ms())};
        struct emit_opts o = {
            .lrem_raw = job->raw, .lrem_len = job->raw_len, .fields = fields, .nfields = 6};
        job_emit(w, job, &ev, &o);
        pr_msg_deinit(&ev);
        w->jobs_cancelled++;
        cm_log(CM_LOG_INFO, "job %s: skipped, it was cancelled while queued", job->job_id);
        job_free(job);
    } else if (w->draining) {
        requeue_raw(w, job->raw, job->raw_len, job->job_id, true);
        job_free(job);
    } else {
        start_job(w, job);
    }
    intake_next(w);
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
    int erc = encode_event(job->job_id, job->spec.u.job.session_id, &ev, &started);
    ev.u.processing_started.parameters = NULL;
    pr_msg_deinit(&ev);
    if (erc != 0) {
        requeue_raw(w, job->raw, job->raw_len, job->job_id, false);
        cm_buf_deinit(&started);
        free(akey);
        job_free(job);
        return;
    }
    job_keys(w, job->job_id, job->spec.u.job.session_id, job->keys);
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
    struct wk_op *op = op_of_item(&call);
    if (!op) { /* a bug, logged: the job goes back rather than hang */
        free(ikey);
        requeue_raw(w, job->raw, job->raw_len, job->job_id, false);
        cm_buf_deinit(&started);
        free(akey);
        job_free(job);
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
        fail_invalid(w, raw, rawlen, gen_id, NULL, NULL, "INVALID_JOB", err.text);
        goto out_free;
    }
    struct pr_job *spec = &job->spec.u.job;
    if (!spec->job_id) {
        pr_set_str(&spec->job_id, gen_id);
        job->renamed = true;
    }
    job->job_id = spec->job_id;
    if (w->draining) {
        requeue_raw(w, job->raw, job->raw_len, job->job_id, false);
        goto out_free;
    }
    job->algo = za_algo_find(spec->algorithm);
    if (!job->algo) {
        char why[256];
        snprintf(why, sizeof(why), "algorithm: unknown algorithm \"%s\" (known: %s)",
                 spec->algorithm, za_algo_names());
        fail_invalid(w, raw, rawlen, job->job_id, spec->session_id, spec->image_id,
                     "UNKNOWN_ALGORITHM", why);
        goto out_free;
    }
    char why[256];
    struct pr_value empty = {.type = PR_V_OBJECT};
    if (job->algo->check &&
        job->algo->check(spec->parameters ? spec->parameters : &empty, why, sizeof(why)) != 0) {
        char full[300];
        snprintf(full, sizeof(full), "parameters.%s", why);
        fail_invalid(w, raw, rawlen, job->job_id, spec->session_id, spec->image_id,
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
            fail_invalid(w, raw, rawlen, job->job_id, spec->session_id, spec->image_id, code, msg);
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
    job_free(job);
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
    intake_next(w);
}

/* Issues BLMOVEs while slots are free (counting jobs being claimed) and not draining: one at a
 * time while the queue is empty (a blocked BLMOVE holds the connection), up to
 * WK_INTAKE_PIPELINE at once while it has jobs, so that intake is not one round trip per job. */
static void intake_next(struct wk_worker *w)
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
            requeue_raw(w, raw, r->element[i]->len, NULL, false);
        }
    }
    free(mine);
    w->recovered = true;
    intake_next(w);
}

static void intake_ready(struct cm_rconn *c)
{
    struct wk_worker *w = c->owner;
    w->recovered = false;
    const char *argv[] = {"LRANGE", w->k_active, "0", "-1"};
    redisAsyncCommandArgv(c->ac, recover_cb, w, 4, argv, NULL);
}

static void intake_lost(struct cm_rconn *c)
{
    struct wk_worker *w = c->owner;
    w->intake_pending = 0;
    w->recovered = false;
}

/* ---- progress and outcomes (from the compute threads) -------------------------------------- */

void wk__on_progress(struct wk_worker *w, struct wk_slot *s, double progress, const char *step,
                     double t_s)
{
    struct wk_job *job = s->job;
    if (!job)
        return;
    double eta = wk_eta_update(&job->eta, t_s, progress);
    job->progress = progress;
    snprintf(job->step, sizeof(job->step), "%s", step);
    struct pr_msg ev;
    pr_msg_init(&ev, PR_PROCESSING_PROGRESS);
    pr_set_str(&ev.u.processing_progress.image_id, job->spec.u.job.image_id);
    ev.u.processing_progress.progress = progress;
    pr_set_str(&ev.u.processing_progress.current_step, step);
    ev.u.processing_progress.eta_seconds = eta;
    char pbuf[32], ebuf[32];
    snprintf(pbuf, sizeof(pbuf), "%.2f", progress);
    snprintf(ebuf, sizeof(ebuf), isnan(eta) ? "" : "%.1f", eta);
    struct emit_opts o = {.progress = {pbuf, step, ebuf}, .droppable = progress < 100};
    job_emit(w, job, &ev, &o);
    pr_msg_deinit(&ev);
}

static void emit_complete(struct wk_worker *w, struct wk_job *job, double secs)
{
    char result_id[CM_ID_MAX + 1], now[24], tbuf[32], cbuf[32];
    snprintf(result_id, sizeof(result_id), "%.100s.r%d", job->job_id, job->attempt);
    struct cm_buf result = CM_BUF_INIT;
    cm_buf_puts(&result, "{\"result_id\":");
    cm_buf_append_json_str(&result, result_id, strlen(result_id));
    cm_buf_puts(&result, ",\"job_id\":");
    cm_buf_append_json_str(&result, job->job_id, strlen(job->job_id));
    cm_buf_puts(&result, ",\"image_id\":");
    cm_buf_append_json_str(&result, job->spec.u.job.image_id, strlen(job->spec.u.job.image_id));
    if (job->spec.u.job.session_id) { /* the gateway shows a result to its session's tokens */
        cm_buf_puts(&result, ",\"session_id\":");
        cm_buf_append_json_str(&result, job->spec.u.job.session_id,
                               strlen(job->spec.u.job.session_id));
    }
    cm_buf_printf(&result, ",\"algorithm\":\"%s\",\"confidence_score\":", job->algo->name);
    cm_buf_append_double(&result, job->res.confidence, false);
    cm_buf_puts(&result, ",\"processing_time_seconds\":");
    cm_buf_append_double(&result, secs, false);
    cm_buf_puts(&result, ",\"summary\":");
    pr_value_write_json(job->res.summary, &result);
    cm_buf_puts(&result, "}");

    struct pr_msg ev;
    pr_msg_init(&ev, PR_PROCESSING_COMPLETE);
    pr_set_str(&ev.u.processing_complete.image_id, job->spec.u.job.image_id);
    pr_set_str(&ev.u.processing_complete.result_id, result_id);
    ev.u.processing_complete.summary = job->res.summary;
    ev.u.processing_complete.processing_time_seconds = secs;
    ev.u.processing_complete.confidence_score = job->res.confidence;
    snprintf(tbuf, sizeof(tbuf), "%.3f", secs);
    snprintf(cbuf, sizeof(cbuf), "%.4f", job->res.confidence);
    const char *fields[] = {"status",
                            "complete",
                            "progress",
                            "100",
                            "result_id",
                            result_id,
                            "finished_at",
                            fmt_ll(now, sizeof(now), cm_time_now_ms()),
                            "processing_time_seconds",
                            tbuf,
                            "confidence_score",
                            cbuf};
    struct emit_opts o = {.lrem_raw = job->raw,
                          .lrem_len = job->raw_len,
                          .result = result.data,
                          .result_id = result_id,
                          .fields = fields,
                          .nfields = 12};
    job_emit(w, job, &ev, &o);
    ev.u.processing_complete.summary = NULL; /* still the job's */
    pr_msg_deinit(&ev);
    cm_buf_deinit(&result);

    /* below the threshold a human should look */
    struct pr_value empty = {.type = PR_V_OBJECT};
    const struct pr_value *params =
        job->spec.u.job.parameters ? job->spec.u.job.parameters : &empty;
    double threshold =
        za_param_num(params, "confidence_threshold", w->cfg->confidence_threshold, NULL);
    if (job->res.confidence < threshold) {
        char reason[128];
        snprintf(reason, sizeof(reason), "Confidence score below threshold (%g)", threshold);
        pr_msg_init(&ev, PR_VALIDATION_REQUIRED);
        pr_set_str(&ev.u.validation_required.result_id, result_id);
        ev.u.validation_required.confidence = job->res.confidence;
        pr_set_str(&ev.u.validation_required.reason, reason);
        struct pr_strs *sa = &ev.u.validation_required.suggested_actions;
        sa->v = cm_xcalloc(4, sizeof(char *));
        for (int i = 0; i < 4 && job->res.suggested_actions[i][0]; i++)
            sa->v[sa->n++] = cm_xstrdup(job->res.suggested_actions[i]);
        if (sa->n == 0)
            sa->v[sa->n++] = cm_xstrdup("Review the result");
        const char *vf[] = {"validation_required", "1"};
        struct emit_opts vo = {.fields = vf, .nfields = 2};
        job_emit(w, job, &ev, &vo);
        pr_msg_deinit(&ev);
    }

    /* the algorithm's measured throughput, for the next estimate (EWMA) */
    char *akey = cm_key_new(w->cfg->common.prefix, CM_KEY_ALGO, job->algo->name);
    char sbuf[32];
    double ewma = job->prior_s > 0 ? 0.8 * job->prior_s + 0.2 * secs : secs;
    algo_estimate_set(w, job->algo, ewma);
    snprintf(sbuf, sizeof(sbuf), "%.3f", ewma);
    const char *hargv[] = {"HSET", akey, "seconds", sbuf};
    wk_outbox_push(&w->outbox, wk_op_new(4, hargv, NULL));
    free(akey);
}

static void emit_failed(struct wk_worker *w, struct wk_job *job, const struct za_algo_result *res)
{
    bool cancelled = strcmp(res->error_code, "CANCELLED") == 0;
    char now[24];
    struct pr_msg ev;
    pr_msg_init(&ev, PR_PROCESSING_FAILED);
    pr_set_str(&ev.u.processing_failed.image_id, job->spec.u.job.image_id);
    pr_set_str(&ev.u.processing_failed.error, res->error[0] ? res->error : res->error_code);
    pr_set_str(&ev.u.processing_failed.error_code,
               res->error_code[0] ? res->error_code : "INTERNAL");
    ev.u.processing_failed.retry_available = res->retry_available;
    const char *fields[] = {"status",      cancelled ? "cancelled" : "failed",
                            "error",       res->error[0] ? res->error : res->error_code,
                            "error_code",  res->error_code[0] ? res->error_code : "INTERNAL",
                            "finished_at", fmt_ll(now, sizeof(now), cm_time_now_ms())};
    struct emit_opts o = {
        .lrem_raw = job->raw, .lrem_len = job->raw_len, .fields = fields, .nfields = 8};
    job_emit(w, job, &ev, &o);
    pr_msg_deinit(&ev);
    if (cancelled)
        w->jobs_cancelled++;
    else
        w->jobs_failed++;
}

void wk__on_done(struct wk_worker *w, struct wk_slot *s, int rc)
{
    struct wk_job *job = s->job;
    s->job = NULL;
    w->busy--;
    double secs = (double)(cm_time_now_ms() - job->start_ms) / 1000.0;
    bool abandoned = s->abandoned;
    s->abandoned = false;
    s->cancel_ms = 0;
    if (abandoned) { /* its outcome (CANCELLED) went out when it was abandoned */
        cm_log(CM_LOG_INFO,
               "job %s: its analysis stopped at last, %.1f s after it started; the "
               "slot is free again",
               job->job_id, secs);
    } else if (job->fenced) { /* its outcome would be refused too: the job is another attempt's now
                               */
        w->jobs_fenced++;
        cm_log(CM_LOG_WARN, "job %s: attempt %d stopped after %.1f s without an outcome",
               job->job_id, job->attempt, secs);
    } else if (rc != 0 && w->draining && cm_time_now_ms() >= w->drain_deadline_ms) {
        cm_log(CM_LOG_WARN, "job %s: stopped at shutdown after %.1f s; back to the queue",
               job->job_id, secs);
        requeue_raw(w, job->raw, job->raw_len, job->job_id, true);
    } else if (rc == 0) {
        emit_complete(w, job, secs);
        w->jobs_done++;
        cm_log(CM_LOG_INFO, "job %s: complete in %.2f s (confidence %.2f)", job->job_id, secs,
               job->res.confidence);
    } else {
        emit_failed(w, job, &job->res);
        cm_log(CM_LOG_INFO, "job %s: %s after %.2f s: %s", job->job_id, job->res.error_code, secs,
               job->res.error);
    }
    job_free(job);
    intake_next(w);
}

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
        emit_failed(w, s->job, &res);
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

/* ---- commands connection, heartbeat -------------------------------------------------------- */

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

static void heartbeat(struct wk_worker *w)
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
    const char *argv[] = {"HSET",
                          w->k_worker,
                          "host",
                          w->host,
                          "pid",
                          fmt_ll(pid, sizeof(pid), getpid()),
                          "device",
                          gpu ? w->gpu.dev[0].name : "cpu",
                          "gpu_count",
                          fmt_ll(gpus, sizeof(gpus), gpu ? w->gpu.count : 0),
                          "gpu_memory_total_mb",
                          fmt_ll(mem, sizeof(mem), gpu ? (long long)w->gpu.dev[0].mem_total_mb : 0),
                          "slots",
                          fmt_ll(slots, sizeof(slots), w->cfg->slots),
                          "busy",
                          fmt_ll(busy, sizeof(busy), w->busy),
                          "current_jobs",
                          jobs.data ? jobs.data : "",
                          "jobs_done",
                          fmt_ll(done, sizeof(done), (long long)w->jobs_done),
                          "jobs_failed",
                          fmt_ll(failed, sizeof(failed), (long long)w->jobs_failed),
                          "started_at",
                          fmt_ll(started, sizeof(started), w->started_ms),
                          "heartbeat_at",
                          fmt_ll(now, sizeof(now), cm_time_now_ms()),
                          "draining",
                          w->draining ? "1" : "0"};
    redisAsyncCommandArgv(w->cmd.ac, NULL, NULL, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
    heartbeat_gpu(w);
    const char *exp[] = {"EXPIRE", w->k_worker, fmt_ll(ttl, sizeof(ttl), w->cfg->heartbeat_ttl_s)};
    redisAsyncCommandArgv(w->cmd.ac, NULL, NULL, 3, exp, NULL);
    const char *sadd[] = {"SADD", w->k_workers, w->id};
    redisAsyncCommandArgv(w->cmd.ac, NULL, NULL, 3, sadd, NULL);
    cm_buf_deinit(&jobs);
}

static void hb_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    heartbeat(arg);
}

static void script_load_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac, (void)priv;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR)
        cm_log(CM_LOG_ERROR, "redis commands: SCRIPT LOAD: %s", r->str);
}

static void cmd_ready(struct cm_rconn *c)
{
    struct wk_worker *w = c->owner;
    /* scripts first: everything queued behind them may use EVALSHA */
    for (int i = 0; i < ST_SCRIPT__COUNT; i++) {
        const char *argv[] = {"SCRIPT", "LOAD", st_script(i)->body};
        redisAsyncCommandArgv(c->ac, script_load_cb, w, 3, argv, NULL);
    }
    heartbeat(w);
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
    if (w->draining) {
        cm_log(CM_LOG_WARN, "second signal: exiting now (held jobs stay in %s)", w->k_active);
        _exit(1);
    }
    w->draining = true;
    w->drain_deadline_ms = cm_time_now_ms() + w->cfg->grace_ms;
    cm_log(CM_LOG_INFO, "%s: no new jobs; waiting up to %d ms for %d running job%s",
           sig == SIGTERM ? "SIGTERM" : "SIGINT", w->cfg->grace_ms, w->busy,
           w->busy == 1 ? "" : "s");
    if (w->intake.ready)
        cm_rconn_close(&w->intake); /* a BLMOVE in flight still answers; its job goes back */
    heartbeat(w);
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
    w->intake.on_ready = intake_ready, w->intake.on_lost = intake_lost;
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
        job_free(w->claims[k]);
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
