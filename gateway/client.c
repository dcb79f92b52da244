/* Clients: the start of a connection and of each of its subscriptions, subscribe/unsubscribe,
 * close, inbound bounds (message rate, requests in flight, queue), the client messages, idle
 * clients and heartbeats. Loop thread only. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/text.h"
#include "common/time.h"
#include "gateway/gateway.h"
#include "gateway/hub.h"

/* ---- clients ------------------------------------------------------------------------------ */

/* The session's subscription is live: the client gets connected, the latest system_status, and
 * its replay when it asked for one. */
/* authenticated: what the client's token lets it do, and until when. */
static void send_authenticated(struct gw *g, struct gw_client *c)
{
    struct pr_msg m;
    pr_msg_init(&m, PR_AUTHENTICATED);
    char ts[CM_RFC3339_LEN], exp[CM_RFC3339_LEN];
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    pr_set_str(&m.u.authenticated.subject, c->tok->sub);
    pr_set_str(&m.u.authenticated.token_expires_at, cm_time_rfc3339(c->tok->exp * 1000, exp));
    struct pr_strs *st = &m.u.authenticated.scopes;
    st->v = cm_xcalloc(4, sizeof(char *));
    static const char *const names[] = {"read", "submit", "control", "admin"};
    for (unsigned i = 0; i < 4; i++)
        if (c->tok->scopes & (1u << i))
            st->v[st->n++] = cm_xstrdup(names[i]);
    gw__send_msg(g, c, &m);
    pr_msg_deinit(&m);
}

void gw__client_start(struct gw *g, struct gw_client *c)
{
    if (c->primary) { /* a subscription: subscribed, then its replay */
        struct pr_msg m;
        pr_msg_init(&m, PR_SUBSCRIBED);
        char ts[CM_RFC3339_LEN];
        pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
        pr_set_str(&m.u.subscribed.session_id, c->sess->id);
        m.u.subscribed.resumed = c->want_replay;
        c->ready = true;
        gw__send_msg(g, c, &m);
        pr_msg_deinit(&m);
        if (c->want_replay)
            gw__replay_start(g, c);
        return;
    }
    if (c->auth_msg)
        send_authenticated(g, c);
    struct pr_msg m;
    pr_msg_init(&m, PR_CONNECTED);
    char ts[CM_RFC3339_LEN], exp[CM_RFC3339_LEN];
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    if (c->tok)
        pr_set_str(&m.u.connected.token_expires_at, cm_time_rfc3339(c->tok->exp * 1000, exp));
    pr_set_str(&m.u.connected.client_id, c->client_id);
    pr_set_str(&m.u.connected.session_id, c->sess->id);
    m.u.connected.heartbeat_interval_seconds = g->cfg->heartbeat_s;
    m.u.connected.resumed = c->want_replay;
    c->ready = true;
    gw__send_msg(g, c, &m);
    pr_msg_deinit(&m);
    struct gw_frame *st = c->msgpack ? g->status_mp : g->status_json;
    if (st)
        gw_send_to_client(g, c, st, 0);
    if (c->want_replay)
        gw__replay_start(g, c);
}

void gw_client_open(struct gw *g, struct gw_client *c, const char *session_id,
                    const char *last_event_id)
{
    cm_random_id(c->client_id, sizeof(c->client_id), "c-");
    g->nclients++;
    c->all_next = g->all; /* the ring of all clients, for heartbeats */
    if (g->all)
        g->all->all_prev = c;
    g->all = c;
    g->st.connections_total++;
    c->tokens = g->cfg->client_msg_burst;
    c->tokens_ms = c->last_rx = uv_now(g->loop);
    gw__session_join(g, c, session_id, last_event_id);
}

/* The membership of connection c in session id: c itself, one of its subscriptions, or NULL. */
static struct gw_client *membership(struct gw_client *c, const char *id)
{
    for (struct gw_client *m = c; m; m = gw__member_next(c, m))
        if (m->sess && strcmp(m->sess->id, id) == 0)
            return m;
    return NULL;
}

static void client_subscribe(struct gw *g, struct gw_client *c, const char *id, const char *last)
{
    if (membership(c, id)) {
        gw__send_error(g, c, "INVALID_STATE",
                       "subscribe: this connection follows that session already");
        return;
    }
    if (c->nextras >= GW_MAX_SUBSCRIPTIONS) {
        gw__send_error(g, c, "LIMIT",
                       "subscribe: at most 16 sessions besides the connection's own");
        return;
    }
    if (c->tok && (!(c->tok->scopes & PR_SCOPE_READ) || !pr_token_allows(c->tok, id))) {
        g->st.auth_forbidden++;
        gw__send_error(g, c, "FORBIDDEN", "subscribe: the token does not allow this session");
        return;
    }
    struct gw_client *x = cm_xcalloc(1, sizeof(*x));
    x->wsi = c->wsi;
    x->msgpack = c->msgpack;
    x->previews = c->previews;
    x->deflate = c->deflate;
    x->primary = c;
    memcpy(x->client_id, c->client_id, sizeof(x->client_id));
    x->next_extra = c->extras;
    c->extras = x;
    c->nextras++;
    gw__session_join(g, x, id, last);
}

