/* REST: jobs (submit, status, cancel, retry), a session's jobs and the seed's demo
 * route. Every answer is JSON; every error is {"error": {"code", "message"[, "field"]}} with a
 * 4xx/5xx status. Loop thread only. */
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

/* ---- jobs --------------------------------------------------------------------------------- */

/* The slot of a quota id in g->limited (a small direct-mapped cache: a collision only costs a
 * Redis call). */
static struct gw_limited *limited_slot(struct gw *g, const char *id)
{
    unsigned h = 0;
    for (const char *p = id; *p; p++)
        h = h * 31 + (unsigned char)*p;
    return &g->limited[h % (sizeof(g->limited) / sizeof(g->limited[0]))];
}

static void refuse_rate(struct gw_http *h, long long ms)
{
    h->retry_after_s = (int)((ms + 999) / 1000);
    h->g->st.rate_limited++;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "too many submits: at most %g a second (burst %d) per client; retry in %lld ms",
             h->g->cfg->submit_rate, h->g->cfg->submit_burst, ms);
    gw__respond_error_ms(h, 429, "RATE_LIMITED", msg, ms);
}

static void submit_reply(struct gw *g, redisReply *r, void *priv)
{
    (void)g;
    struct gw_http *h = gw__reply_target(priv);
    if (!h || gw__redis_failed(h, r))
        return;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
        strcmp(r->element[0]->str, "rate") == 0) {
        long long ms = atoll(r->element[1]->str);
        struct gw_limited *lim = limited_slot(h->g, h->quota_id);
        snprintf(lim->id, sizeof(lim->id), "%s", h->quota_id);
        lim->until = uv_now(h->g->loop) + (uint64_t)ms;
        refuse_rate(h, ms);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[0]->type == REDIS_REPLY_STRING &&
               r->element[1]->type == REDIS_REPLY_STRING &&
               strcmp(r->element[0]->str, "cap") == 0) {
        h->g->st.quota_refused++;
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "the session has %s jobs queued or running, its limit (--max-session-jobs); "
                 "submit more when some have ended",
                 r->element[1]->str);
        gw__respond_error(h, 429, "QUOTA_EXCEEDED", "session_id", msg);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[1]->type == REDIS_REPLY_STRING) {
        /* the same job again (a retried POST): what it is now, nothing created */
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_puts(&b, h->resp.data ? h->resp.data : "{");
        cm_buf_puts(&b, ",\"status\":");
        cm_buf_append_json_str(&b, r->element[1]->str, r->element[1]->len);
        cm_buf_puts(&b, ",\"duplicate\":true}\n");
        gw__respond_json(h, 200, &b);
        cm_buf_deinit(&b);
    } else if (r->type != REDIS_REPLY_INTEGER) {
        gw__respond_error(h, 500, "INTERNAL", NULL, "unexpected reply from Redis");
    } else if (r->integer < 0) {
        gw__respond_error(h, 409, "JOB_EXISTS", "job_id",
                          "another job with this job_id exists (a retried POST of the same job "
                          "answers 200 with duplicate: true)");
    } else {
        /* the job JSON we stored is in h->body; answer with its id and position */
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_puts(&b, h->resp.data ? h->resp.data : "{");
        cm_buf_printf(&b, ",\"status\":\"queued\",\"queue_position\":%lld}\n", r->integer);
        gw__respond_json(h, 202, &b);
        cm_buf_deinit(&b);
    }
}

/* A session's job index lives this long after its last job was submitted (the worker renews it
 * with the session stream's TTL when it takes the job). */
#define GW_SESSION_INDEX_TTL_S "604800"

