/* REST on the gateway's port, and the dashboard page at /: jobs (submit, status, cancel, retry),
 * results, dead letters (list, requeue, purge), the seed's demo route, /ws/stats, /metrics,
 * /healthz, /readyz. Every answer is JSON (Prometheus text for /metrics); every error is {"error":
 * {"code", "message"[, "field"]}} with a 4xx/5xx status. Redis calls are asynchronous: a request
 * whose connection closes before the reply is orphaned and freed by the reply. Loop thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/text.h"
#include "common/time.h"
#include "gateway/gateway.h"

struct gw_http {
    struct gw *g;
    struct lws *wsi; /* NULL once the connection closed (the Redis reply frees us) */
    bool post, waiting, ready, has_body;
    size_t expect;
    struct cm_buf body;
    int status;
    const char *ctype;
    struct cm_buf resp;
    bool close_after;  /* answered before reading the body: close the connection after */
    bool headers_sent; /* the response is being written: resp[sent..] is left */
    bool cors;         /* another site's page that --allowed-origins lists: CORS headers */
    bool preflight;    /* an OPTIONS preflight: the CORS method and header lists too */
    bool dashboard;    /* the dashboard page: CSP and framing headers */
    bool unauthorized; /* a 401: WWW-Authenticate */
    int retry_after_s; /* a 429 of the rate limit: Retry-After */
    char origin[256];
    long long page_cursor;  /* list endpoints: the request's cursor (0: the first page) */
    uint64_t body_deadline; /* uv_now by which the body must be in (on g->body_wait) */
    struct gw_http *wait_next, *wait_prev;
    bool body_waiting;
    size_t sent;
    char path[512];
    char id[PR_ID_MAX + 1]; /* the {id} of the route */
    char session[PR_ID_MAX + 1];
    char quota_id[33];     /* whose submit bucket: hash of the token's subject, or the address */
    enum gw_auth_res auth; /* the request's token: OFF, NONE, BAD or OK (claims in tok) */
    const char *auth_why;  /* static */
    struct pr_token tok;
};

/* What a request holds on the heap (not h itself). */
static void http_clear(struct gw_http *h)
{
    cm_buf_deinit(&h->body);
    cm_buf_deinit(&h->resp);
    pr_token_deinit(&h->tok);
}

static void body_wait_stop(struct gw_http *h)
{
    if (!h->body_waiting)
        return;
    h->body_waiting = false;
    if (h->wait_prev)
        h->wait_prev->wait_next = h->wait_next;
    else
        h->g->body_wait = h->wait_next;
    if (h->wait_next)
        h->wait_next->wait_prev = h->wait_prev;
    h->wait_next = h->wait_prev = NULL;
}

/* lws closes a connection whose body pauses for 5 s without a word, and re-arms that on every
 * piece, so a body sent a byte at a time held a connection (and up to --max-body-kb) forever;
 * its timer is pushed past ours, which answers 408 (gw_http_tick). */
static void body_wait_arm(struct gw_http *h)
{
    if (h->wsi)
        lws_set_timeout(h->wsi, PENDING_TIMEOUT_USER_OK, h->g->cfg->body_timeout_s + 5);
}

static void body_wait_start(struct gw_http *h)
{
    struct gw *g = h->g;
    h->body_waiting = true;
    h->body_deadline = uv_now(g->loop) + (uint64_t)g->cfg->body_timeout_s * 1000;
    body_wait_arm(h);
    h->wait_prev = NULL;
    h->wait_next = g->body_wait;
    if (g->body_wait)
        g->body_wait->wait_prev = h;
    g->body_wait = h;
}

static void respond(struct gw_http *h, int status, const char *ctype, const char *body, size_t n)
{
    body_wait_stop(h);
    h->status = status;
    h->ctype = ctype;
    cm_buf_reset(&h->resp);
    cm_buf_append(&h->resp, body, n);
    h->ready = true;
    if (status >= 400)
        h->g->st.rest_errors++;
    if (h->wsi)
        lws_callback_on_writable(h->wsi);
}

static void respond_json(struct gw_http *h, int status, struct cm_buf *b)
{
    respond(h, status, "application/json", b->data ? b->data : "{}", b->len);
}

