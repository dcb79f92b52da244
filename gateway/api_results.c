/* REST: results and their artifacts. GET /api/results/<id> is the result's JSON; .../artifacts
 * lists the files its summary names; .../artifacts/<name> sends one, with ranges. A preview
 * comes from Redis (the worker stores it with the result), so every gateway has it; the other
 * artifacts are read from --results-dir, the workers' shared results volume, below which nothing
 * but <result_id>/<name> is ever opened. A result of a session the token does not allow is
 * answered as if it did not exist. Loop thread only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/text.h"
#include "gateway/gateway.h"
#include "gateway/http.h"

/* The result in reply r, parsed into v when the token may see it; otherwise answered 404 (or 503
 * when Redis failed) and false. With !parse and auth off, v is left null and any result is seen
 * (one over the parser's 1 MB is still served whole). */
static bool visible_result(struct gw_http *h, const redisReply *r, struct pr_value *v, bool parse)
{
    struct pr_err e;
    *v = pr_value_null();
    if (gw__redis_failed(h, r))
        return false;
    if (!parse && h->auth == GW_AUTH_RES_OFF && r->type == REDIS_REPLY_STRING)
        return true;
    bool seen = r->type == REDIS_REPLY_STRING && pr_value_parse_json(r->str, r->len, v, &e) == 0;
    if (seen) {
        const struct pr_value *sv = v->type == PR_V_OBJECT ? pr_value_get(v, "session_id") : NULL;
        bool str = sv && sv->type == PR_V_STR;
        seen = gw__visible(h, str ? sv->u.s.p : "", str ? sv->u.s.len : 0);
        if (!seen)
            pr_value_deinit(v);
    }
    if (!seen)
        gw__respond_error(h, 404, "UNKNOWN_RESULT", NULL, "no such result (or it expired)");
    return seen;
}

static void fetch_result(struct gw_http *h, redisCallbackFn *cb)
{
    char key[PR_ID_MAX + 64];
    cm_key_fmt(key, sizeof(key), h->g->cfg->common.prefix, CM_KEY_RESULT, h->id);
    const char *argv[] = {"GET", key};
    gw__command(h, cb, 2, argv);
}

static void result_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    redisReply *r = reply;
    struct gw_http *h = gw__reply_target(priv);
    struct pr_value v;
    if (!h || !visible_result(h, r, &v, false))
        return;
    pr_value_deinit(&v);
    gw__respond(h, 200, "application/json", r->str, r->len);
}

void gw__api_result(struct gw_http *h)
{
    fetch_result(h, result_reply);
}

/* ---- artifacts ---------------------------------------------------------------------------- */

/* The summary's artifacts array (each {name, type, size}), or NULL. */
static const struct pr_value *artifacts_of(const struct pr_value *result)
{
    const struct pr_value *s = pr_value_get(result, "summary");
    const struct pr_value *a = s && s->type == PR_V_OBJECT ? pr_value_get(s, "artifacts") : NULL;
    return a && a->type == PR_V_ARRAY ? a : NULL;
}

static const char *str_member(const struct pr_value *o, const char *key)
{
    const struct pr_value *v = o && o->type == PR_V_OBJECT ? pr_value_get(o, key) : NULL;
    return v && v->type == PR_V_STR ? v->u.s.p : NULL;
}

/* The Content-Type of an artifact, by its name's extension: workers' files are never sent with
 * a type they chose themselves. */