/* Validates and enqueues a job (JSON text); answers 202 or 400. */
void gw__submit(struct gw_http *h, const char *json, size_t len)
{
    struct gw *g = h->g;
    struct gw_limited *lim = limited_slot(g, h->quota_id);
    uint64_t now_ms = uv_now(g->loop);
    if (strcmp(lim->id, h->quota_id) == 0 && now_ms < lim->until) {
        refuse_rate(h, (long long)(lim->until - now_ms)); /* Redis said so a moment ago */
        return;
    }
    struct pr_msg m;
    struct pr_err err = {0};
    if (pr_decode_json(json, len, PR_WIRE_JOB, &m, &err) != 0) {
        gw__respond_error(h, 400, "INVALID_JOB", err.field, err.text);
        return;
    }
    if (h->auth == GW_AUTH_RES_OK) {
        const struct pr_token *t = &h->tok;
        if (!m.u.job.session_id && !t->all_sessions) {
            if (t->nsessions != 1 || strchr(t->sessions[0], '*')) {
                gw__respond_error(h, 400, "SESSION_REQUIRED", "session_id",
                                  "session_id: name one of the sessions this token allows");
                pr_msg_deinit(&m);
                return;
            }
            pr_set_str(&m.u.job.session_id, t->sessions[0]); /* the token's only session */
        }
        if (m.u.job.session_id && !pr_token_allows(t, m.u.job.session_id)) {
            char msg[256];
            snprintf(msg, sizeof(msg), "this token does not allow session %s", m.u.job.session_id);
            h->g->st.auth_forbidden++;
            gw__respond_error(h, 403, "FORBIDDEN", "session_id", msg);
            pr_msg_deinit(&m);
            return;
        }
    }
    if (!m.u.job.job_id) {
        char id[CM_RANDOM_ID_LEN + 2];
        cm_random_id(id, sizeof(id), "j-");
        pr_set_str(&m.u.job.job_id, id);
    }
    struct cm_buf norm = CM_BUF_INIT;
    if (pr_encode_json(&m, &norm, &err) != 0) {
        gw__respond_error(h, 400, "INVALID_JOB", err.field, err.text);
        pr_msg_deinit(&m);
        return;
    }
    if (norm.len > (size_t)g->cfg->max_job_kb * 1024) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the job is %zu bytes; at most %d KB (--max-job-kb)", norm.len,
                 g->cfg->max_job_kb);
        g->st.jobs_too_large++;
        gw__respond_error(h, 413, "JOB_TOO_LARGE", NULL, msg);
        cm_buf_deinit(&norm);
        pr_msg_deinit(&m);
        return;
    }
    const char *prefix = g->cfg->common.prefix, *sess = m.u.job.session_id;
    char jobs[128], rate[32];
    cm_key_fmt(jobs, sizeof(jobs), prefix, CM_KEY_JOB, "x");
    jobs[strlen(jobs) - 1] = '\0'; /* "<prefix>:job:" */
    snprintf(rate, sizeof(rate), "%.17g", g->cfg->submit_rate);
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_SUBMIT);
    st_call_key_of(&call, ST_SUBMIT_K_JOB, prefix, CM_KEY_JOB, m.u.job.job_id);
    st_call_key_of(&call, ST_SUBMIT_K_QUEUE, prefix, CM_KEY_JOBS, NULL);
    st_call_key_of(&call, ST_SUBMIT_K_SESSION_JOBS, prefix, CM_KEY_SESSION_JOBS, sess ? sess : "-");
    st_call_key_of(&call, ST_SUBMIT_K_QUOTA, prefix, CM_KEY_QUOTA, h->quota_id);
    st_call_key_of(&call, ST_SUBMIT_K_SESSION_ACTIVE, prefix, CM_KEY_SESSION_ACTIVE,
                   sess ? sess : "-");
    st_call_arg(&call, ST_SUBMIT_A_JOB_JSON, norm.data, norm.len);
    st_call_arg_ll(&call, ST_SUBMIT_A_NOW_MS, cm_time_now_ms());
    st_call_arg(&call, ST_SUBMIT_A_IMAGE_ID, m.u.job.image_id, (size_t)-1);
    st_call_arg(&call, ST_SUBMIT_A_ALGORITHM, m.u.job.algorithm, (size_t)-1);
    st_call_arg(&call, ST_SUBMIT_A_SESSION_ID, sess ? sess : "", (size_t)-1);
    st_call_arg(&call, ST_SUBMIT_A_JOB_ID, m.u.job.job_id, (size_t)-1);
    st_call_arg(&call, ST_SUBMIT_A_INDEX_TTL_S, GW_SESSION_INDEX_TTL_S, (size_t)-1);
    st_call_arg(&call, ST_SUBMIT_A_RATE, rate, (size_t)-1);
    st_call_arg_ll(&call, ST_SUBMIT_A_BURST, g->cfg->submit_burst);
    st_call_arg_ll(&call, ST_SUBMIT_A_SESSION_CAP, g->cfg->max_session_jobs);
    st_call_arg(&call, ST_SUBMIT_A_JOB_PREFIX, jobs, (size_t)-1);
    /* the start of the answer waits in resp until the reply gives the position */
    cm_buf_reset(&h->resp);
    cm_buf_puts(&h->resp, "{\"job_id\":");
    cm_buf_append_json_str(&h->resp, m.u.job.job_id, strlen(m.u.job.job_id));
    cm_buf_puts(&h->resp, ",\"image_id\":");
    cm_buf_append_json_str(&h->resp, m.u.job.image_id, strlen(m.u.job.image_id));
    gw__wait_redis(h);
    gw_script(g, &call, submit_reply, h);
    cm_buf_deinit(&norm);
    pr_msg_deinit(&m);
}