static void client_unsubscribe(struct gw *g, struct gw_client *c, const char *id)
{
    struct gw_client **pp = &c->extras;
    while (*pp && strcmp((*pp)->sess->id, id) != 0)
        pp = &(*pp)->next_extra;
    if (!*pp) {
        gw__send_error(g, c, "INVALID_STATE",
                       membership(c, id) ? "unsubscribe: not from the connection's own session"
                                         : "unsubscribe: not subscribed to that session");
        return;
    }
    struct gw_client *x = *pp;
    *pp = x->next_extra;
    c->nextras--;
    if (c->rr == x)
        c->rr = NULL;
    gw__session_leave(g, x);
    free(x);
    struct pr_msg m;
    pr_msg_init(&m, PR_UNSUBSCRIBED);
    char ts[CM_RFC3339_LEN];
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    pr_set_str(&m.u.unsubscribed.session_id, id);
    gw__send_msg(g, c, &m);
    pr_msg_deinit(&m);
}

void gw_client_close(struct gw *g, struct gw_client *c)
{
    while (c->extras) {
        struct gw_client *x = c->extras;
        c->extras = x->next_extra;
        gw__session_leave(g, x);
        free(x);
    }
    c->nextras = 0;
    c->rr = NULL;
    if (!c->sess)
        return;
    if (g->hb_cursor == c)
        g->hb_cursor = c->all_next;
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        g->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    g->nclients--;
    gw__session_leave(g, c);
}

/* ---- inbound bounds ------------------------------------------------------------------------ */

#define GW_CLIENT_INFLIGHT_MAX 16 /* Redis requests one client may have waiting */

static void refill(struct gw *g, struct gw_client *c)
{
    uint64_t now = uv_now(g->loop);
    c->tokens += (double)(now - c->tokens_ms) * g->cfg->client_msg_rate / 1000.0;
    if (c->tokens > g->cfg->client_msg_burst)
        c->tokens = g->cfg->client_msg_burst;
    c->tokens_ms = now;
}

static bool may_read(struct gw *g, struct gw_client *c)
{
    return c->tokens >= 1 && c->reqs_inflight < GW_CLIENT_INFLIGHT_MAX &&
           c->queued <= (size_t)g->cfg->queue_soft_kb * 1024;
}

/* Stops reading a client that is over a bound; gw_hub_heartbeat's tick resumes it. What lws
 * already read stays in lws (its rxflow buffer) until then. */
static void rx_gate(struct gw *g, struct gw_client *c)
{
    if (c->paused || c->doomed || may_read(g, c))
        return;
    if (c->tokens < 1) { /* over its message rate: say so once per pause, and when to go on */
        double ms = ceil((1 - c->tokens) * 1000.0 / g->cfg->client_msg_rate);
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "more than %d messages a second (burst %d): the gateway reads on in %.0f ms",
                 g->cfg->client_msg_rate, g->cfg->client_msg_burst, ms);
        struct pr_msg m;
        pr_msg_init(&m, PR_ERROR);
        char ts[CM_RFC3339_LEN];
        pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
        pr_set_str(&m.u.error.code, "RATE_LIMITED");
        pr_set_str(&m.u.error.message, msg);
        m.u.error.retry_after_ms = ms;
        gw__send_msg(g, c, &m);
        pr_msg_deinit(&m);
        g->st.ws_rate_limited++;
    }
    c->paused = true;
    lws_rx_flow_control(c->wsi, 0);
    c->paused_prev = NULL;
    c->paused_next = g->paused;
    if (g->paused)
        g->paused->paused_prev = c;
    g->paused = c;
    g->rx_paused_total++;
}

void gw__unpause(struct gw *g, struct gw_client *c)
{
    if (!c->paused)
        return;
    c->paused = false;
    if (c->paused_prev)
        c->paused_prev->paused_next = c->paused_next;
    else
        g->paused = c->paused_next;
    if (c->paused_next)
        c->paused_next->paused_prev = c->paused_prev;
    c->paused_next = c->paused_prev = NULL;
}

