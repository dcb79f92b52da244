/* The connection manager: sessions and their clients, the Redis subscription of each session,
 * fan-out of published events (encoded once per encoding, shared by reference), per-client
 * byte-bounded queues with coalescing of progress events, and replay from the session stream.
 * Loop thread only. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/keys.h"
#include "common/log.h"
#include "store/scripts.h"
#include "common/text.h"
#include "common/time.h"
#include "gateway/gateway.h"

static void replay_page(struct gw *g, struct gw_client *c);
static struct gw_frame *backend_frame(bool up, bool msgpack);
static void client_msg(struct gw *g, struct gw_client *c, const char *data, size_t len,
                       bool binary);
static void unpause(struct gw *g, struct gw_client *c);

/* ---- frames and ids ---------------------------------------------------------------------- */

struct gw_frame *gw_frame_new(const void *data, size_t len, bool binary)
{
    struct gw_frame *f = cm_xmalloc(sizeof(*f) + LWS_PRE + len);
    f->refs = 1;
    f->binary = binary;
    f->len = len;
    memcpy(f->buf + LWS_PRE, data, len);
    return f;
}

struct gw_frame *gw_frame_msg(const struct pr_msg *m, bool msgpack)
{
    struct cm_buf b = CM_BUF_INIT;
    struct pr_err err = {0};
    int rc = msgpack ? pr_encode_msgpack(m, &b, &err) : pr_encode_json(m, &b, &err);
    struct gw_frame *f = rc == 0 ? gw_frame_new(b.data, b.len, msgpack) : NULL;
    if (rc != 0)
        cm_log(CM_LOG_ERROR, "cannot encode %s: %s: %s", pr_msgdesc(m->type)->name, err.field,
               err.text);
    cm_buf_deinit(&b);
    return f;
}

void gw_frame_unref(struct gw_frame *f)
{
    if (f && --f->refs == 0)
        free(f);
}

bool gw_sid_parse(const char *s, size_t n, struct gw_sid *out)
{
    uint64_t v[2] = {0, 0};
    size_t i = 0;
    for (int part = 0; part < 2; part++) {
        size_t start = i;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (v[part] > (UINT64_MAX - 9) / 10)
                return false;
            v[part] = v[part] * 10 + (uint64_t)(s[i] - '0');
        }
        if (i == start)
            return false;
        if (part == 0) {
            if (i == n) { /* "<ms>" alone means "<ms>-0" */
                break;
            }
            if (s[i++] != '-')
                return false;
        }
    }
    if (i != n)
        return false;
    out->ms = v[0], out->seq = v[1];
    return true;
}

int gw_sid_cmp(struct gw_sid a, struct gw_sid b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    return a.seq < b.seq ? -1 : a.seq > b.seq;
}

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h | 1; /* never 0: 0 means "not a progress event" */
}

/* ---- sessions ----------------------------------------------------------------------------- */

static struct gw_session **bucket(struct gw *g, const char *id, size_t n)
{
    return &g->buckets[hash_str(id, n) % g->nbuckets];
}

static struct gw_session *session_find(struct gw *g, const char *id, size_t n)
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
    struct gw_session *s = session_find(g, id, strlen(id));
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

static void on_pubsub(redisAsyncContext *ac, void *reply, void *priv);

static void subscribe(struct gw *g, struct gw_session *s)
{
    s->sub = GW_SUB_PENDING;
    if (g->pubsub.ready)
        redisAsyncCommand(g->pubsub.ac, on_pubsub, g, "SUBSCRIBE %s", s->channel);
    /* else: gw_hub_pubsub_ready subscribes every session that has clients */
}

/* ---- queues ------------------------------------------------------------------------------- */

static void queue_free(struct gw_qent **head, struct gw_qent **tail)
{
    for (struct gw_qent *q = *head, *next; q; q = next) {
        next = q->next;
        gw_frame_unref(q->f);
        free(q);
    }
    *head = *tail = NULL;
}

/* Appends a reference to f to a queue. */
static void append(struct gw_qent **head, struct gw_qent **tail, struct gw_frame *f,
                   uint64_t job_hash, struct gw_sid sid)
{
    struct gw_qent *q = cm_xcalloc(1, sizeof(*q));
    q->f = f;
    f->refs++;
    q->job_hash = job_hash;
    q->sid = sid;
    if (*tail)
        (*tail)->next = q;
    else
        *head = q;
    *tail = q;
}

#define GW_CLOSE_WAIT_S 60 /* a closing client's time to read up to its close frame */

void gw_client_fail(struct gw *g, struct gw_client *c, int code, const char *why)
{
    (void)g;
    if (c->primary) /* a subscription cannot close alone: the connection goes */
        c = c->primary;
    if (c->doomed)
        return;
    c->doomed = true;
    c->close_code = code;
    c->close_why = why;
    queue_free(&c->head, &c->tail);
    queue_free(&c->held_head, &c->held_tail);
    c->queued = c->held = 0;
    lws_callback_on_writable(c->wsi);
    /* the close frame goes out once what the kernel and lws already hold has drained, which for
     * a slow reader takes a while (killed after 5 s it never saw its 1013); one that reads
     * nothing is dropped after this */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, GW_CLOSE_WAIT_S);
}

