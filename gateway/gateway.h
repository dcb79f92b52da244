/* zsa-gateway internals. One process = one libuv loop running libwebsockets and two Redis
 * connections (pubsub: SUBSCRIBE only; commands: everything else). Sessions group clients;
 * each event from Redis is encoded once per encoding into a reference-counted frame shared by
 * its recipients. Everything here runs on the loop thread. */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/daemon.h"
#include "common/rconn.h"
#include "store/jobhash.h"
#include "store/scripts.h"
#include "proto/proto.h"
#include "proto/token.h"

struct gw_config {
    struct cm_common_cfg common;
    char *listen;          /* host:port for WebSocket, REST, metrics and the dashboard */
    int processes;         /* processes sharing the port (0: one per core) */
    int heartbeat_s;       /* app-level heartbeat period */
    int idle_timeout_s;    /* a peer silent this long is closed */
    int replay_max;        /* events per replay before replay_complete says truncated */
    int queue_soft_kb;     /* past this, queued progress events of one job coalesce */
    int queue_hard_kb;     /* past this, the client is closed with 1013 */
    int max_connections;   /* WebSocket clients per process; more get 503 */
    int sndbuf_kb;         /* SO_SNDBUF of client sockets (0: the kernel's autotuning) */
    int max_body_kb;       /* REST request bodies */
    int max_attempts;      /* retry limit (as the worker's) */
    int body_timeout_s;    /* a REST request body must be in this long after its headers */
    char *allowed_origins; /* other sites whose pages may use this gateway ("*": any) */
    int client_msg_rate;   /* messages/s a client may send (token bucket refill) */
    int client_msg_burst;  /* and its capacity */
    int auth;              /* enum gw_auth_mode */
    char *auth_keys_file;  /* "<kid> <secret>" lines (never secrets in argv) */
    int auth_timeout_s;    /* a WebSocket without a token must send auth within this */
    double submit_rate;    /* jobs/s one client (token subject, or address) may submit */
    int submit_burst;      /* and at once */
    int max_session_jobs;  /* jobs a session may have queued or running */
    int max_job_kb;        /* largest job (normalized JSON) */
    char *results_dir;     /* the workers' results volume (artifacts); "": previews only */
    int max_preview_kb;    /* largest preview pushed in a WebSocket frame */
    int link_ttl_s;        /* lifetime of the artifacts' download links */
    char *tls_cert;        /* PEM chain: TLS on the port (with tls_key) */
    char *tls_key;
};

enum gw_auth_mode { GW_AUTH_REQUIRED, GW_AUTH_OFF }; /* --auth required|off */

/* WebSocket close codes of access control (4000-4999: the application's) */
#define GW_CLOSE_UNAUTHORIZED 4001 /* no token, a bad one, expired, or its key withdrawn */
#define GW_CLOSE_FORBIDDEN 4003    /* a valid token that does not allow the session */

/* A WebSocket message ready to send: LWS_PRE bytes of room, then the payload. Shared by all the
 * clients it goes to; freed when the last one has written it. */
struct gw_frame {
    int refs;
    bool binary;
    size_t len;
    unsigned char buf[]; /* LWS_PRE + len */
};

/* Stream ids "<ms>-<seq>" as numbers; {0, 0} is "before everything". */
struct gw_sid {
    uint64_t ms, seq;
};

struct gw_qent {
    struct gw_qent *next;
    struct gw_frame *f;
    uint64_t job_hash; /* progress events: the job, for coalescing; 0 for others */
    struct gw_sid sid; /* held entries: the event's stream id */
};

struct gw_session;