/* The tick: clients back under their bounds are read again. */
static void rx_resume_ready(struct gw *g)
{
    for (struct gw_client *c = g->paused, *next; c; c = next) {
        next = c->paused_next;
        refill(g, c);
        if (may_read(g, c)) {
            gw__unpause(g, c);
            lws_rx_flow_control(c->wsi, 1);
        }
    }
}

struct gw_creq *gw__req_new(struct gw_client *c, bool counted)
{
    struct gw_creq *k = cm_xcalloc(1, sizeof(*k));
    k->c = c;
    k->counted = counted;
    k->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = k;
    c->reqs = k;
    c->reqs_inflight += counted;
    return k;
}

struct gw_client *gw__req_done(struct gw_creq *k)
{
    struct gw_client *c = k->c;
    if (c) {
        if (k->prev)
            k->prev->next = k->next;
        else
            c->reqs = k->next;
        if (k->next)
            k->next->prev = k->prev;
        c->reqs_inflight -= k->counted;
    }
    free(k);
    return c;
}

/* A cancel from a client: nothing to say when it worked (processing_failed CANCELLED follows);
 * otherwise an error message. */
static void cancel_reply(struct gw *g, redisReply *r, void *priv)
{
    struct gw_client *c = gw__req_done(priv);
    if (!c)
        return;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        gw__send_error(g, c, "UNAVAILABLE", "cancel: Redis did not answer; try again");
    } else if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "ok") != 0) {
        char msg[160];
        bool unknown = strcmp(r->str, "unknown") == 0;
        snprintf(msg, sizeof(msg), unknown ? "cancel: no such job" : "cancel: the job is %s",
                 r->str);
        gw__send_error(g, c, unknown ? "UNKNOWN_JOB" : "INVALID_STATE", msg);
    }
}

int gw_decode_client(const char *data, size_t len, bool binary, struct pr_msg *m,
                     struct pr_err *err)
{
    int rc = binary ? pr_decode_msgpack(data, len, PR_WIRE_CLIENT, m, err)
                    : pr_decode_json(data, len, PR_WIRE_CLIENT, m, err);
    return rc == 0 ? 0 : -1;
}

