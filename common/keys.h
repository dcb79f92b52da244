/* Redis key and channel names, all derived from one table and the configured prefix.
 * Pure functions, any thread. docs/ARCHITECTURE.md lists the same table. */
#ifndef CM_KEYS_H
#define CM_KEYS_H

#include <stddef.h>

/* One row per key: enum suffix, name after "<prefix>:", takes an id, Redis type, meaning. */
#define CM_KEYS(X)                                                                                 \
    X(JOBS, "jobs", 0, "list", "pending jobs (JSON); workers take from the right")                 \
    X(ACTIVE, "active", 1, "list", "the job a worker holds; survives the worker's death")          \
    X(JOB, "job", 1, "hash", "job status, attempts, progress, worker, times, result")              \
    X(WORKER, "worker", 1, "hash+TTL", "worker heartbeat: host, pid, device, GPU figures")         \
    X(WORKERS, "workers", 0, "set", "known worker ids")                                            \
    X(EVENTS, "events", 1, "stream", "a session's event log, for replay")                          \
    X(BCAST, "bcast", 0, "stream+channel", "events for everyone (system_status)")                  \
    X(CHANNEL, "ch", 1, "channel", "live events of one session, with their stream ids")            \
    X(RESULT, "result", 1, "string+TTL", "a job's full result")                                    \
    X(PREVIEW, "preview", 1, "string+TTL",                                                         \
      "a result's preview.png (at most the worker's --max-preview-kb), as long as the result")     \
    X(DEAD, "dead", 0, "list", "jobs that exhausted their attempts or were malformed")             \
    X(CANCEL, "cancel", 0, "channel", "job ids to cancel")                                         \
    X(LEADER, "scheduler:leader", 0, "string+PX", "the scheduler leader lease")                    \
    X(ALGO, "algo", 1, "hash", "per-algorithm throughput estimate (seconds per job, EWMA)")        \
    X(SESSION_JOBS, "session_jobs", 1, "zset+TTL",                                                 \
      "a session's job ids by queue time (its history over REST), as long as its stream")          \
    X(SESSION_ACTIVE, "session_active", 1, "set+TTL",                                              \
      "a session's jobs submitted over REST and not yet ended (--max-session-jobs)")               \
    X(QUOTA, "quota", 1, "hash+PX", "a client's submit token bucket: tokens, ms (--submit-rate)")

enum cm_key {
#define CM__KEY_ENUM(e, name, has_id, type, doc) CM_KEY_##e,
    CM_KEYS(CM__KEY_ENUM)
#undef CM__KEY_ENUM
        CM_KEY__COUNT
};

#define CM_PREFIX_MAX 64 /* longest accepted key prefix */
#define CM_ID_MAX 128    /* longest id inside a key */

/* Writes "<prefix>:<name>[:<id>]" into buf. id must be NULL exactly for keys without one.
 * Returns the length, or -EINVAL (bad kind, missing/extra id) or -ENAMETOOLONG (buf too small). */
int cm_key_fmt(char *buf, size_t n, const char *prefix, enum cm_key kind, const char *id);

/* The same in a new string; aborts on a programming error (bad kind or id presence).
 * Caller frees. */
char *cm_key_new(const char *prefix, enum cm_key kind, const char *id);

/* Row accessors for docs and tests. */
const char *cm_key_name(enum cm_key kind);
int cm_key_has_id(enum cm_key kind);

/* cm_opt_check_cb for the prefix option: an id of at most CM_PREFIX_MAX bytes. */
int cm_key_prefix_check(const char *value, char *err, size_t errlen);

#endif