struct gw_client {
    struct lws *wsi;
    struct gw_session *sess;
    struct gw_client *next_in_session, *prev_in_session;
    struct gw_client *all_next, *all_prev; /* every client of the process (heartbeats) */
    char client_id[40];
    bool msgpack;
    bool previews;             /* ?previews=1: a preview message after each processing_complete */
    bool deflate;              /* permessage-deflate was negotiated */
    struct gw_frame *inflight; /* deflate: the last frame written, lws may still read it */
    bool ready;                /* connected was sent (after the session's subscription is live) */
    bool doomed;               /* closing: nothing more is queued; the close frame goes next */
    int close_code;            /* doomed: the close frame's code and reason */
    const char *close_why;     /* static string */
    struct gw_sid last;        /* the last session-stream event it was given */
    bool want_replay;          /* last_event_id given: replay before going live */
    bool replaying;            /* XRANGE in flight: live events wait in held */
    struct gw_sid from;        /* replay start (exclusive) */
    struct gw_qent *head, *tail, *held_head, *held_tail;
    size_t queued;             /* bytes in head..tail */
    size_t held;               /* bytes in held_head..held_tail */
    struct gw_sid replay_from; /* the replay's position (exclusive) */
    int replay_count;
    bool replay_trunc, replay_paused; /* paused: waits for the queue to drain */
    uint64_t sent, dropped;
    struct pr_token *tok; /* its access token's claims (owned; NULL when auth is off) */
    /* more sessions on the same connection (subscribe): each a membership of its own (queue,
     * replay), sharing the primary's socket; only the primary reads, pings and closes */
    struct gw_client *primary;    /* NULL: this is the connection's primary membership */
    struct gw_client *extras;     /* primary: its subscriptions (next_extra chain, owned) */
    struct gw_client *next_extra; /* in the primary's chain */
    int nextras;
    struct gw_client *rr; /* primary: the membership to write from first next time */
    bool auth_msg;        /* it authenticated with an auth message: authenticated goes first */
    /* inbound bounds: a token bucket of messages, the client's Redis requests in flight, and
     * its unread replies; past any of them the gateway stops reading it (TCP pushes back) */
    double tokens;
    uint64_t tokens_ms;   /* uv_now of the last refill */
    int reqs_inflight;    /* its cancels waiting for Redis */
    struct gw_creq *reqs; /* those requests (cleared when it leaves) */
    bool paused;          /* lws_rx_flow_control(0): on g->paused */
    bool close_sent;      /* doomed and its close frame written: waits for the client's close */
    uint64_t last_rx;     /* uv_now of its last message or pong */
    uint64_t last_ping;   /* uv_now of the hub's last ping to it */
    bool ping_due;        /* a ping goes out at the next writeable callback */
    struct gw_client *paused_next, *paused_prev;
};

/* A Redis request made for a client; the reply finds the client (or NULL when it left). */
/* A Redis request a client waits for (gateway/hub.h: gw__req_new). */
struct gw_creq {
    struct gw_creq *next, *prev;
    struct gw_client *c; /* NULL once the client left */
    bool counted;        /* takes one of the client's in-flight slots */
};

enum gw_sub_state { GW_SUB_NONE, GW_SUB_PENDING, GW_SUB_LIVE, GW_SUB_UNSUBSCRIBING };

struct gw_session {
    struct gw_session *next; /* hash chain */
    char id[PR_ID_MAX + 1];
    char channel[PR_ID_MAX + 64];
    char stream[PR_ID_MAX + 64];
    struct gw_client *clients;
    int nclients;
    int nmsgpack; /* of them, MessagePack clients (which encodings an event needs) */
    enum gw_sub_state sub;
    bool resubscribe;   /* a client came while unsubscribing: subscribe again after */
    struct gw_sid last; /* the last event delivered live (for catch-up after an outage) */
    bool catch_up;      /* replay from last after the subscription is live again */
};

struct gw_stats {
    uint64_t connections_total, messages_out, bytes_out, dropped, coalesced, closed_slow, replays,
        replayed_events, redis_reconnects, rest_requests, rest_errors, events_in, refused_conns,
        body_timeouts, bad_requests, heads_too_large, auth_refused, auth_forbidden, auth_expired,
        rate_limited, quota_refused, jobs_too_large, ws_rate_limited, artifacts_sent,
        artifact_bytes, previews_pushed;
    uint64_t lat_buckets[16]; /* publish-to-send latency histogram (see gw_metrics) */
    double lat_sum_s;
    uint64_t lat_count;
};

