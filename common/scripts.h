/* Server-side Lua scripts: every multi-key change of job state happens in one of these, so it
 * is atomic. Declared once in scripts.c (body, keys, arguments); loaded by SHA1 with EVALSHA and
 * re-sent with EVAL on NOSCRIPT. Used by the worker (take, emit), and by the gateway and CLI
 * through jobctl.h (cancel, retry, dead letters), and by the scheduler (lease, recovery). Tables
 * are read-only after cm_scripts_init(): any thread. */
#ifndef CM_SCRIPTS_H
#define CM_SCRIPTS_H

#include <stddef.h>

#define CM_SCRIPTS(X)                                                                              \
    X(TAKE, "take")                                                                                \
    X(EMIT, "emit")                                                                                \
    X(CANCEL, "cancel")                                                                            \
    X(RETRY, "retry")                                                                              \
    X(REQUEUE, "requeue")                                                                          \
    X(SUBMIT, "submit")                                                                            \
    X(LEASE, "lease")                                                                              \
    X(RECOVER, "recover")                                                                          \
    X(FORGET, "forget")                                                                            \
    X(TIMEOUT, "timeout")                                                                          \
    X(EXPIRE_ENDED, "expire_ended")                                                                \
    X(DEAD_REQUEUE, "dead_requeue")                                                                \
    X(DEAD_PURGE, "dead_purge")                                                                    \
    X(DROP_DUPLICATE, "drop_duplicate")                                                            \
    X(SESSION_JOBS, "session_jobs")

enum cm_script_id {
#define CM__SCRIPT_ENUM(e, name) CM_SCRIPT_##e,
    CM_SCRIPTS(CM__SCRIPT_ENUM)
#undef CM__SCRIPT_ENUM
        CM_SCRIPT__COUNT
};

struct cm_script {
    const char *name;
    const char *body; /* Lua source */
    char sha1[41];    /* hex SHA1 of body, filled by cm_scripts_init */
};

/* Computes the SHA1s. Idempotent; call once before threads start. */
void cm_scripts_init(void);

/* The script (borrowed, static). */
const struct cm_script *cm_script(enum cm_script_id id);

/* Lowercase hex SHA1 of data into out[41]. */
void cm_sha1_hex(const void *data, size_t len, char out[41]);

#endif
