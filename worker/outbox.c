/* Ordered, re-sending outbox of Redis commands. Loop thread only. */
#include "worker/outbox.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    wk_outbox_resend(arg);
}

void wk_outbox_init(struct wk_outbox *ob, struct cm_rconn *conn, size_t max)
{
    memset(ob, 0, sizeof(*ob));
    ob->conn = conn;
    ob->max = max;
    ob->flush_ev = event_new(conn->lp->loop, -1, 0, flush_cb, ob);
}

static void op_free(struct wk_op *op)
{
    cm_buf_deinit(&op->keys);
    cm_buf_deinit(&op->args);
    free(op);
}

void wk_outbox_deinit(struct wk_outbox *ob)
{
    if (ob->flush_ev)
        event_free(ob->flush_ev);
    cm_buf_deinit(&ob->scratch);
    struct wk_op *op = ob->head;
    while (op) {
        struct wk_op *next = op->next;
        op_free(op);
        op = next;
    }
    memset(ob, 0, sizeof(*ob));
}

/* Appends one RESP bulk string. */
static void bulk(struct cm_buf *b, const char *p, size_t n)
{
    char len[24];
    int k = (int)sizeof(len);
    size_t v = n;
    do
        len[--k] = (char)('0' + v % 10);
    while (v /= 10);
    cm_buf_reserve(b, n + 30);
    char *o = b->data + b->len;
    *o++ = '$';
    memcpy(o, len + k, sizeof(len) - (size_t)k);
    o += sizeof(len) - (size_t)k;
    *o++ = '\r', *o++ = '\n';
    memcpy(o, p, n);
    o += n;
    *o++ = '\r', *o++ = '\n';
    *o = '\0';
    b->len = (size_t)(o - b->data);
}

static void header(struct cm_buf *b, int n)
{
    cm_buf_putc(b, '*');
    cm_buf_append_uint(b, (unsigned long long)n);
    cm_buf_append(b, "\r\n", 2);
}

struct wk_op *wk_op_new(int argc, const char *const *argv, const size_t *argvlen)
{
    struct wk_op *op = cm_xcalloc(1, sizeof(*op));
    op->what = argc > 0 && strcmp(argv[0], "EVALSHA") != 0 ? argv[0] : "script";
    header(&op->args, argc);
    for (int i = 0; i < argc; i++)
        bulk(&op->args, argv[i], argvlen ? argvlen[i] : strlen(argv[i]));
    op->nargs = argc;
    if (argc > 0 && strcmp(argv[0], "HSET") == 0)
        op->what = "HSET";
    return op;
}

struct wk_op *wk_op_new_script(const char *sha, int nkeys, const char *const *keys, int nargs,
                               const char *const *args, const size_t *arglen)
{
    struct wk_op *op = cm_xcalloc(1, sizeof(*op));
    op->what = "script";
    op->script = sha;
    for (int i = 0; i < nkeys; i++)
        bulk(&op->keys, keys[i], strlen(keys[i]));
    for (int i = 0; i < nargs; i++)
        bulk(&op->args, args[i], arglen ? arglen[i] : strlen(args[i]));
    op->nkeys = nkeys;
    op->nargs = nargs;
    return op;
}

/* Errors that say "not now" rather than "never": the command is sent again later. */
static bool transient(const char *err)
{
    static const char *const codes[] = {"NOSCRIPT", "OOM",         "BUSY",
                                        "LOADING",  "MASTERDOWN",  "READONLY",
                                        "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        size_t n = strlen(codes[i]);
        if (strncmp(err, codes[i], n) == 0 && (err[n] == ' ' || err[n] == '\0'))
            return true;
    }
    return false;
}

/* Replies come in send order, so the answered command is the first sent one at the head; it
 * carries head->group ops. */
