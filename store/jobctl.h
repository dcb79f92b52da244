/* Job control for callers outside the worker (gateway REST, CLI, tests): cancel and retry a job
 * by id, atomically, through the server-side scripts. Blocking: never from a loop thread (the
 * gateway sends the same scripts asynchronously). Also the dead-letter list. */
#ifndef ST_JOBCTL_H
#define ST_JOBCTL_H

#include <hiredis/hiredis.h>
#include <stddef.h>

enum st_jobctl_result {
    ST_JOBCTL_OK = 0,      /* cancel: marked; retry: re-enqueued */
    ST_JOBCTL_UNKNOWN = 1, /* no such job */
    ST_JOBCTL_REFUSED = 2, /* wrong state or attempt limit; err says which */
    ST_JOBCTL_ERROR = -1,  /* Redis error; err says what */
};

/* Cancels job_id: a running job stops at its next check with processing_failed CANCELLED, a
 * queued one is skipped when a worker takes it. REFUSED when it already ended (err names the
 * status). */
enum st_jobctl_result st_jobctl_cancel(redisContext *c, const char *prefix, const char *job_id,
                                       char *err, size_t errlen);

/* Re-enqueues a failed or cancelled job as a new attempt (same job_id), or a dead one with its
 * attempts reset (its dead-letter entry removed). REFUSED when it is in another state or a
 * failed/cancelled job has used max_attempts. */
enum st_jobctl_result st_jobctl_retry(redisContext *c, const char *prefix, const char *job_id,
                                      int max_attempts, char *err, size_t errlen);

/* Dead letters: the entries of <prefix>:dead, newest first, each a JSON object with job_id,
 * error_code, error, worker, failed_at and the job as it was queued (raw; raw_base64 when it was
 * not text). st_dead_list returns entries [start, start + count) (count 0: to the end) as new
 * strings (*n of them; free with st_dead_free), or -1 with err filled. */
int st_dead_list(redisContext *c, const char *prefix, long start, long count, char ***entries,
                 size_t *n, char *err, size_t errlen);
void st_dead_free(char **entries, size_t n);
/* The entry of job_id (new string), or NULL: err is "" when there is none, else the error. */
char *st_dead_get(redisContext *c, const char *prefix, const char *job_id, char *err,
                  size_t errlen);
/* Puts a dead job back at the end of the queue workers take last, its attempts reset (same
 * job_id). UNKNOWN when it has no dead-letter entry; REFUSED when the entry holds no job that can
 * run again (an unreadable payload: purge it). */
enum st_jobctl_result st_dead_requeue(redisContext *c, const char *prefix, const char *job_id,
                                      char *err, size_t errlen);
/* Removes job_id's entry, or every entry when job_id is NULL. Returns how many went, or -1. */
long st_dead_purge(redisContext *c, const char *prefix, const char *job_id, char *err,
                   size_t errlen);

#endif
