/* The worker's ordered outbox of Redis commands (events, job state). Commands are sent in order
 * at the end of each loop iteration while the connection is up, and kept until Redis has answered
 * them; after a loss the unanswered ones are sent again, in order, once the connection is back.
 * Consecutive events go out as one EMIT call (up to WK_SCRIPT_BATCH), which makes a repeat a no-op
 * (per-job sequence numbers), so every event is stored exactly once. Bounded: past the bound,
 * progress events are dropped (counted), outcomes never. Loop thread only. */
#ifndef WK_OUTBOX_H
#define WK_OUTBOX_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/rconn.h"

#define WK_SCRIPT_BATCH 64 /* items per batched script call */

struct wk_op;
typedef void (*wk_op_done_cb)(struct wk_op *op, redisReply *reply, void *arg);

struct wk_op {
    struct wk_op *next;
    const char *what;   /* for logs: the command name, or "script" */
    struct cm_buf keys; /* script ops: the item's keys, RESP-encoded */
    struct cm_buf args; /* the arguments, RESP-encoded (a whole command for other ops) */
    int nkeys, nargs;   /* how many bulk strings each holds */
    bool droppable;     /* a progress event: may be dropped when the outbox is full */
    const char *script; /* a batched script call (EMIT, TAKE): its SHA1; NULL for a command */
    bool sent;          /* sent on the current connection, reply pending */
    int group;          /* on the first op of a sent command: how many ops it carries */
    wk_op_done_cb done; /* called once with the reply (never NULL); may be NULL */
    void *arg;
    uint64_t tag; /* the caller's, for done (the worker: which job an event belongs to) */
};

struct wk_outbox {
    struct wk_op *head, *tail;  /* in send order */
    size_t n;                   /* queued ops, sent or not */
    size_t unsent;              /* of those, not sent on the current connection (a suffix) */
    struct wk_op *first_unsent; /* where that suffix starts, or NULL */
    size_t max;                 /* bound on n for droppable ops */
    struct cm_rconn *conn;      /* borrowed */
    struct event *flush_ev;     /* sends what this loop iteration queued */
    const char
        *header[3]; /* batched scripts' first arguments: stream MAXLEN, stream TTL, result TTL */
    struct cm_buf scratch; /* where a batched script call is put together */
    bool stalled;          /* a transient error: waiting for the reconnect to resend */
    uint64_t sent_total;   /* commands written (repeats included) */
    uint64_t acked_total;
    uint64_t dropped; /* droppable ops refused at the bound */
    uint64_t errors;  /* error replies */
};

void wk_outbox_init(struct wk_outbox *ob, struct cm_rconn *conn, size_t max);
void wk_outbox_deinit(struct wk_outbox *ob);

/* A new op for the command argv (argvlen NULL: C strings); nothing is queued yet. The
 * arguments are encoded once, here, into the Redis protocol. */
struct wk_op *wk_op_new(int argc, const char *const *argv, const size_t *argvlen);

/* A new op for one item of a batched script call (one event for EMIT, one job for TAKE):
 * consecutive ops of the same script go out as one EVALSHA <sha> <all keys> <header> <all args>,
 * and each op's done callback gets its element of the reply array. */
struct wk_op *wk_op_new_script(const char *sha, int nkeys, const char *const *keys, int nargs,
                               const char *const *args, const size_t *arglen);

/* Queues op (taking ownership); it is sent at the end of this loop iteration when the connection
 * is up. Returns false when it was dropped at the bound (op freed). */
bool wk_outbox_push(struct wk_outbox *ob, struct wk_op *op);

/* After the connection came back: send every op not yet answered, in order. */
void wk_outbox_resend(struct wk_outbox *ob);

/* After a loss: forget what was sent on the old connection. */
void wk_outbox_lost(struct wk_outbox *ob);

#endif