static void reply_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct wk_outbox *ob = priv;
    redisReply *r = reply;
    struct wk_op *op = ob->head;
    if (!r || !op || !op->sent || ob->stalled)
        return; /* connection gone or going: wk_outbox_lost() and the resend take over */
    if (r->type == REDIS_REPLY_ERROR) {
        ob->errors++;
        cm_log(CM_LOG_ERROR, "redis %s: %s failed: %s", ob->conn->name, op->what, r->str);
        if (transient(r->str)) {
            /* keep the ops: reconnect (with backoff, scripts loaded again) and send them again;
             * the scripts make a repeat harmless */
            ob->stalled = true; /* later replies must not be matched to the ops at the head */
            cm_rconn_reset(ob->conn);
            return;
        }
    }
    bool first_script = op->script != NULL;
    size_t i = 0;
    for (int k = op->group; k > 0 && ob->head; k--, i++) {
        op = ob->head;
        ob->head = op->next;
        if (!ob->head)
            ob->tail = NULL;
        ob->n--;
        ob->acked_total++;
        /* a batched script answers with one element per op */
        redisReply *mine =
            first_script && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : r;
        if (op->done)
            op->done(op, mine, op->arg);
        op_free(op);
    }
}

/* Sends the unsent ops from op on: one EVALSHA for up to WK_EMIT_BATCH consecutive events, or
 * the op's own command. Returns the first op not sent, or NULL when all went. */
static struct wk_op *send_from(struct wk_outbox *ob, struct wk_op *op)
{
    int n = 1, rc;
    if (!op->script) {
        rc = redisAsyncFormattedCommand(ob->conn->ac, reply_cb, ob, op->args.data, op->args.len);
    } else {
        /* EVALSHA sha nkeys <keys of every event> <header> <args of every event> */
        int nkeys = 0, nargs = 0;
        struct wk_op *o = op;
        for (n = 0; o && o->script == op->script && n < WK_SCRIPT_BATCH; o = o->next, n++)
            nkeys += o->nkeys, nargs += o->nargs;
        struct cm_buf *b = &ob->scratch;
        char nk[16];
        int nkl = snprintf(nk, sizeof(nk), "%d", nkeys);
        cm_buf_reset(b);
        header(b, 3 + nkeys + 3 + nargs);
        bulk(b, "EVALSHA", 7);
        bulk(b, op->script, strlen(op->script));
        bulk(b, nk, (size_t)nkl);
        o = op;
        for (int i = 0; i < n; i++, o = o->next)
            cm_buf_append(b, o->keys.data, o->keys.len);
        for (int h = 0; h < 3; h++)
            bulk(b, ob->header[h], strlen(ob->header[h]));
        o = op;
        for (int i = 0; i < n; i++, o = o->next)
            cm_buf_append(b, o->args.data, o->args.len);
        rc = redisAsyncFormattedCommand(ob->conn->ac, reply_cb, ob, b->data, b->len);
    }
    if (rc != REDIS_OK)
        return op;
    op->group = n;
    ob->sent_total++;
    for (int i = 0; i < n; i++, op = op->next) {
        op->sent = true;
        ob->unsent--;
    }
    return op;
}

bool wk_outbox_push(struct wk_outbox *ob, struct wk_op *op)
{
    if (op->droppable && ob->n >= ob->max) {
        ob->dropped++;
        if (ob->dropped == 1 || ob->dropped % 1000 == 0)
            cm_log(CM_LOG_WARN,
                   "outbox full (%zu commands waiting for redis): dropped %llu "
                   "progress events so far",
                   ob->n, (unsigned long long)ob->dropped);
        op_free(op);
        return false;
    }
    if (ob->tail)
        ob->tail->next = op;
    else
        ob->head = op;
    ob->tail = op;
    ob->n++;
    ob->unsent++;
    if (!ob->first_unsent)
        ob->first_unsent = op;
    if (ob->conn->ready && ob->flush_ev)
        event_active(ob->flush_ev, 0, 0); /* once per loop iteration, however many pushes */
    return true;
}

void wk_outbox_resend(struct wk_outbox *ob)
{
    if (ob->stalled)
        return;
    while (ob->first_unsent && ob->conn->ready) {
        struct wk_op *next = send_from(ob, ob->first_unsent);
        if (next == ob->first_unsent)
            return; /* hiredis refused: the connection is going away */
        ob->first_unsent = next;
    }
}

void wk_outbox_lost(struct wk_outbox *ob)
{
    for (struct wk_op *op = ob->head; op; op = op->next)
        op->sent = false, op->group = 0;
    ob->unsent = ob->n;
    ob->first_unsent = ob->head;
    ob->stalled = false;
}
