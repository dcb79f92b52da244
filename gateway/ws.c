/* The lws protocol callback: WebSocket upgrades (origin, subprotocol, token or a first auth
 * message within --auth-timeout-s), their messages and writes, and HTTP requests handed to
 * http.c; permessage-deflate options; lws's log into ours. Loop thread. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/net.h"
#include "common/text.h"
#include "gateway/gateway.h"
#include "gateway/ws.h"

struct pss {
    struct gw_client c;
    struct gw_http *http;
    struct cm_buf rx;
    bool is_ws;
    /* a WebSocket that came without a token: its first message must be auth (auth_deadline);
     * until then it is on g->auth_wait, not in the hub */
    bool awaiting_auth;
    int auth_close;       /* non-zero: close with this code and auth_why at the next writeable */
    const char *auth_why; /* static */
    uint64_t auth_deadline;
    struct pss *auth_next, *auth_prev;
    char *want_session, *want_last; /* from the URL, for when the auth message comes */
};

/* Writes a close frame (code + reason), then the caller returns -1. lws 4.1 loses the frame that
 * lws_close_reason() prepares when a server closes from SERVER_WRITEABLE (the socket is shut
 * without it), so it is written here with the close opcode lws keeps for itself (4, see
 * lws-write.h: "LWS_WRITE_CLOSE is handled by lws_close_reason()"). */
void gw_close_frame(struct lws *wsi, int code, const char *why)
{
    unsigned char buf[LWS_PRE + 125];
    size_t n = strlen(why);
    if (n > 123)
        n = 123;
    buf[LWS_PRE] = (unsigned char)(code >> 8);
    buf[LWS_PRE + 1] = (unsigned char)code;
    memcpy(buf + LWS_PRE + 2, why, n);
    lws_write(wsi, buf + LWS_PRE, n + 2, (enum lws_write_protocol)4);
}

/* permessage-deflate as lws 4.1 applies it. Its 101 answer echoes only the arg-less options a
 * client offered (never a window size), so the client compresses with its own window, up to 15
 * bits, and the server must inflate with 15: lws inflates with server_max_window_bits, which
 * therefore stays at its default of 15 (at 10 it failed after ~1 KB of client messages: "invalid
 * distance too far back"). lws deflates server messages with client_max_window_bits on a vhost
 * without a listening port (ours: we accept the sockets ourselves); any window up to the 15 the
 * client inflates with is valid, and 10 bits keep the compressor at ~5 KB per client instead of
 * ~130 KB. tests/node/deflate.mjs checks both directions with Node's zlib. */
static void deflate_options(struct lws *wsi)
{
    lws_set_extension_option(wsi, "permessage-deflate", "mem_level", "1");
    lws_set_extension_option(wsi, "permessage-deflate", "client_max_window_bits", "10");
}

int gw_urlarg(struct lws *wsi, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (int i = 0;; i++) {
        int len = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len <= 0)
            return -1;
        char *frag = cm_xmalloc((size_t)len + 1);
        int rc = -3; /* not this one */
        if (lws_hdr_copy_fragment(wsi, frag, len + 1, WSI_TOKEN_HTTP_URI_ARGS, i) > 0 &&
            strncmp(frag, name, nl) == 0 && frag[nl] == '=') {
            size_t vl = strlen(frag + nl + 1);
            rc = vl + 1 > n ? -2 : (int)vl;
            if (rc >= 0)
                memcpy(out, frag + nl + 1, vl + 1);
        }
        free(frag);
        if (rc != -3)
            return rc;
    }
}

static const char *const subprotocols[] = {"zsa.v1.json", "zsa.v1.msgpack"};

/* The offered subprotocols (comma-separated) include one we speak, or none were offered. */
static bool subprotocol_ok(struct lws *wsi)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL);
    if (total <= 0)
        return true;
    char *offer = cm_xmalloc((size_t)total + 1);
    bool ok = false;
    if (lws_hdr_copy(wsi, offer, total + 1, WSI_TOKEN_PROTOCOL) > 0)
        for (char *save = NULL, *t = strtok_r(offer, ", ", &save); t && !ok;
             t = strtok_r(NULL, ", ", &save))
            for (size_t i = 0; i < 2; i++)
                ok |= strcmp(t, subprotocols[i]) == 0;
    free(offer);
    return ok;
}

