/* The worker's events: each one, with the job-hash fields it carries, as an item of the EMIT
 * script in the outbox (exactly once, fenced per attempt); the outcomes of the compute threads
 * (progress, complete, failed, validation_required). Loop thread. */
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
#include "common/text.h"
#include "common/time.h"
#include "store/scripts.h"
#include "worker/internal.h"

/* ---- events -------------------------------------------------------------------------------- */

/* The job hash, stream and channel of a job's events (new strings; the caller frees them). */
void wk__job_keys(const struct wk_worker *w, const char *job_id, const char *session, char *keys[3])
{
    const char *prefix = w->cfg->common.prefix;
    keys[0] = cm_key_new(prefix, CM_KEY_JOB, job_id);
    keys[1] = session ? cm_key_new(prefix, CM_KEY_EVENTS, session) : cm_xstrdup(w->k_bcast);
    keys[2] = session ? cm_key_new(prefix, CM_KEY_CHANNEL, session) : cm_xstrdup(w->k_bcast);
}

/* ev with its envelope, as MessagePack into mp (proto's pr_event_encode). Returns 0, or -1 after
 * logging (an invalid event is a bug; it is not sent). */
int wk__encode_event(const char *job_id, const char *session, struct pr_msg *ev, struct cm_buf *mp)
{
    struct pr_err err = {0};
    if (pr_event_encode(ev, job_id, session, cm_time_now_ms(), mp, &err) == 0)
        return 0;
    cm_log(CM_LOG_ERROR, "job %s: %s event not sent: %s: %s", job_id, pr_msgdesc(ev->type)->name,
           err.field, err.text);
    return -1;
}

/* An event of a running attempt came back "fenced": the scheduler presumed this worker lost (a
 * stall longer than the heartbeat TTL) and gave the job to another worker, or ended it
 * (timeout). Nothing of this attempt is recorded any more, so stop computing it. */
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
struct wk_op *wk__op_of_item(struct st_call *c)
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
    if (wk__encode_event(job_id, session, ev, &mp) != 0) {
        cm_buf_deinit(&mp);
        return;
    }
    char *derived[3] = {NULL, NULL, NULL};
    if (!o->keys) /* jobs that never ran have no cached keys */
        wk__job_keys(w, job_id, session, derived);
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
    struct wk_op *op = wk__op_of_item(&call);
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
void wk__dead_entry(const struct wk_worker *w, struct cm_buf *dead, const char *raw, size_t rawlen,
                    const char *job_id, const char *code, const char *reason)
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
void wk__fail_invalid(struct wk_worker *w, const char *raw, size_t rawlen, const char *job_id,
                      const char *session, const char *image_id, const char *code,
                      const char *reason)
{
    char now[24];
    struct cm_buf dead = CM_BUF_INIT;
    wk__dead_entry(w, &dead, raw, rawlen, job_id, code, reason);

    struct pr_msg ev;
    pr_msg_init(&ev, PR_PROCESSING_FAILED);
    pr_set_str(&ev.u.processing_failed.image_id, image_id ? image_id : "unknown");
    pr_set_str(&ev.u.processing_failed.error, reason);
    pr_set_str(&ev.u.processing_failed.error_code, code);
    ev.u.processing_failed.retry_available = false;
    cm_fmt_ll(now, sizeof(now), cm_time_now_ms());
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

void wk__job_free(struct wk_job *job)
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
void wk__job_emit(struct wk_worker *w, struct wk_job *job, struct pr_msg *ev, struct emit_opts *o)
{
    char attempt[16];
    o->attempt = cm_fmt_ll(attempt, sizeof(attempt), job->attempt);
    o->seq = ++job->seq;
    o->serial = job->serial;
    if (!job->keys[0])
        wk__job_keys(w, job->job_id, job->spec.u.job.session_id, job->keys);
    o->keys = job->keys;
    emit(w, job->job_id, job->spec.u.job.session_id, ev, o);
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
    wk__job_emit(w, job, &ev, &o);
    pr_msg_deinit(&ev);
}

void wk_job_result_id(const struct wk_job *job, char *out, size_t n)
{
    snprintf(out, n, "%.100s.r%d", job->job_id, job->attempt);
}

/* The result's preview, when it has one within --max-preview-kb, into Redis for
 * --preview-ttl-s (at most the result's TTL), on the ordered outbox (so before the event that
 * announces the result). */
static void store_preview(struct wk_worker *w, const struct wk_job *job, const char *result_id)
{
    if (!job->res.preview || job->res.preview_len > (size_t)w->cfg->max_preview_kb * 1024)
        return;
    char *key = cm_key_new(w->cfg->common.prefix, CM_KEY_PREVIEW, result_id), ttl[24];
    int s = w->cfg->preview_ttl_s;
    snprintf(ttl, sizeof(ttl), "%d", s > 0 && s < w->cfg->result_ttl_s ? s : w->cfg->result_ttl_s);
    const char *argv[] = {"SET", key, (const char *)job->res.preview, "EX", ttl};
    size_t lens[] = {3, strlen(key), job->res.preview_len, 2, strlen(ttl)};
    wk_outbox_push(&w->outbox, wk_op_new(5, argv, lens));
    free(key);
}

static void emit_complete(struct wk_worker *w, struct wk_job *job, double secs)
{
    char result_id[CM_ID_MAX + 1], now[24], tbuf[32], cbuf[32];
    wk_job_result_id(job, result_id, sizeof(result_id));
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
                            cm_fmt_ll(now, sizeof(now), cm_time_now_ms()),
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
    store_preview(w, job, result_id); /* before the event: a gateway that hears it finds it */
    wk__job_emit(w, job, &ev, &o);
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
        wk__job_emit(w, job, &ev, &vo);
        pr_msg_deinit(&ev);
    }

    /* the algorithm's measured throughput, for the next estimate (EWMA) */
    char *akey = cm_key_new(w->cfg->common.prefix, CM_KEY_ALGO, job->algo->name);
    char sbuf[32];
    double ewma = job->prior_s > 0 ? 0.8 * job->prior_s + 0.2 * secs : secs;
    wk__algo_estimate_set(w, job->algo, ewma);
    snprintf(sbuf, sizeof(sbuf), "%.3f", ewma);
    const char *hargv[] = {"HSET", akey, "seconds", sbuf};
    wk_outbox_push(&w->outbox, wk_op_new(4, hargv, NULL));
    free(akey);
}

void wk__emit_failed(struct wk_worker *w, struct wk_job *job, const struct za_algo_result *res)
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
                            "finished_at", cm_fmt_ll(now, sizeof(now), cm_time_now_ms())};
    struct emit_opts o = {
        .lrem_raw = job->raw, .lrem_len = job->raw_len, .fields = fields, .nfields = 8};
    wk__job_emit(w, job, &ev, &o);
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
        wk__requeue_raw(w, job->raw, job->raw_len, job->job_id, true);
    } else if (rc == 0) {
        emit_complete(w, job, secs);
        w->jobs_done++;
        cm_log(CM_LOG_INFO, "job %s: complete in %.2f s (confidence %.2f)", job->job_id, secs,
               job->res.confidence);
    } else {
        wk__emit_failed(w, job, &job->res);
        cm_log(CM_LOG_INFO, "job %s: %s after %.2f s: %s", job->job_id, job->res.error_code, secs,
               job->res.error);
    }
    wk__job_free(job);
    wk__intake_next(w);
}