/* The error body; retry_after_ms >= 0 adds that member (429s). */
static void respond_error_full(struct gw_http *h, int status, const char *code, const char *field,
                               const char *msg, long long retry_after_ms)
{
    struct cm_buf b = CM_BUF_INIT;
    cm_buf_puts(&b, "{\"error\":{\"code\":");
    cm_buf_append_json_str(&b, code, strlen(code));
    if (field) {
        cm_buf_puts(&b, ",\"field\":");
        cm_buf_append_json_str(&b, field, strlen(field));
    }
    cm_buf_puts(&b, ",\"message\":");
    cm_buf_append_json_str(&b, msg, strlen(msg));
    if (retry_after_ms >= 0)
        cm_buf_printf(&b, ",\"retry_after_ms\":%lld", retry_after_ms);
    cm_buf_puts(&b, "}}\n");
    respond_json(h, status, &b);
    cm_buf_deinit(&b);
}

static void respond_error(struct gw_http *h, int status, const char *code, const char *field,
                          const char *msg)
{
    respond_error_full(h, status, code, field, msg, -1);
}

static void respond_error_ms(struct gw_http *h, int status, const char *code, const char *msg,
                             long long retry_after_ms)
{
    respond_error_full(h, status, code, NULL, msg, retry_after_ms);
}

/* Who a request's submits count against: the token's subject (a backend that mints a token per
 * user and request still limits each user), the token itself when it names none, or the peer
 * address when auth is off. A hash, so any subject makes a valid key. */
static void quota_identity(struct gw_http *h)
{
    char src[PR_TOKEN_SUB_MAX + PR_TOKEN_KID_MAX + 64];
    if (h->auth == GW_AUTH_RES_OK && h->tok.sub[0])
        snprintf(src, sizeof(src), "sub:%s", h->tok.sub);
    else if (h->auth == GW_AUTH_RES_OK)
        snprintf(src, sizeof(src), "token:%s:%lld:%lld", h->tok.kid, (long long)h->tok.iat,
                 (long long)h->tok.exp);
    else {
        char peer[64] = "";
        lws_get_peer_simple(h->wsi, peer, sizeof(peer));
        snprintf(src, sizeof(src), "addr:%s", peer);
    }
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)src, strlen(src), d);
    for (int i = 0; i < 16; i++)
        snprintf(h->quota_id + 2 * i, 3, "%02x", d[i]);
}

/* Whether the request may go on with scope (and session, when not NULL); otherwise it is answered
 * 401 (no token, or a bad one) or 403 (a token that does not allow it). */
static bool allowed(struct gw_http *h, unsigned scope, const char *session)
{
    if (h->auth == GW_AUTH_RES_OFF)
        return true;
    if (h->auth != GW_AUTH_RES_OK) {
        h->g->st.auth_refused++;
        h->unauthorized = true;
        respond_error(h, 401, "UNAUTHORIZED", NULL, h->auth_why);
        return false;
    }
    char msg[256];
    if (!(h->tok.scopes & scope)) {
        char name[32];
        pr_scopes_str(scope, name, sizeof(name));
        snprintf(msg, sizeof(msg), "this token lacks the %s scope", name);
    } else if (session && !pr_token_allows(&h->tok, session)) {
        snprintf(msg, sizeof(msg), "this token does not allow session %s", session);
    } else {
        return true;
    }
    h->g->st.auth_forbidden++;
    respond_error(h, 403, "FORBIDDEN", NULL, msg);
    return false;
}

/* Whether the token may see a job (or result) of session s (NULL or "": no session). Those it
 * may not are answered as if they did not exist. */
static bool visible(const struct gw_http *h, const char *s, size_t n)
{
    if (h->auth == GW_AUTH_RES_OFF)
        return true;
    char id[PR_ID_MAX + 1];
    if (n > PR_ID_MAX)
        return false;
    memcpy(id, s ? s : "", n);
    id[n] = '\0';
    return pr_token_allows(&h->tok, id);
}

/* h waits for Redis. lws would drop the connection after its 5 s keep-alive idle timeout; the
 * reply (or the NULL of the command deadline, --redis-timeout-ms) comes before this one. */
static void wait_redis(struct gw_http *h)
{
    h->waiting = true;
    if (h->wsi)
        lws_set_timeout(h->wsi, PENDING_TIMEOUT_USER_OK,
                        h->g->cfg->common.redis_timeout_ms / 1000 + 5);
}

/* A Redis reply for h; returns h when it may still answer, NULL when it was orphaned (freed). */
static struct gw_http *reply_target(void *priv)
{
    struct gw_http *h = priv;
    h->waiting = false;
    if (!h->wsi) {
        http_clear(h);
        free(h);
        return NULL;
    }
    return h;
}

static bool redis_failed(struct gw_http *h, const redisReply *r)
{
    if (r && r->type != REDIS_REPLY_ERROR)
        return false;
    respond_error(h, 503, "UNAVAILABLE", NULL,
                  r ? r->str : "Redis is not reachable; try again shortly");
    return true;
}

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
    respond_error_ms(h, 429, "RATE_LIMITED", msg, ms);
}