struct gw {
    struct gw_config *cfg;
    uv_loop_t *loop;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct cm_rconn_loop loop_ops;
    struct cm_rconn pubsub, cmd;
    char bcast_channel[128]; /* <prefix>:bcast */
    char prefix_ch[128];     /* "<prefix>:ch:" */
    struct gw_session **buckets;
    size_t nbuckets, nsessions;
    int nclients;
    int nconns;                /* every socket adopted: WebSocket, HTTP, half-sent requests */
    struct gw_http *body_wait; /* requests whose body is still coming */
    struct gw_pre *pre;        /* connections whose first request head is still coming */
    uint64_t idle_tick;        /* heartbeat ticks, for the once-a-second idle check */
    char csp[512];             /* the dashboard's Content-Security-Policy (origin.c) */
    /* clients whose submit bucket Redis said is empty, until when (api_jobs.c): their next submits
     * are refused here, without a Redis call, so a flood costs the others little */
    struct gw_limited {
        char id[33];
        uint64_t until; /* uv_now */
    } limited[256];
    struct gw_stats st;
    uv_timer_t heartbeat;
    uv_check_t pending_check; /* lws connections needing forced service (see server.c) */
    uv_idle_t forced;         /* runs while one does */
    uv_signal_t sig_term, sig_int;
    uv_timer_t drain; /* SIGTERM: waits for clients to go, up to drain_deadline */
    int listen_fd;    /* ours (see server.c), -1 once closed */
    uv_poll_t accept_poll;
    uv_timer_t accept_pause; /* EMFILE: accept again later */
    uint64_t drain_deadline;
    int64_t stop_at; /* when the first stop signal came (uv_now; cm_stop_signal) */
    bool stopping;
    struct gw_frame *status_json, *status_mp; /* the latest system_status, sent on connect */
    struct gw_sid status_sid;                 /* its stream id */
    struct gw_client *all;                    /* every client (all_next ring head) */
    struct gw_client *paused;                 /* clients not read from (see gw_client.paused) */
    uint64_t rx_paused_total;                 /* times a client was paused */
    struct gw_client *hb_cursor; /* the next client due a heartbeat; NULL: start over */
    uint64_t hb_acc;             /* heartbeats owed, times ticks per period */
    char pid_tag[24];            /* for logs only: never part of an id a client sees */
    bool backend_up;             /* both Redis connections ready, as last told to clients */
    uint64_t seen_hangs;         /* cmd.hangs already acted on */
    struct pr_token_keys *keys;  /* --auth required: the keys tokens may be signed with */
    struct pss *auth_wait;       /* WebSockets without a token yet (server.c) */
    uv_signal_t sig_hup;         /* reloads the keys and the TLS certificate */
    bool tls;                    /* --tls-cert: lws terminates TLS on every connection */
    void *ssl_ctx;               /* the vhost's SSL_CTX (tls.c) */
};

struct pss;

/* sessions.c, queue.c, delivery.c, client.c: sessions, clients, fan-out, replay */
void gw_hub_init(struct gw *g);
void gw_hub_deinit(struct gw *g);
/* A WebSocket client arrived (after the upgrade) / left. */
void gw_client_open(struct gw *g, struct gw_client *c, const char *session_id,
                    const char *last_event_id);
void gw_client_close(struct gw *g, struct gw_client *c);
#define GW_MAX_SUBSCRIPTIONS 16 /* sessions a connection may follow besides its own */
/* A client message, JSON text or MessagePack binary, decoded and validated: 0, or -1 with err. */
int gw_decode_client(const char *data, size_t len, bool binary, struct pr_msg *m,
                     struct pr_err *err);
/* A text or binary message from a client. */
void gw_client_rx(struct gw *g, struct gw_client *c, const char *data, size_t len, bool binary);
/* Writes what it can; returns -1 when the connection must close. */
int gw_client_writeable(struct gw *g, struct gw_client *c);
/* The connection manager's API (as in the seed document). Each takes a reference on f. */
void gw_broadcast(struct gw *g, struct gw_frame *json, struct gw_frame *mp);
void gw_send_to_session(struct gw *g, struct gw_session *s, struct gw_frame *json,
                        struct gw_frame *mp);
