/* The gateway process: libwebsockets on a foreign libuv loop, the two Redis connections on the
 * same loop, the heartbeat timer and graceful shutdown. Loop thread only. */
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

#define GW_RX_MAX 65536 /* a client message larger than this is refused */

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
static void auth_wait_tick(struct gw *g)
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
        case GW_AUTH_RES_BAD: /* its key went between the upgrade and now */
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

static struct lws_protocols protocols[] = {
    {"zsa.v1.json", callback, sizeof(struct pss), 512, 0, NULL, 0},
    {"zsa.v1.msgpack", callback, sizeof(struct pss), 512, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_extension extensions[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate,
     "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
    {NULL, NULL, NULL},
};

static struct gw *log_gw; /* for the counter below (one gateway per process) */

static void lws_log(int level, const char *line)
{
    if (strstr(line, "Ran out of header data space")) {
        /* a kept-alive connection's later request with oversized headers (a first request gets
         * 431 from front.c): counted, not an error line per request */
        if (log_gw) {
            log_gw->st.heads_too_large++;
            log_gw->st.bad_requests++;
        }
        return;
    }
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    cm_log(level == LLL_ERR ? CM_LOG_ERROR : CM_LOG_WARN, "lws: %.*s", (int)n, line);
}

/* ---- listening ---------------------------------------------------------------------------- */

/* Our own listening socket: lws 4.1 binds an IPv4 --listen address as IPv6 "::" (all
 * interfaces) and sets no SO_REUSEPORT, so the gateway binds it (SO_REUSEPORT when processes
 * share the port) and hands accepted sockets to lws. Returns the fd or -1 with err. */
static int listen_socket(const char *host, int port, bool share, char *err, size_t n)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int rc = getaddrinfo(*host ? host : NULL, ps, &hints, &res);
    if (rc != 0) {
        snprintf(err, n, "%s", gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (share && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, n, "%s%s", strerror(errno),
                 errno == EADDRINUSE ? " (another process has the port)" : "");
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Connections of any kind (WebSocket, REST, half-sent requests) beyond --max-connections plus
 * this many get an HTTP 503 at once (front.c). The slack lets REST, /readyz and /metrics answer
 * while the WebSocket clients are at their limit (those get 503 TOO_MANY_CONNECTIONS from the
 * upgrade). */
#define GW_HTTP_CONN_SLACK 64

static void accept_cb(uv_poll_t *h, int status, int events);

static void accept_resume(uv_timer_t *t)
{
    struct gw *g = t->data;
    if (!g->stopping)
        uv_poll_start(&g->accept_poll, UV_READABLE, accept_cb);
}

static void accept_cb(uv_poll_t *h, int status, int events)
{
    (void)status, (void)events;
    struct gw *g = h->data;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(g->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: pause instead of spinning on a readable listener */
                cm_log(CM_LOG_WARN, "accept: %s; pausing new connections for 200 ms",
                       strerror(errno));
                uv_poll_stop(&g->accept_poll);
                uv_timer_start(&g->accept_pause, accept_resume, 200, 0);
            }
            return;
        }
        if (g->nconns >= g->cfg->max_connections + GW_HTTP_CONN_SLACK) {
            gw_front_refuse(g, fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        gw_front_accept(g, fd);
    }
}

/* ---- forced service ------------------------------------------------------------------------ */

/* lws 4.1 on a foreign libuv loop inflates a permessage-deflate message 512 bytes per service
 * pass, and its own idle handler runs one pass per socket event: a message whose compressed
 * frame arrived in one read stalled after the first chunk until the client sent something else
 * (a 100 KB message that compresses to 150 bytes was never answered, and never closed with 1009).
 * A check handle after every poll asks lws whether a connection needs forced service (rx being
 * inflated, buffered input); while one does, an idle handle keeps the loop from blocking and
 * services it. */
static void forced_cb(uv_idle_t *h)
{
    struct gw *g = h->data;
    if (g->ctx && lws_service_adjust_timeout(g->ctx, 1, 0) == 0)
        _lws_plat_service_forced_tsi(g->ctx, 0);
    else
        uv_idle_stop(h);
}

static void pending_check_cb(uv_check_t *h)
{
    struct gw *g = h->data;
    if (g->ctx && lws_service_adjust_timeout(g->ctx, 1, 0) == 0)
        uv_idle_start(&g->forced, forced_cb);
}

/* ---- timers and signals ------------------------------------------------------------------ */

static void heartbeat_cb(uv_timer_t *t)
{
    gw_hub_heartbeat(t->data);
    gw_http_tick(t->data);
    gw_front_tick(t->data);
    auth_wait_tick(t->data);
}

static void close_all(struct gw *g)
{
    for (size_t i = 0; i < g->nbuckets; i++)
        for (struct gw_session *s = g->buckets[i]; s; s = s->next)
            for (struct gw_client *c = s->clients; c; c = c->next_in_session)
                lws_callback_on_writable(c->wsi);
    auth_wait_tick(g); /* those still waiting for their auth message: 1001 */
}

static void stop_listening(struct gw *g)
{
    gw_front_close_all(g);
    if (g->listen_fd < 0)
        return;
    uv_timer_stop(&g->accept_pause);
    uv_poll_stop(&g->accept_poll);
    uv_close((uv_handle_t *)&g->accept_poll, NULL);
    uv_close((uv_handle_t *)&g->accept_pause, NULL);
    close(g->listen_fd);
    g->listen_fd = -1;
}

static void stop_now(struct gw *g)
{
    stop_listening(g);
    uv_timer_stop(&g->heartbeat);
    uv_close((uv_handle_t *)&g->heartbeat, NULL);
    uv_close((uv_handle_t *)&g->pending_check, NULL);
    uv_close((uv_handle_t *)&g->forced, NULL);
    uv_close((uv_handle_t *)&g->sig_term, NULL);
    uv_close((uv_handle_t *)&g->sig_int, NULL);
    uv_close((uv_handle_t *)&g->sig_hup, NULL);
    uv_close((uv_handle_t *)&g->drain, NULL);
    cm_rconn_close(&g->pubsub);
    cm_rconn_close(&g->cmd);
    cm_rconn_deinit(&g->pubsub);
    cm_rconn_deinit(&g->cmd);
    lws_context_destroy(g->ctx); /* with a foreign loop: the first of two calls */
}

static void drain_cb(uv_timer_t *t)
{
    struct gw *g = t->data;
    if (g->nclients > 0 && uv_now(g->loop) < g->drain_deadline)
        return;
    uv_timer_stop(t);
    stop_now(g);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct gw *g = h->data;
    if (!cm_stop_signal(signum, &g->stop_at, (int64_t)uv_now(g->loop), ""))
        return;
    cm_log(CM_LOG_INFO, "%s: closing %d clients (1001) and stopping", strsignal(signum),
           g->nclients);
    g->stopping = true;
    stop_listening(g);
    close_all(g);
    g->drain_deadline = uv_now(g->loop) + 5000;
    uv_timer_start(&g->drain, drain_cb, 50, 50);
}

static void hup_cb(uv_signal_t *h, int signum)
{
    (void)signum;
    gw_auth_reload(h->data);
    gw_tls_reload(h->data);
}

int gw_run(struct gw_config *cfg)
{
    struct gw g = {.cfg = cfg, .listen_fd = -1};
    snprintf(g.pid_tag, sizeof(g.pid_tag), "%d", (int)getpid());
    uv_loop_t loop;
    uv_loop_init(&loop);
    g.loop = &loop;
    st_script_init();
    if (gw_auth_init(&g) != 0) {
        gw_auth_deinit(&g);
        uv_loop_close(&loop);
        return 2;
    }
    gw_hub_init(&g);
    gw_origin_init(&g);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    void *foreign[1] = {&loop};
    g.tls = cfg->tls_cert && *cfg->tls_cert;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   (g.tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
    info.foreign_loops = foreign;
    info.user = &g;
    info.pcontext = &g.ctx;
    info.fd_limit_per_thread = (unsigned)cfg->max_connections + 256;
    info.max_http_header_data = GW_HEAD_MAX; /* what front.c lets through fits */
    log_gw = &g;
    char host[256], err[256];
    int port = 0;
    if (cm_hostport_parse(cfg->listen, host, sizeof(host), &port, err, sizeof(err)) != 0) {
        cm_log(CM_LOG_ERROR, "--listen: %s", err);
        uv_loop_close(&loop);
        gw_hub_deinit(&g);
        gw_auth_deinit(&g);
        return 2;
    }
    g.listen_fd = listen_socket(host, port, cfg->processes != 1, err, sizeof(err));
    if (g.listen_fd < 0) {
        cm_log(CM_LOG_ERROR, "cannot listen on %s: %s", cfg->listen, err);
        uv_loop_close(&loop);
        gw_hub_deinit(&g);
        gw_auth_deinit(&g);
        return 1;
    }
    g.ctx = lws_create_context(&info);
    if (!g.ctx) {
        cm_log(CM_LOG_ERROR, "cannot create the libwebsockets context");
        close(g.listen_fd);
        return 1;
    }
    /* The hub pings a silent client itself (a third of the idle timeout) and closes it with a
     * close frame (1001) past the timeout (client.c, close_idle); lws's own ping and silent
     * hang-up come after both, as a backstop only. lws keeps a pointer to this: it lives as
     * long as this function runs the loop. */
    lws_retry_bo_t retry = {.secs_since_valid_ping = (uint16_t)(cfg->idle_timeout_s + 5),
                            .secs_since_valid_hangup = (uint16_t)(cfg->idle_timeout_s + 10)};
    /* the vhost does not listen: we accept (see listen_socket) and hand sockets over */
    struct lws_context_creation_info vi;
    memset(&vi, 0, sizeof(vi));
    vi.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    vi.protocols = protocols;
    vi.extensions = extensions;
    vi.vhost_name = "zsa";
    vi.retry_and_idle_policy = &retry;
    vi.options = LWS_SERVER_OPTION_LIBUV;
    if (g.tls) { /* lws terminates TLS on the sockets we hand it (LWS_ADOPT_ALLOW_SSL) */
        vi.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
        vi.ssl_cert_filepath = cfg->tls_cert;
        vi.ssl_private_key_filepath = cfg->tls_key;
    }
    g.vh = lws_create_vhost(g.ctx, &vi);
    if (g.vh && g.tls && !g.ssl_ctx)
        cm_log(CM_LOG_WARN, "TLS: lws gave no SSL_CTX: SIGHUP will not reload the certificate");
    if (!g.vh) {
        cm_log(CM_LOG_ERROR, "cannot create the libwebsockets vhost%s",
               g.tls ? " (TLS: see the lws lines above)" : "");
        lws_context_destroy(g.ctx);
        uv_run(&loop, UV_RUN_DEFAULT);
        if (g.ctx)
            lws_context_destroy(g.ctx);
        uv_loop_close(&loop);
        gw_hub_deinit(&g);
        gw_auth_deinit(&g);
        close(g.listen_fd);
        return 1;
    }
    uv_poll_init(&loop, &g.accept_poll, g.listen_fd);
    g.accept_poll.data = &g;
    uv_poll_start(&g.accept_poll, UV_READABLE, accept_cb);
    uv_timer_init(&loop, &g.accept_pause);
    g.accept_pause.data = &g;

    cm_rconn_libuv(&g.loop_ops, &loop);
    cm_rconn_init(&g.pubsub, "pubsub", &g.loop_ops, &cfg->common.url, cfg->common.redis_timeout_ms,
                  &g);
    cm_rconn_init(&g.cmd, "commands", &g.loop_ops, &cfg->common.url, cfg->common.redis_timeout_ms,
                  &g);
    g.pubsub.on_ready = gw_hub_pubsub_ready;
    g.pubsub.on_lost = gw_hub_pubsub_lost;
    g.cmd.on_ready = gw_hub_cmd_ready;
    g.cmd.on_lost = gw_hub_cmd_lost;
    cm_rconn_watch(&g.cmd); /* every command has --redis-timeout-ms: a hung Redis is dropped */
    cm_rconn_start(&g.pubsub);
    cm_rconn_start(&g.cmd);

    uv_timer_init(&loop, &g.heartbeat);
    g.heartbeat.data = &g;
    uv_timer_start(&g.heartbeat, heartbeat_cb, 1000 / GW_HB_TICKS_PER_S, 1000 / GW_HB_TICKS_PER_S);
    uv_timer_init(&loop, &g.drain);
    g.drain.data = &g;
    uv_check_init(&loop, &g.pending_check);
    uv_idle_init(&loop, &g.forced);
    g.pending_check.data = g.forced.data = &g;
    uv_check_start(&g.pending_check, pending_check_cb);
    uv_signal_init(&loop, &g.sig_term);
    uv_signal_init(&loop, &g.sig_int);
    g.sig_term.data = g.sig_int.data = &g;
    uv_signal_start(&g.sig_term, signal_cb, SIGTERM);
    uv_signal_start(&g.sig_int, signal_cb, SIGINT);
    uv_signal_init(&loop, &g.sig_hup);
    g.sig_hup.data = &g;
    uv_signal_start(&g.sig_hup, hup_cb, SIGHUP);
    signal(SIGPIPE, SIG_IGN);

    cm_log(CM_LOG_INFO, "gateway %s listening on %s (%s: WebSocket /ws, REST /api, /metrics)",
           g.pid_tag, cfg->listen, g.tls ? "TLS" : "plain HTTP");
    uv_run(&loop, UV_RUN_DEFAULT);
    if (g.ctx) /* the second call, now that the loop has wound down */
        lws_context_destroy(g.ctx);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    gw_hub_deinit(&g);
    gw_auth_deinit(&g);
    log_gw = NULL;
    cm_log(CM_LOG_INFO, "gateway %s stopped", g.pid_tag);
    return 0;
}