static void submit_reply(struct gw *g, redisReply *r, void *priv)
{
    (void)g;
    struct gw_http *h = reply_target(priv);
    if (!h || redis_failed(h, r))
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
        respond_error(h, 429, "QUOTA_EXCEEDED", "session_id", msg);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[1]->type == REDIS_REPLY_STRING) {
        /* the same job again (a retried POST): what it is now, nothing created */
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_puts(&b, h->resp.data ? h->resp.data : "{");
        cm_buf_puts(&b, ",\"status\":");
        cm_buf_append_json_str(&b, r->element[1]->str, r->element[1]->len);
        cm_buf_puts(&b, ",\"duplicate\":true}\n");
        respond_json(h, 200, &b);
        cm_buf_deinit(&b);
    } else if (r->type != REDIS_REPLY_INTEGER) {
        respond_error(h, 500, "INTERNAL", NULL, "unexpected reply from Redis");
    } else if (r->integer < 0) {
        respond_error(h, 409, "JOB_EXISTS", "job_id",
                      "another job with this job_id exists (a retried POST of the same job "
                      "answers 200 with duplicate: true)");
    } else {
        /* the job JSON we stored is in h->body; answer with its id and position */
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_puts(&b, h->resp.data ? h->resp.data : "{");
        cm_buf_printf(&b, ",\"status\":\"queued\",\"queue_position\":%lld}\n", r->integer);
        respond_json(h, 202, &b);
        cm_buf_deinit(&b);
    }
}

/* A session's job index lives this long after its last job was submitted (the worker renews it
 * with the session stream's TTL when it takes the job). */
#define GW_SESSION_INDEX_TTL_S "604800"

/* Validates and enqueues a job (JSON text); answers 202 or 400. */
static void submit(struct gw_http *h, const char *json, size_t len)
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
        respond_error(h, 400, "INVALID_JOB", err.field, err.text);
        return;
    }
    if (h->auth == GW_AUTH_RES_OK) {
        const struct pr_token *t = &h->tok;
        if (!m.u.job.session_id && !t->all_sessions) {
            if (t->nsessions != 1 || strchr(t->sessions[0], '*')) {
                respond_error(h, 400, "SESSION_REQUIRED", "session_id",
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
            respond_error(h, 403, "FORBIDDEN", "session_id", msg);
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
        respond_error(h, 400, "INVALID_JOB", err.field, err.text);
        pr_msg_deinit(&m);
        return;
    }
    if (norm.len > (size_t)g->cfg->max_job_kb * 1024) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the job is %zu bytes; at most %d KB (--max-job-kb)", norm.len,
                 g->cfg->max_job_kb);
        g->st.jobs_too_large++;
        respond_error(h, 413, "JOB_TOO_LARGE", NULL, msg);
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
    wait_redis(h);
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
    struct gw_http *h = reply_target(priv);
    if (!h || redis_failed(h, r))
        return;
    const redisReply *sess = r->type == REDIS_REPLY_ARRAY && r->elements == NJOB_FIELDS + 1
                                 ? r->element[ST_JF_SESSION_ID + 1]
                                 : NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != NJOB_FIELDS + 1 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        !visible(h, sess && sess->type == REDIS_REPLY_STRING ? sess->str : "",
                 sess && sess->type == REDIS_REPLY_STRING ? sess->len : 0)) {
        respond_error(h, 404, "UNKNOWN_JOB", NULL, "no such job");
        return;
    }
    struct cm_buf b = CM_BUF_INIT;
    job_json(&b, h->id, strlen(h->id), r->element + 1);
    cm_buf_puts(&b, "\n");
    respond_json(h, 200, &b);
    cm_buf_deinit(&b);
}

static void job_reply_ac(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    job_reply(NULL, r, priv);
}

/* Sends argv on the commands connection; cb gets the reply (NULL when Redis went away). */
static void command(struct gw_http *h, redisCallbackFn *cb, int argc, const char **argv)
{
    wait_redis(h);
    if (!h->g->cmd.ready ||
        redisAsyncCommandArgv(h->g->cmd.ac, cb, h, argc, argv, NULL) != REDIS_OK)
        cb(NULL, NULL, h);
}

static void get_job(struct gw_http *h)
{
    char key[PR_ID_MAX + 64];
    cm_key_fmt(key, sizeof(key), h->g->cfg->common.prefix, CM_KEY_JOB, h->id);
    const char *argv[NJOB_FIELDS + 3] = {"HMGET", key, "status"}; /* status twice: [0] = exists */
    for (size_t i = 0; i < NJOB_FIELDS; i++)
        argv[3 + i] = st_job_field((enum st_job_field)i)->name;
    command(h, job_reply_ac, (int)NJOB_FIELDS + 3, argv);
}