void gw_send_to_client(struct gw *g, struct gw_client *c, struct gw_frame *f, uint64_t job_hash);
/* Closes a client with a WebSocket close code and reason (a static string): drops what is queued
 * for it, writes the close frame at its next writeable callback and gives it 60 s to read up to
 * it and answer, then drops the connection. */
void gw_client_fail(struct gw *g, struct gw_client *c, int code, const char *why);
void gw_hub_pubsub_ready(struct cm_rconn *rc);
void gw_hub_pubsub_lost(struct cm_rconn *rc);
void gw_hub_cmd_ready(struct cm_rconn *rc);
void gw_hub_cmd_lost(struct cm_rconn *rc);
/* The heartbeat timer, GW_HB_TICKS_PER_S times a second: the clients of one slice of the session
 * table get a heartbeat message (so each client one per --heartbeat-s). */
#define GW_HB_TICKS_PER_S 10
void gw_hub_heartbeat(struct gw *g);

/* Runs a script call (built with st_call_*, taken over) on the commands connection; cb gets the
 * reply, or NULL when Redis is not reachable (then possibly before this returns). */
typedef void (*gw_reply_cb)(struct gw *g, redisReply *r, void *priv);
void gw_script(struct gw *g, struct st_call *call, gw_reply_cb cb, void *priv);

/* The dashboard page (gateway/dashboard/index.html, embedded at build time). */
extern const char gw_dashboard_html[];
extern const size_t gw_dashboard_html_len;

/* frames */
struct gw_frame *gw_frame_new(const void *data, size_t len, bool binary);
/* Encodes a message (validated) as JSON text or MessagePack binary; NULL when it is invalid. */
struct gw_frame *gw_frame_msg(const struct pr_msg *m, bool msgpack);
void gw_frame_unref(struct gw_frame *f);

bool gw_sid_parse(const char *s, size_t n, struct gw_sid *out);
int gw_sid_cmp(struct gw_sid a, struct gw_sid b);

/* http.c: HTTP requests on the same port */
struct gw_http;
int gw_http_request(struct gw *g, struct lws *wsi, struct gw_http **slot, const char *path);
int gw_http_body(struct gw *g, struct gw_http *h, const void *data, size_t len);
int gw_http_body_done(struct gw *g, struct gw_http *h);
int gw_http_writeable(struct gw *g, struct gw_http *h);
void gw_http_closed(struct gw *g, struct gw_http **slot);
/* The 10 Hz tick: requests whose body is late get 408 and are closed. */
void gw_http_tick(struct gw *g);
void gw_metrics(struct gw *g, struct cm_buf *out);
void gw_observe_latency(struct gw *g, double seconds);
void gw_stats_json(struct gw *g, struct cm_buf *out);

/* front.c: the first request head of each connection, before lws */
#define GW_HEAD_MAX 16384 /* request line and headers */
struct gw_pre;
/* Takes an accepted socket: reads its first request head, answers a bad one, hands a good one
 * to lws. */
void gw_front_accept(struct gw *g, int fd);
/* The verdict on a request head (request line and headers, len bytes, not NUL-terminated): 0
 * when it may go on, else -1 with the answer in v (status, reason phrase, code, message; static
 * strings). Pure: any thread (the fuzz target calls it). */
struct gw_head_verdict {
    int status;
    const char *reason, *code, *msg;
};
int gw_head_check(const char *head, size_t len, struct gw_head_verdict *v);
/* Answers an accepted socket 503 TOO_MANY_CONNECTIONS (reading and dropping what it sent, so the
 * answer is not lost to a reset) and closes it. */
void gw_front_refuse(struct gw *g, int fd);
/* The 10 Hz tick: heads that did not arrive in time get 408. */
void gw_front_tick(struct gw *g);
/* Shutdown: drops the connections still sending their head. */
void gw_front_close_all(struct gw *g);

