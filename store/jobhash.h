/* The job hash, <prefix>:job:<job_id>: one row per field, the only list of them. REST's job
 * JSON (GET /api/jobs/{id}, a session's jobs) is the PUBLIC rows, typed by their row; the
 * scheduler reads fields by these names; the "Job hash" section of docs/PROTOCOL.md is generated
 * from this table (scripts/gen-store-doc.py, make docs), and make check-scripts fails when a
 * script or the worker writes a field that is not here. */
#ifndef ST_JOBHASH_H
#define ST_JOBHASH_H

#include <stdbool.h>

/* How a field's text reads: ST_JF_STR as it is; ST_JF_INT an integer (times are ms since the
 * epoch); ST_JF_NUM a number; ST_JF_BOOL "1" (or "true") for true. */
enum st_jf_type { ST_JF_STR, ST_JF_INT, ST_JF_NUM, ST_JF_BOOL };

/* X(ID, "name", type, public (in REST's job JSON), "who writes it", "what it holds") — public
 * rows in the order REST shows them. */
#define ST_JOB_HASH(X)                                                                             \
    X(STATUS, "status", ST_JF_STR, true,                                                           \
      "submit, take, emit, requeue, recover, timeout, retry, dead_requeue",                        \
      "queued, running, cancelling, complete, failed, cancelled or dead")                          \
    X(ATTEMPTS, "attempts", ST_JF_INT, true, "submit, take, requeue, retry, dead_requeue",         \
      "attempts taken so far (a retry starts another; a requeue without an outcome gives one "     \
      "back)")                                                                                     \
    X(PROGRESS, "progress", ST_JF_NUM, true, "submit, take, emit, recover, retry, dead_requeue",   \
      "0..100 of the current attempt")                                                             \
    X(CURRENT_STEP, "current_step", ST_JF_STR, true, "emit", "the step the analysis is in")        \
    X(ETA_SECONDS, "eta_seconds", ST_JF_NUM, true, "emit", "seconds left, as last estimated")      \
    X(IMAGE_ID, "image_id", ST_JF_STR, true, "submit, take", "the job's image_id")                 \
    X(ALGORITHM, "algorithm", ST_JF_STR, true, "submit, take", "the job's algorithm")              \
    X(SESSION_ID, "session_id", ST_JF_STR, true, "submit, take", "the job's session (\"\": none)") \
    X(WORKER, "worker", ST_JF_STR, true, "take, emit", "the worker that holds or held it")         \
    X(QUEUED_AT, "queued_at", ST_JF_INT, true, "submit, take, retry, dead_requeue",                \
      "when it was queued (ms)")                                                                   \
    X(STARTED_AT, "started_at", ST_JF_INT, true, "take", "when the current attempt started (ms)")  \
    X(FINISHED_AT, "finished_at", ST_JF_INT, true, "emit, recover, timeout", "when it ended (ms)") \
    X(RESULT_ID, "result_id", ST_JF_STR, true, "emit",                                             \
      "its result (<prefix>:result:<result_id>), once complete")                                   \
    X(ERROR, "error", ST_JF_STR, true, "emit, recover, timeout", "why it failed")                  \
    X(ERROR_CODE, "error_code", ST_JF_STR, true, "emit, recover, timeout",                         \
      "the failure's code (INVALID_IMAGE, CANCELLED, WORKER_LOST, TIMEOUT, ...)")                  \
    X(CONFIDENCE_SCORE, "confidence_score", ST_JF_NUM, true, "emit", "0..1, once complete")        \
    X(PROCESSING_TIME_SECONDS, "processing_time_seconds", ST_JF_NUM, true, "emit",                 \
      "how long the analysis ran, once complete")                                                  \
    X(VALIDATION_REQUIRED, "validation_required", ST_JF_BOOL, true, "emit",                        \
      "1 when its result needs a human look")                                                      \
    X(ATTEMPT, "attempt", ST_JF_INT, false, "take, recover, timeout, dead_requeue",                \
      "the attempt a worker holds (the fence: 0 while no worker holds the job)")                   \
    X(SEQ, "seq", ST_JF_INT, false, "take, emit", "the job's last event sequence number")          \
    X(PAYLOAD, "payload", ST_JF_STR, false, "submit, take",                                        \
      "the normalized job JSON, for retries")                                                      \
    X(TAKE, "take", ST_JF_STR, false, "take", "the claim token of the current attempt")            \
    X(TAKE_STATE, "take_state", ST_JF_STR, false, "take",                                          \
      "what the claim decided: run or cancelled")                                                  \
    X(CANCEL, "cancel", ST_JF_BOOL, false, "cancel, timeout", "1 once cancelled")                  \
    X(CANCEL_REQUESTED_AT, "cancel_requested_at", ST_JF_INT, false, "cancel",                      \
      "when the cancel came (ms)")                                                                 \
    X(REQUEUED_AT, "requeued_at", ST_JF_INT, false, "recover",                                     \
      "when it was recovered from a lost worker (ms)")                                             \
    X(LOST_WORKER, "lost_worker", ST_JF_STR, false, "recover", "the worker it was recovered from")

enum st_job_field {
#define ST__JF_ENUM(id, name, type, pub, writers, doc) ST_JF_##id,
    ST_JOB_HASH(ST__JF_ENUM)
#undef ST__JF_ENUM
        ST_JF__COUNT
};

/* The public rows come first (REST shows fields 0 .. ST_JF__PUBLIC - 1). */
enum {
#define ST__JF_PUB(id, name, type, pub, writers, doc) +((pub) ? 1 : 0)
    ST_JF__PUBLIC = 0 ST_JOB_HASH(ST__JF_PUB)
#undef ST__JF_PUB
};

struct st_job_field_desc {
    const char *name;
    enum st_jf_type type;
    bool public; /* in REST's job JSON */
    const char *writers, *doc;
};

/* The row of a field (static). */
const struct st_job_field_desc *st_job_field(enum st_job_field f);

/* The field called name, or -1. */
int st_job_field_find(const char *name);

#endif