/* ---- WebSockets that authenticate with their first message ------------------------------- */

static void auth_wait_remove(struct gw *g, struct pss *p)
{
    if (!p->awaiting_auth)
        return;
    p->awaiting_auth = false;
    if (p->auth_prev)
        p->auth_prev->auth_next = p->auth_next;
    else
        g->auth_wait = p->auth_next;
    if (p->auth_next)
        p->auth_next->auth_prev = p->auth_prev;
    p->auth_next = p->auth_prev = NULL;
    free(p->want_session);
    free(p->want_last);
    p->want_session = p->want_last = NULL;
}

/* Closes a connection still waiting for its auth message (code 4001/4003, why static). */
static void auth_wait_fail(struct gw *g, struct pss *p, int code, const char *why)
{
    if (code == GW_CLOSE_FORBIDDEN)
        g->st.auth_forbidden++;
    else
        g->st.auth_refused++;
    p->auth_close = code;
    p->auth_why = why;
    lws_callback_on_writable(p->c.wsi);
}

/* The 10 Hz tick: connections whose auth message is late are closed 4001. */
void gw__auth_wait_tick(struct gw *g)
{
    uint64_t now = uv_now(g->loop);
    for (struct pss *p = g->auth_wait; p; p = p->auth_next)
        if (!p->auth_close && (now >= p->auth_deadline || g->stopping))
            auth_wait_fail(g, p, g->stopping ? LWS_CLOSE_STATUS_GOINGAWAY : GW_CLOSE_UNAUTHORIZED,
                           g->stopping ? "gateway shutting down: reconnect"
                                       : "no auth message in time: send {\"type\":\"auth\","
                                         "\"token\":...} first");
}

/* Joins the hub with a verified token (moved into the client) and the session it allows. */
static void open_with_token(struct gw *g, struct pss *p, struct pr_token *t, const char *url_sess,
                            const char *last)
{
    char sess[PR_ID_MAX + 2];
    const char *why;
    if (gw_auth_session(t, url_sess, sess, sizeof(sess), &why) != 0) {
        pr_token_deinit(t);
        auth_wait_fail(g, p, GW_CLOSE_FORBIDDEN, why);
        return;
    }
    p->c.tok = cm_xmalloc(sizeof(*p->c.tok));
    *p->c.tok = *t; /* the claims move */
    memset(t, 0, sizeof(*t));
    gw_client_open(g, &p->c, sess, last);
}

/* The first message of a connection without a token. */
static void auth_first(struct gw *g, struct pss *p, const char *data, size_t len, bool binary)
{
    struct pr_msg m;
    struct pr_err err = {0};
    int rc = gw_decode_client(data, len, binary, &m, &err);
    if (rc != 0 || m.type != PR_AUTH) {
        if (rc == 0)
            pr_msg_deinit(&m);
        auth_wait_fail(g, p, GW_CLOSE_UNAUTHORIZED,
                       "authenticate first: {\"type\":\"auth\",\"token\":...} (or connect "
                       "with ?token=)");
        return;
    }
    struct pr_token t;
    const char *why;
    if (gw_auth_verify(g, m.u.auth.token, strlen(m.u.auth.token), &t, &why) != GW_AUTH_RES_OK) {
        pr_msg_deinit(&m);
        auth_wait_fail(g, p, GW_CLOSE_UNAUTHORIZED, why);
        return;
    }
    pr_msg_deinit(&m);
    char *sess = p->want_session, *last = p->want_last;
    p->want_session = p->want_last = NULL;
    auth_wait_remove(g, p);
    p->c.auth_msg = true;
    open_with_token(g, p, &t, sess ? sess : "", last ? last : "");
    free(sess);
    free(last);
}

