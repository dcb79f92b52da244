/* Sessions and their Redis subscription: the session table, the SUBSCRIBE/UNSUBSCRIBE state
 * machine of each session, clients joining and leaving, the two Redis connections (pubsub and
 * commands) and what clients are told when Redis goes or comes back; script calls. Loop thread
 * only. */
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

static void on_pubsub(redisAsyncContext *ac, void *reply, void *priv);
static struct gw_frame *backend_frame(bool up, bool msgpack);

/* ---- sessions ----------------------------------------------------------------------------- */

static struct gw_session **bucket(struct gw *g, const char *id, size_t n)
{
    return &g->buckets[gw__hash_str(id, n) % g->nbuckets];
}

struct gw_session *gw__session_find(struct gw *g, const char *id, size_t n)
{
    if (n > PR_ID_MAX)
        return NULL;
    for (struct gw_session *s = *bucket(g, id, n); s; s = s->next)
        if (strlen(s->id) == n && memcmp(s->id, id, n) == 0)
            return s;
    return NULL;
}

static struct gw_session *session_get(struct gw *g, const char *id)
{
    struct gw_session *s = gw__session_find(g, id, strlen(id));
    if (s)
        return s;
    s = cm_xcalloc(1, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    cm_key_fmt(s->channel, sizeof(s->channel), g->cfg->common.prefix, CM_KEY_CHANNEL, id);
    cm_key_fmt(s->stream, sizeof(s->stream), g->cfg->common.prefix, CM_KEY_EVENTS, id);
    struct gw_session **b = bucket(g, id, strlen(id));
    s->next = *b;
    *b = s;
    g->nsessions++;
    return s;
}

static void session_free(struct gw *g, struct gw_session *s)
{
    for (struct gw_session **p = bucket(g, s->id, strlen(s->id)); *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    g->nsessions--;
    free(s);
}

static void subscribe(struct gw *g, struct gw_session *s)
{
    s->sub = GW_SUB_PENDING;
    if (g->pubsub.ready)
        redisAsyncCommand(g->pubsub.ac, on_pubsub, g, "SUBSCRIBE %s", s->channel);
    /* else: gw_hub_pubsub_ready subscribes every session that has clients */
}

/* ---- script calls (store/scripts.h: EVALSHA, then EVAL on NOSCRIPT) ---------------------- */

struct gw_call {
    struct gw *g;
    gw_reply_cb cb;
    void *priv;
};

static void script_reply(redisReply *r, void *priv)
{
    struct gw_call *k = priv;
    k->cb(k->g, r, k->priv);
    free(k);
}

void gw_script(struct gw *g, struct st_call *call, gw_reply_cb cb, void *priv)
{
    struct gw_call *k = cm_xcalloc(1, sizeof(*k));
    k->g = g, k->cb = cb, k->priv = priv;
    st_call_async(g->cmd.ready ? g->cmd.ac : NULL, call, script_reply, k);
}

static void on_subscribed(struct gw *g, struct gw_session *s)
{
    s->sub = GW_SUB_LIVE;
    if (s->nclients == 0) { /* they left while the SUBSCRIBE was in flight */
        s->sub = GW_SUB_UNSUBSCRIBING;
        redisAsyncCommand(g->pubsub.ac, on_pubsub, g, "UNSUBSCRIBE %s", s->channel);
        return;
    }
    for (struct gw_client *c = s->clients; c; c = c->next_in_session)
        if (!c->ready)
            gw__client_start(g, c);
    if (!s->last.ms && !s->last.seq)
        s->catch_up = false; /* nothing delivered yet: nothing to catch up from */
    if (s->catch_up)
        gw__catchup_next(g, s); /* clears catch_up once sent; cmd_ready retries otherwise */
}

static void on_unsubscribed(struct gw *g, struct gw_session *s)
{
    s->sub = GW_SUB_NONE;
    if (s->nclients > 0)
        subscribe(g, s);
    else
        session_free(g, s);
}

static struct gw_session *session_of_channel(struct gw *g, const char *ch, size_t n)
{
    size_t pl = strlen(g->prefix_ch);
    if (n <= pl || memcmp(ch, g->prefix_ch, pl) != 0)
        return NULL;
    return gw__session_find(g, ch + pl, n - pl);
}

static void on_pubsub(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct gw *g = priv;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    const redisReply *ch = r->element[1];
    bool is_bcast = strcmp(ch->str, g->bcast_channel) == 0;
    if (strcmp(kind, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING) {
        if (is_bcast) {
            gw__bcast_events(g, r->element[2]->str, r->element[2]->len);
        } else {
            struct gw_session *s = session_of_channel(g, ch->str, ch->len);
            if (s)
                gw__session_events(g, s, r->element[2]->str, r->element[2]->len);
        }
    } else if (!is_bcast && strcmp(kind, "subscribe") == 0) {
        struct gw_session *s = session_of_channel(g, ch->str, ch->len);
        if (s && s->sub == GW_SUB_PENDING)
            on_subscribed(g, s);
    } else if (!is_bcast && strcmp(kind, "unsubscribe") == 0) {
        struct gw_session *s = session_of_channel(g, ch->str, ch->len);
        if (s && s->sub == GW_SUB_UNSUBSCRIBING)
            on_unsubscribed(g, s);
    }
}

/* c joins session_id's clients: connected (or subscribed) once the session's subscription is
 * live, with a replay after last_event_id first. */
void gw__session_join(struct gw *g, struct gw_client *c, const char *session_id,
                      const char *last_event_id)
{
    struct gw_session *s = session_get(g, session_id);
    c->sess = s;
    c->next_in_session = s->clients;
    if (s->clients)
        s->clients->prev_in_session = c;
    s->clients = c;
    s->nclients++;
    s->nmsgpack += c->msgpack;
    if (last_event_id && *last_event_id) {
        c->want_replay = gw_sid_parse(last_event_id, strlen(last_event_id), &c->from);
    }
    if (!g->backend_up && !c->primary) { /* connected waits for the subscription: say why */
        struct gw_frame *f = backend_frame(false, c->msgpack);
        gw_send_to_client(g, c, f, 0);
        gw_frame_unref(f);
    }
    switch (s->sub) {
    case GW_SUB_LIVE: gw__client_start(g, c); break;
    case GW_SUB_NONE: subscribe(g, s); break;
    case GW_SUB_PENDING: break;
    case GW_SUB_UNSUBSCRIBING: break; /* on_unsubscribed subscribes again */
    }
}

/* c leaves its session (freeing what it holds); the session goes when nobody is left. */
void gw__session_leave(struct gw *g, struct gw_client *c)
{
    struct gw_session *s = c->sess;
    if (!s)
        return;
    for (struct gw_creq *k = c->reqs; k; k = k->next)
        k->c = NULL; /* their replies find nobody */
    c->reqs = NULL;
    gw__unpause(g, c);
    gw__queue_free(&c->head, &c->tail);
    gw__queue_free(&c->held_head, &c->held_tail);
    gw_frame_unref(c->inflight);
    c->inflight = NULL;
    if (c->prev_in_session)
        c->prev_in_session->next_in_session = c->next_in_session;
    else
        s->clients = c->next_in_session;
    if (c->next_in_session)
        c->next_in_session->prev_in_session = c->prev_in_session;
    c->sess = NULL;
    s->nclients--;
    s->nmsgpack -= c->msgpack;
    if (s->nclients > 0)
        return;
    if (s->sub == GW_SUB_LIVE && g->pubsub.ready) {
        s->sub = GW_SUB_UNSUBSCRIBING;
        redisAsyncCommand(g->pubsub.ac, on_pubsub, g, "UNSUBSCRIBE %s", s->channel);
    } else if (s->sub != GW_SUB_UNSUBSCRIBING && s->sub != GW_SUB_PENDING) {
        session_free(g, s);
    } else if (s->sub == GW_SUB_PENDING && !g->pubsub.ready) {
        session_free(g, s); /* nothing was sent: nothing will answer */
    }
    /* PENDING with a SUBSCRIBE in flight: on_subscribed finds no clients; it unsubscribes then */
}

/* ---- Redis connections -------------------------------------------------------------------- */

static struct gw_frame *backend_frame(bool up, bool msgpack)
{
    struct pr_msg m;
    pr_msg_init(&m, PR_BACKEND_STATUS);
    char ts[CM_RFC3339_LEN];
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    m.u.backend_status.available = up;
    pr_set_str(&m.u.backend_status.message,
               up ? "the gateway reaches Redis again; missed events follow"
                  : "the gateway lost Redis: no live events until it is back, and requests "
                    "answer UNAVAILABLE; stay connected");
    struct gw_frame *f = gw_frame_msg(&m, msgpack);
    pr_msg_deinit(&m);
    return f;
}

/* Tells every client when the gateway loses Redis or has it back (both connections). */
static void backend_update(struct gw *g)
{
    bool up = g->cmd.ready && g->pubsub.ready;
    if (up == g->backend_up)
        return;
    g->backend_up = up;
    cm_log(up ? CM_LOG_INFO : CM_LOG_WARN, "redis %s (told %d clients)",
           up ? "available" : "unavailable: events and requests wait for it", g->nclients);
    struct gw_frame *json = backend_frame(up, false), *mp = backend_frame(up, true);
    for (struct gw_client *c = g->all; c; c = c->all_next)
        gw_send_to_client(g, c, c->msgpack ? mp : json, 0);
    gw_frame_unref(json);
    gw_frame_unref(mp);
}

void gw_hub_pubsub_ready(struct cm_rconn *rc)
{
    struct gw *g = rc->owner;
    if (rc->connects > 1)
        g->st.redis_reconnects++;
    redisAsyncCommand(rc->ac, on_pubsub, g, "SUBSCRIBE %s", g->bcast_channel);
    for (size_t i = 0; i < g->nbuckets; i++) {
        for (struct gw_session *s = g->buckets[i], *next; s; s = next) {
            next = s->next;
            if (s->nclients == 0) {
                session_free(g, s);
                continue;
            }
            subscribe(g, s);
        }
    }
    backend_update(g);
}

void gw_hub_pubsub_lost(struct cm_rconn *rc)
{
    struct gw *g = rc->owner;
    backend_update(g);
    /* every subscription is gone; after the reconnect each session catches up from the last
     * event it delivered */
    for (size_t i = 0; i < g->nbuckets; i++)
        for (struct gw_session *s = g->buckets[i]; s; s = s->next) {
            s->sub = GW_SUB_NONE;
            s->catch_up = true;
        }
}

void gw_hub_cmd_ready(struct cm_rconn *rc)
{
    struct gw *g = rc->owner;
    if (rc->connects > 1)
        g->st.redis_reconnects++;
    gw__status_fetch(g, rc->ac);
    for (size_t i = 0; i < g->nbuckets; i++)
        for (struct gw_session *s = g->buckets[i]; s; s = s->next)
            if (s->catch_up && s->sub == GW_SUB_LIVE && (s->last.ms || s->last.seq))
                gw__catchup_next(g, s);
    backend_update(g);
}

void gw_hub_cmd_lost(struct cm_rconn *rc)
{
    struct gw *g = rc->owner;
    if (rc->hangs != g->seen_hangs) {
        /* the server hung (no reply within the deadline): the subscriber connection to it is
         * as dead, though it cannot tell (it only listens) */
        g->seen_hangs = rc->hangs;
        cm_rconn_drop(&g->pubsub);
    }
    backend_update(g);
}

void gw_hub_init(struct gw *g)
{
    g->nbuckets = 4096;
    g->buckets = cm_xcalloc(g->nbuckets, sizeof(*g->buckets));
    cm_key_fmt(g->bcast_channel, sizeof(g->bcast_channel), g->cfg->common.prefix, CM_KEY_BCAST,
               NULL);
    char ch[160];
    cm_key_fmt(ch, sizeof(ch), g->cfg->common.prefix, CM_KEY_CHANNEL, "x");
    snprintf(g->prefix_ch, sizeof(g->prefix_ch), "%.*s", (int)strlen(ch) - 1, ch);
}

void gw_hub_deinit(struct gw *g)
{
    for (size_t i = 0; i < g->nbuckets; i++)
        for (struct gw_session *s = g->buckets[i], *next; s; s = next) {
            next = s->next;
            free(s);
        }
    free(g->buckets);
    g->buckets = NULL;
    gw_frame_unref(g->status_json);
    gw_frame_unref(g->status_mp);
}