static void result_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    redisReply *r = reply;
    struct gw_http *h = reply_target(priv);
    if (!h || redis_failed(h, r))
        return;
    bool seen = r->type == REDIS_REPLY_STRING;
    if (seen && h->auth != GW_AUTH_RES_OFF) { /* the result names its session */
        struct pr_value v;
        struct pr_err e;
        seen = pr_value_parse_json(r->str, r->len, &v, &e) == 0;
        if (seen) {
            const struct pr_value *sv =
                v.type == PR_V_OBJECT ? pr_value_get(&v, "session_id") : NULL;
            bool str = sv && sv->type == PR_V_STR;
            seen = visible(h, str ? sv->u.s.p : "", str ? sv->u.s.len : 0);
            pr_value_deinit(&v);
        }
    }
    if (!seen)
        respond_error(h, 404, "UNKNOWN_RESULT", NULL, "no such result (or it expired)");
    else
        respond(h, 200, "application/json", r->str, r->len);
}

static void ctl_reply(struct gw *g, redisReply *r, void *priv)
{
    (void)g;
    struct gw_http *h = reply_target(priv);
    if (!h || redis_failed(h, r))
        return;
    const char *v = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? r->str : "";
    bool cancel = strstr(h->path, "/cancel") != NULL;
    if (strcmp(v, "ok") == 0) {
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_puts(&b, "{\"job_id\":");
        cm_buf_append_json_str(&b, h->id, strlen(h->id));
        cm_buf_puts(&b, cancel ? ",\"status\":\"cancelling\"}\n" : ",\"status\":\"queued\"}\n");
        respond_json(h, 202, &b);
        cm_buf_deinit(&b);
    } else if (strcmp(v, "unknown") == 0) {
        respond_error(h, 404, "UNKNOWN_JOB", NULL, "no such job");
    } else if (strcmp(v, "limit") == 0) {
        respond_error(h, 409, "ATTEMPTS_EXHAUSTED", NULL, "the job used all its attempts");
    } else {
        char msg[160];
        snprintf(msg, sizeof(msg), "the job is %s", strncmp(v, "status:", 7) == 0 ? v + 7 : v);
        respond_error(h, 409, "INVALID_STATE", NULL, msg);
    }
}

static void job_control(struct gw_http *h, bool cancel)
{
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
    wait_redis(h);
    gw_script(g, &call, ctl_reply, h);
}

/* ---- dead letters ------------------------------------------------------------------------ */

/* A page of a list endpoint holds at most this many bytes of entries (at least one entry):
 * no answer needs megabytes of gateway memory; the client follows next_cursor. */
#define GW_PAGE_MAX_BYTES (1024 * 1024)

static void dead_list_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    redisReply *r = reply;
    struct gw_http *h = reply_target(priv);
    if (!h || redis_failed(h, r))
        return;
    /* EXEC: [LLEN, LRANGE] */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_ARRAY) {
        respond_error(h, 503, "UNAVAILABLE", NULL, "unexpected reply from Redis; try again");
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
    cm_buf_printf(&b, "],\"count\":%zu,\"total\":%lld,\"next_cursor\":", n, len);
    if (next > 0 && n > 0)
        cm_buf_printf(&b, "\"%lld\"}\n", next);
    else
        cm_buf_puts(&b, "null}\n");
    respond_json(h, 200, &b);
    cm_buf_deinit(&b);
}

/* A query argument that must be a whole number in lo..hi; def when absent. 0, or -1 answered. */
static int int_arg(struct gw_http *h, const char *name, long long lo, long long hi, long long def,
                   long long *out)
{
    char v[32];
    int n = gw_urlarg(h->wsi, name, v, sizeof(v));
    *out = def;
    if (n == -1)
        return 0;
    char *end = v;
    errno = 0;
    long long x = n > 0 ? strtoll(v, &end, 10) : 0;
    if (n <= 0 || *end || errno || x < lo || x > hi) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s: a whole number from %lld to %lld", name, lo, hi);
        respond_error(h, 400, "INVALID_PARAMETERS", name, msg);
        return -1;
    }
    *out = x;
    return 0;
}

/* GET /api/dead?limit=N&cursor=C: dead letters newest first, N per page (default 100, at most
 * 1000, and at most GW_PAGE_MAX_BYTES); next_cursor continues with older ones. */
