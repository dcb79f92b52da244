/* Client queues: byte-bounded per membership, progress events of one job coalesced when a
 * client falls behind, written in turn per connection, closing the clients that cannot keep
 * up; broadcast and session sends. Loop thread only. */
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

/* ---- queues ------------------------------------------------------------------------------- */

void gw__queue_free(struct gw_qent **head, struct gw_qent **tail)
{
    for (struct gw_qent *q = *head, *next; q; q = next) {
        next = q->next;
        gw_frame_unref(q->f);
        free(q);
    }
    *head = *tail = NULL;
}

/* Appends a reference to f to a queue. */
void gw__queue_append(struct gw_qent **head, struct gw_qent **tail, struct gw_frame *f,
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
    gw__queue_free(&c->head, &c->tail);
    gw__queue_free(&c->held_head, &c->held_tail);
    c->queued = c->held = 0;
    lws_callback_on_writable(c->wsi);
    /* the close frame goes out once what the kernel and lws already hold has drained, which for
     * a slow reader takes a while (killed after 5 s it never saw its 1013); one that reads
     * nothing is dropped after this */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, GW_CLOSE_WAIT_S);
}

void gw__doom(struct gw *g, struct gw_client *c)
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
    gw__queue_append(&c->head, &c->tail, f, job_hash, (struct gw_sid){0, 0});
    c->queued += f->len;
    if (c->queued + c->held > (size_t)g->cfg->queue_hard_kb * 1024) {
        gw__doom(g, c);
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
struct gw_client *gw__member_next(struct gw_client *c, struct gw_client *m)
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
        gw__unpause(g, c);
        lws_rx_flow_control(c->wsi, 1);
        return 0;
    }
    bool pending = false;
    for (struct gw_client *m = c; m; m = gw__member_next(c, m))
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
    for (struct gw_client *m = c; m; m = gw__member_next(c, m)) {
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
                c->rr = gw__member_next(c, m);
                break;
            }
        }
        m = gw__member_next(c, m);
        if (!m)
            m = c;
    } while (m != start);
    pending = false;
    for (m = c; m; m = gw__member_next(c, m)) {
        pending |= m->head != NULL;
        if (m->replay_paused && m->queued < (size_t)g->cfg->queue_soft_kb * 1024) {
            m->replay_paused = false;
            gw__replay_page(g, m);
        }
    }
    if (pending)
        lws_callback_on_writable(c->wsi);
    return 0;
}

/* Sends a control message built by the caller to one client. */
void gw__send_msg(struct gw *g, struct gw_client *c, const struct pr_msg *m)
{
    struct gw_frame *f = gw_frame_msg(m, c->msgpack);
    gw_send_to_client(g, c, f, 0);
    gw_frame_unref(f);
}

void gw__send_error(struct gw *g, struct gw_client *c, const char *code, const char *msg)
{
    struct pr_msg m;
    pr_msg_init(&m, PR_ERROR);
    char ts[CM_RFC3339_LEN];
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    pr_set_str(&m.u.error.code, code);
    pr_set_str(&m.u.error.message, msg);
    gw__send_msg(g, c, &m);
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
