/* HTTP answers as they go out on the gateway's port: the status line and headers (security,
 * CORS, caching, validators), then the body in pieces, one lws_write per writeable callback; a
 * file body's pieces are read on libuv's thread pool, so a slow disk never stalls the loop.
 * Loop thread only (the reads' callbacks come back to it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "gateway/gateway.h"
#include "gateway/http.h"

/* A response goes out in pieces of this size, one lws_write per writeable callback: lws never
 * holds a copy of a large body, and each piece re-arms the idle deadline, so a slow reader gets
 * all of it (one lws_write of 18 MB was cut by lws's timer while lws still flushed it). */
#define GW_HTTP_CHUNK 65536
/* A file body goes in larger pieces: each costs a trip to the thread pool (read_start). */
#define GW_FILE_CHUNK (256 * 1024)
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
              header(h, "allow:", "GET, HEAD, POST, OPTIONS", p, end);
    if (h->artifact) /* files made by workers: never run as a page, whatever they hold */
        rc |= header(h, "content-security-policy:", "default-src 'none'; sandbox", p, end) |
              header(h, "accept-ranges:", "bytes", p, end) |
              header(h, "cache-control:", "private, max-age=3600", p, end);
    if (h->content_range[0])
        rc |= header(h, "content-range:", h->content_range, p, end);
    if (h->etag[0])
        rc |= header(h, "etag:", h->etag, p, end);
    if (h->last_modified[0])
        rc |= header(h, "last-modified:", h->last_modified, p, end);
    if (h->attachment) { /* the name is an id: nothing to quote or escape */
        char cd[PR_ID_MAX + 40];
        snprintf(cd, sizeof(cd), "attachment; filename=\"%s\"", h->name);
        rc |= header(h, "content-disposition:", cd, p, end);
    }
    if (h->dashboard)
        rc |= header(h, "content-security-policy:", h->g->csp, p, end) |
              header(h, "x-frame-options:", "DENY", p, end) |
              header(h, "referrer-policy:", "no-referrer", p, end);
    return rc;
}

static void read_more(struct gw_http *h);

/* A piece (or part of one) read: more, or the piece is ready to go out. A request whose
 * connection closed meanwhile is freed here (gw_http_closed left it to us). */
static void read_done(uv_fs_t *req)
{
    struct gw_http *h = req->data;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    h->reading = false;
    if (!h->wsi) {
        gw__http_free(h);
        return;
    }
    if (r > 0) {
        h->piece_len += (size_t)r;
        if (h->piece_len < h->piece_want) {
            read_more(h);
            return;
        }
        h->piece_ready = true;
    } else { /* the headers said more: the connection is cut */
        cm_log(CM_LOG_WARN, "%s: the file ended or failed after %llu bytes (%s); connection cut",
               h->path, (unsigned long long)(h->sent + h->piece_len),
               r < 0 ? uv_strerror((int)r) : "EOF");
        h->read_failed = true;
    }
    lws_callback_on_writable(h->wsi);
}

static void read_more(struct gw_http *h)
{
    uv_buf_t b = uv_buf_init((char *)h->piece + LWS_PRE + h->piece_len,
                             (unsigned)(h->piece_want - h->piece_len));
    h->fs.data = h;
    h->reading = uv_fs_read(h->g->loop, &h->fs, h->file_fd, &b, 1,
                            (int64_t)(h->file_off + h->sent + h->piece_len), read_done) == 0;
    if (!h->reading) {
        h->read_failed = true;
        lws_callback_on_writable(h->wsi);
    }
}

/* Starts reading the file body's next piece (at most GW_FILE_CHUNK, from file_off + sent). */
static void read_start(struct gw_http *h)
{
    uint64_t left = h->file_left - h->sent;
    h->piece_want = left < GW_FILE_CHUNK ? (size_t)left : GW_FILE_CHUNK;
    h->piece_len = 0;
    h->piece_ready = false;
    if (!h->piece)
        h->piece = cm_xmalloc(LWS_PRE + GW_FILE_CHUNK);
    /* a read that hangs (a network file system gone) drops the connection as a stalled reader
     * would; the read's callback, if it ever comes, frees the request */
    lws_set_timeout(h->wsi, PENDING_TIMEOUT_USER_OK, GW_HTTP_SEND_IDLE_S);
    read_more(h);
}

int gw_http_writeable(struct gw *g, struct gw_http *h)
{
    (void)g;
    if (!h || !h->ready)
        return 0;
    uint64_t total = h->has_file ? h->file_left : h->resp.len;
    if (!h->headers_sent) {
        unsigned char hdr[LWS_PRE + 2048], *start = hdr + LWS_PRE, *p = start,
                                           *end = hdr + sizeof(hdr) - 1;
        if (lws_add_http_common_headers(h->wsi, (unsigned)h->status, h->ctype, total, &p, end) ||
            add_security_headers(h, &p, end) ||
            /* answered before its body was read: the connection closes after this response,
             * and says so, or a client sends its next request on it (Node's fetch, which
             * pools connections, then fails that request: "fetch failed") */
            (h->close_after && header(h, "connection:", "close", &p, end)) ||
            lws_finalize_write_http_header(h->wsi, start, &p, end))
            return -1;
        h->headers_sent = true;
        h->sent = 0;
    }
    /* HEAD: the headers a GET would get, Content-Length included, and no body */
    size_t left = h->head ? 0 : (size_t)(total - h->sent),
           n = left < GW_HTTP_CHUNK ? left : GW_HTTP_CHUNK;
    bool file = h->has_file && n > 0;
    if (file && h->read_failed)
        return -1;
    if (file && !h->piece_ready) { /* read_done asks for this callback again */
        if (!h->reading)
            read_start(h);
        return 0;
    }
    unsigned char *buf = NULL, *piece;
    if (file) {
        n = h->piece_len, piece = h->piece;
        h->piece_ready = false;
    } else {
        piece = buf = cm_xmalloc(LWS_PRE + n + 1);
        memcpy(piece + LWS_PRE, h->resp.data ? h->resp.data + h->sent : "", n);
    }
    bool last = n == left;
    int rc = lws_write(h->wsi, piece + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    free(buf);
    if (rc < 0)
        return -1;
    h->sent += n;
    if (h->artifact && h->status < 300)
        h->g->st.artifact_bytes += n;
    if (!last) {
        lws_set_timeout(h->wsi, PENDING_TIMEOUT_USER_OK, GW_HTTP_SEND_IDLE_S);
        if (file)
            read_start(h); /* the next piece is read while the kernel sends this one */
        else
            lws_callback_on_writable(h->wsi);
        return 0;
    }
    h->ready = false;
    h->headers_sent = false;
    if (h->has_file)
        close(h->file_fd);
    h->has_file = false;
    lws_set_timeout(h->wsi, NO_PENDING_TIMEOUT, 0);
    if (h->close_after)
        return -1;
    return lws_http_transaction_completed(h->wsi) ? -1 : 0;
}