static void dead_list(struct gw_http *h)
{
    long long limit, cursor;
    if (int_arg(h, "limit", 1, 1000, 100, &limit) != 0 ||
        int_arg(h, "cursor", 1, (long long)1 << 62, 0, &cursor) != 0)
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
    wait_redis(h);
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
    struct gw_http *h = reply_target(priv);
    if (!h || redis_failed(h, r))
        return;
    bool purge = strstr(h->path, "/purge") != NULL;
    const char *v = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? r->str : "";
    if (purge ? r->type == REDIS_REPLY_INTEGER && r->integer > 0 : strcmp(v, "ok") == 0) {
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_puts(&b, "{\"job_id\":");
        cm_buf_append_json_str(&b, h->id, strlen(h->id));
        cm_buf_puts(&b, purge ? ",\"status\":\"purged\"}\n" : ",\"status\":\"queued\"}\n");
        respond_json(h, purge ? 200 : 202, &b);
        cm_buf_deinit(&b);
    } else if (purge || strcmp(v, "unknown") == 0) {
        respond_error(h, 404, "UNKNOWN_JOB", NULL, "no dead letter for this job");
    } else {
        respond_error(h, 409, "INVALID_STATE", NULL,
                      "the dead letter holds no job that can run again (purge it instead)");
    }
}

/* POST /api/dead/{id}/requeue or /purge. */
static void dead_control(struct gw_http *h, bool purge)
{
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
    wait_redis(h);
    gw_script(g, &call, dead_ctl_reply, h);
}

/* ---- a session's jobs ---------------------------------------------------------------------- */

static void session_jobs_reply(struct gw *g, redisReply *r, void *priv)
{
    (void)g;
    struct gw_http *h = reply_target(priv);
    if (!h || redis_failed(h, r))
        return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        respond_error(h, 503, "UNAVAILABLE", NULL, "unexpected reply from Redis; try again");
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
    cm_buf_printf(&b, "],\"count\":%zu,\"total\":%lld,\"next_cursor\":", n, r->element[0]->integer);
    if (r->element[1]->integer > 0)
        cm_buf_printf(&b, "\"%lld\"}\n", r->element[1]->integer);
    else
        cm_buf_puts(&b, "null}\n");
    respond_json(h, 200, &b);
    cm_buf_deinit(&b);
}

/* GET /api/sessions/{id}/jobs?limit=N&cursor=C: the session's jobs, newest first (as long as
 * its event stream lives), with what GET /api/jobs/{id} says of each. */
static void session_jobs(struct gw_http *h)
{
    long long limit, cursor;
    if (int_arg(h, "limit", 1, 200, 50, &limit) != 0 ||
        int_arg(h, "cursor", 1, (long long)1 << 62, 0, &cursor) != 0)
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
    wait_redis(h);
    gw_script(g, &call, session_jobs_reply, h);
}

static void ready_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    redisReply *r = reply;
    struct gw_http *h = reply_target(priv);
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
    respond(h, ok ? 200 : 503, "application/json", body, strlen(body));
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

/* ---- routing ------------------------------------------------------------------------------ */

/* "/api/jobs/<id>" + suffix: copies a valid id; false otherwise. */
static bool route_id(const char *path, const char *prefix, const char *suffix, char *id, size_t n)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), len = strlen(path);
    if (len <= pl + sl || strncmp(path, prefix, pl) != 0 || strcmp(path + len - sl, suffix) != 0)
        return false;
    size_t il = len - pl - sl;
    if (il >= n || !cm_id_valid(path + pl, il, PR_ID_MAX))
        return false;
    memcpy(id, path + pl, il);
    id[il] = '\0';
    return true;
}

static void demo(struct gw_http *h)
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
    submit(h, job.data, job.len);
    cm_buf_deinit(&job);
}

/* Routes a request once its body (if any) is in. The dashboard page, /healthz and /readyz are
 * public; everything else needs a token with the route's scope (when --auth is required). */
