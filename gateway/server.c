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
#include "gateway/ws.h"

static void accept_cb(uv_poll_t *h, int status, int events);

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
    gw__auth_wait_tick(t->data);
}

static void close_all(struct gw *g)
{
    for (size_t i = 0; i < g->nbuckets; i++)
        for (struct gw_session *s = g->buckets[i]; s; s = s->next)
            for (struct gw_client *c = s->clients; c; c = c->next_in_session)
                lws_callback_on_writable(c->wsi);
    gw__auth_wait_tick(g); /* those still waiting for their auth message: 1001 */
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

/* Long: the process's start-up and tear-down in order; each step's failure unwinds the ones
 * before it */
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
    lws_set_log_level(LLL_ERR | LLL_WARN, gw__lws_log);

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
    gw__log_gw = &g;
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
    vi.protocols = gw__protocols;
    vi.extensions = gw__extensions;
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
    gw__log_gw = NULL;
    cm_log(CM_LOG_INFO, "gateway %s stopped", g.pid_tag);
    return 0;
}
