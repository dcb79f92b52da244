/* Server-side Lua scripts: every multi-key change of job state happens in one of these, so it
 * is atomic. Declared once in scripts.c (body, keys, arguments); loaded by SHA1 with EVALSHA and
 * re-sent with EVAL on NOSCRIPT. Used by the worker (take, emit), and by the gateway and CLI
 * through jobctl.h (cancel, retry, dead letters), and by the scheduler (lease, recovery). Tables
 * are read-only after st_script_init(): any thread. */
#ifndef ST_SCRIPTS_H
#define ST_SCRIPTS_H

#include <stddef.h>

#define ST_SCRIPTS(X)                                                                              \
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

enum st_script_id {
#define ST__SCRIPT_ENUM(e, name) ST_SCRIPT_##e,
    ST_SCRIPTS(ST__SCRIPT_ENUM)
#undef ST__SCRIPT_ENUM
        ST_SCRIPT__COUNT
};

struct st_script {
    const char *name;
    const char *body; /* Lua source */
    char sha1[41];    /* hex SHA1 of body, filled by st_script_init */
};

/* Computes the SHA1s. Idempotent; call once before threads start. */
void st_script_init(void);

/* The script (borrowed, static). */
const struct st_script *st_script(enum st_script_id id);

/* Lowercase hex SHA1 of data into out[41]. */
void st_sha1_hex(const void *data, size_t len, char out[41]);

#endif
