/* Job control through the server-side scripts (blocking). Any thread but a loop thread. */
#include "store/jobctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "proto/proto.h"
#include "common/keys.h"
#include "store/scripts.h"
#include "common/text.h"
#include "common/time.h"

/* Runs a jobctl script call (taking it over) and maps its status reply. */
static enum st_jobctl_result run(redisContext *c, struct st_call *call, const char *job_id,
                                 char *err, size_t errlen)
{
    redisReply *r = st_call_sync(c, call, err, errlen);
    if (!r)
        return ST_JOBCTL_ERROR;
    enum st_jobctl_result res = ST_JOBCTL_REFUSED;
    const char *st = r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING ? r->str : "?";
    if (strcmp(st, "ok") == 0)
        res = ST_JOBCTL_OK;
    else if (strcmp(st, "unknown") == 0)
        snprintf(err, errlen, "job %s: unknown", job_id), res = ST_JOBCTL_UNKNOWN;
    else if (strcmp(st, "limit") == 0)
        snprintf(err, errlen, "job %s: no attempts left", job_id);
    else if (strcmp(st, "noraw") == 0)
        snprintf(err, errlen, "job %s: its dead-letter entry holds no job that can run (purge it)",
                 job_id);
    else
        snprintf(err, errlen, "job %s: already %s", job_id,
                 strncmp(st, "status:", 7) ? st : st + 7);
    freeReplyObject(r);
    return res;
}

static bool check_id(const char *job_id, char *err, size_t errlen)
{
    if (cm_id_valid(job_id, strlen(job_id), CM_ID_MAX))
        return true;
    snprintf(err, errlen,
             "job id: must be 1..%d characters of [A-Za-z0-9_.:-], not starting with a dot",
             CM_ID_MAX);
    return false;
}

enum st_jobctl_result st_jobctl_cancel(redisContext *c, const char *prefix, const char *job_id,
                                       char *err, size_t errlen)
{
    if (!check_id(job_id, err, errlen))
        return ST_JOBCTL_REFUSED;
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_CANCEL);
    st_call_key_of(&call, ST_CANCEL_K_JOB, prefix, CM_KEY_JOB, job_id);
    st_call_key_of(&call, ST_CANCEL_K_CANCEL_CHANNEL, prefix, CM_KEY_CANCEL, NULL);
    st_call_arg(&call, ST_CANCEL_A_JOB_ID, job_id, (size_t)-1);
    st_call_arg_ll(&call, ST_CANCEL_A_NOW_MS, cm_time_now_ms());
    st_call_arg(&call, ST_CANCEL_A_SESSION_RULE, "", 0); /* any session */
    return run(c, &call, job_id, err, errlen);
}

enum st_jobctl_result st_jobctl_retry(redisContext *c, const char *prefix, const char *job_id,
                                      int max_attempts, char *err, size_t errlen)
{
    if (!check_id(job_id, err, errlen))
        return ST_JOBCTL_REFUSED;
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_RETRY);
    st_call_key_of(&call, ST_RETRY_K_JOB, prefix, CM_KEY_JOB, job_id);
    st_call_key_of(&call, ST_RETRY_K_QUEUE, prefix, CM_KEY_JOBS, NULL);
    st_call_key_of(&call, ST_RETRY_K_DEAD, prefix, CM_KEY_DEAD, NULL);
    st_call_arg_ll(&call, ST_RETRY_A_MAX_ATTEMPTS, max_attempts);
    st_call_arg_ll(&call, ST_RETRY_A_NOW_MS, cm_time_now_ms());
    st_call_arg(&call, ST_RETRY_A_JOB_ID, job_id, (size_t)-1);
    st_call_arg(&call, ST_RETRY_A_SESSION_RULE, "", 0); /* any session */
    return run(c, &call, job_id, err, errlen);
}

/* ---- dead letters ------------------------------------------------------------------------- */

int st_dead_list(redisContext *c, const char *prefix, long start, long count, char ***entries,
                 size_t *n, char *err, size_t errlen)
{
    *entries = NULL, *n = 0;
    char *key = cm_key_new(prefix, CM_KEY_DEAD, NULL);
    /* count 0: all from start */
    redisReply *r =
        redisCommand(c, "LRANGE %s %ld %ld", key, start, count > 0 ? start + count - 1 : -1L);
    free(key);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "%s", !r ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "?");
        if (r)
            freeReplyObject(r);
        return -1;
    }
    *entries = cm_xcalloc(r->elements ? r->elements : 1, sizeof(char *));
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            (*entries)[(*n)++] = cm_xmemdup0(r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
    return 0;
}

void st_dead_free(char **entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(entries[i]);
    free(entries);
}

char *st_dead_get(redisContext *c, const char *prefix, const char *job_id, char *err, size_t errlen)
{
    char **e;
    size_t n;
    err[0] = '\0';
    if (st_dead_list(c, prefix, 0, 0, &e, &n, err, errlen) != 0)
        return NULL;
    char *found = NULL;
    for (size_t i = 0; i < n && !found; i++) {
        struct pr_value v;
        struct pr_err perr = {0};
        if (pr_value_parse_json(e[i], strlen(e[i]), &v, &perr) != 0)
            continue;
        const struct pr_value *id = pr_value_get(&v, "job_id");
        if (id && id->type == PR_V_STR && strcmp(id->u.s.p, job_id) == 0)
            found = cm_xstrdup(e[i]);
        pr_value_deinit(&v);
    }
    st_dead_free(e, n);
    return found;
}

enum st_jobctl_result st_dead_requeue(redisContext *c, const char *prefix, const char *job_id,
                                      char *err, size_t errlen)
{
    if (!check_id(job_id, err, errlen))
        return ST_JOBCTL_REFUSED;
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_DEAD_REQUEUE);
    st_call_key_of(&call, ST_DEAD_REQUEUE_K_DEAD, prefix, CM_KEY_DEAD, NULL);
    st_call_key_of(&call, ST_DEAD_REQUEUE_K_QUEUE, prefix, CM_KEY_JOBS, NULL);
    st_call_key_of(&call, ST_DEAD_REQUEUE_K_JOB, prefix, CM_KEY_JOB, job_id);
    st_call_arg(&call, ST_DEAD_REQUEUE_A_JOB_ID, job_id, (size_t)-1);
    st_call_arg_ll(&call, ST_DEAD_REQUEUE_A_NOW_MS, cm_time_now_ms());
    return run(c, &call, job_id, err, errlen);
}

long st_dead_purge(redisContext *c, const char *prefix, const char *job_id, char *err,
                   size_t errlen)
{
    if (job_id && !check_id(job_id, err, errlen))
        return -1;
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_DEAD_PURGE);
    st_call_key_of(&call, ST_DEAD_PURGE_K_DEAD, prefix, CM_KEY_DEAD, NULL);
    st_call_arg(&call, ST_DEAD_PURGE_A_JOB_ID, job_id ? job_id : "", (size_t)-1);
    redisReply *r = st_call_sync(c, &call, err, errlen);
    long n = r && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -1;
    if (r)
        freeReplyObject(r);
    return n;
}