static void dispatch(struct gw_http *h)
{
    struct gw *g = h->g;
    const char *p = h->path;
    g->st.rest_requests++;
    if (!h->post &&
        (strcmp(p, "/") == 0 || strcmp(p, "/dashboard") == 0 || strcmp(p, "/index.html") == 0)) {
        h->dashboard = true; /* the page holds no data: its token comes in the URL fragment */
        respond(h, 200, "text/html; charset=utf-8", gw_dashboard_html, gw_dashboard_html_len);
    } else if (!h->post && strcmp(p, "/healthz") == 0) {
        const char *b = "{\"status\":\"ok\"}\n";
        respond(h, 200, "application/json", b, strlen(b));
    } else if (!h->post && strcmp(p, "/readyz") == 0) {
        const char *argv[] = {"PING"};
        command(h, ready_reply, 1, argv);
    } else if (!h->post && strcmp(p, "/ws/stats") == 0) {
        if (!allowed(h, PR_SCOPE_ADMIN, NULL))
            return;
        struct cm_buf b = CM_BUF_INIT;
        gw_stats_json(g, &b);
        respond_json(h, 200, &b);
        cm_buf_deinit(&b);
    } else if (!h->post && strcmp(p, "/metrics") == 0) {
        if (!allowed(h, PR_SCOPE_ADMIN, NULL))
            return;
        struct cm_buf b = CM_BUF_INIT;
        gw_metrics(g, &b);
        respond(h, 200, "text/plain; version=0.0.4", b.data, b.len);
        cm_buf_deinit(&b);
    } else if (h->post && strcmp(p, "/api/jobs") == 0) {
        if (!allowed(h, PR_SCOPE_SUBMIT, NULL))
            return;
        if (!h->has_body)
            respond_error(h, 411, "LENGTH_REQUIRED", NULL,
                          "POST /api/jobs needs a Content-Length and a JSON body");
        else
            submit(h, h->body.data ? h->body.data : "", h->body.len);
    } else if (h->post && route_id(p, "/api/jobs/", "/cancel", h->id, sizeof(h->id))) {
        if (allowed(h, PR_SCOPE_CONTROL, NULL))
            job_control(h, true);
    } else if (h->post && route_id(p, "/api/jobs/", "/retry", h->id, sizeof(h->id))) {
        if (allowed(h, PR_SCOPE_CONTROL, NULL))
            job_control(h, false);
    } else if (!h->post && route_id(p, "/api/jobs/", "", h->id, sizeof(h->id))) {
        if (allowed(h, PR_SCOPE_READ, NULL))
            get_job(h);
    } else if (!h->post && route_id(p, "/api/results/", "", h->id, sizeof(h->id))) {
        if (!allowed(h, PR_SCOPE_READ, NULL))
            return;
        char key[PR_ID_MAX + 64];
        cm_key_fmt(key, sizeof(key), g->cfg->common.prefix, CM_KEY_RESULT, h->id);
        const char *argv[] = {"GET", key};
        command(h, result_reply, 2, argv);
    } else if (h->post && route_id(p, "/demo/simulate-analysis/", "", h->id, sizeof(h->id))) {
        if (allowed(h, PR_SCOPE_SUBMIT, NULL))
            demo(h);
    } else if (!h->post && route_id(p, "/api/sessions/", "/jobs", h->id, sizeof(h->id))) {
        if (allowed(h, PR_SCOPE_READ, h->id))
            session_jobs(h);
    } else if (!h->post && strcmp(p, "/api/dead") == 0) {
        if (allowed(h, PR_SCOPE_ADMIN, NULL))
            dead_list(h);
    } else if (h->post && route_id(p, "/api/dead/", "/requeue", h->id, sizeof(h->id))) {
        if (allowed(h, PR_SCOPE_ADMIN, NULL))
            dead_control(h, false);
    } else if (h->post && route_id(p, "/api/dead/", "/purge", h->id, sizeof(h->id))) {
        if (allowed(h, PR_SCOPE_ADMIN, NULL))
            dead_control(h, true);
    } else if (strncmp(p, "/api/", 5) == 0 || strncmp(p, "/demo/", 6) == 0 ||
               strcmp(p, "/metrics") == 0 || strcmp(p, "/healthz") == 0 ||
               strcmp(p, "/readyz") == 0 || strcmp(p, "/ws/stats") == 0) {
        bool known = strncmp(p, "/api/jobs", 9) == 0 || strncmp(p, "/api/results/", 13) == 0 ||
                     strncmp(p, "/api/dead", 9) == 0 || strncmp(p, "/api/sessions/", 14) == 0 ||
                     strncmp(p, "/demo/simulate-analysis/", 24) == 0 ||
                     strcmp(p, "/metrics") == 0 || strcmp(p, "/healthz") == 0 ||
                     strcmp(p, "/readyz") == 0 || strcmp(p, "/ws/stats") == 0;
        if (known)
            respond_error(h, 405, "METHOD_NOT_ALLOWED", NULL,
                          "wrong method, or a malformed id in the path");
        else
            respond_error(h, 404, "NOT_FOUND", NULL, "no such endpoint");
    } else {
        respond_error(h, 404, "NOT_FOUND", NULL, "no such endpoint");
    }
}

