/* HTTP on the gateway's port: a request's life (headers, origin and auth checks, the body under
 * its deadline, the answer in pieces), the route table that dispatches it (404 and 405 from the
 * same table), and the helpers the API handlers answer with (send.c writes the answers).
 * Redis calls are asynchronous: a
 * request whose connection closes before the reply is orphaned and freed by the reply. Loop
 * thread only. */
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

#include <openssl/sha.h>

/* What a request holds on the heap (not h itself). */
static void http_clear(struct gw_http *h)
{
    if (h->has_file)
        close(h->file_fd);
    h->has_file = false;
    free(h->piece);
    h->piece = NULL;
    cm_buf_deinit(&h->body);
    cm_buf_deinit(&h->resp);
    pr_token_deinit(&h->tok);
}

void gw__http_free(struct gw_http *h)
{
    http_clear(h);
    free(h);
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

void gw__respond(struct gw_http *h, int status, const char *ctype, const char *body, size_t n)
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

void gw__respond_file(struct gw_http *h, int status, const char *ctype, int fd, uint64_t off,
                      uint64_t len)
{
    gw__respond(h, status, ctype, "", 0);
    if (h->has_file)
        close(h->file_fd);
    h->has_file = true;
    h->file_fd = fd, h->file_off = off, h->file_left = len;
}

void gw__respond_json(struct gw_http *h, int status, struct cm_buf *b)
{
    gw__respond(h, status, "application/json", b->data ? b->data : "{}", b->len);
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
    gw__respond_json(h, status, &b);
    cm_buf_deinit(&b);
}

void gw__respond_error(struct gw_http *h, int status, const char *code, const char *field,
                       const char *msg)
{
    respond_error_full(h, status, code, field, msg, -1);
}

void gw__respond_error_ms(struct gw_http *h, int status, const char *code, const char *msg,
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
bool gw__allowed(struct gw_http *h, unsigned scope, const char *session)
{
    if (h->auth == GW_AUTH_RES_OFF || h->auth == GW_AUTH_RES_LINK) /* a link: dispatch checked */
        return true;
    if (h->auth != GW_AUTH_RES_OK) {
        h->g->st.auth_refused++;
        h->unauthorized = true;
        gw__respond_error(h, 401, "UNAUTHORIZED", NULL, h->auth_why);
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
    gw__respond_error(h, 403, "FORBIDDEN", NULL, msg);
    return false;
}

/* Whether the token may see a job (or result) of session s (NULL or "": no session). Those it
 * may not are answered as if they did not exist. */
bool gw__visible(const struct gw_http *h, const char *s, size_t n)
{
    if (h->auth == GW_AUTH_RES_OFF || h->auth == GW_AUTH_RES_LINK)
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
void gw__wait_redis(struct gw_http *h)
{
    h->waiting = true;
    if (h->wsi)
        lws_set_timeout(h->wsi, PENDING_TIMEOUT_USER_OK,
                        h->g->cfg->common.redis_timeout_ms / 1000 + 5);
}

/* A Redis reply for h; returns h when it may still answer, NULL when it was orphaned (freed). */
struct gw_http *gw__reply_target(void *priv)
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

bool gw__redis_failed(struct gw_http *h, const redisReply *r)
{
    if (r && r->type != REDIS_REPLY_ERROR)
        return false;
    gw__respond_error(h, 503, "UNAVAILABLE", NULL,
                      r ? r->str : "Redis is not reachable; try again shortly");
    return true;
}

/* Sends argv on the commands connection; cb gets the reply (NULL when Redis went away). */
void gw__command(struct gw_http *h, redisCallbackFn *cb, int argc, const char **argv)
{
    gw__wait_redis(h);
    if (!h->g->cmd.ready ||
        redisAsyncCommandArgv(h->g->cmd.ac, cb, h, argc, argv, NULL) != REDIS_OK)
        cb(NULL, NULL, h);
}

/* A query argument that must be a whole number in lo..hi; def when absent. 0, or -1 answered. */
int gw__int_arg(struct gw_http *h, const char *name, long long lo, long long hi, long long def,
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
        gw__respond_error(h, 400, "INVALID_PARAMETERS", name, msg);
        return -1;
    }
    *out = x;
    return 0;
}

/* ---- routing ------------------------------------------------------------------------------ */

/* "/api/jobs/<id>" + suffix: copies a valid id; false otherwise. With name, a valid name
 * follows the suffix ("/api/results/<id>/artifacts/<name>"). */
static bool route_id(const char *path, const struct gw_route *r, struct gw_http *h)
{
    size_t pl = strlen(r->prefix), sl = strlen(r->suffix), len = strlen(path), il;
    if (strncmp(path, r->prefix, pl) != 0)
        return false;
    if (r->name) {
        const char *s = strchr(path + pl, '/');
        if (!s || strncmp(s, r->suffix, sl) != 0)
            return false;
        size_t nl = len - (size_t)(s + sl - path);
        if (nl > PR_ID_MAX || !cm_id_valid(s + sl, nl, PR_ID_MAX))
            return false;
        memcpy(h->name, s + sl, nl);
        h->name[nl] = '\0';
        il = (size_t)(s - path) - pl;
    } else {
        if (len <= pl + sl || strcmp(path + len - sl, r->suffix) != 0)
            return false;
        il = len - pl - sl;
    }
    if (il > PR_ID_MAX || !cm_id_valid(path + pl, il, PR_ID_MAX))
        return false;
    memcpy(h->id, path + pl, il);
    h->id[il] = '\0';
    return true;
}

static void dashboard(struct gw_http *h)
{
    h->dashboard = true; /* the page holds no data: its token comes in the URL fragment */
    gw__respond(h, 200, "text/html; charset=utf-8", gw_dashboard_html, gw_dashboard_html_len);
}

static void healthz(struct gw_http *h)
{
    const char *b = "{\"status\":\"ok\"}\n";
    gw__respond(h, 200, "application/json", b, strlen(b));
}

int gw__page_args(struct gw_http *h, long long max, long long def, long long *limit,
                  long long *cursor)
{
    return gw__int_arg(h, "limit", 1, max, def, limit) != 0 ||
                   gw__int_arg(h, "cursor", 1, (long long)1 << 62, 0, cursor) != 0
               ? -1
               : 0;
}

void gw__respond_page(struct gw_http *h, struct cm_buf *b, size_t n, long long total,
                      long long next)
{
    cm_buf_printf(b, "],\"count\":%zu,\"total\":%lld,\"next_cursor\":", n, total);
    if (next > 0)
        cm_buf_printf(b, "\"%lld\"}\n", next);
    else
        cm_buf_puts(b, "null}\n");
    gw__respond_json(h, 200, b);
    cm_buf_deinit(b);
}

/* Every route. The dashboard page, /healthz and /readyz are public; everything else needs a token
 * with the route's scope (when --auth is required). */
static const struct gw_route routes[] = {
    {false, "/", NULL, 0, false, dashboard, GW_OP_NONE, false},
    {false, "/dashboard", NULL, 0, false, dashboard, GW_OP_NONE, false},
    {false, "/index.html", NULL, 0, false, dashboard, GW_OP_NONE, false},
    {false, "/results/", "", 0, false, dashboard, GW_OP_NONE, false}, /* a result's page */
    {false, "/healthz", NULL, 0, false, healthz, GW_OP_NONE, false},
    {false, "/readyz", NULL, 0, false, gw__api_readyz, GW_OP_NONE, false},
    {false, "/ws/stats", NULL, PR_SCOPE_ADMIN, false, gw__api_stats, GW_OP_NONE, false},
    {false, "/metrics", NULL, PR_SCOPE_ADMIN, false, gw__api_metrics, GW_OP_NONE, false},
    {true, "/api/jobs", NULL, PR_SCOPE_SUBMIT, false, gw__api_submit, GW_OP_NONE, false},
    {true, "/api/jobs/", "/cancel", PR_SCOPE_CONTROL, false, gw__api_job_control, GW_OP_CANCEL,
     false},
    {true, "/api/jobs/", "/retry", PR_SCOPE_CONTROL, false, gw__api_job_control, GW_OP_RETRY,
     false},
    {false, "/api/jobs/", "", PR_SCOPE_READ, false, gw__api_job, GW_OP_NONE, false},
    {false, "/api/results/", "", PR_SCOPE_READ, false, gw__api_result, GW_OP_NONE, false},
    {false, "/api/results/", "/artifacts", PR_SCOPE_READ, false, gw__api_artifacts, GW_OP_NONE,
     false},
    {false, "/api/results/", "/artifacts/", PR_SCOPE_READ, false, gw__api_artifact, GW_OP_NONE,
     true},
    {true, "/demo/simulate-analysis/", "", PR_SCOPE_SUBMIT, false, gw__api_demo, GW_OP_NONE, false},
    {false, "/api/sessions/", "/jobs", PR_SCOPE_READ, true, gw__api_session_jobs, GW_OP_NONE,
     false},
    {false, "/api/dead", NULL, PR_SCOPE_ADMIN, false, gw__api_dead_list, GW_OP_NONE, false},
    {true, "/api/dead/", "/requeue", PR_SCOPE_ADMIN, false, gw__api_dead_control, GW_OP_REQUEUE,
     false},
    {true, "/api/dead/", "/purge", PR_SCOPE_ADMIN, false, gw__api_dead_control, GW_OP_PURGE, false},
};

/* Routes a request once its body (if any) is in: the route whose method and path match, after
 * its scope check; 405 when a route has this path (or its prefix, with a malformed id) but
 * another method; 404 otherwise. */
static void dispatch(struct gw_http *h)
{
    const char *p = h->path;
    bool other_method = false;
    h->g->st.rest_requests++;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct gw_route *r = &routes[i];
        bool match = r->suffix ? route_id(p, r, h) : strcmp(p, r->prefix) == 0;
        if (match && r->post == h->post) {
            if (h->auth == GW_AUTH_RES_LINK && !r->name) { /* a link opens its file, no more */
                h->g->st.auth_forbidden++;
                gw__respond_error(h, 403, "FORBIDDEN", NULL,
                                  "a download link opens only its own file");
                return;
            }
            if (r->scope && !gw__allowed(h, r->scope, r->session_id ? h->id : NULL))
                return;
            h->route = r;
            r->handle(h);
            return;
        }
        other_method |= match || (r->suffix && strncmp(p, r->prefix, strlen(r->prefix)) == 0);
    }
    if (other_method)
        gw__respond_error(h, 405, "METHOD_NOT_ALLOWED", NULL,
                          "wrong method, or a malformed id in the path");
    else
        gw__respond_error(h, 404, "NOT_FOUND", NULL, "no such endpoint");
}

/* The request's token; without one, a download link for this very path (never for a POST). */
static void request_auth(struct gw_http *h, struct lws *wsi)
{
    h->auth = gw_auth_request(h->g, wsi, &h->tok, &h->auth_why);
    if (h->auth == GW_AUTH_RES_NONE && !h->post)
        h->auth = gw_auth_link(h->g, wsi, h->path, &h->auth_why);
    quota_identity(h);
}

int gw_http_request(struct gw *g, struct lws *wsi, struct gw_http **slot, const char *path)
{
    struct gw_http *h = *slot;
    if (h && (h->waiting || h->reading)) { /* a pipelined request while one waits: not supported */
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
    h->head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
    enum gw_origin og = gw_origin_check(g, wsi, h->origin, sizeof(h->origin));
    h->cors = og == GW_ORIGIN_CROSS;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0) { /* a CORS preflight */
        g->st.rest_requests++;
        if (og == GW_ORIGIN_REFUSED) {
            gw__respond_error(h, 403, "ORIGIN_NOT_ALLOWED", NULL,
                              "a page of another site may not call this gateway (see "
                              "--allowed-origins)");
        } else {
            h->preflight = true;
            gw__respond(h, 204, "text/plain", "", 0);
        }
        return 0;
    }
    if (h->post && (og == GW_ORIGIN_REFUSED || gw_form_content_type(wsi))) {
        /* a cross-site page, or what a cross-site HTML form can send: never a mutation */
        g->st.rest_requests++;
        h->close_after = true; /* the body is not read */
        if (og == GW_ORIGIN_REFUSED)
            gw__respond_error(h, 403, "ORIGIN_NOT_ALLOWED", NULL,
                              "a page of another site may not change anything here (see "
                              "--allowed-origins)");
        else
            gw__respond_error(h, 415, "UNSUPPORTED_MEDIA_TYPE", NULL,
                              "send JSON with Content-Type: application/json");
        return 0;
    }
    if (!h->post && !h->head && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        g->st.rest_requests++;
        gw__respond_error(h, 405, "METHOD_NOT_ALLOWED", NULL, "only GET, HEAD and POST");
        return 0;
    }
    int sl = gw_urlarg(wsi, "session_id", h->session, sizeof(h->session));
    if (sl == -2 || (sl >= 0 && !cm_id_valid(h->session, (size_t)sl, PR_ID_MAX))) {
        g->st.rest_requests++;
        h->close_after = h->post; /* the body, if any, is not read */
        gw__respond_error(h, 400, "INVALID_SESSION", "session_id",
                          "session_id: 1..128 of [A-Za-z0-9_.:-], not starting with a dot");
        return 0;
    }
    if (sl < 0)
        h->session[0] = '\0';
    request_auth(h, wsi);
    if (h->post && (h->auth == GW_AUTH_RES_NONE || h->auth == GW_AUTH_RES_BAD)) {
        /* every POST needs a token: refused before its body is read */
        g->st.rest_requests++;
        h->close_after = true;
        gw__allowed(h, PR_SCOPE_SUBMIT, NULL);
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
            gw__respond_error(h, 400, "BAD_REQUEST", NULL,
                              "Content-Length must be one non-negative whole number, without "
                              "Transfer-Encoding");
            return 0;
        }
        if (n > (unsigned long long)g->cfg->max_body_kb * 1024) {
            g->st.rest_requests++;
            h->close_after = true;
            gw__respond_error(h, 413, "BODY_TOO_LARGE", NULL, "the request body is too large");
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
        gw__respond_error(h, 411, "LENGTH_REQUIRED", NULL, "chunked bodies are not supported");
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
        gw__respond_error(h, 413, "BODY_TOO_LARGE", NULL, "the request body is too large");
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

void gw_http_closed(struct gw *g, struct gw_http **slot)
{
    (void)g;
    struct gw_http *h = *slot;
    *slot = NULL;
    if (!h)
        return;
    body_wait_stop(h);
    if (h->waiting || h->reading) { /* the Redis reply, or the file read, frees it */
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
        gw__respond_error(h, 408, "REQUEST_TIMEOUT", NULL, msg);
    }
}
