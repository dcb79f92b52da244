/* Events from Redis to clients, by one path: published messages and stream ranges (replay,
 * catch-up after an outage, the latest system_status) are decoded once per encoding
 * (each_event) and handed to what the caller does with them. Replay pages run per membership,
 * bounded by the client's queue; live events wait behind a running replay. Loop thread only. */
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

/* ---- events from Redis -------------------------------------------------------------------- */

struct gw_event {
    struct gw_sid sid;
    int64_t ts_ms; /* the event's timestamp (ms since the epoch), 0 when unknown */
    uint64_t job_hash;
    struct gw_frame *json, *mp;
    enum pr_type type;
    struct pr_msg *preview; /* a processing_complete with a preview: the preview message (no
                               data yet) that clients who asked for previews get after it */
};

static void event_done(struct gw_event *ev);

/* The preview message announcing the preview of a processing_complete whose summary has one, or
 * NULL. */
static struct pr_msg *preview_of(const struct pr_msg *m)
{
    const struct pr_value *p = pr_value_get(m->u.processing_complete.summary, "preview");
    const struct pr_value *w = pr_value_get(p, "width"), *h = pr_value_get(p, "height");
    const char *rid = m->u.processing_complete.result_id;
    if (!w || !h || w->type != PR_V_INT || h->type != PR_V_INT || !m->job_id)
        return NULL;
    struct pr_msg *pm = cm_xmalloc(sizeof(*pm));
    char ts[CM_RFC3339_LEN], url[PR_ID_MAX + 64];
    pr_msg_init(pm, PR_PREVIEW);
    pr_set_str(&pm->timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    if (m->session_id)
        pr_set_str(&pm->u.preview.session_id, m->session_id);
    pr_set_str(&pm->u.preview.job_id, m->job_id);
    pr_set_str(&pm->u.preview.result_id, rid);
    pr_set_str(&pm->u.preview.content_type, "image/png");
    snprintf(url, sizeof(url), "/api/results/%s/artifacts/preview.png", rid);
    pr_set_str(&pm->u.preview.url, url);
    pm->u.preview.width = w->u.i, pm->u.preview.height = h->u.i;
    struct pr_err err = {0};
    if (pr_validate(pm, &err) != 0) { /* a worker's odd figures: no preview message */
        pr_msg_deinit(pm);
        free(pm);
        return NULL;
    }
    return pm;
}

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
        ev->job_hash = gw__hash_str(m.job_id, strlen(m.job_id));
    if (m.type == PR_PROCESSING_COMPLETE)
        ev->preview = preview_of(&m);
    if (want_json)
        ev->json = gw_frame_msg(&m, false);
    if (want_mp)
        ev->mp = gw_frame_msg(&m, true);
    pr_msg_deinit(&m);
    if (ev->json || ev->mp)
        return 0;
    event_done(ev);
    return -1;
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
    if (ev->preview)
        pr_msg_deinit(ev->preview);
    free(ev->preview);
}

/* ---- previews to the clients that asked ---------------------------------------------------- */

struct preview_req {
    struct gw *g;
    struct gw_creq *req; /* the client, while it stays */
    struct pr_msg m;
};

static void preview_send(struct gw *g, struct gw_client *c, const struct pr_msg *m)
{
    if (c->doomed)
        return;
    gw__send_msg(g, c, m);
    g->st.previews_pushed++;
}

static void preview_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    redisReply *r = reply;
    struct preview_req *p = priv;
    struct gw_client *c = gw__req_done(p->req);
    if (c) { /* the bytes when Redis has them within the bound; the URL alone otherwise */
        if (r && r->type == REDIS_REPLY_STRING &&
            r->len <= (size_t)p->g->cfg->max_preview_kb * 1024) {
            p->m.u.preview.data.p = (unsigned char *)cm_xmemdup0(r->str, r->len);
            p->m.u.preview.data.n = r->len;
        }
        preview_send(p->g, c, &p->m);
    }
    pr_msg_deinit(&p->m);
    free(p);
}

