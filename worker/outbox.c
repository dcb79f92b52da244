/* Ordered, re-sending outbox of Redis commands. Loop thread only. */
#include "worker/outbox.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include <stdio.h>

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    wk_outbox_resend(arg);
}

void wk_outbox_init(struct wk_outbox *ob, struct wk_conn *conn, size_t max, const char *emit_sha)
{
    memset(ob, 0, sizeof(*ob));
    ob->conn = conn;
    ob->max = max;
    ob->emit_sha = emit_sha;
    ob->flush_ev = event_new(conn->base, -1, 0, flush_cb, ob);
}

static void op_free(struct wk_op *op)
{
    for (int i = 0; i < op->argc; i++)
        free(op->argv[i]);
    free(op->argv);
    free(op->argvlen);
    free(op);
}

void wk_outbox_deinit(struct wk_outbox *ob)
{
    if (ob->flush_ev)
        event_free(ob->flush_ev);
    struct wk_op *op = ob->head;
    while (op) {
        struct wk_op *next = op->next;
        op_free(op);
        op = next;
    }
    memset(ob, 0, sizeof(*ob));
}

struct wk_op *wk_op_new(int argc, const char *const *argv, const size_t *argvlen)
{
    struct wk_op *op = cm_xcalloc(1, sizeof(*op));
    op->argc = argc;
    op->argv = cm_xcalloc((size_t)argc, sizeof(char *));
    op->argvlen = cm_xcalloc((size_t)argc, sizeof(size_t));
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        op->argv[i] = cm_xmemdup0(argv[i], len);
        op->argvlen[i] = len;
    }
    return op;
}

/* Replies come in send order, so the answered command is the first sent one at the head; it
 * carries head->group ops. */
static void reply_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct wk_outbox *ob = priv;
    redisReply *r = reply;
    struct wk_op *op = ob->head;
    if (!r || !op || !op->sent)
        return; /* connection gone: wk_outbox_lost() and the resend take over */
    if (r->type == REDIS_REPLY_ERROR) {
        ob->errors++;
        cm_log(CM_LOG_ERROR, "redis %s: %s failed: %s", ob->conn->name,
               op->emit ? "EMIT" : op->argv[0], r->str);
        if (strncmp(r->str, "NOSCRIPT", 8) == 0)
            wk_conn_reset(ob->conn); /* scripts are loaded again on reconnect */
    }
    for (int k = op->group; k > 0 && ob->head; k--) {
        op = ob->head;
        ob->head = op->next;
        if (!ob->head)
            ob->tail = NULL;
        ob->n--;
        ob->acked_total++;
        if (op->done)
            op->done(op, r, op->arg);
        op_free(op);
    }
}

/* Sends the unsent ops from op on: one EVALSHA for up to WK_EMIT_BATCH consecutive events, or
 * the op's own command. Returns the first op not sent, or NULL when all went. */
static struct wk_op *send_from(struct wk_outbox *ob, struct wk_op *op)
{
    int n = 0, nkeys = 0, nargs = 0;
    if (op->emit) {
        for (struct wk_op *o = op; o && o->emit && n < WK_EMIT_BATCH; o = o->next, n++) {
            int nk = wk_op_emit_keys(o);
            nkeys += nk;
            nargs += o->argc - nk;
        }
    } else {
        n = 1;
        nargs = op->argc;
    }
    int argc = op->emit ? 3 + nkeys + 3 + nargs : nargs;
    const char **argv = cm_xmalloc((size_t)argc * sizeof(char *));
    size_t *argvlen = cm_xmalloc((size_t)argc * sizeof(size_t));
    char nk_buf[16];
    if (op->emit) {
        snprintf(nk_buf, sizeof(nk_buf), "%d", nkeys);
        argv[0] = "EVALSHA", argv[1] = ob->emit_sha, argv[2] = nk_buf;
        argvlen[0] = 7, argvlen[1] = strlen(ob->emit_sha), argvlen[2] = strlen(nk_buf);
        /* the keys of all events, the batch header, then each event's arguments, kind first */
        int ki = 3, ai = 3 + nkeys;
        for (int h = 0; h < 3; h++, ai++) {
            argv[ai] = ob->emit_header[h];
            argvlen[ai] = strlen(ob->emit_header[h]);
        }
        struct wk_op *o = op;
        for (int i = 0; i < n; i++, o = o->next) {
            int nk = wk_op_emit_keys(o);
            for (int j = 0; j < o->argc; j++) {
                int at = j >= 1 && j <= nk ? ki++ : ai++;
                argv[at] = o->argv[j];
                argvlen[at] = o->argvlen[j];
            }
        }
    } else {
        for (int j = 0; j < argc; j++)
            argv[j] = op->argv[j], argvlen[j] = op->argvlen[j];
    }
    int rc = redisAsyncCommandArgv(ob->conn->ac, reply_cb, ob, argc, argv, argvlen);
    free(argv);
    free(argvlen);
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
}