int gw_http_request(struct gw *g, struct lws *wsi, struct gw_http **slot, const char *path)
{
    struct gw_http *h = *slot;
    if (h && h->waiting) { /* a pipelined request while one waits: not supported */
        return -1;
    }
    if (!h) {
        h = cm_xcalloc(1, sizeof(*h));
        *slot = h;
    }
    http_clear(h);
    *h = (struct gw_http){.g = g, .wsi = wsi};
    snprintf(h->path, sizeof(h->path), "%s", path ? path : "");
    h->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    enum gw_origin og = gw_origin_check(g, wsi, h->origin, sizeof(h->origin));
    h->cors = og == GW_ORIGIN_CROSS;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0) { /* a CORS preflight */
        g->st.rest_requests++;
        if (og == GW_ORIGIN_REFUSED) {
            respond_error(h, 403, "ORIGIN_NOT_ALLOWED", NULL,
                          "a page of another site may not call this gateway (see "
                          "--allowed-origins)");
        } else {
            h->preflight = true;
            respond(h, 204, "text/plain", "", 0);
        }
        return 0;
    }
    if (h->post && (og == GW_ORIGIN_REFUSED || gw_form_content_type(wsi))) {
        /* a cross-site page, or what a cross-site HTML form can send: never a mutation */
        g->st.rest_requests++;
        h->close_after = true; /* the body is not read */
        if (og == GW_ORIGIN_REFUSED)
            respond_error(h, 403, "ORIGIN_NOT_ALLOWED", NULL,
                          "a page of another site may not change anything here (see "
                          "--allowed-origins)");
        else
            respond_error(h, 415, "UNSUPPORTED_MEDIA_TYPE", NULL,
                          "send JSON with Content-Type: application/json");
        return 0;
    }
    if (!h->post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        g->st.rest_requests++;
        respond_error(h, 405, "METHOD_NOT_ALLOWED", NULL, "only GET and POST");
        return 0;
    }
    int sl = gw_urlarg(wsi, "session_id", h->session, sizeof(h->session));
    if (sl == -2 || (sl >= 0 && !cm_id_valid(h->session, (size_t)sl, PR_ID_MAX))) {
        g->st.rest_requests++;
        h->close_after = h->post; /* the body, if any, is not read */
        respond_error(h, 400, "INVALID_SESSION", "session_id",
                      "session_id: 1..128 of [A-Za-z0-9_.:-], not starting with a dot");
        return 0;
    }
    if (sl < 0)
        h->session[0] = '\0';
    h->auth = gw_auth_request(g, wsi, &h->tok, &h->auth_why);
    quota_identity(h);
    if (h->post && (h->auth == GW_AUTH_RES_NONE || h->auth == GW_AUTH_RES_BAD)) {
        /* every POST needs a token: refused before its body is read */
        g->st.rest_requests++;
        h->close_after = true;
        allowed(h, PR_SCOPE_SUBMIT, NULL);
        return 0;
    }
    char cl[32];
    if (h->post && lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*end || cl[0] < '0' || cl[0] > '9' ||
            lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
            /* a kept-alive connection's later request (front.c checks the first one) */
            g->st.rest_requests++;
            g->st.bad_requests++;
            h->close_after = true;
            respond_error(h, 400, "BAD_REQUEST", NULL,
                          "Content-Length must be one non-negative whole number, without "
                          "Transfer-Encoding");
            return 0;
        }
        if (n > (unsigned long long)g->cfg->max_body_kb * 1024) {
            g->st.rest_requests++;
            h->close_after = true;
            respond_error(h, 413, "BODY_TOO_LARGE", NULL, "the request body is too large");
            return 0;
        }
        h->expect = (size_t)n;
        h->has_body = n > 0;
        if (n > 0) {
            body_wait_start(h); /* the body follows: dispatch at its completion */
            return 0;
        }
    } else if (h->post && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        g->st.rest_requests++;
        h->close_after = true;
        respond_error(h, 411, "LENGTH_REQUIRED", NULL, "chunked bodies are not supported");
        return 0;
    }
    dispatch(h);
    return 0;
}

int gw_http_body(struct gw *g, struct gw_http *h, const void *data, size_t len)
{
    if (!h || h->ready)
        return 0;
    if (h->body.len + len > (size_t)g->cfg->max_body_kb * 1024) {
        h->close_after = true;
        respond_error(h, 413, "BODY_TOO_LARGE", NULL, "the request body is too large");
        return 0;
    }
    cm_buf_append(&h->body, data, len);
    if (h->body_waiting)
        body_wait_arm(h);
    return 0;
}

