/* The worker core's files (worker.c, intake.c, events.c), internal: what they share. Loop
 * thread. */
#ifndef WK_INTERNAL_H
#define WK_INTERNAL_H

#include "common/buf.h"
#include "proto/proto.h"
#include "store/scripts.h"
#include "worker/outbox.h"
#include "worker/worker.h"

#define WK_INTAKE_PIPELINE 16 /* BLMOVEs in flight at most, while the queue has jobs */

struct emit_opts {
    const char *attempt;     /* fencing: the job's attempt, or NULL */
    long long seq;           /* per-job sequence number, or -1 */
    const char *lrem_raw;    /* remove this entry from the active list, or NULL */
    size_t lrem_len;         /* its length (payloads may hold NUL bytes) */
    const char *progress[3]; /* a progress event: progress, current_step, eta_seconds values */
    const char *result;      /* store as the result, or NULL */
    const char *result_id;
    const char *dead;          /* push onto the dead-letter list, or NULL */
    char *const *keys;         /* the job's hash, stream and channel keys, or NULL to derive */
    const char *const *fields; /* job-hash field/value pairs */
    int nfields;               /* number of strings in fields (even) */
    bool droppable;
    uint64_t serial; /* the job's, for events of a running attempt (fencing); 0 for none */
};

/* The job hash, stream and channel of a job's events (new strings; the caller frees them). */
void wk__job_keys(const struct wk_worker *w, const char *job_id, const char *session,
                  char *keys[3]);

/* ev with its envelope, as MessagePack into mp (proto's pr_event_encode). Returns 0, or -1 after
 * logging (an invalid event is a bug; it is not sent). */
int wk__encode_event(const char *job_id, const char *session, struct pr_msg *ev, struct cm_buf *mp);

/* The outbox op of one item of a batched script call (taking the call), or NULL when the item
 * does not match the script's declaration (logged: a bug). */
struct wk_op *wk__op_of_item(struct st_call *c);

/* A dead-letter entry for a payload that never ran: the raw bytes (base64 when not UTF-8), the
 * id, the code and the reason. */
void wk__dead_entry(const struct wk_worker *w, struct cm_buf *dead, const char *raw, size_t rawlen,
                    const char *job_id, const char *code, const char *reason);

/* Ends a job that never ran: processing_failed, the raw payload to the dead-letter list, the
 * active entry removed, in one step. */
void wk__fail_invalid(struct wk_worker *w, const char *raw, size_t rawlen, const char *job_id,
                      const char *session, const char *image_id, const char *code,
                      const char *reason);

void wk__job_free(struct wk_job *job);

/* Sends a job event with the job's next sequence number and its attempt as fence. */
void wk__job_emit(struct wk_worker *w, struct wk_job *job, struct pr_msg *ev, struct emit_opts *o);

void wk__algo_estimate_set(struct wk_worker *w, const struct za_algo *a, double seconds);

void wk__requeue_raw(struct wk_worker *w, const char *raw, size_t rawlen, const char *job_id,
                     bool uncount);

/* Issues BLMOVEs while slots are free (counting jobs being claimed) and not draining: one at a
 * time while the queue is empty (a blocked BLMOVE holds the connection), up to
 * WK_INTAKE_PIPELINE at once while it has jobs, so that intake is not one round trip per job. */
void wk__intake_next(struct wk_worker *w);

void wk__intake_ready(struct cm_rconn *c);

void wk__intake_lost(struct cm_rconn *c);

void wk__emit_failed(struct wk_worker *w, struct wk_job *job, const struct za_algo_result *res);

void wk__heartbeat(struct wk_worker *w);

#endif