/* After a processing_complete with a preview went to c (which asked for previews): its preview
 * message, with the PNG from Redis for a MessagePack client. */
static void preview_push(struct gw *g, struct gw_client *c, const struct pr_msg *pm)
{
    if (!c->msgpack || g->cfg->max_preview_kb == 0 || !g->cmd.ready) {
        preview_send(g, c, pm);
        return;
    }
    struct preview_req *p = cm_xcalloc(1, sizeof(*p));
    p->g = g;
    pr_msg_init(&p->m, PR_PREVIEW);
    pr_set_str(&p->m.timestamp, pm->timestamp);
    if (pm->u.preview.session_id)
        pr_set_str(&p->m.u.preview.session_id, pm->u.preview.session_id);
    pr_set_str(&p->m.u.preview.job_id, pm->u.preview.job_id);
    pr_set_str(&p->m.u.preview.result_id, pm->u.preview.result_id);
    pr_set_str(&p->m.u.preview.content_type, pm->u.preview.content_type);
    pr_set_str(&p->m.u.preview.url, pm->u.preview.url);
    p->m.u.preview.width = pm->u.preview.width, p->m.u.preview.height = pm->u.preview.height;
    p->req = gw__req_new(c, false);
    char key[PR_ID_MAX + 64];
    cm_key_fmt(key, sizeof(key), g->cfg->common.prefix, CM_KEY_PREVIEW, pm->u.preview.result_id);
    const char *argv[] = {"GET", key};
    if (redisAsyncCommandArgv(g->cmd.ac, preview_reply, p, 2, argv, NULL) != REDIS_OK)
        preview_reply(NULL, NULL, p);
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

/* What a walker's caller does with each event (the walker frees it after); false: stop. */
typedef bool event_fn(struct gw *g, struct gw_event *ev, void *arg);

/* The one path from Redis to clients. The events of a published message (channel: for the log): */
static void pub_events(struct gw *g, const char *data, size_t len, const char *channel,
                       bool want_json, bool want_mp, event_fn *fn, void *arg)
{
    size_t pos = 0;
    struct pr_frame fr;
    struct pr_err err = {0};
    int rc;
    while ((rc = pr_pub_next(data, len, &pos, &fr, &err)) == 1) {
        struct gw_event ev;
        g->st.events_in++;
        if (event_make(fr.id, fr.id_len, fr.ev, fr.ev_len, want_json, want_mp, &ev) != 0)
            continue;
        bool more = fn(g, &ev, arg);
        observe(g, &ev);
        event_done(&ev);
        if (!more)
            break;
    }
    if (rc < 0)
        cm_log(CM_LOG_ERROR, "%s: malformed published message: %s", channel, err.text);
}

/* ... and those of an XRANGE / XREVRANGE reply, at most max entries. Returns how many entries it
 * went through (those that do not decode included). */
static size_t range_events(struct gw *g, const redisReply *range, size_t max, bool want_json,
                           bool want_mp, event_fn *fn, void *arg)
{
    size_t n = range && range->type == REDIS_REPLY_ARRAY ? range->elements : 0, i = 0;
    for (; i < n && i < max; i++) {
        const char *id, *data;
        size_t idlen, len;
        struct gw_event ev;
        if (!entry_event(range->element[i], &id, &idlen, &data, &len) ||
            event_make(id, idlen, data, len, want_json, want_mp, &ev) != 0)
            continue;
        bool more = fn(g, &ev, arg);
        event_done(&ev);
        if (!more)
            return i + 1;
    }
    return i;
}

/* While its replay runs, a client's live events wait here (counted against its bound). */
static void hold(struct gw *g, struct gw_client *c, struct gw_frame *f, uint64_t job_hash,
                 struct gw_sid sid)
{
    gw__queue_append(&c->held_head, &c->held_tail, f, job_hash, sid);
    c->held += f->len;
    if (c->queued + c->held > (size_t)g->cfg->queue_hard_kb * 1024)
        gw__doom(g, c);
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
    if (ev->preview && c->previews)
        preview_push(g, c, ev->preview);
}

/* An event of session s's stream to each of its clients (live, or caught up after an outage). */
static bool to_session(struct gw *g, struct gw_event *ev, void *arg)
{
    struct gw_session *s = arg;
    if (gw_sid_cmp(ev->sid, s->last) > 0)
        s->last = ev->sid;
    for (struct gw_client *c = s->clients; c; c = c->next_in_session)
        deliver(g, c, ev);
    return true;
}

void gw__session_events(struct gw *g, struct gw_session *s, const char *data, size_t len)
{
    pub_events(g, data, len, s->channel, s->nclients > s->nmsgpack, s->nmsgpack > 0, to_session, s);
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

static bool to_everyone(struct gw *g, struct gw_event *ev, void *arg)
{
    (void)arg;
    remember_status(g, ev);
    gw_broadcast(g, ev->json, ev->mp);
    return true;
}

void gw__bcast_events(struct gw *g, const char *data, size_t len)
{
    pub_events(g, data, len, "broadcast channel", true, true, to_everyone, NULL);
}

/* ---- replay ------------------------------------------------------------------------------- */

struct gw_replay {
    struct gw *g;
    struct gw_creq *req; /* finds the client, or NULL once it left */
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
    gw__send_msg(g, c, &m);
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

static bool to_replaying(struct gw *g, struct gw_event *ev, void *arg)
{
    struct gw_client *c = arg;
    c->last = ev->sid;
    c->replay_from = ev->sid;
    gw_send_to_client(g, c, c->msgpack ? ev->mp : ev->json, 0);
    c->replay_count++;
    return true;
}

/* Sends the entries of one XRANGE page (asked for with COUNT want + 1); returns true when the
 * replay goes on with another page. */
static bool replay_entries(struct gw *g, struct gw_client *c, const redisReply *range, int want)
{
    size_t n = range && range->type == REDIS_REPLY_ARRAY ? range->elements : 0;
    g->st.replayed_events +=
        range_events(g, range, (size_t)want, !c->msgpack, c->msgpack, to_replaying, c);
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
    struct gw_client *c = gw__req_done(rq->req);
    bool first = rq->first;
    int want = rq->want;
    free(rq);
    if (!c)
        return;
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
        gw__replay_page(g, c);
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
    rq->g = g, rq->req = gw__req_new(c, false), rq->first = first;
    rq->want = g->cfg->replay_max - c->replay_count;
    if (rq->want > GW_REPLAY_PAGE)
        rq->want = GW_REPLAY_PAGE;
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

void gw__replay_page(struct gw *g, struct gw_client *c)
{
    replay_request(g, c, false);
}

void gw__replay_start(struct gw *g, struct gw_client *c)
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

static void catchup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct gw_catchup *k = priv;
    struct gw *g = k->g;
    struct gw_session *s = gw__session_find(g, k->session, strlen(k->session));
    free(k);
    redisReply *r = reply;
    if (s && !r)
        s->catch_up = true; /* the commands connection went away: cmd_ready tries again */
    if (!s || !r || r->type != REDIS_REPLY_ARRAY)
        return;
    g->st.replayed_events +=
        range_events(g, r, r->elements, s->nclients > s->nmsgpack, s->nmsgpack > 0, to_session, s);
    if (r->elements == (size_t)g->cfg->replay_max) /* a full page: there may be more */
        gw__catchup_next(g, s);
}

void gw__catchup_next(struct gw *g, struct gw_session *s)
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

/* The newest system_status in the broadcast stream (at start and after reconnects). */
static bool newest_status(struct gw *g, struct gw_event *ev, void *arg)
{
    (void)arg;
    remember_status(g, ev);
    return ev->type != PR_SYSTEM_STATUS; /* newest first: the first one found is it */
}

static void status_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    range_events(priv, reply, (size_t)-1, true, true, newest_status, NULL);
}

void gw__status_fetch(struct gw *g, redisAsyncContext *ac)
{
    redisAsyncCommand(ac, status_reply, g, "XREVRANGE %s + - COUNT 100", g->bcast_channel);
}