/* REST's job fields: the public rows of the job hash table (store/jobhash.h), in its order */
#define NJOB_FIELDS ((size_t)ST_JF__PUBLIC)

/* A job as JSON from the values of the public job fields (NJOB_FIELDS replies, in order); absent
 * and empty fields are left out; numbers and booleans as their row says. */
static void job_json(struct cm_buf *b, const char *id, size_t idlen, redisReply *const *vals)
{
    cm_buf_puts(b, "{\"job_id\":");
    cm_buf_append_json_str(b, id, idlen);
    for (size_t i = 0; i < NJOB_FIELDS; i++) {
        const redisReply *v = vals[i];
        if (v->type != REDIS_REPLY_STRING || v->len == 0)
            continue;
        const struct st_job_field_desc *f = st_job_field((enum st_job_field)i);
        cm_buf_printf(b, ",\"%s\":", f->name);
        char *end;
        strtod(v->str, &end);
        if ((f->type == ST_JF_INT || f->type == ST_JF_NUM) && *end == '\0')
            cm_buf_append(b, v->str, v->len);
        else if (f->type == ST_JF_BOOL)
            cm_buf_puts(b,
                        strcmp(v->str, "1") == 0 || strcmp(v->str, "true") == 0 ? "true" : "false");
        else
            cm_buf_append_json_str(b, v->str, v->len);
    }
    cm_buf_puts(b, "}");
}

static void job_reply(struct gw *g, redisReply *r, void *priv)
{
    (void)g;
    struct gw_http *h = gw__reply_target(priv);
    if (!h || gw__redis_failed(h, r))
        return;
    const redisReply *sess = r->type == REDIS_REPLY_ARRAY && r->elements == NJOB_FIELDS + 1
                                 ? r->element[ST_JF_SESSION_ID + 1]
                                 : NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != NJOB_FIELDS + 1 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        !gw__visible(h, sess && sess->type == REDIS_REPLY_STRING ? sess->str : "",
                     sess && sess->type == REDIS_REPLY_STRING ? sess->len : 0)) {
        gw__respond_error(h, 404, "UNKNOWN_JOB", NULL, "no such job");
        return;
    }
    struct cm_buf b = CM_BUF_INIT;
    job_json(&b, h->id, strlen(h->id), r->element + 1);
    cm_buf_puts(&b, "\n");
    gw__respond_json(h, 200, &b);
    cm_buf_deinit(&b);
}