/* origin.c: which browser origins may use this gateway (--allowed-origins) */
enum gw_origin {
    GW_ORIGIN_NONE,    /* no Origin header: not a browser (or a browser's same-origin GET) */
    GW_ORIGIN_SAME,    /* the page came from this gateway */
    GW_ORIGIN_CROSS,   /* another site that --allowed-origins lists: CORS headers go out */
    GW_ORIGIN_REFUSED, /* another site: 403 for upgrades, mutations and preflights */
};
/* Computes the dashboard's Content-Security-Policy; warns when any origin is allowed. */
void gw_origin_init(struct gw *g);
/* The request's Origin (copied into origin) judged against the policy. */
enum gw_origin gw_origin_check(struct gw *g, struct lws *wsi, char *origin, size_t n);
/* True when the request's Content-Type is one a cross-site HTML form can send (urlencoded,
 * multipart, text/plain): a mutation must not accept those. */
bool gw_form_content_type(struct lws *wsi);

/* auth.c: access tokens (proto/token.h) on requests and WebSocket clients */
enum gw_auth_res {
    GW_AUTH_RES_OFF,  /* --auth off: everything is allowed */
    GW_AUTH_RES_NONE, /* the request carries no token */
    GW_AUTH_RES_BAD,  /* one that is malformed, forged, expired or of a withdrawn key: 401 */
    GW_AUTH_RES_OK,   /* out holds its claims (pr_token_deinit) */
    GW_AUTH_RES_LINK, /* no token, but a valid download link (?link=) for this very path */
};
/* main(): --auth required needs a readable keys file; -1 after logging why. */
int gw_auth_config_check(const struct gw_config *cfg);
int gw_auth_init(struct gw *g);
void gw_auth_deinit(struct gw *g);
/* SIGHUP: reads the keys file again (a bad file keeps the old keys); clients whose token's key
 * is gone are closed 4001. */
void gw_auth_reload(struct gw *g);
/* The token of a request (Authorization: Bearer, else ?token=), checked; why: a static reason. */
enum gw_auth_res gw_auth_request(struct gw *g, struct lws *wsi, struct pr_token *out,
                                 const char **why);
/* A request without a token: its ?link= checked against path (GW_AUTH_RES_LINK, or BAD with
 * why); NONE when it has none. */
enum gw_auth_res gw_auth_link(struct gw *g, struct lws *wsi, const char *path, const char **why);
/* A download link for path, valid --link-ttl-s, into out: its length; 0 with auth off. */
size_t gw_auth_link_sign(struct gw *g, const char *path, char *out, size_t n);
enum gw_auth_res gw_auth_verify(struct gw *g, const char *tok, size_t len, struct pr_token *out,
                                const char **why);
/* The session a token's client joins: the URL's (empty: none given), which the token must allow
 * with the read scope; none given: the token's only exact session, or a new one if it allows
 * every session. 0 with the id in out, or -1 with a static reason (403). */
int gw_auth_session(const struct pr_token *t, const char *url_session, char *out, size_t n,
                    const char **why);
/* Once a second: clients whose token expired are closed 4001. */
void gw_auth_tick(struct gw *g);

/* tls.c: --tls-cert/--tls-key */
/* main(): both or neither, readable, the key matching the certificate; -1 after logging why. */
int gw_tls_config_check(const struct gw_config *cfg);
/* lws made the vhost's SSL_CTX (an SSL_CTX *). */
void gw_tls_ctx(struct gw *g, void *ssl_ctx);
/* SIGHUP: the files again, into the SSL_CTX (a pair that does not load keeps the old one). */
void gw_tls_reload(struct gw *g);

/* server.c */
/* The URL query argument name (without "="), URL-decoded, into out: its length; -1 when absent,
 * -2 when present but longer than n - 1 (never silently cut: an id cut short is another id). */
int gw_urlarg(struct lws *wsi, const char *name, char *out, size_t n);
/* Writes a WebSocket close frame with code and reason (from a writeable callback). */
void gw_close_frame(struct lws *wsi, int code, const char *why);

int gw_run(struct gw_config *cfg);

#endif