static void doom(struct gw *g, struct gw_client *c)
{
    g->st.closed_slow++;
    cm_log(CM_LOG_WARN, "client %s (session %s): over %d KB queued, closing it (1013)",
           c->client_id, c->sess ? c->sess->id : "-", g->cfg->queue_hard_kb);
    gw_client_fail(g, c, 1013, "too slow: resume with last_event_id");
}

void gw_send_to_client(struct gw *g, struct gw_client *c, struct gw_frame *f, uint64_t job_hash)
{
    if (c->doomed || !f)
        return;
    if (job_hash && c->queued > (size_t)g->cfg->queue_soft_kb * 1024) {
        /* behind: a queued progress event of the same job is superseded (latest wins; the new
         * one goes at the end so that ids stay in order) */
        for (struct gw_qent **p = &c->head; *p; p = &(*p)->next) {
            struct gw_qent *q = *p;
            if (q->job_hash != job_hash)
                continue;
            *p = q->next;
            if (c->tail == q) {
                c->tail = NULL;
                for (struct gw_qent *t = c->head; t; t = t->next)
                    c->tail = t;
            }
            c->queued -= q->f->len;
            gw_frame_unref(q->f);
            free(q);
            g->st.coalesced++;
            c->dropped++;
            break;
        }
    }
    if (!c->head && !c->deflate && !lws_partial_buffered(c->wsi)) {
        /* nothing queued and nothing buffered in lws: write now instead of asking for a
         * writeable callback (which costs two epoll_ctl calls and a wake-up per delivery); a
         * partial write is kept by lws, which then makes the next ones queue here. Not with
         * permessage-deflate: lws may still be compressing the previous message from our
         * buffer, so those clients are only written from their writeable callback */
        int n = lws_write(c->wsi, f->buf + LWS_PRE, f->len,
                          f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
        g->st.messages_out++;
        g->st.bytes_out += f->len;
        c->sent++;
        if (n < 0) /* the connection is failing: lws closes it */
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    append(&c->head, &c->tail, f, job_hash, (struct gw_sid){0, 0});
    c->queued += f->len;
    if (c->queued + c->held > (size_t)g->cfg->queue_hard_kb * 1024) {
        doom(g, c);
        return;
    }
    lws_callback_on_writable(c->wsi);
}

/* Writes what m has queued: several frames while lws has not had to buffer one
 * (lws_partial_buffered asks lws; lws_send_pipe_choked would poll the socket, a syscall per
 * frame); with deflate one frame, kept alive until the next callback (lws may compress it over
 * several). 1 when it wrote a deflated frame (the callback is done), 0, or -1 to close. */
static int write_queue(struct gw *g, struct gw_client *m)
{
    while (m->head && !lws_partial_buffered(m->wsi)) {
        struct gw_qent *q = m->head;
        m->head = q->next;
        if (!m->head)
            m->tail = NULL;
        m->queued -= q->f->len;
        int n = lws_write(m->wsi, q->f->buf + LWS_PRE, q->f->len,
                          q->f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
        g->st.messages_out++;
        g->st.bytes_out += q->f->len;
        m->sent++;
        if (m->deflate)
            m->inflight = q->f;
        else
            gw_frame_unref(q->f);
        free(q);
        if (n < 0)
            return -1;
        if (m->deflate)
            return 1;
    }
    return 0;
}

/* The membership after m in the connection c (primary first, then its subscriptions). */
static struct gw_client *member_next(struct gw_client *c, struct gw_client *m)
{
    return m == c ? c->extras : m->next_extra;
}

int gw_client_writeable(struct gw *g, struct gw_client *c)
{
    if (c->doomed) {
        if (c->close_sent)
            return 0;
        /* the close frame goes out, and the connection stays until the client answers it (or
         * gw_client_fail's 60 s run out): closing now would reset it while the client's unread
         * messages sit in our socket, and a reset discards the close frame too */
        gw_close_frame(c->wsi, c->close_code, c->close_why);
        c->close_sent = true;
        unpause(g, c);
        lws_rx_flow_control(c->wsi, 1);
        return 0;
    }
    bool pending = false;
    for (struct gw_client *m = c; m; m = member_next(c, m))
        pending |= m->head != NULL;
    if (c->ping_due) { /* a control frame of its own callback */
        static const char payload[] = "zsa";
        unsigned char buf[LWS_PRE + sizeof(payload)];
        memcpy(buf + LWS_PRE, payload, sizeof(payload) - 1);
        c->ping_due = false;
        if (lws_write(c->wsi, buf + LWS_PRE, sizeof(payload) - 1, LWS_WRITE_PING) < 0)
            return -1;
        if (pending)
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    /* lws calls us only once permessage-deflate has drained the previous message, which until
     * then read from our frame: it may go now, whichever membership wrote it */
    for (struct gw_client *m = c; m; m = member_next(c, m)) {
        gw_frame_unref(m->inflight);
        m->inflight = NULL;
    }
    /* the memberships take turns, so that one session's backlog does not hold the others */
    struct gw_client *start = c->rr ? c->rr : c, *m = start;
    do {
        if (m->head) {
            int rc = write_queue(g, m);
            if (rc < 0)
                return -1;
            if (rc == 1 || lws_partial_buffered(c->wsi)) {
                c->rr = member_next(c, m);
                break;
            }
        }
        m = member_next(c, m);
        if (!m)
            m = c;
    } while (m != start);
    pending = false;
    for (m = c; m; m = member_next(c, m)) {
        pending |= m->head != NULL;
        if (m->replay_paused && m->queued < (size_t)g->cfg->queue_soft_kb * 1024) {
            m->replay_paused = false;
            replay_page(g, m);
        }
    }
    if (pending)
        lws_callback_on_writable(c->wsi);
    return 0;
}

/* Sends a control message built by the caller to one client. */
static void send_msg(struct gw *g, struct gw_client *c, const struct pr_msg *m)
{
    struct gw_frame *f = gw_frame_msg(m, c->msgpack);
    gw_send_to_client(g, c, f, 0);
    gw_frame_unref(f);
}

static void send_error(struct gw *g, struct gw_client *c, const char *code, const char *msg)
{
    struct pr_msg m;
    pr_msg_init(&m, PR_ERROR);
    char ts[CM_RFC3339_LEN];
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    pr_set_str(&m.u.error.code, code);
    pr_set_str(&m.u.error.message, msg);
    send_msg(g, c, &m);
    pr_msg_deinit(&m);
}

void gw_broadcast(struct gw *g, struct gw_frame *json, struct gw_frame *mp)
{
    for (size_t i = 0; i < g->nbuckets; i++)
        for (struct gw_session *s = g->buckets[i]; s; s = s->next)
            for (struct gw_client *c = s->clients; c; c = c->next_in_session)
                if (c->ready && !c->primary) /* once per connection, not per subscription */
                    gw_send_to_client(g, c, c->msgpack ? mp : json, 0);
}

void gw_send_to_session(struct gw *g, struct gw_session *s, struct gw_frame *json,
                        struct gw_frame *mp)
{
    for (struct gw_client *c = s->clients; c; c = c->next_in_session)
        if (c->ready)
            gw_send_to_client(g, c, c->msgpack ? mp : json, 0);
}

/* ---- events from Redis -------------------------------------------------------------------- */

struct gw_event {
    struct gw_sid sid;
    int64_t ts_ms; /* the event's timestamp (ms since the epoch), 0 when unknown */
    uint64_t job_hash;
    struct gw_frame *json, *mp;
    enum pr_type type;
};

/* Decodes a stored event (MessagePack without event_id) and encodes it for clients; mp only when
 * want_mp. Returns 0, or -1 for an event that does not decode (logged, skipped). */
static int event_make(const char *id, size_t idlen, const char *data, size_t len, bool want_json,
                      bool want_mp, struct gw_event *ev)
{
    struct pr_msg m;
    struct pr_err err = {0};
    memset(ev, 0, sizeof(*ev));
    if (!gw_sid_parse(id, idlen, &ev->sid) ||
        pr_decode_msgpack(data, len, PR_WIRE_SERVER, &m, &err) != 0) {
        cm_log(CM_LOG_ERROR, "event %.*s: cannot decode it (%s: %s); skipped", (int)idlen, id,
               err.field, err.text);
        return -1;
    }
    free(m.event_id);
    m.event_id = cm_xmemdup0(id, idlen);
    ev->type = m.type;
    if (m.timestamp)
        cm_time_parse_rfc3339(m.timestamp, strlen(m.timestamp), &ev->ts_ms);
    if (m.type == PR_PROCESSING_PROGRESS && m.job_id)
        ev->job_hash = hash_str(m.job_id, strlen(m.job_id));
    if (want_json)
        ev->json = gw_frame_msg(&m, false);
    if (want_mp)
        ev->mp = gw_frame_msg(&m, true);
    pr_msg_deinit(&m);
    return ev->json || ev->mp ? 0 : -1;
}

/* Publish-to-send latency: from the event's timestamp to now, when its queues were filled. */
static void observe(struct gw *g, const struct gw_event *ev)
{
    if (ev->ts_ms > 0)
        gw_observe_latency(g, (double)(cm_time_now_ms() - ev->ts_ms) / 1000.0);
}

static void event_done(struct gw_event *ev)
{
    gw_frame_unref(ev->json);
    gw_frame_unref(ev->mp);
}

/* While its replay runs, a client's live events wait here (counted against its bound). */
static void hold(struct gw *g, struct gw_client *c, struct gw_frame *f, uint64_t job_hash,
                 struct gw_sid sid)
{
    append(&c->held_head, &c->held_tail, f, job_hash, sid);
    c->held += f->len;
    if (c->queued + c->held > (size_t)g->cfg->queue_hard_kb * 1024)
        doom(g, c);
}

/* Delivers one event of a session stream to one client: once (ids only go up), after its
 * replay when one is running. */
static void deliver(struct gw *g, struct gw_client *c, const struct gw_event *ev)
{
    if (!c->ready || c->doomed)
        return;
    if (gw_sid_cmp(ev->sid, c->last) <= 0)
        return; /* already given (replay, or catch-up after an outage) */
    struct gw_frame *f = c->msgpack ? ev->mp : ev->json;
    if (!f)
        return;
    if (c->replaying) {
        hold(g, c, f, ev->job_hash, ev->sid);
        return;
    }
    c->last = ev->sid;
    gw_send_to_client(g, c, f, ev->job_hash);
}

static void session_events(struct gw *g, struct gw_session *s, const char *data, size_t len)
{
    size_t pos = 0;
    struct pr_frame fr;
    struct pr_err err = {0};
    int rc;
    bool want_mp = s->nmsgpack > 0, want_json = s->nclients > s->nmsgpack;
    while ((rc = pr_pub_next(data, len, &pos, &fr, &err)) == 1) {
        struct gw_event ev;
        g->st.events_in++;
        if (event_make(fr.id, fr.id_len, fr.ev, fr.ev_len, want_json, want_mp, &ev) != 0)
            continue;
        if (gw_sid_cmp(ev.sid, s->last) > 0)
            s->last = ev.sid;
        for (struct gw_client *c = s->clients; c; c = c->next_in_session)
            deliver(g, c, &ev);
        observe(g, &ev);
        event_done(&ev);
    }
    if (rc < 0)
        cm_log(CM_LOG_ERROR, "channel %s: malformed published message: %s", s->channel, err.text);
}

/* Keeps the newest system_status, for clients that connect later. */
static void remember_status(struct gw *g, const struct gw_event *ev)
{
    if (ev->type != PR_SYSTEM_STATUS || !ev->json || !ev->mp ||
        gw_sid_cmp(ev->sid, g->status_sid) <= 0)
        return;
    gw_frame_unref(g->status_json);
    gw_frame_unref(g->status_mp);
    g->status_json = ev->json, g->status_mp = ev->mp;
    ev->json->refs++, ev->mp->refs++;
    g->status_sid = ev->sid;
}

static void bcast_events(struct gw *g, const char *data, size_t len)
{
    size_t pos = 0;
    struct pr_frame fr;
    struct pr_err err = {0};
    int rc;
    while ((rc = pr_pub_next(data, len, &pos, &fr, &err)) == 1) {
        struct gw_event ev;
        g->st.events_in++;
        if (event_make(fr.id, fr.id_len, fr.ev, fr.ev_len, true, true, &ev) != 0)
            continue;
        remember_status(g, &ev);
        gw_broadcast(g, ev.json, ev.mp);
        observe(g, &ev);
        event_done(&ev);
    }
    if (rc < 0)
        cm_log(CM_LOG_ERROR, "broadcast channel: malformed published message: %s", err.text);
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

/* ---- replay ------------------------------------------------------------------------------- */

struct gw_replay {
    struct gw *g;
    struct gw_client *c; /* NULL once the client left */
    bool first;          /* the first page: MULTI with XINFO STREAM */
    int want;            /* entries wanted from this page (one more is asked for) */
};

static long long info_int(const redisReply *info, const char *key)
{
    for (size_t i = 0; info && info->type == REDIS_REPLY_ARRAY && i + 1 < info->elements; i += 2)
        if (info->element[i]->type == REDIS_REPLY_STRING && strcmp(info->element[i]->str, key) == 0)
            return info->element[i + 1]->type == REDIS_REPLY_INTEGER ? info->element[i + 1]->integer
                                                                     : -1;
    return -1;
}

/* The first entry's id from an XINFO STREAM reply, if any. */
static bool info_first(const redisReply *info, struct gw_sid *out)
{
    for (size_t i = 0; info && info->type == REDIS_REPLY_ARRAY && i + 1 < info->elements; i += 2) {
        const redisReply *v = info->element[i + 1];
        if (info->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(info->element[i]->str, "first-entry") == 0 && v->type == REDIS_REPLY_ARRAY &&
            v->elements == 2 && v->element[0]->type == REDIS_REPLY_STRING)
            return gw_sid_parse(v->element[0]->str, v->element[0]->len, out);
    }
    return false;
}

/* The event in an XRANGE entry [id, [field, value, ...]] (field "e"). */
static bool entry_event(const redisReply *e, const char **id, size_t *idlen, const char **data,
                        size_t *len)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return false;
    const redisReply *kv = e->element[1];
    for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        if (kv->element[i]->len == 1 && kv->element[i]->str[0] == 'e') {
            *id = e->element[0]->str, *idlen = e->element[0]->len;
            *data = kv->element[i + 1]->str, *len = kv->element[i + 1]->len;
            return true;
        }
    }
    return false;
}

static void send_replay_complete(struct gw *g, struct gw_client *c, long long count, bool truncated)
{
    struct pr_msg m;
    pr_msg_init(&m, PR_REPLAY_COMPLETE);
    char ts[CM_RFC3339_LEN];
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    m.u.replay_complete.count = count;
    m.u.replay_complete.truncated = truncated;
    /* say what was replayed: a client that also follows broadcasts (jobs without a session)
     * must not read count 0 as "nothing was missed" there */
    struct pr_strs *st = &m.u.replay_complete.streams;
    st->v = cm_xcalloc(1, sizeof(char *));
    st->v[st->n++] = cm_xstrdup("session");
    pr_set_str(&m.u.replay_complete.session_id, c->sess->id);
    send_msg(g, c, &m);
    pr_msg_deinit(&m);
}

/* The replay ended: live events that waited go out (those the replay did not already give). */
static void replay_end(struct gw *g, struct gw_client *c, long long count, bool truncated)
{
    send_replay_complete(g, c, count, truncated);
    c->replaying = false;
    struct gw_qent *q = c->held_head;
    c->held_head = c->held_tail = NULL;
    c->held = 0;
    while (q) {
        struct gw_qent *next = q->next;
        if (!c->doomed && gw_sid_cmp(q->sid, c->last) > 0) {
            c->last = q->sid;
            gw_send_to_client(g, c, q->f, q->job_hash);
        }
        gw_frame_unref(q->f);
        free(q);
        q = next;
    }
}

#define GW_REPLAY_PAGE 200

/* Sends the entries of one XRANGE page (asked for with COUNT want + 1); returns true when the
 * replay goes on with another page. */
static bool replay_entries(struct gw *g, struct gw_client *c, const redisReply *range, int want)
{
    size_t n = range && range->type == REDIS_REPLY_ARRAY ? range->elements : 0;
    for (size_t i = 0; i < n && (int)i < want; i++) {
        const char *id, *data;
        size_t idlen, len;
        struct gw_event ev;
        if (!entry_event(range->element[i], &id, &idlen, &data, &len) ||
            event_make(id, idlen, data, len, !c->msgpack, c->msgpack, &ev) != 0)
            continue;
        c->last = ev.sid;
        c->replay_from = ev.sid;
        gw_send_to_client(g, c, c->msgpack ? ev.mp : ev.json, 0);
        event_done(&ev);
        c->replay_count++;
    }
    g->st.replayed_events += n < (size_t)want ? n : (size_t)want;
    if (n <= (size_t)want)
        return false; /* that was the end */
    if (c->replay_count >= g->cfg->replay_max) {
        c->replay_trunc = true; /* the cap: the client re-syncs from REST */
        return false;
    }
    return true;
}

static void replay_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct gw_replay *rq = priv;
    struct gw *g = rq->g;
    struct gw_client *c = rq->c;
    bool first = rq->first;
    int want = rq->want;
    free(rq);
    if (!c)
        return;
    c->pending_req = NULL;
    redisReply *r = reply;
    const redisReply *range = r;
    if (first) {
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            range = NULL;
        else
            range = r->element[1];
    }
    if (!r || !range || range->type != REDIS_REPLY_ARRAY) {
        cm_log(CM_LOG_WARN, "client %s: replay failed (%s); the client must re-sync", c->client_id,
               r && r->type == REDIS_REPLY_ERROR ? r->str : "no Redis");
        replay_end(g, c, c->replay_count, true);
        return;
    }
    if (first) {
        const redisReply *info = r->element[0];
        long long added = info_int(info, "entries-added"), length = info_int(info, "length");
        struct gw_sid first_id = {0, 0};
        bool has_first = info_first(info, &first_id);
        bool from_start = c->from.ms == 0 && c->from.seq == 0;
        if (info->type == REDIS_REPLY_ERROR) /* no stream: expired, or never written */
            c->replay_trunc = !from_start;
        else /* entries were trimmed, and the client's id is older than what is left */
            c->replay_trunc = added > length && (!has_first || gw_sid_cmp(c->from, first_id) < 0);
    }
    if (!replay_entries(g, c, range, want)) {
        replay_end(g, c, c->replay_count, c->replay_trunc);
        return;
    }
    if (c->queued < (size_t)g->cfg->queue_soft_kb * 1024)
        replay_page(g, c);
    else
        c->replay_paused = true; /* gw_client_writeable asks for the next page once drained */
}

/* The XRANGE start "just after s": "(<ms>-<seq>", or "-" for the very beginning. */
static void range_after(char *out, size_t n, struct gw_sid s)
{
    if (s.ms == 0 && s.seq == 0)
        snprintf(out, n, "-");
    else
        snprintf(out, n, "(%llu-%llu", (unsigned long long)s.ms, (unsigned long long)s.seq);
}

/* Asks for the next page after c->replay_from; the first page comes with XINFO STREAM in one
 * MULTI, so that truncation is judged on the same instant as the entries. */
static void replay_request(struct gw *g, struct gw_client *c, bool first)
{
    if (!g->cmd.ready) {
        replay_end(g, c, c->replay_count, true);
        return;
    }
    struct gw_replay *rq = cm_xcalloc(1, sizeof(*rq));
    rq->g = g, rq->c = c, rq->first = first;
    rq->want = g->cfg->replay_max - c->replay_count;
    if (rq->want > GW_REPLAY_PAGE)
        rq->want = GW_REPLAY_PAGE;
    c->pending_req = rq;
    char from[48];
    range_after(from, sizeof(from), c->replay_from);
    redisAsyncContext *ac = g->cmd.ac;
    if (first) {
        redisAsyncCommand(ac, NULL, NULL, "MULTI");
        redisAsyncCommand(ac, NULL, NULL, "XINFO STREAM %s", c->sess->stream);
        redisAsyncCommand(ac, NULL, NULL, "XRANGE %s %s + COUNT %d", c->sess->stream, from,
                          rq->want + 1);
        redisAsyncCommand(ac, replay_reply, rq, "EXEC");
    } else {
        redisAsyncCommand(ac, replay_reply, rq, "XRANGE %s %s + COUNT %d", c->sess->stream, from,
                          rq->want + 1);
    }
}

static void replay_page(struct gw *g, struct gw_client *c)
{
    replay_request(g, c, false);
}

static void start_replay(struct gw *g, struct gw_client *c)
{
    c->replaying = true;
    c->want_replay = false;
    c->replay_count = 0;
    c->replay_trunc = false;
    c->replay_paused = false;
    c->replay_from = c->from;
    g->st.replays++;
    replay_request(g, c, true);
}

/* After an outage: the events a session's stream got while this process was not subscribed. */
struct gw_catchup {
    struct gw *g;
    char session[PR_ID_MAX + 1];
};

static void catchup_next(struct gw *g, struct gw_session *s);

static void catchup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct gw_catchup *k = priv;
    struct gw *g = k->g;
    struct gw_session *s = session_find(g, k->session, strlen(k->session));
    free(k);
    redisReply *r = reply;
    if (s && !r)
        s->catch_up = true; /* the commands connection went away: cmd_ready tries again */
    if (!s || !r || r->type != REDIS_REPLY_ARRAY)
        return;
    bool want_mp = s->nmsgpack > 0, want_json = s->nclients > s->nmsgpack;
    for (size_t i = 0; i < r->elements; i++) {
        const char *id, *data;
        size_t idlen, len;
        struct gw_event ev;
        if (!entry_event(r->element[i], &id, &idlen, &data, &len) ||
            event_make(id, idlen, data, len, want_json, want_mp, &ev) != 0)
            continue;
        if (gw_sid_cmp(ev.sid, s->last) > 0)
            s->last = ev.sid;
        for (struct gw_client *c = s->clients; c; c = c->next_in_session)
            deliver(g, c, &ev);
        event_done(&ev);
        g->st.replayed_events++;
    }
    if (r->elements == (size_t)g->cfg->replay_max) /* a full page: there may be more */
        catchup_next(g, s);
}

static void catchup_next(struct gw *g, struct gw_session *s)
{
    if (!g->cmd.ready)
        return; /* cmd_ready starts catch-ups again */
    struct gw_catchup *n = cm_xcalloc(1, sizeof(*n));
    n->g = g;
    snprintf(n->session, sizeof(n->session), "%s", s->id);
    s->catch_up = false;
    char from[48];
    range_after(from, sizeof(from), s->last);
    redisAsyncCommand(g->cmd.ac, catchup_reply, n, "XRANGE %s %s + COUNT %d", s->stream, from,
                      g->cfg->replay_max);
}

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
    send_msg(g, c, &m);
    pr_msg_deinit(&m);
}