static void job_reply_ac(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    job_reply(NULL, r, priv);
}

void gw__api_job(struct gw_http *h)
{
    char key[PR_ID_MAX + 64];
    cm_key_fmt(key, sizeof(key), h->g->cfg->common.prefix, CM_KEY_JOB, h->id);
    const char *argv[NJOB_FIELDS + 3] = {"HMGET", key, "status"}; /* status twice: [0] = exists */
    for (size_t i = 0; i < NJOB_FIELDS; i++)
        argv[3 + i] = st_job_field((enum st_job_field)i)->name;
    gw__command(h, job_reply_ac, (int)NJOB_FIELDS + 3, argv);
}

static void ctl_reply(struct gw *g, redisReply *r, void *priv)
{
    (void)g;
    struct gw_http *h = gw__reply_target(priv);
    if (!h || gw__redis_failed(h, r))
        return;
    const char *v = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? r->str : "";
    bool cancel = h->route->op == GW_OP_CANCEL;
    if (strcmp(v, "ok") == 0) {
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_puts(&b, "{\"job_id\":");
        cm_buf_append_json_str(&b, h->id, strlen(h->id));
        cm_buf_puts(&b, cancel ? ",\"status\":\"cancelling\"}\n" : ",\"status\":\"queued\"}\n");
        gw__respond_json(h, 202, &b);
        cm_buf_deinit(&b);
    } else if (strcmp(v, "unknown") == 0) {
        gw__respond_error(h, 404, "UNKNOWN_JOB", NULL, "no such job");
    } else if (strcmp(v, "limit") == 0) {
        gw__respond_error(h, 409, "ATTEMPTS_EXHAUSTED", NULL, "the job used all its attempts");
    } else {
        char msg[160];
        snprintf(msg, sizeof(msg), "the job is %s", strncmp(v, "status:", 7) == 0 ? v + 7 : v);
        gw__respond_error(h, 409, "INVALID_STATE", NULL, msg);
    }
}

void gw__api_job_control(struct gw_http *h)
{
    bool cancel = h->route->op == GW_OP_CANCEL;
    struct gw *g = h->g;
    const char *prefix = g->cfg->common.prefix;
    char rule[PR_TOKEN_RULE_MAX] = ""; /* a job of a session the token does not allow: 404 */
    if (h->auth == GW_AUTH_RES_OK)
        pr_token_session_rule(&h->tok, rule, sizeof(rule));
    struct st_call call;
    if (cancel) {
        st_call_init(&call, ST_SCRIPT_CANCEL);
        st_call_key_of(&call, ST_CANCEL_K_JOB, prefix, CM_KEY_JOB, h->id);
        st_call_key_of(&call, ST_CANCEL_K_CANCEL_CHANNEL, prefix, CM_KEY_CANCEL, NULL);
        st_call_arg(&call, ST_CANCEL_A_JOB_ID, h->id, (size_t)-1);
        st_call_arg_ll(&call, ST_CANCEL_A_NOW_MS, cm_time_now_ms());
        st_call_arg(&call, ST_CANCEL_A_SESSION_RULE, rule, (size_t)-1);
    } else {
        st_call_init(&call, ST_SCRIPT_RETRY);
        st_call_key_of(&call, ST_RETRY_K_JOB, prefix, CM_KEY_JOB, h->id);
        st_call_key_of(&call, ST_RETRY_K_QUEUE, prefix, CM_KEY_JOBS, NULL);
        st_call_key_of(&call, ST_RETRY_K_DEAD, prefix, CM_KEY_DEAD, NULL);
        st_call_arg_ll(&call, ST_RETRY_A_MAX_ATTEMPTS, g->cfg->max_attempts);
        st_call_arg_ll(&call, ST_RETRY_A_NOW_MS, cm_time_now_ms());
        st_call_arg(&call, ST_RETRY_A_JOB_ID, h->id, (size_t)-1);
        st_call_arg(&call, ST_RETRY_A_SESSION_RULE, rule, (size_t)-1);
    }
    gw__wait_redis(h);
    gw_script(g, &call, ctl_reply, h);
}