/* Answers an upgrade we refuse with a JSON error (not a hang-up), then closes. */
static int refuse(struct lws *wsi, int status, const char *code, const char *msg)
{
    struct cm_buf b = CM_BUF_INIT;
    cm_buf_puts(&b, "{\"error\":{\"code\":");
    cm_buf_append_json_str(&b, code, strlen(code));
    cm_buf_puts(&b, ",\"message\":");
    cm_buf_append_json_str(&b, msg, strlen(msg));
    cm_buf_puts(&b, "}}\n");
    unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
                                      *end = hdr + sizeof(hdr) - 1;
    unsigned char *body = cm_xmalloc(LWS_PRE + b.len);
    memcpy(body + LWS_PRE, b.data, b.len);
    if (lws_add_http_common_headers(wsi, (unsigned)status, "application/json", b.len, &p, end) ==
            0 &&
        lws_finalize_write_http_header(wsi, start, &p, end) == 0)
        lws_write(wsi, body + LWS_PRE, b.len, LWS_WRITE_HTTP_FINAL);
    free(body);
    cm_buf_deinit(&b);
    return 1;
}

/* Long: one switch over the reasons lws calls with, each case short; splitting it would only
 * move the dispatch */
static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct gw *g = lws_context_user(lws_get_context(wsi));
    struct pss *p = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: { /* user is NULL here */
        char uri[64];
        if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/ws") != 0)
            return refuse(wsi, 404, "NOT_FOUND", "WebSocket only on /ws");
        if (g->stopping)
            return refuse(wsi, 503, "SHUTTING_DOWN", "shutting down: use another gateway");
        if (g->nclients >= g->cfg->max_connections)
            return refuse(wsi, 503, "TOO_MANY_CONNECTIONS",
                          "too many connections; try another gateway");
        if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) > 127) /* lws 4.1 would just drop it */
            return refuse(wsi, 400, "UNKNOWN_SUBPROTOCOL",
                          "Sec-WebSocket-Protocol is over 127 bytes: offer zsa.v1.json or "
                          "zsa.v1.msgpack (send an access token in an auth message)");
        if (!subprotocol_ok(wsi))
            return refuse(wsi, 400, "UNKNOWN_SUBPROTOCOL",
                          "unknown subprotocol: offer zsa.v1.json or zsa.v1.msgpack");
        char origin[256];
        if (gw_origin_check(g, wsi, origin, sizeof(origin)) == GW_ORIGIN_REFUSED)
            return refuse(wsi, 403, "ORIGIN_NOT_ALLOWED",
                          "a page of another site may not connect here (see --allowed-origins)");
        char v[PR_ID_MAX + 2];
        int n = gw_urlarg(wsi, "session_id", v, sizeof(v));
        if (n == -2 || (n >= 0 && !cm_id_valid(v, (size_t)n, PR_ID_MAX)))
            return refuse(wsi, 400, "INVALID_SESSION",
                          "session_id: 1..128 of [A-Za-z0-9_.:-], not starting with a dot");
        if (n < 0)
            v[0] = '\0';
        struct pr_token t;
        const char *why;
        enum gw_auth_res ar = gw_auth_request(g, wsi, &t, &why);
        if (ar == GW_AUTH_RES_BAD) {
            g->st.auth_refused++;
            return refuse(wsi, 401, "UNAUTHORIZED", why);
        }
        if (ar == GW_AUTH_RES_OK) {
            char sess[PR_ID_MAX + 2];
            int sr = gw_auth_session(&t, v, sess, sizeof(sess), &why);
            pr_token_deinit(&t);
            if (sr != 0) {
                g->st.auth_forbidden++;
                return refuse(wsi, 403, "FORBIDDEN", why);
            }
        }
        n = gw_urlarg(wsi, "last_event_id", v, sizeof(v));
        struct gw_sid sid;
        if (n == -2 || (n >= 0 && !gw_sid_parse(v, (size_t)n, &sid)))
            return refuse(wsi, 400, "INVALID_EVENT_ID",
                          "last_event_id: must be a stream id <ms>-<seq>");
        return 0;
    }
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: /* user: the vhost's SSL_CTX */
        gw_tls_ctx(g, user);
        return 0;
    case LWS_CALLBACK_CONFIRM_EXTENSION_OKAY: {
        /* lws 4.1 would echo server_no_context_takeover and then keep its compression context
         * (and reset its inflater instead): the client could not decode us, nor we it. Declining
         * the extension is what RFC 7692 allows: the connection goes on uncompressed. */
        char ext[256];
        return lws_hdr_copy(wsi, ext, sizeof(ext), WSI_TOKEN_EXTENSIONS) > 0 &&
               strstr(ext, "server_no_context_takeover");
    }
    case LWS_CALLBACK_ESTABLISHED: {
        memset(p, 0, sizeof(*p));
        p->is_ws = true;
        if (g->cfg->sndbuf_kb > 0) { /* bounds kernel memory per client (no autotuning) */
            int sz = g->cfg->sndbuf_kb * 1024;
            setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        }
        p->c.wsi = wsi;
        deflate_options(wsi);
        const struct lws_protocols *pr = lws_get_protocol(wsi);
        p->c.msgpack = pr && strcmp(pr->name, "zsa.v1.msgpack") == 0;
        char pv[8];
        p->c.previews = gw_urlarg(wsi, "previews", pv, sizeof(pv)) > 0 &&
                        (strcmp(pv, "1") == 0 || strcmp(pv, "true") == 0);
        char ext[256]; /* the offers we decline never reach here (CONFIRM_EXTENSION_OKAY) */
        p->c.deflate = lws_hdr_copy(wsi, ext, sizeof(ext), WSI_TOKEN_EXTENSIONS) > 0 &&
                       strstr(ext, "permessage-deflate") &&
                       !strstr(ext, "server_no_context_takeover");
        /* both were checked at CONFIRM_UPGRADE */
        char sess[PR_ID_MAX + 2], last[PR_ID_MAX + 2];
        if (gw_urlarg(wsi, "session_id", sess, sizeof(sess)) < 0)
            sess[0] = '\0';
        if (gw_urlarg(wsi, "last_event_id", last, sizeof(last)) < 0)
            last[0] = '\0';
        struct pr_token t;
        const char *why;
        switch (gw_auth_request(g, wsi, &t, &why)) {
        case GW_AUTH_RES_OFF:
            if (!sess[0])
                cm_random_id(sess, sizeof(sess), "s-");
            gw_client_open(g, &p->c, sess, last);
            break;
        case GW_AUTH_RES_OK: open_with_token(g, p, &t, sess, last); break;
        case GW_AUTH_RES_NONE: /* its first message must be auth */
            p->awaiting_auth = true;
            p->want_session = cm_xstrdup(sess);
            p->want_last = cm_xstrdup(last);
            p->auth_deadline = uv_now(g->loop) + (uint64_t)g->cfg->auth_timeout_s * 1000;
            p->auth_next = g->auth_wait;
            if (g->auth_wait)
                g->auth_wait->auth_prev = p;
            g->auth_wait = p;
            break;
        case GW_AUTH_RES_LINK: /* not made by gw_auth_request; never a WebSocket's */
        case GW_AUTH_RES_BAD:  /* its key went between the upgrade and now */
            auth_wait_fail(g, p, GW_CLOSE_UNAUTHORIZED, why);
            break;
        }
        return 0;
    }
    case LWS_CALLBACK_RECEIVE_PONG: /* to the hub's pings (lws keeps its own to itself) */
        if (p && p->is_ws)
            p->c.last_rx = uv_now(g->loop);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!p || !p->is_ws)
            return 0;
        p->c.last_rx = uv_now(g->loop);
        if (p->c.doomed || p->auth_close) /* closing: the rest it sends is ignored */
            return 0;
        if (p->rx.len + len > GW_RX_MAX) {
            /* not lws_close_reason + -1: while lws inflates a permessage-deflate message it
             * ignores that return and goes on feeding the rest; the close goes out from the
             * writeable callback instead, at once */
            cm_buf_deinit(&p->rx);
            gw_client_fail(g, &p->c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                           "message too large: at most 65536 bytes");
            return 0;
        }
        cm_buf_append(&p->rx, in, len);
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            if (p->awaiting_auth)
                auth_first(g, p, p->rx.data ? p->rx.data : "", p->rx.len, lws_frame_is_binary(wsi));
            else if (p->c.sess)
                gw_client_rx(g, &p->c, p->rx.data ? p->rx.data : "", p->rx.len,
                             lws_frame_is_binary(wsi));
            cm_buf_reset(&p->rx);
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!p || !p->is_ws)
            return 0;
        if (p->auth_close && !p->c.sess) { /* refused before it joined the hub */
            gw_close_frame(wsi, p->auth_close, p->auth_why);
            return -1;
        }
        if (g->stopping) {
            gw_close_frame(wsi, LWS_CLOSE_STATUS_GOINGAWAY, "gateway shutting down: reconnect");
            return -1;
        }
        if (!p->c.sess)
            return 0; /* waiting for its auth message */
        return gw_client_writeable(g, &p->c);
    case LWS_CALLBACK_CLOSED:
        if (p && p->is_ws) {
            auth_wait_remove(g, p);
            gw_client_close(g, &p->c);
            if (p->c.tok) {
                pr_token_deinit(p->c.tok);
                free(p->c.tok);
                p->c.tok = NULL;
            }
            cm_buf_deinit(&p->rx);
            p->is_ws = false;
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        g->nconns--; /* every socket we adopted ends here once */
        if (p)       /* lws skips CLOSED_HTTP for a keep-alive connection closed at shutdown */
            gw_http_closed(g, &p->http);
        return 0;
    case LWS_CALLBACK_HTTP: return gw_http_request(g, wsi, &p->http, in);
    case LWS_CALLBACK_HTTP_BODY: return gw_http_body(g, p->http, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: return gw_http_body_done(g, p->http);
    case LWS_CALLBACK_HTTP_WRITEABLE: return gw_http_writeable(g, p->http);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* a kept-alive connection's transaction is over: lws frees our per-connection data
         * before the next request, so the request's state goes now (it leaked one per request) */
        if (p)
            gw_http_closed(g, &p->http);
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (p)
            gw_http_closed(g, &p->http);
        return 0;
    default: break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* rx 512: each connection's receive buffer (client messages are small; larger ones arrive in
 * pieces). tx: the most one send() may take. Left at 0, lws limits every send() to rx + 20 bytes
 * (532) and buffers the rest, to go out 532 bytes per writeable cycle — a 64 KB HTTP piece took
 * 124 poll cycles, a file streamed at 35 MB/s and a 2 KB event took four cycles. 256 KB is more
 * than any piece we write (GW_HTTP_CHUNK) and most frames: one send() each, the kernel takes what
 * fits and lws keeps only the remainder. */
#define GW_RX_BUFFER 512
#define GW_TX_PACKET (256 * 1024)

const struct lws_protocols gw__protocols[] = {
    {"zsa.v1.json", callback, sizeof(struct pss), GW_RX_BUFFER, 0, NULL, GW_TX_PACKET},
    {"zsa.v1.msgpack", callback, sizeof(struct pss), GW_RX_BUFFER, 0, NULL, GW_TX_PACKET},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct lws_extension gw__extensions[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate,
     "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
    {NULL, NULL, NULL},
};

struct gw *gw__log_gw; /* for the counter below (one gateway per process) */

void gw__lws_log(int level, const char *line)
{
    if (strstr(line, "Ran out of header data space")) {
        /* a kept-alive connection's later request with oversized headers (a first request gets
         * 431 from front.c): counted, not an error line per request */
        if (gw__log_gw) {
            gw__log_gw->st.heads_too_large++;
            gw__log_gw->st.bad_requests++;
        }
        return;
    }
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    cm_log(level == LLL_ERR ? CM_LOG_ERROR : CM_LOG_WARN, "lws: %.*s", (int)n, line);
}