static const char *artifact_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".png", "image/png"},
                 {".tif", "image/tiff"},
                 {".tiff", "image/tiff"},
                 {".csv", "text/csv; charset=utf-8"},
                 {".json", "application/json"}};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t e = strlen(types[i].ext);
        if (n > e && strcasecmp(name + n - e, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

/* The request a result's reply answers, with the result parsed into v and its artifacts (or
 * NULL); NULL when the request is gone or has been answered (no such result, not visible). */
static struct gw_http *result_artifacts(void *reply, void *priv, struct pr_value *v,
                                        const struct pr_value **arts)
{
    struct gw_http *h = gw__reply_target(priv);
    if (!h || !visible_result(h, reply, v, true))
        return NULL;
    *arts = artifacts_of(v);
    return h;
}

static void artifacts_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct pr_value v;
    const struct pr_value *arts;
    struct gw_http *h = result_artifacts(reply, priv, &v, &arts);
    if (!h)
        return;
    struct cm_buf b = CM_BUF_INIT;
    cm_buf_puts(&b, "{\"result_id\":");
    cm_buf_append_json_str(&b, h->id, strlen(h->id));
    cm_buf_puts(&b, ",\"artifacts\":[");
    size_t n = 0;
    for (size_t i = 0; arts && i < arts->u.a.n; i++) {
        const struct pr_value *a = &arts->u.a.items[i], *size = pr_value_get(a, "size");
        const char *name = str_member(a, "name");
        if (!name || !cm_id_valid(name, strlen(name), PR_ID_MAX))
            continue;
        cm_buf_puts(&b, n++ ? ",{\"name\":" : "{\"name\":");
        cm_buf_append_json_str(&b, name, strlen(name));
        const char *type = artifact_type(name);
        cm_buf_puts(&b, ",\"type\":");
        cm_buf_append_json_str(&b, type, strlen(type));
        char url[PR_ID_MAX * 2 + 64], link[PR_LINK_MAX + 1] = "";
        snprintf(url, sizeof(url), "/api/results/%s/artifacts/%s", h->id, name);
        if (h->auth == GW_AUTH_RES_OK && gw_auth_link_sign(h->g, url, link, sizeof(link)) == 0)
            link[0] = '\0';
        cm_buf_printf(&b, ",\"size\":%lld,\"url\":\"%s\",\"download_url\":\"%s?download=1%s%s\"}",
                      size && size->type == PR_V_INT ? (long long)size->u.i : 0LL, url, url,
                      link[0] ? "&link=" : "", link);
    }
    cm_buf_printf(&b, "],\"count\":%zu}\n", n);
    pr_value_deinit(&v);
    gw__respond_json(h, 200, &b);
    cm_buf_deinit(&b);
}

void gw__api_artifacts(struct gw_http *h)
{
    fetch_result(h, artifacts_reply);
}

/* The validators of what is about to be sent (etag quoted; mtime 0: none), and the conditional
 * headers against them: If-None-Match that names it (or "*") answers 304 — false, with no body
 * but the length a GET would have — and an If-Range that is not it (nor its Last-Modified)
 * drops the Range, so a client resuming a file that changed gets it whole. */
static bool conditional(struct gw_http *h, const char *etag, time_t mtime, uint64_t size, int fd,
                        const char *body)
{
    snprintf(h->etag, sizeof(h->etag), "%s", etag);
    if (mtime) {
        struct tm tm;
        strftime(h->last_modified, sizeof(h->last_modified), "%a, %d %b %Y %H:%M:%S GMT",
                 gmtime_r(&mtime, &tm));
    }
    h->artifact = true;
    const char *m = h->if_none_match;
    bool match = strcmp(m, "*") == 0;
    for (const char *p = m; *p && !match; p++) /* a list of entity tags, W/ ones compared weakly */
        match = strncmp(p, etag, strlen(etag)) == 0;
    if (match) {
        h->head = true; /* no body: the headers a GET would get */
        if (fd >= 0)
            gw__respond_file(h, 304, artifact_type(h->name), fd, 0, size);
        else
            gw__respond(h, 304, artifact_type(h->name), body, (size_t)size);
        return false;
    }
    if (h->if_range[0] && strcmp(h->if_range, etag) != 0 &&
        (!h->last_modified[0] || strcmp(h->if_range, h->last_modified) != 0))
        h->range[0] = '\0';
    return true;
}

/* Applies the request's Range to a body of size bytes: true with [*off, *off + *len) to send
 * (status 200 or 206 in *status), false after answering 416. */
static bool apply_range(struct gw_http *h, uint64_t size, uint64_t *off, uint64_t *len, int *status)
{
    int rc = cm_http_range(h->range[0] ? h->range : NULL, size, off, len);
    h->artifact = true;
    if (rc < 0) {
        snprintf(h->content_range, sizeof(h->content_range), "bytes */%llu",
                 (unsigned long long)size);
        gw__respond_error(h, 416, "RANGE_NOT_SATISFIABLE", "Range",
                          "the range starts past the end of the artifact");
        return false;
    }
    *status = rc == 1 ? 206 : 200;
    if (rc == 1)
        snprintf(h->content_range, sizeof(h->content_range), "bytes %llu-%llu/%llu",
                 (unsigned long long)*off, (unsigned long long)(*off + *len - 1),
                 (unsigned long long)size);
    else
        *off = 0, *len = size;
    return true;
}

/* Sends <results-dir>/<id>/<name>: both components opened without following links, and only a
 * regular file. */
static void send_file(struct gw_http *h)
{
    const char *root = h->g->cfg->results_dir;
    if (!root || !root[0]) {
        gw__respond_error(h, 503, "ARTIFACT_UNAVAILABLE", NULL,
                          "this gateway has no --results-dir: only previews can be served here");
        return;
    }
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dfd = rfd < 0 ? -1 : openat(rfd, h->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd = dfd < 0 ? -1 : openat(dfd, h->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int err = errno;
    struct stat st;
    bool regular = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (rfd >= 0)
        close(rfd);
    if (dfd >= 0)
        close(dfd);
    if (!regular) {
        if (fd >= 0 || (err != ENOENT && err != ENOTDIR))
            cm_log(CM_LOG_WARN, "artifact %s/%s: %s under --results-dir %s", h->id, h->name,
                   fd >= 0 ? "not a regular file" : strerror(err), root);
        if (fd >= 0)
            close(fd);
        gw__respond_error(h, 404, "ARTIFACT_GONE", NULL,
                          "the artifact is not in the results directory (removed, or this "
                          "gateway's --results-dir is not the workers' volume)");
        return;
    }
    uint64_t off, len;
    int status;
    char etag[48];
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    if (!conditional(h, etag, st.st_mtim.tv_sec, (uint64_t)st.st_size, fd, NULL))
        return; /* 304: the fd goes with the answer */
    if (!apply_range(h, (uint64_t)st.st_size, &off, &len, &status)) {
        close(fd);
        return;
    }
    h->g->st.artifacts_sent++;
    gw__respond_file(h, status, artifact_type(h->name), fd, off, len);
}

static void preview_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    redisReply *r = reply;
    struct gw_http *h = gw__reply_target(priv);
    if (!h || gw__redis_failed(h, r))
        return;
    if (r->type != REDIS_REPLY_STRING) { /* over the worker's --max-preview-kb: the file */
        send_file(h);
        return;
    }
    uint64_t off, len;
    int status;
    char etag[PR_ID_MAX + 40]; /* a preview never changes under its result id: nothing to hash */
    snprintf(etag, sizeof(etag), "\"p-%s-%zx\"", h->id, r->len);
    if (!conditional(h, etag, 0, (uint64_t)r->len, -1, r->str))
        return;
    if (!apply_range(h, (uint64_t)r->len, &off, &len, &status))
        return;
    h->g->st.artifacts_sent++;
    gw__respond(h, status, "image/png", r->str + off, (size_t)len);
}

static void artifact_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct pr_value v;
    const struct pr_value *arts;
    struct gw_http *h = result_artifacts(reply, priv, &v, &arts);
    if (!h)
        return;
    bool listed = false;
    for (size_t i = 0; arts && i < arts->u.a.n && !listed; i++) {
        const char *name = str_member(&arts->u.a.items[i], "name");
        listed = name && strcmp(name, h->name) == 0;
    }
    pr_value_deinit(&v);
    if (!listed) {
        gw__respond_error(h, 404, "UNKNOWN_ARTIFACT", NULL,
                          "the result has no artifact of that name");
    } else if (strcmp(h->name, "preview.png") == 0) {
        char key[PR_ID_MAX + 64];
        cm_key_fmt(key, sizeof(key), h->g->cfg->common.prefix, CM_KEY_PREVIEW, h->id);
        const char *argv[] = {"GET", key};
        gw__command(h, preview_reply, 2, argv);
    } else {
        send_file(h);
    }
}

void gw__api_artifact(struct gw_http *h)
{
    char dl[4];
    h->attachment = gw_urlarg(h->wsi, "download", dl, sizeof(dl)) > 0 && strcmp(dl, "1") == 0;
    if (lws_hdr_total_length(h->wsi, WSI_TOKEN_HTTP_RANGE) >= (int)sizeof(h->range) ||
        lws_hdr_copy(h->wsi, h->range, sizeof(h->range), WSI_TOKEN_HTTP_RANGE) < 0)
        h->range[0] = '\0'; /* too long to be one range: ignored, as a malformed one is */
    if (lws_hdr_total_length(h->wsi, WSI_TOKEN_HTTP_IF_RANGE) >= (int)sizeof(h->if_range) ||
        lws_hdr_copy(h->wsi, h->if_range, sizeof(h->if_range), WSI_TOKEN_HTTP_IF_RANGE) < 0)
        h->if_range[0] = h->range[0] ? '?' : '\0', h->if_range[1] = '\0'; /* not ours: no range */
    if (lws_hdr_total_length(h->wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH) >=
            (int)sizeof(h->if_none_match) ||
        lws_hdr_copy(h->wsi, h->if_none_match, sizeof(h->if_none_match),
                     WSI_TOKEN_HTTP_IF_NONE_MATCH) < 0)
        h->if_none_match[0] = '\0';
    fetch_result(h, artifact_reply);
}