/* ---- a session's jobs ---------------------------------------------------------------------- */

static void session_jobs_reply(struct gw *g, redisReply *r, void *priv)
{
    (void)g;
    struct gw_http *h = gw__reply_target(priv);
    if (!h || gw__redis_failed(h, r))
        return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        gw__respond_error(h, 503, "UNAVAILABLE", NULL, "unexpected reply from Redis; try again");
        return;
    }
    struct cm_buf b = CM_BUF_INIT;
    cm_buf_puts(&b, "{\"session_id\":");
    cm_buf_append_json_str(&b, h->id, strlen(h->id));
    cm_buf_puts(&b, ",\"jobs\":[");
    size_t n = 0;
    for (size_t i = 2; i < r->elements; i++) {
        const redisReply *row = r->element[i];
        if (row->type != REDIS_REPLY_ARRAY || row->elements != NJOB_FIELDS + 2 ||
            row->element[0]->type != REDIS_REPLY_STRING)
            continue;
        if (n++)
            cm_buf_putc(&b, ',');
        /* the row: id, status (asked first, to find expired ids), then the public fields */
        job_json(&b, row->element[0]->str, row->element[0]->len, row->element + 2);
    }
    gw__respond_page(h, &b, n, r->element[0]->integer, r->element[1]->integer);
}

/* GET /api/sessions/{id}/jobs?limit=N&cursor=C: the session's jobs, newest first (as long as
 * its event stream lives), with what GET /api/jobs/{id} says of each. */
void gw__api_session_jobs(struct gw_http *h)
{
    long long limit, cursor;
    if (gw__page_args(h, 200, 50, &limit, &cursor) != 0)
        return;
    struct gw *g = h->g;
    char prefix[128];
    cm_key_fmt(prefix, sizeof(prefix), g->cfg->common.prefix, CM_KEY_JOB, "x");
    prefix[strlen(prefix) - 1] = '\0'; /* "<prefix>:job:" */
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_SESSION_JOBS);
    st_call_key_of(&call, ST_SESSION_JOBS_K_SESSION_JOBS, g->cfg->common.prefix,
                   CM_KEY_SESSION_JOBS, h->id);
    st_call_arg(&call, ST_SESSION_JOBS_A_JOB_PREFIX, prefix, (size_t)-1);
    st_call_arg_ll(&call, ST_SESSION_JOBS_A_CURSOR, cursor);
    st_call_arg_ll(&call, ST_SESSION_JOBS_A_LIMIT, limit);
    st_call_more_arg(&call, "status", 6); /* the fields to return; status first */
    for (size_t i = 0; i < NJOB_FIELDS; i++)
        st_call_more_arg(&call, st_job_field((enum st_job_field)i)->name, (size_t)-1);
    gw__wait_redis(h);
    gw_script(g, &call, session_jobs_reply, h);
}

void gw__api_demo(struct gw_http *h)
{
    struct cm_buf job = CM_BUF_INIT;
    cm_buf_puts(&job, "{\"image_id\":");
    cm_buf_append_json_str(&job, h->id, strlen(h->id));
    cm_buf_puts(&job, ",\"algorithm\":\"simulate\",\"parameters\":{\"duration_seconds\":4}");
    if (h->session[0]) {
        cm_buf_puts(&job, ",\"session_id\":");
        cm_buf_append_json_str(&job, h->session, strlen(h->session));
    }
    cm_buf_puts(&job, "}");
    gw__submit(h, job.data, job.len);
    cm_buf_deinit(&job);
}

void gw__api_submit(struct gw_http *h)
{
    if (!h->has_body)
        gw__respond_error(h, 411, "LENGTH_REQUIRED", NULL,
                          "POST /api/jobs needs a Content-Length and a JSON body");
    else
        gw__submit(h, h->body.data ? h->body.data : "", h->body.len);
}
