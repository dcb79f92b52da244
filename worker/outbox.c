/* Ordered, re-sending outbox of Redis commands. Loop thread only. */
#include "worker/outbox.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"

void wk_outbox_init(struct wk_outbox *ob, struct wk_conn *conn, size_t max)
{
    memset(ob, 0, sizeof(*ob));
    ob->conn = conn;
    ob->max = max;
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

/* Replies come in send order, so the answered op is the first sent one at the head. */
static void reply_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct wk_outbox *ob = priv;
    redisReply *r = reply;
    struct wk_op *op = ob->head;
    if (!r || !op || !op->sent)
        return; /* connection gone: wk_outbox_lost() and the resend take over */
    ob->head = op->next;
    if (!ob->head)
        ob->tail = NULL;
    ob->n--;
    ob->acked_total++;
    if (r->type == REDIS_REPLY_ERROR) {
        ob->errors++;
        cm_log(CM_LOG_ERROR, "redis %s: %.*s failed: %s", ob->conn->name, (int)op->argvlen[0],
               op->argv[0], r->str);
        if (strncmp(r->str, "NOSCRIPT", 8) == 0)
            wk_conn_reset(ob->conn); /* scripts are loaded again on reconnect */
    }
    if (op->done)
        op->done(op, r, op->arg);
    op_free(op);
}

static bool send_op(struct wk_outbox *ob, struct wk_op *op)
{
    if (redisAsyncCommandArgv(ob->conn->ac, reply_cb, ob, op->argc, (const char **)op->argv,
                              op->argvlen) != REDIS_OK)
        return false;
    op->sent = true;
    ob->sent_total++;
    return true;
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
    /* send now only when nothing older waits, to keep the order */
    if (!(ob->conn->ready && ob->unsent == 0 && send_op(ob, op)))
        ob->unsent++;
    return true;
}

void wk_outbox_resend(struct wk_outbox *ob)
{
    for (struct wk_op *op = ob->head; op && ob->conn->ready; op = op->next) {
        if (!op->sent) {
            if (!send_op(ob, op))
                return;
            ob->unsent--;
        }
    }
}

void wk_outbox_lost(struct wk_outbox *ob)
{
    for (struct wk_op *op = ob->head; op; op = op->next)
        op->sent = false;
    ob->unsent = ob->n;
}