static void client_msg(struct gw *g, struct gw_client *c, const char *data, size_t len, bool binary)
{
    struct pr_msg m;
    struct pr_err err = {0};
    if (gw_decode_client(data, len, binary, &m, &err) != 0) {
        gw__send_error(g, c, "INVALID_MESSAGE", err.text);
        return;
    }
    switch (m.type) {
    case PR_PING: {
        struct pr_msg p;
        pr_msg_init(&p, PR_PONG);
        char ts[CM_RFC3339_LEN];
        pr_set_str(&p.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
        gw__send_msg(g, c, &p);
        pr_msg_deinit(&p);
        break;
    }
    case PR_CANCEL: {
        if (c->tok && !(c->tok->scopes & PR_SCOPE_CONTROL)) {
            g->st.auth_forbidden++;
            gw__send_error(g, c, "FORBIDDEN", "cancel: this token lacks the control scope");
            break;
        }
        char rule[PR_TOKEN_RULE_MAX] = "";
        if (c->tok) /* a job of a session the token does not allow is "unknown" */
            pr_token_session_rule(c->tok, rule, sizeof(rule));
        struct st_call call;
        const char *prefix = g->cfg->common.prefix;
        st_call_init(&call, ST_SCRIPT_CANCEL);
        st_call_key_of(&call, ST_CANCEL_K_JOB, prefix, CM_KEY_JOB, m.u.cancel.job_id);
        st_call_key_of(&call, ST_CANCEL_K_CANCEL_CHANNEL, prefix, CM_KEY_CANCEL, NULL);
        st_call_arg(&call, ST_CANCEL_A_JOB_ID, m.u.cancel.job_id, (size_t)-1);
        st_call_arg_ll(&call, ST_CANCEL_A_NOW_MS, cm_time_now_ms());
        st_call_arg(&call, ST_CANCEL_A_SESSION_RULE, rule, (size_t)-1);
        gw_script(g, &call, cancel_reply, gw__req_new(c, true));
        break;
    }
    case PR_SUBSCRIBE:
        client_subscribe(g, c, m.u.subscribe.session_id,
                         m.u.subscribe.last_event_id ? m.u.subscribe.last_event_id : "");
        break;
    case PR_UNSUBSCRIBE: client_unsubscribe(g, c, m.u.unsubscribe.session_id); break;
    case PR_AUTH: { /* a fresh token for this connection, before the old one expires */
        if (!g->keys) {
            gw__send_error(g, c, "AUTH_OFF", "auth: this gateway runs with --auth off");
            break;
        }
        struct pr_token t;
        const char *why;
        if (gw_auth_verify(g, m.u.auth.token, strlen(m.u.auth.token), &t, &why) != GW_AUTH_RES_OK) {
            g->st.auth_refused++;
            gw__send_error(g, c, "UNAUTHORIZED", why); /* the old token stays until it expires */
            break;
        }
        if (!(t.scopes & PR_SCOPE_READ) || !pr_token_allows(&t, c->sess->id)) {
            pr_token_deinit(&t);
            g->st.auth_forbidden++;
            gw__send_error(g, c, "FORBIDDEN", "auth: the new token does not allow this session");
            break;
        }
        pr_token_deinit(c->tok);
        *c->tok = t;
        send_authenticated(g, c);
        break;
    }
    case PR_RESUME:
        if (c->replaying || !c->ready) {
            gw__send_error(g, c, "INVALID_STATE",
                           c->replaying ? "resume: a replay is already running"
                                        : "resume: wait for the connected message");
            break;
        }
        if (!gw_sid_parse(m.u.resume.last_event_id, strlen(m.u.resume.last_event_id), &c->from))
            c->from = (struct gw_sid){0, 0};
        gw__replay_start(g, c);
        break;
    default: gw__send_error(g, c, "INVALID_MESSAGE", "type: not a client message"); break;
    }
    pr_msg_deinit(&m);
}

void gw_client_rx(struct gw *g, struct gw_client *c, const char *data, size_t len, bool binary)
{
    if (!binary && !cm_utf8_valid(data, len, NULL)) { /* RFC 6455 8.1 */
        gw_client_fail(g, c, 1007, "invalid UTF-8 in a text message");
        return;
    }
    refill(g, c);
    c->tokens -= 1; /* below 0 for what lws had read before the pause took hold */
    client_msg(g, c, data, len, binary);
    rx_gate(g, c);
}

/* Once a second: a client silent for a third of --idle-timeout-s gets a ping (with a payload:
 * lws 4.1 tells the application about pongs to those, never about pongs to its own empty
 * validity pings); one silent past it gets a close frame 1001 saying so, where lws would drop it
 * without a word. */
static void close_idle(struct gw *g)
{
    uint64_t now = uv_now(g->loop), limit = (uint64_t)g->cfg->idle_timeout_s * 1000;
    for (struct gw_client *c = g->all; c; c = c->all_next) {
        if (c->doomed)
            continue;
        if (now - c->last_rx > limit) {
            gw_client_fail(g, c, 1001, "idle timeout: no message or pong; reconnect");
        } else if (now - c->last_rx > limit / 3 && now - c->last_ping > limit / 3) {
            c->ping_due = true;
            c->last_ping = now;
            lws_callback_on_writable(c->wsi);
        }
    }
}

void gw_hub_heartbeat(struct gw *g)
{
    rx_resume_ready(g);
    if (++g->idle_tick % GW_HB_TICKS_PER_S == 0) {
        close_idle(g);
        gw_auth_tick(g);
    }
    /* GW_HB_TICKS_PER_S ticks a second, each for the next 1/(ticks per period) of all clients
     * (a ring with a cursor): every client gets about one heartbeat per period, and a process
     * with many clients never stalls for one big broadcast (10,000 at once held the loop for
     * ~90 ms and showed in every other client's latency) */
    uint64_t slices = (uint64_t)g->cfg->heartbeat_s * GW_HB_TICKS_PER_S;
    g->hb_acc += (uint64_t)g->nclients; /* nclients per period, spread evenly over its ticks */
    uint64_t n = g->hb_acc / slices;
    g->hb_acc %= slices;
    struct gw_frame *json = NULL, *mp = NULL;
    for (uint64_t k = 0; k < n && g->all; k++) {
        struct gw_client *c = g->hb_cursor ? g->hb_cursor : g->all;
        g->hb_cursor = c->all_next;
        if (!c->ready)
            continue;
        if (!json) {
            struct pr_msg m;
            pr_msg_init(&m, PR_HEARTBEAT);
            char ts[CM_RFC3339_LEN];
            cm_time_rfc3339(cm_time_now_ms(), ts);
            pr_set_str(&m.timestamp, ts);
            pr_set_str(&m.u.heartbeat.server_time, ts);
            json = gw_frame_msg(&m, false);
            mp = gw_frame_msg(&m, true);
            pr_msg_deinit(&m);
        }
        gw_send_to_client(g, c, c->msgpack ? mp : json, 0);
    }
    gw_frame_unref(json);
    gw_frame_unref(mp);
}