static void client_start(struct gw *g, struct gw_client *c)
{
    if (c->primary) { /* a subscription: subscribed, then its replay */
        struct pr_msg m;
        pr_msg_init(&m, PR_SUBSCRIBED);
        char ts[CM_RFC3339_LEN];
        pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
        pr_set_str(&m.u.subscribed.session_id, c->sess->id);
        m.u.subscribed.resumed = c->want_replay;
        c->ready = true;
        send_msg(g, c, &m);
        pr_msg_deinit(&m);
        if (c->want_replay)
            start_replay(g, c);
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
    send_msg(g, c, &m);
    pr_msg_deinit(&m);
    struct gw_frame *st = c->msgpack ? g->status_mp : g->status_json;
    if (st)
        gw_send_to_client(g, c, st, 0);
    if (c->want_replay)
        start_replay(g, c);
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
            client_start(g, c);
    if (!s->last.ms && !s->last.seq)
        s->catch_up = false; /* nothing delivered yet: nothing to catch up from */
    if (s->catch_up)
        catchup_next(g, s); /* clears catch_up once sent; cmd_ready retries otherwise */
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
    return session_find(g, ch + pl, n - pl);
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
            bcast_events(g, r->element[2]->str, r->element[2]->len);
        } else {
            struct gw_session *s = session_of_channel(g, ch->str, ch->len);
            if (s)
                session_events(g, s, r->element[2]->str, r->element[2]->len);
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
static void join_session(struct gw *g, struct gw_client *c, const char *session_id,
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
    case GW_SUB_LIVE: client_start(g, c); break;
    case GW_SUB_NONE: subscribe(g, s); break;
    case GW_SUB_PENDING: break;
    case GW_SUB_UNSUBSCRIBING: break; /* on_unsubscribed subscribes again */
    }
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
    join_session(g, c, session_id, last_event_id);
}

/* The membership of connection c in session id: c itself, one of its subscriptions, or NULL. */
static struct gw_client *membership(struct gw_client *c, const char *id)
{
    for (struct gw_client *m = c; m; m = member_next(c, m))
        if (m->sess && strcmp(m->sess->id, id) == 0)
            return m;
    return NULL;
}

static void send_error(struct gw *g, struct gw_client *c, const char *code, const char *msg);

static void client_subscribe(struct gw *g, struct gw_client *c, const char *id, const char *last)
{
    if (membership(c, id)) {
        send_error(g, c, "INVALID_STATE",
                   "subscribe: this connection follows that session already");
        return;
    }
    if (c->nextras >= GW_MAX_SUBSCRIPTIONS) {
        send_error(g, c, "LIMIT", "subscribe: at most 16 sessions besides the connection's own");
        return;
    }
    if (c->tok && (!(c->tok->scopes & PR_SCOPE_READ) || !pr_token_allows(c->tok, id))) {
        g->st.auth_forbidden++;
        send_error(g, c, "FORBIDDEN", "subscribe: the token does not allow this session");
        return;
    }
    struct gw_client *x = cm_xcalloc(1, sizeof(*x));
    x->wsi = c->wsi;
    x->msgpack = c->msgpack;
    x->deflate = c->deflate;
    x->primary = c;
    memcpy(x->client_id, c->client_id, sizeof(x->client_id));
    x->next_extra = c->extras;
    c->extras = x;
    c->nextras++;
    join_session(g, x, id, last);
}

static void leave_session(struct gw *g, struct gw_client *c);

static void client_unsubscribe(struct gw *g, struct gw_client *c, const char *id)
{
    struct gw_client **pp = &c->extras;
    while (*pp && strcmp((*pp)->sess->id, id) != 0)
        pp = &(*pp)->next_extra;
    if (!*pp) {
        send_error(g, c, "INVALID_STATE",
                   membership(c, id) ? "unsubscribe: not from the connection's own session"
                                     : "unsubscribe: not subscribed to that session");
        return;
    }
    struct gw_client *x = *pp;
    *pp = x->next_extra;
    c->nextras--;
    if (c->rr == x)
        c->rr = NULL;
    leave_session(g, x);
    free(x);
    struct pr_msg m;
    pr_msg_init(&m, PR_UNSUBSCRIBED);
    char ts[CM_RFC3339_LEN];
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    pr_set_str(&m.u.unsubscribed.session_id, id);
    send_msg(g, c, &m);
    pr_msg_deinit(&m);
}

void gw_client_close(struct gw *g, struct gw_client *c)
{
    while (c->extras) {
        struct gw_client *x = c->extras;
        c->extras = x->next_extra;
        leave_session(g, x);
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
    leave_session(g, c);
}

/* c leaves its session (freeing what it holds); the session goes when nobody is left. */
static void leave_session(struct gw *g, struct gw_client *c)
{
    struct gw_session *s = c->sess;
    if (!s)
        return;
    if (c->pending_req)
        ((struct gw_replay *)c->pending_req)->c = NULL;
    for (struct gw_creq *k = c->reqs; k; k = k->next)
        k->c = NULL; /* their replies find nobody */
    c->reqs = NULL;
    unpause(g, c);
    queue_free(&c->head, &c->tail);
    queue_free(&c->held_head, &c->held_tail);
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
        send_msg(g, c, &m);
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

static void unpause(struct gw *g, struct gw_client *c)
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
            unpause(g, c);
            lws_rx_flow_control(c->wsi, 1);
        }
    }
}

