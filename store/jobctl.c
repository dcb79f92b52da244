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

redisReply *st_script_call(redisContext *c, const struct st_script *s, int nkeys, int argc,
                           const char **argv, const size_t *argvlen, char *err, size_t errlen)
{
    const char **av = cm_xcalloc((size_t)argc + 3, sizeof(char *));
    size_t *al = cm_xcalloc((size_t)argc + 3, sizeof(size_t));
    char nk[16];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    av[2] = nk, al[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        al[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
    }
    redisReply *r = NULL;
    for (int pass = 0; pass < 2; pass++) {
        av[0] = pass ? "EVAL" : "EVALSHA";
        al[0] = strlen(av[0]);
        av[1] = pass ? s->body : s->sha1;
        al[1] = strlen(av[1]);
        r = redisCommandArgv(c, argc + 3, av, al);
        if (!r) {
            snprintf(err, errlen, "%s", c->errstr[0] ? c->errstr : "connection lost");
            break;
        }
        if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 && pass == 0) {
            freeReplyObject(r);
            r = NULL;
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "script %s: %s", s->name, r->str);
            freeReplyObject(r);
            r = NULL;
        }
        break;
    }
    free(av);
    free(al);
    return r;
}

/* Runs a jobctl script and maps its status reply. */
static enum st_jobctl_result run(redisContext *c, enum st_script_id id, int nkeys, int argc,
                                 const char **argv, const char *job_id, char *err, size_t errlen)
{
    st_script_init();
    redisReply *r = st_script_call(c, st_script(id), nkeys, argc, argv, NULL, err, errlen);
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
    char *hkey = cm_key_new(prefix, CM_KEY_JOB, job_id),
         *ch = cm_key_new(prefix, CM_KEY_CANCEL, NULL);
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)cm_time_now_ms());
    const char *argv[] = {hkey, ch, job_id, now};
    enum st_jobctl_result res = run(c, ST_SCRIPT_CANCEL, 2, 4, argv, job_id, err, errlen);
    free(hkey);
    free(ch);
    return res;
}

enum st_jobctl_result st_jobctl_retry(redisContext *c, const char *prefix, const char *job_id,
                                      int max_attempts, char *err, size_t errlen)
{
    if (!check_id(job_id, err, errlen))
        return ST_JOBCTL_REFUSED;
    char *hkey = cm_key_new(prefix, CM_KEY_JOB, job_id), *q = cm_key_new(prefix, CM_KEY_JOBS, NULL),
         *dead = cm_key_new(prefix, CM_KEY_DEAD, NULL);
    char max[16], now[24];
    snprintf(max, sizeof(max), "%d", max_attempts);
    snprintf(now, sizeof(now), "%lld", (long long)cm_time_now_ms());
    const char *argv[] = {hkey, q, dead, max, now, job_id};
    enum st_jobctl_result res = run(c, ST_SCRIPT_RETRY, 3, 6, argv, job_id, err, errlen);
    free(hkey);
    free(q);
    free(dead);
    return res;
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
    char *dead = cm_key_new(prefix, CM_KEY_DEAD, NULL), *q = cm_key_new(prefix, CM_KEY_JOBS, NULL),
         *hkey = cm_key_new(prefix, CM_KEY_JOB, job_id);
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)cm_time_now_ms());
    const char *argv[] = {dead, q, hkey, job_id, now};
    enum st_jobctl_result res = run(c, ST_SCRIPT_DEAD_REQUEUE, 3, 5, argv, job_id, err, errlen);
    free(dead);
    free(q);
    free(hkey);
    return res;
}

long st_dead_purge(redisContext *c, const char *prefix, const char *job_id, char *err,
                   size_t errlen)
{
    if (job_id && !check_id(job_id, err, errlen))
        return -1;
    st_script_init();
    char *dead = cm_key_new(prefix, CM_KEY_DEAD, NULL);
    const char *argv[] = {dead, job_id ? job_id : ""};
    redisReply *r =
        st_script_call(c, st_script(ST_SCRIPT_DEAD_PURGE), 1, 2, argv, NULL, err, errlen);
    free(dead);
    long n = r && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -1;
    if (r)
        freeReplyObject(r);
    return n;
}