int gw_http_body_done(struct gw *g, struct gw_http *h)
{
    (void)g;
    if (h)
        body_wait_stop(h);
    if (h && !h->ready && !h->waiting)
        dispatch(h);
    return 0;
}

/* A response goes out in pieces of this size, one lws_write per writeable callback: lws never
 * holds a copy of a large body, and each piece re-arms the idle deadline, so a slow reader gets
 * all of it (one lws_write of 18 MB was cut by lws's timer while lws still flushed it). */
#define GW_HTTP_CHUNK 65536
#define GW_HTTP_SEND_IDLE_S 30 /* a reader that takes nothing for this long is dropped */

static int header(struct gw_http *h, const char *name, const char *value, unsigned char **p,
                  unsigned char *end)
{
    return lws_add_http_header_by_name(h->wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/* nosniff on everything; CORS for listed origins; CSP and no framing for the dashboard. */
static int add_security_headers(struct gw_http *h, unsigned char **p, unsigned char *end)
{
    int rc = header(h, "x-content-type-options:", "nosniff", p, end);
    if (h->cors)
        rc |= header(h, "access-control-allow-origin:", h->origin, p, end) |
              header(h, "vary:", "Origin", p, end);
    if (h->unauthorized)
        rc |= header(h, "www-authenticate:", "Bearer realm=\"zsa\"", p, end);
    if (h->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", h->retry_after_s);
        rc |= header(h, "retry-after:", ra, p, end);
    }
    if (h->preflight)
        rc |= header(h, "access-control-allow-methods:", "GET, POST", p, end) |
              header(h, "access-control-allow-headers:", "Content-Type, Authorization", p, end) |
              header(h, "access-control-max-age:", "600", p, end) |
              header(h, "allow:", "GET, POST, OPTIONS", p, end);
    if (h->dashboard)
        rc |= header(h, "content-security-policy:", h->g->csp, p, end) |
              header(h, "x-frame-options:", "DENY", p, end) |
              header(h, "referrer-policy:", "no-referrer", p, end);
    return rc;
}

int gw_http_writeable(struct gw *g, struct gw_http *h)
{
    (void)g;
    if (!h || !h->ready)
        return 0;
    if (!h->headers_sent) {
        unsigned char hdr[LWS_PRE + 2048], *start = hdr + LWS_PRE, *p = start,
                                           *end = hdr + sizeof(hdr) - 1;
        if (lws_add_http_common_headers(h->wsi, (unsigned)h->status, h->ctype, h->resp.len, &p,
                                        end) ||
            add_security_headers(h, &p, end) ||
            lws_finalize_write_http_header(h->wsi, start, &p, end))
            return -1;
        h->headers_sent = true;
        h->sent = 0;
    }
    size_t left = h->resp.len - h->sent, n = left < GW_HTTP_CHUNK ? left : GW_HTTP_CHUNK;
    bool last = n == left;
    unsigned char *piece = cm_xmalloc(LWS_PRE + n + 1);
    memcpy(piece + LWS_PRE, h->resp.data ? h->resp.data + h->sent : "", n);
    int rc = lws_write(h->wsi, piece + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    free(piece);
    if (rc < 0)
        return -1;
    h->sent += n;
    if (!last) {
        lws_set_timeout(h->wsi, PENDING_TIMEOUT_USER_OK, GW_HTTP_SEND_IDLE_S);
        lws_callback_on_writable(h->wsi);
        return 0;
    }
    h->ready = false;
    h->headers_sent = false;
    lws_set_timeout(h->wsi, NO_PENDING_TIMEOUT, 0);
    if (h->close_after)
        return -1;
    return lws_http_transaction_completed(h->wsi) ? -1 : 0;
}

void gw_http_closed(struct gw *g, struct gw_http **slot)
{
    (void)g;
    struct gw_http *h = *slot;
    *slot = NULL;
    if (!h)
        return;
    body_wait_stop(h);
    if (h->waiting) { /* the Redis reply frees it */
        h->wsi = NULL;
        return;
    }
    http_clear(h);
    free(h);
}

void gw_http_tick(struct gw *g)
{
    uint64_t now = uv_now(g->loop);
    for (struct gw_http *h = g->body_wait, *next; h; h = next) {
        next = h->wait_next;
        if (now < h->body_deadline)
            continue;
        g->st.body_timeouts++;
        h->close_after = true;
        char msg[96];
        snprintf(msg, sizeof(msg), "the request body did not arrive within %d s",
                 g->cfg->body_timeout_s);
        respond_error(h, 408, "REQUEST_TIMEOUT", NULL, msg);
    }
}
