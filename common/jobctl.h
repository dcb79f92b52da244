/* Job control for callers outside the worker (gateway REST, CLI, tests): cancel and retry a job
 * by id, atomically, through the server-side scripts. Blocking: never from a loop thread (the
 * gateway sends the same scripts asynchronously). */
#ifndef CM_JOBCTL_H
#define CM_JOBCTL_H

#include <hiredis/hiredis.h>
#include <stddef.h>

enum cm_jobctl_result {
    CM_JOBCTL_OK = 0,      /* cancel: marked; retry: re-enqueued */
    CM_JOBCTL_UNKNOWN = 1, /* no such job */
    CM_JOBCTL_REFUSED = 2, /* wrong state or attempt limit; err says which */
    CM_JOBCTL_ERROR = -1,  /* Redis error; err says what */
};

/* Cancels job_id: a running job stops at its next check with processing_failed CANCELLED, a
 * queued one is skipped when a worker takes it. REFUSED when it already ended (err names the
 * status). */
enum cm_jobctl_result cm_jobctl_cancel(redisContext *c, const char *prefix, const char *job_id,
                                       char *err, size_t errlen);

/* Re-enqueues a failed or cancelled job as a new attempt (same job_id). REFUSED when it is not
 * failed/cancelled or has used max_attempts. */
enum cm_jobctl_result cm_jobctl_retry(redisContext *c, const char *prefix, const char *job_id,
                                      int max_attempts, char *err, size_t errlen);

/* EVALSHA of a script, falling back to EVAL on NOSCRIPT. argv: keys then args. Returns the reply
 * (caller frees) or NULL with err filled (Redis errors included). */
struct cm_script;
redisReply *cm_script_call(redisContext *c, const struct cm_script *s, int nkeys, int argc,
                           const char **argv, const size_t *argvlen, char *err, size_t errlen);

#endif