static struct gw_creq *creq_new(struct gw_client *c)
{
    struct gw_creq *k = cm_xcalloc(1, sizeof(*k));
    k->c = c;
    k->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = k;
    c->reqs = k;
    c->reqs_inflight++;
    return k;
}

/* The client of a finished request (NULL when it left); frees the request. */
static struct gw_client *creq_done(struct gw_creq *k)
{
    struct gw_client *c = k->c;
    if (c) {
        if (k->prev)
            k->prev->next = k->next;
        else
            c->reqs = k->next;
        if (k->next)
            k->next->prev = k->prev;
        c->reqs_inflight--;
    }
    free(k);
    return c;
}

/* A cancel from a client: nothing to say when it worked (processing_failed CANCELLED follows);
 * otherwise an error message. */
static void cancel_reply(struct gw *g, redisReply *r, void *priv)
{
    struct gw_client *c = creq_done(priv);
    if (!c)
        return;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        send_error(g, c, "UNAVAILABLE", "cancel: Redis did not answer; try again");
    } else if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "ok") != 0) {
        char msg[160];
        bool unknown = strcmp(r->str, "unknown") == 0;
        snprintf(msg, sizeof(msg), unknown ? "cancel: no such job" : "cancel: the job is %s",
                 r->str);
        send_error(g, c, unknown ? "UNKNOWN_JOB" : "INVALID_STATE", msg);
    }
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
        send_error(g, c, "INVALID_MESSAGE", err.text);
        return;
    }
    switch (m.type) {
    case PR_PING: {
        struct pr_msg p;
        pr_msg_init(&p, PR_PONG);
        char ts[CM_RFC3339_LEN];
        pr_set_str(&p.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
        send_msg(g, c, &p);
        pr_msg_deinit(&p);
        break;
    }
    case PR_CANCEL: {
        if (c->tok && !(c->tok->scopes & PR_SCOPE_CONTROL)) {
            g->st.auth_forbidden++;
            send_error(g, c, "FORBIDDEN", "cancel: this token lacks the control scope");
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
        gw_script(g, &call, cancel_reply, creq_new(c));
        break;
    }
    case PR_SUBSCRIBE:
        client_subscribe(g, c, m.u.subscribe.session_id,
                         m.u.subscribe.last_event_id ? m.u.subscribe.last_event_id : "");
        break;
    case PR_UNSUBSCRIBE: client_unsubscribe(g, c, m.u.unsubscribe.session_id); break;
    case PR_AUTH: { /* a fresh token for this connection, before the old one expires */
        if (!g->keys) {
            send_error(g, c, "AUTH_OFF", "auth: this gateway runs with --auth off");
            break;
        }
        struct pr_token t;
        const char *why;
        if (gw_auth_verify(g, m.u.auth.token, strlen(m.u.auth.token), &t, &why) != GW_AUTH_RES_OK) {
            g->st.auth_refused++;
            send_error(g, c, "UNAUTHORIZED", why); /* the old token stays until it expires */
            break;
        }
        if (!(t.scopes & PR_SCOPE_READ) || !pr_token_allows(&t, c->sess->id)) {
            pr_token_deinit(&t);
            g->st.auth_forbidden++;
            send_error(g, c, "FORBIDDEN", "auth: the new token does not allow this session");
            break;
        }
        pr_token_deinit(c->tok);
        *c->tok = t;
        send_authenticated(g, c);
        break;
    }
    case PR_RESUME:
        if (c->replaying || !c->ready) {
            send_error(g, c, "INVALID_STATE",
                       c->replaying ? "resume: a replay is already running"
                                    : "resume: wait for the connected message");
            break;
        }
        if (!gw_sid_parse(m.u.resume.last_event_id, strlen(m.u.resume.last_event_id), &c->from))
            c->from = (struct gw_sid){0, 0};
        start_replay(g, c);
        break;
    default: send_error(g, c, "INVALID_MESSAGE", "type: not a client message"); break;
    }
    pr_msg_deinit(&m);
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

/* The newest system_status in the broadcast stream (at start and after reconnects). */
static void status_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct gw *g = priv;
    redisReply *r = reply;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const char *id, *data;
        size_t idlen, len;
        struct gw_event ev;
        if (!entry_event(r->element[i], &id, &idlen, &data, &len) ||
            event_make(id, idlen, data, len, true, true, &ev) != 0)
            continue;
        bool found = ev.type == PR_SYSTEM_STATUS;
        remember_status(g, &ev);
        event_done(&ev);
        if (found)
            break; /* newest first */
    }
}

void gw_hub_cmd_ready(struct cm_rconn *rc)
{
    struct gw *g = rc->owner;
    if (rc->connects > 1)
        g->st.redis_reconnects++;
    redisAsyncCommand(rc->ac, status_reply, g, "XREVRANGE %s + - COUNT 100", g->bcast_channel);
    for (size_t i = 0; i < g->nbuckets; i++)
        for (struct gw_session *s = g->buckets[i]; s; s = s->next)
            if (s->catch_up && s->sub == GW_SUB_LIVE && (s->last.ms || s->last.seq))
                catchup_next(g, s);
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
