/* Integration: zsa-worker as a real process against a real redis-server — the pipeline from
 * LPUSH to the session stream, bad jobs, cancel, retry, kill -9, SIGTERM, and a Redis restart
 * in the middle of a job. Events are read back from the streams and decoded with proto/. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/jobctl.h"
#include "common/time.h"
#include "proto/proto.h"
#include "tests/harness/proc.h"
#include "tests/harness/redis_server.h"
#include "analysis/synth.h"

static struct th_redis R;
static redisContext *C;
static struct th_proc W;

static void setup(void)
{
    R.aof = true;
    cr_assert_eq(th_redis_start(&R), 0);
    C = th_redis_connect(&R);
    cr_assert_not_null(C);
}

static void teardown(void)
{
    /* a worker that exited by itself ran LeakSanitizer at exit: its log must be clean */
    static char log[65536];
    cr_expect(th_proc_log_clean(&W, "worker", log, sizeof(log)), "worker log:\n%s", log);
    th_proc_stop(&W);
    if (C)
        redisFree(C);
    C = NULL;
    th_redis_stop(&R);
}

TestSuite(worker, .init = setup, .fini = teardown, .timeout = 90);

/* Starts a worker on R with id wid and extra flags (NULL-terminated). */
static void start_worker(struct th_proc *p, const char *wid, ...)
{
    static char url[340], idflag[128];
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(idflag, sizeof(idflag), "--worker-id=%s", wid);
    const char *argv[32] = {
        url, idflag, "--data-dir=/tmp", "--metrics-listen=", "--poll-ms=200", "--heartbeat-ms=200"};
    int n = 6;
    va_list ap;
    va_start(ap, wid);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;)
        argv[n++] = a;
    va_end(ap);
    cr_assert_eq(th_proc_start(p, "zsa-worker", argv, NULL), 0);
}

static void lpush(const char *json)
{
    freeReplyObject(th_cmd(C, "LPUSH zsa:jobs %s", json));
}

static const char *job_field(const char *id, const char *field, char *buf, size_t n)
{
    return th_job_field(C, id, field, buf, n);
}

static bool wait_field(const char *id, const char *field, const char *want, int timeout_ms)
{
    return th_wait_job_field(C, id, field, want, timeout_ms);
}

#define MAX_EV 512
struct events {
    int n;
    struct pr_msg m[MAX_EV];
    char id[MAX_EV][32];
};

/* Decodes every entry of a stream (XRANGE - +); each must be a valid event. */
static void read_events(const char *stream, struct events *ev)
{
    ev->n = 0;
    redisReply *r = th_cmd(C, "XRANGE %s - +", stream);
    for (size_t i = 0; i < r->elements && ev->n < MAX_EV; i++) {
        redisReply *e = r->element[i];
        redisReply *kv = e->element[1];
        cr_assert_eq(kv->elements, 2);
        struct pr_err err;
        cr_assert_eq(pr_decode_msgpack(kv->element[1]->str, kv->element[1]->len, PR_WIRE_SERVER,
                                       &ev->m[ev->n], &err),
                     0, "entry %s: %s", e->element[0]->str, err.text);
        snprintf(ev->id[ev->n], sizeof(ev->id[0]), "%s", e->element[0]->str);
        ev->n++;
    }
    freeReplyObject(r);
}

static void free_events(struct events *ev)
{
    for (int i = 0; i < ev->n; i++)
        pr_msg_deinit(&ev->m[i]);
    ev->n = 0;
}

static long long llen(const char *key)
{
    redisReply *r = th_cmd(C, "LLEN %s", key);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* stream ids "ms-seq" compare */
static bool id_less(const char *a, const char *b)
{
    unsigned long long am, as, bm, bs;
    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    return am < bm || (am == bm && as < bs);
}

static struct events EV;

Test(worker, simulate_job_streams_started_progress_complete_in_order)
{
    start_worker(&W, "w1", NULL);
    lpush("{\"job_id\":\"j1\",\"image_id\":\"a1\",\"file_path\":\"/data/a1.tif\","
          "\"algorithm\":\"simulate\",\"parameters\":{\"duration_seconds\":0.6},\"session_id\":"
          "\"s1\"}");
    cr_assert(wait_field("j1", "status", "complete", 15000), "job did not complete");
    read_events("zsa:events:s1", &EV);
    cr_assert_geq(EV.n, 3);
    cr_assert_eq(EV.m[0].type, PR_PROCESSING_STARTED);
    cr_assert_float_eq(EV.m[0].u.processing_started.estimated_time_seconds, 0.6, 1e-9);
    cr_assert_eq(EV.m[EV.n - 1].type, PR_PROCESSING_COMPLETE);
    double last = -1;
    int progress = 0;
    for (int i = 0; i < EV.n; i++) {
        cr_assert_str_eq(EV.m[i].job_id, "j1");
        cr_assert_str_eq(EV.m[i].session_id, "s1");
        if (i > 0)
            cr_assert(id_less(EV.id[i - 1], EV.id[i]), "ids not increasing: %s %s", EV.id[i - 1],
                      EV.id[i]);
        if (EV.m[i].type == PR_PROCESSING_PROGRESS) {
            double p = EV.m[i].u.processing_progress.progress;
            cr_assert_geq(p, last, "progress went back: %g after %g", p, last);
            last = p;
            progress++;
            double eta = EV.m[i].u.processing_progress.eta_seconds;
            cr_assert(isnan(eta) || eta >= 0);
        }
    }
    cr_assert_geq(progress, 5, "the five seed steps at least");
    char seq[32];
    cr_assert_eq(atoi(job_field("j1", "seq", seq, sizeof(seq))), EV.n, "every event stored once");
    cr_assert_float_eq(last, 100, 1e-9);
    const struct pr_processing_complete *c = &EV.m[EV.n - 1].u.processing_complete;
    cr_assert_float_eq(c->confidence_score, 0.92, 1e-9);
    cr_assert_geq(c->processing_time_seconds, 0.5);
    cr_assert_eq(llen("zsa:active:w1"), 0, "the active list must be empty");
    redisReply *r = th_cmd(C, "GET zsa:result:%s", c->result_id);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "result %s missing", c->result_id);
    cr_assert(strstr(r->str, "\"summary\":{\"algorithm\":\"simulate\""), "%s", r->str);
    freeReplyObject(r);
    r = th_cmd(C, "TTL zsa:result:%s", c->result_id);
    cr_assert_gt(r->integer, 600000);
    freeReplyObject(r);
    char buf[64];
    cr_assert_str_eq(job_field("j1", "attempts", buf, sizeof(buf)), "1");
    cr_assert_str_eq(job_field("j1", "worker", buf, sizeof(buf)), "w1");
    free_events(&EV);
}

Test(worker, job_without_id_gets_one_and_events_go_to_its_session)
{
    start_worker(&W, "w1", NULL);
    lpush("{\"image_id\":\"a2\",\"algorithm\":\"simulate\",\"parameters\":{\"duration_seconds\":0."
          "2},\"session_id\":\"s2\"}");
    int64_t deadline = cm_time_mono_ms() + 15000;
    const char *job_id = NULL;
    while (cm_time_mono_ms() < deadline) {
        read_events("zsa:events:s2", &EV);
        if (EV.n && EV.m[EV.n - 1].type == PR_PROCESSING_COMPLETE) {
            job_id = EV.m[EV.n - 1].job_id;
            break;
        }
        free_events(&EV);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_not_null(job_id, "no processing_complete in zsa:events:s2");
    char buf[64];
    cr_assert_str_eq(job_field(job_id, "status", buf, sizeof(buf)), "complete");
    cr_assert(strncmp(job_id, "w1-", 3) == 0, "generated id %s", job_id);
    free_events(&EV);
}

Test(worker, bad_jobs_end_with_their_error_code_and_the_worker_goes_on)
{
    start_worker(&W, "w1", NULL);
    static const struct {
        const char *json, *code, *job;
    } bad[] = {
        {"{not json", "INVALID_JOB", NULL},
        {"{\"job_id\":\"b1\",\"image_id\":\"x\"}", "INVALID_JOB", NULL},
        {"{\"job_id\":\"b2\",\"image_id\":\"x\",\"algorithm\":\"no_such\",\"session_id\":\"sb\"}",
         "UNKNOWN_ALGORITHM", "b2"},
        {"{\"job_id\":\"b3\",\"image_id\":\"x\",\"algorithm\":\"simulate\",\"parameters\":{"
         "\"steps\":\"x\"},\"session_id\":\"sb\"}",
         "INVALID_PARAMETERS", "b3"},
        {"{\"job_id\":\"b4\",\"image_id\":\"x\",\"algorithm\":\"simulate\",\"file_path\":\""
         "zsa-nonexistent/x.tif\","
         "\"parameters\":{\"require_file\":true},\"session_id\":\"sb\"}",
         "FILE_NOT_FOUND", "b4"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        lpush(bad[i].json);
    /* binary garbage with a NUL byte: still removed from the active list exactly */
    freeReplyObject(th_cmd(C, "LPUSH zsa:jobs %b", "{\"a\"\0:1}", (size_t)8));
    lpush("{\"job_id\":\"good\",\"image_id\":\"g\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":0.1},\"session_id\":\"sb\"}");
    cr_assert(wait_field("good", "status", "complete", 15000), "the worker stopped taking jobs");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (!bad[i].job)
            continue;
        char buf[128];
        cr_assert_str_eq(job_field(bad[i].job, "status", buf, sizeof(buf)), "failed", "%s",
                         bad[i].job);
        cr_assert_str_eq(job_field(bad[i].job, "error_code", buf, sizeof(buf)), bad[i].code);
    }
    /* every bad job is in the dead-letter list with its raw payload and reason */
    redisReply *r = th_cmd(C, "LRANGE zsa:dead 0 -1");
    cr_assert_eq(r->elements, 6);
    int found = 0;
    for (size_t i = 0; i < r->elements; i++)
        for (size_t k = 0; k < 5; k++)
            found += strstr(r->element[i]->str, bad[k].code) != NULL &&
                     strstr(r->element[i]->str,
                            k == 0 ? "{not json" : "\"image_id\\\":\\\"x\\\"") != NULL;
    cr_assert_geq(found, 5, "dead letters lack payloads or codes");
    freeReplyObject(r);
    /* the ones without a session are broadcast */
    read_events("zsa:bcast", &EV);
    cr_assert_eq(EV.n, 3);
    for (int i = 0; i < EV.n; i++) {
        cr_assert_eq(EV.m[i].type, PR_PROCESSING_FAILED);
        cr_assert_str_eq(EV.m[i].u.processing_failed.error_code, "INVALID_JOB");
        cr_assert(strlen(EV.m[i].u.processing_failed.error) > 5);
    }
    free_events(&EV);
    cr_assert_eq(llen("zsa:active:w1"), 0);
}

Test(worker, cancel_stops_a_running_job_quickly)
{
    start_worker(&W, "w1", NULL);
    lpush("{\"job_id\":\"c1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":30},\"session_id\":\"sc\"}");
    cr_assert(wait_field("c1", "status", "running", 10000));
    char err[256];
    int64_t t0 = cm_time_mono_ms();
    cr_assert_eq(st_jobctl_cancel(C, "zsa", "c1", err, sizeof(err)), ST_JOBCTL_OK, "%s", err);
    cr_assert(wait_field("c1", "status", "cancelled", 5000));
    int64_t took = cm_time_mono_ms() - t0;
    cr_log_info("cancel took %lld ms", (long long)took);
    read_events("zsa:events:sc", &EV);
    const struct pr_msg *last = &EV.m[EV.n - 1];
    cr_assert_eq(last->type, PR_PROCESSING_FAILED);
    cr_assert_str_eq(last->u.processing_failed.error_code, "CANCELLED");
    cr_assert(last->u.processing_failed.retry_available);
    free_events(&EV);
    cr_assert_eq(llen("zsa:active:w1"), 0);
    cr_assert_eq(st_jobctl_cancel(C, "zsa", "c1", err, sizeof(err)), ST_JOBCTL_REFUSED);
    cr_assert(strstr(err, "already cancelled"), "%s", err);
    cr_assert_eq(st_jobctl_cancel(C, "zsa", "nope", err, sizeof(err)), ST_JOBCTL_UNKNOWN);
}

/* An analysis that does not look at cancel (a read blocked on a dead file server: simulate's
 * stall_seconds) still ends CANCELLED soon after the cancel; its slot stays taken until the
 * analysis returns, and nothing more of it is recorded; SIGTERM past the grace period exits. */
Test(worker, a_cancelled_job_whose_analysis_is_stuck_ends_and_shutdown_does_not_wait_for_it)
{
    start_worker(&W, "ws", "--slots=2", "--grace-ms=300", "--metrics-listen=127.0.0.1:0", NULL);
    lpush("{\"job_id\":\"st1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":2,\"stall_at\":25,\"stall_seconds\":12},\"session_id\":\"sst\"}");
    cr_assert(wait_field("st1", "status", "running", 10000));
    char buf[256], err[256];
    struct timespec stall = {1, 500000000}; /* 25 % comes at 0.5 s */
    nanosleep(&stall, NULL);
    cr_assert_eq(st_jobctl_cancel(C, "zsa", "st1", err, sizeof(err)), ST_JOBCTL_OK, "%s", err);
    cr_assert(wait_field("st1", "status", "cancelled", 10000), "the stuck job was not ended");
    cr_expect(strstr(job_field("st1", "error", buf, sizeof(buf)), "did not stop"), "%s", buf);
    cr_expect_eq(llen("zsa:active:ws"), 0, "still held");
    /* the other slot works meanwhile */
    lpush("{\"job_id\":\"st2\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":0.2},\"session_id\":\"sst\"}");
    cr_assert(wait_field("st2", "status", "complete", 10000));
    read_events("zsa:events:sst", &EV);
    int outcomes = 0;
    for (int i = 0; i < EV.n; i++)
        if (EV.m[i].type == PR_PROCESSING_FAILED || EV.m[i].type == PR_PROCESSING_COMPLETE)
            outcomes += strcmp(EV.m[i].job_id, "st1") == 0;
    free_events(&EV);
    cr_expect_eq(outcomes, 1, "st1 has %d outcomes", outcomes);
    /* SIGTERM while the stuck analysis still runs: the worker exits, not waiting 12 s */
    lpush("{\"job_id\":\"st3\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":2,\"stall_at\":0,\"stall_seconds\":30},\"session_id\":\"sst\"}");
    cr_assert(wait_field("st3", "status", "running", 10000));
    int64_t t0 = cm_time_mono_ms();
    th_proc_signal(&W, SIGTERM);
    cr_assert(th_proc_wait(&W, 15000), "the worker waited for its stuck analyses");
    cr_log_info("exited %lld ms after SIGTERM", (long long)(cm_time_mono_ms() - t0));
    char log[16384];
    th_proc_log(&W, log, sizeof(log));
    cr_expect(strstr(log, "analyses did not stop"), "%s", log);
    cr_expect(strstr(log, "ended it without the analysis"), "%s", log);
}

Test(worker, cancelled_queued_job_is_skipped_when_taken)
{
    start_worker(&W, "w1", NULL);
    lpush("{\"job_id\":\"long\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":30},\"session_id\":\"sq\"}");
    cr_assert(wait_field("long", "status", "running", 10000));
    /* queued as the REST API will do it: a hash with status queued, then the list */
    freeReplyObject(th_cmd(C, "HSET zsa:job:q1 status queued"));
    lpush(
        "{\"job_id\":\"q1\",\"image_id\":\"b\",\"algorithm\":\"simulate\",\"session_id\":\"sq\"}");
    char err[256];
    cr_assert_eq(st_jobctl_cancel(C, "zsa", "q1", err, sizeof(err)), ST_JOBCTL_OK, "%s", err);
    cr_assert_eq(st_jobctl_cancel(C, "zsa", "long", err, sizeof(err)), ST_JOBCTL_OK, "%s", err);
    cr_assert(wait_field("q1", "status", "cancelled", 10000));
    read_events("zsa:events:sq", &EV);
    for (int i = 0; i < EV.n; i++) {
        if (strcmp(EV.m[i].job_id, "q1") == 0)
            cr_assert_eq(EV.m[i].type, PR_PROCESSING_FAILED, "q1 must not start");
    }
    free_events(&EV);
}

Test(worker, retry_after_failure_until_the_attempt_limit)
{
    start_worker(&W, "w1", "--max-attempts=3", NULL);
    lpush("{\"job_id\":\"r1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":0.2,\"fail_at\":50},\"session_id\":\"sr\"}");
    char err[256], buf[64];
    cr_assert(wait_field("r1", "status", "failed", 10000));
    cr_assert_str_eq(job_field("r1", "error_code", buf, sizeof(buf)), "SIMULATED_FAILURE");
    cr_assert_eq(st_jobctl_retry(C, "zsa", "r1", 3, err, sizeof(err)), ST_JOBCTL_OK, "%s", err);
    cr_assert(wait_field("r1", "attempts", "2", 10000));
    cr_assert(wait_field("r1", "status", "failed", 10000));
    cr_assert_eq(st_jobctl_retry(C, "zsa", "r1", 3, err, sizeof(err)), ST_JOBCTL_OK, "%s", err);
    cr_assert(wait_field("r1", "attempts", "3", 10000));
    cr_assert(wait_field("r1", "status", "failed", 10000));
    cr_assert_eq(st_jobctl_retry(C, "zsa", "r1", 3, err, sizeof(err)), ST_JOBCTL_REFUSED);
    cr_assert(strstr(err, "no attempts left"), "%s", err);
    /* each attempt has its own started event, and the events stayed in order */
    read_events("zsa:events:sr", &EV);
    int started = 0, failed = 0;
    for (int i = 0; i < EV.n; i++) {
        started += EV.m[i].type == PR_PROCESSING_STARTED;
        failed += EV.m[i].type == PR_PROCESSING_FAILED;
    }
    cr_assert_eq(started, 3);
    cr_assert_eq(failed, 3);
    free_events(&EV);
    cr_assert_eq(st_jobctl_retry(C, "zsa", "nope", 3, err, sizeof(err)), ST_JOBCTL_UNKNOWN);
}

Test(worker, kill_9_mid_job_leaves_the_job_in_the_active_list)
{
    start_worker(&W, "wk", NULL);
    lpush("{\"job_id\":\"k1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":30},\"session_id\":\"sk\"}");
    cr_assert(wait_field("k1", "status", "running", 10000));
    th_proc_signal(&W, SIGKILL);
    cr_assert(th_proc_wait(&W, 5000));
    cr_assert_eq(llen("zsa:active:wk"), 1, "the job must stay held for recovery");
    cr_assert_eq(llen("zsa:jobs"), 0);
    redisReply *r = th_cmd(C, "LINDEX zsa:active:wk 0");
    cr_assert(strstr(r->str, "\"job_id\":\"k1\""), "%s", r->str);
    freeReplyObject(r);
}

Test(worker, sigterm_lets_a_job_finish_within_the_grace_period)
{
    start_worker(&W, "wt", "--grace-ms=20000", NULL);
    lpush("{\"job_id\":\"t1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":1.5},\"session_id\":\"st\"}");
    cr_assert(wait_field("t1", "status", "running", 10000));
    th_proc_signal(&W, SIGTERM);
    cr_assert(th_proc_wait(&W, 15000), "worker did not exit");
    cr_assert_eq(W.status, 0);
    char buf[64];
    cr_assert_str_eq(job_field("t1", "status", buf, sizeof(buf)), "complete");
    cr_assert_eq(llen("zsa:active:wt"), 0);
    redisReply *r = th_cmd(C, "EXISTS zsa:worker:wt");
    cr_assert_eq(r->integer, 0, "a stopped worker leaves the registry");
    freeReplyObject(r);
}

Test(worker, sigterm_past_the_grace_period_requeues_without_failing)
{
    start_worker(&W, "wg", "--grace-ms=300", NULL);
    lpush("{\"job_id\":\"g1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":30},\"session_id\":\"sg\"}");
    cr_assert(wait_field("g1", "status", "running", 10000));
    th_proc_signal(&W, SIGTERM);
    cr_assert(th_proc_wait(&W, 15000), "worker did not exit");
    cr_assert_eq(W.status, 0);
    char buf[64];
    cr_assert_str_eq(job_field("g1", "status", buf, sizeof(buf)), "queued");
    cr_assert_str_eq(job_field("g1", "attempts", buf, sizeof(buf)), "0",
                     "a shutdown is not an attempt");
    cr_assert_eq(llen("zsa:active:wg"), 0);
    cr_assert_eq(llen("zsa:jobs"), 1, "back in the queue, once");
    read_events("zsa:events:sg", &EV);
    for (int i = 0; i < EV.n; i++)
        cr_assert_neq(EV.m[i].type, PR_PROCESSING_FAILED, "a requeued job did not fail");
    free_events(&EV);
    /* a new worker takes it and finishes it: nothing lost */
    freeReplyObject(th_cmd(C, "HSET zsa:job:g1 status queued"));
    redisReply *r = th_cmd(C, "LINDEX zsa:jobs 0");
    char *raw = strdup(r->str);
    freeReplyObject(r);
    freeReplyObject(th_cmd(C, "DEL zsa:jobs"));
    char *fast = strdup(raw);
    char *p = strstr(fast, "\"duration_seconds\":30");
    cr_assert_not_null(p);
    memcpy(p, "\"duration_seconds\":0 ", 21);
    lpush(fast);
    free(raw);
    free(fast);
    struct th_proc w2;
    start_worker(&w2, "wg2", NULL);
    bool done = wait_field("g1", "status", "complete", 15000);
    th_proc_stop(&w2);
    cr_assert(done);
}

Test(worker, redis_restart_mid_job_loses_and_duplicates_nothing)
{
    start_worker(&W, "wr", NULL);
    lpush("{\"job_id\":\"x1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":3,\"steps\":7},\"session_id\":\"sx\"}");
    cr_assert(wait_field("x1", "status", "running", 10000));
    char buf[64];
    cr_assert(wait_field("x1", "current_step", "Loading data", 10000));
    redisFree(C);
    cr_assert_eq(th_redis_restart(&R), 0);
    C = th_redis_connect(&R);
    cr_assert(wait_field("x1", "status", "complete", 30000), "status %s",
              job_field("x1", "status", buf, sizeof(buf)));
    read_events("zsa:events:sx", &EV);
    int started = 0, complete = 0;
    double last = -1;
    for (int i = 0; i < EV.n; i++) {
        started += EV.m[i].type == PR_PROCESSING_STARTED;
        complete += EV.m[i].type == PR_PROCESSING_COMPLETE;
        if (EV.m[i].type == PR_PROCESSING_PROGRESS) {
            double p = EV.m[i].u.processing_progress.progress;
            cr_assert_gt(p, last, "event %d repeated or out of order (%g after %g)", i, p, last);
            last = p;
        }
    }
    cr_assert_eq(started, 1);
    cr_assert_eq(complete, 1);
    cr_assert_float_eq(last, 100, 1e-9);
    /* events carry sequence numbers 1..seq: as many entries as numbers means none lost */
    cr_assert_eq(atoi(job_field("x1", "seq", buf, sizeof(buf))), EV.n, "seq %s, %d events", buf,
                 EV.n);
    free_events(&EV);
    cr_assert_eq(llen("zsa:active:wr"), 0);
}

Test(worker, low_confidence_asks_for_validation_with_the_threshold_per_job)
{
    start_worker(&W, "wv", NULL);
    lpush("{\"job_id\":\"v1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":0,\"confidence\":0.5},\"session_id\":\"sv\"}");
    lpush("{\"job_id\":\"v2\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":0,\"confidence\":0.8,\"confidence_threshold\":0.9},\"session_id\":"
          "\"sv\"}");
    lpush("{\"job_id\":\"v3\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":0,\"confidence\":0.95},\"session_id\":\"sv\"}");
    cr_assert(wait_field("v3", "status", "complete", 15000));
    read_events("zsa:events:sv", &EV);
    int asked[4] = {0};
    for (int i = 0; i < EV.n; i++) {
        if (EV.m[i].type != PR_VALIDATION_REQUIRED)
            continue;
        int k = EV.m[i].job_id[1] - '0';
        asked[k]++;
        const struct pr_validation_required *v = &EV.m[i].u.validation_required;
        cr_assert(strstr(v->reason, k == 1 ? "(0.7)" : "(0.9)"), "%s", v->reason);
        cr_assert_geq(v->suggested_actions.n, 1);
        cr_assert_eq(EV.m[i - 1].type, PR_PROCESSING_COMPLETE, "validation follows completion");
        cr_assert_str_eq(v->result_id, EV.m[i - 1].u.processing_complete.result_id);
    }
    cr_assert_eq(asked[1], 1, "0.5 < default 0.7");
    cr_assert_eq(asked[2], 1, "0.8 < job's 0.9");
    cr_assert_eq(asked[3], 0, "0.95 is fine");
    free_events(&EV);
}

Test(worker, slots_run_jobs_side_by_side)
{
    start_worker(&W, "ws", "--slots=2", NULL);
    lpush("{\"job_id\":\"p1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":30},\"session_id\":\"sp\"}");
    lpush("{\"job_id\":\"p2\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":30},\"session_id\":\"sp\"}");
    lpush("{\"job_id\":\"p3\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":30},\"session_id\":\"sp\"}");
    cr_assert(wait_field("p1", "status", "running", 10000));
    cr_assert(wait_field("p2", "status", "running", 10000));
    cr_assert_eq(llen("zsa:active:ws"), 2);
    cr_assert_eq(llen("zsa:jobs"), 1, "a third job waits for a free slot");
    redisReply *r = th_cmd(C, "HGET zsa:worker:ws busy");
    int64_t deadline = cm_time_mono_ms() + 5000;
    while (r->type == REDIS_REPLY_STRING && strcmp(r->str, "2") != 0 &&
           cm_time_mono_ms() < deadline) {
        freeReplyObject(r);
        r = th_cmd(C, "HGET zsa:worker:ws busy");
    }
    cr_assert_str_eq(r->str, "2", "heartbeat shows both slots busy");
    freeReplyObject(r);
}

/* GET path from 127.0.0.1:port; returns the HTTP status and the body in buf. */
static int http_get(int port, const char *path, char *buf, size_t n)
{
    redisContext *tmp = redisConnect("127.0.0.1", port); /* any blocking TCP connect will do */
    cr_assert(tmp && !tmp->err, "connect %d", port);
    char req[256];
    int len = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    cr_assert_eq(write(tmp->fd, req, (size_t)len), len);
    size_t got = 0;
    ssize_t k;
    while (got < n - 1 && (k = read(tmp->fd, buf + got, n - 1 - got)) > 0)
        got += (size_t)k;
    buf[got] = '\0';
    redisFree(tmp);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    return status;
}

Test(worker, metrics_and_healthz_answer_over_http)
{
    start_worker(&W, "wm", "--metrics-listen=127.0.0.1:0", NULL);
    lpush("{\"job_id\":\"m1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":0},\"session_id\":\"sm\"}");
    cr_assert(wait_field("m1", "status", "complete", 15000));
    static char log[16384], body[16384];
    th_proc_log(&W, log, sizeof(log));
    const char *p = strstr(log, "metrics: http://127.0.0.1:");
    cr_assert_not_null(p, "%s", log);
    int port = atoi(p + strlen("metrics: http://127.0.0.1:"));
    cr_assert_gt(port, 0);
    cr_assert_eq(http_get(port, "/metrics", body, sizeof(body)), 200, "%s", body);
    cr_assert(strstr(body, "zsa_worker_jobs_total{worker=\"wm\",outcome=\"complete\"} 1"), "%s",
              body);
    cr_assert(strstr(body, "zsa_worker_redis_up{worker=\"wm\"} 1"), "%s", body);
    cr_assert_eq(http_get(port, "/healthz", body, sizeof(body)), 200, "%s", body);
    cr_assert(strstr(body, "\"status\":\"ok\""), "%s", body);
    cr_assert_eq(http_get(port, "/nope", body, sizeof(body)), 404);
    cr_assert(strstr(body, "\"error\""), "%s", body);
}

Test(worker, redis_out_of_memory_delays_events_but_loses_none)
{
    start_worker(&W, "wo", NULL);
    lpush("{\"job_id\":\"o1\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":4},\"session_id\":\"so\"}");
    cr_assert(wait_field("o1", "status", "running", 10000));
    freeReplyObject(th_cmd(C, "CONFIG SET maxmemory-policy noeviction"));
    freeReplyObject(th_cmd(C, "CONFIG SET maxmemory 1")); /* every write is refused with OOM */
    /* wait until the worker has met a refusal (its log says so) */
    static char log[65536];
    int64_t deadline = cm_time_mono_ms() + 15000;
    do {
        th_proc_log(&W, log, sizeof(log));
    } while (!strstr(log, "OOM") && cm_time_mono_ms() < deadline);
    cr_assert(strstr(log, "OOM"), "the refusals must be logged: %s", log);
    char buf[64];
    cr_assert_str_neq(job_field("o1", "status", buf, sizeof(buf)), "complete",
                      "the job cannot have finished while Redis refused writes");
    freeReplyObject(th_cmd(C, "CONFIG SET maxmemory 0"));
    cr_assert(wait_field("o1", "status", "complete", 30000));
    read_events("zsa:events:so", &EV);
    cr_assert_eq(atoi(job_field("o1", "seq", buf, sizeof(buf))), EV.n, "seq %s, %d events", buf,
                 EV.n);
    cr_assert_eq(EV.m[0].type, PR_PROCESSING_STARTED);
    cr_assert_eq(EV.m[EV.n - 1].type, PR_PROCESSING_COMPLETE);
    free_events(&EV);
}

/* What a gateway relies on: each stream entry is published once, with its id, byte for byte,
 * in stream order, several events per message when a script call appended several. */
Test(worker, published_frames_match_stream_entries_exactly)
{
    redisContext *sub = th_redis_connect(&R);
    cr_assert_not_null(sub);
    freeReplyObject(redisCommand(sub, "SUBSCRIBE zsa:ch:sb"));
    start_worker(&W, "wb", "--slots=8", NULL);
    enum { NJOBS = 40 };
    char json[256];
    for (int i = 0; i < NJOBS; i++) {
        snprintf(json, sizeof(json),
                 "{\"job_id\":\"b%d\",\"image_id\":\"a\",\"algorithm\":\"simulate\",\"session_id\":"
                 "\"sb\",\"parameters\":{\"duration_seconds\":0,\"steps\":5}}",
                 i);
        lpush(json);
    }
    static char ids[4096][32];
    static struct cm_buf evs[4096];
    int nframes = 0, complete = 0, multi = 0;
    struct timeval tmo = {20, 0};
    redisSetTimeout(sub, tmo);
    while (complete < NJOBS) {
        redisReply *r;
        cr_assert_eq(redisGetReply(sub, (void **)&r), REDIS_OK, "published events stopped after %d",
                     nframes);
        cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
        size_t pos = 0;
        struct pr_frame f;
        struct pr_err err = {0};
        int rc, in_msg = 0;
        while ((rc = pr_pub_next(r->element[2]->str, r->element[2]->len, &pos, &f, &err)) == 1) {
            cr_assert_lt(nframes, 4096);
            snprintf(ids[nframes], sizeof(ids[0]), "%.*s", (int)f.id_len, f.id);
            cm_buf_init(&evs[nframes]);
            cm_buf_append(&evs[nframes], f.ev, f.ev_len);
            struct pr_msg m;
            cr_assert_eq(pr_decode_msgpack(f.ev, f.ev_len, PR_WIRE_SERVER, &m, &err), 0, "%s",
                         err.text);
            complete += m.type == PR_PROCESSING_COMPLETE;
            pr_msg_deinit(&m);
            nframes++, in_msg++;
        }
        cr_assert_eq(rc, 0, "malformed published message: %s", err.text);
        multi += in_msg > 1;
        freeReplyObject(r);
    }
    redisFree(sub);
    redisReply *r = th_cmd(C, "XRANGE zsa:events:sb - +");
    cr_assert_eq((int)r->elements, nframes, "stream entries vs published frames");
    for (int i = 0; i < nframes; i++) {
        redisReply *e = r->element[i];
        cr_assert_str_eq(e->element[0]->str, ids[i], "frame %d", i);
        cr_assert_eq(e->element[1]->element[1]->len, evs[i].len);
        cr_assert_eq(memcmp(e->element[1]->element[1]->str, evs[i].data, evs[i].len), 0);
        cm_buf_deinit(&evs[i]);
    }
    freeReplyObject(r);
    cr_assert_eq(nframes, NJOBS * 7, "started + 5 progress + complete per job");
    cr_assert_gt(multi, 0, "no message carried more than one event");
    /* the job hashes hold the latest of their events (progress fields are written once per call) */
    for (int i = 0; i < NJOBS; i++) {
        char id[16], buf[64];
        snprintf(id, sizeof(id), "b%d", i);
        cr_assert_str_eq(job_field(id, "seq", buf, sizeof(buf)), "7", "%s", id);
        cr_assert_str_eq(job_field(id, "progress", buf, sizeof(buf)), "100", "%s", id);
        cr_assert_str_eq(job_field(id, "status", buf, sizeof(buf)), "complete", "%s", id);
    }
}

/* ---- analysis ------------------------------------------------------------------------------- */

/* A 96 x 64 x 20 synthetic stack of spheres written to path (deflated when compress); returns
 * how many spheres it holds. */
static int write_stack(const char *path, bool compress)
{
    struct za_synth_opts so;
    za_synth_defaults(&so);
    so.nx = 96, so.ny = 64, so.nz = 20;
    struct za_stack st;
    struct za_sphere *sp;
    int n;
    struct za_err e;
    cr_assert_eq(za_synth(&so, &st, &sp, &n, &e), 0, "%s", e.message);
    cr_assert_eq(za_tiff_write(path, &st, false, compress, &e), 0, "%s", e.message);
    free(sp);
    za_stack_free(&st);
    return n;
}

Test(worker, analysis_algorithms_run_end_to_end_from_lpush)
{
    char dir[] = "/tmp/zsa-seg-XXXXXX", file[128], results[128], flag[160], csv[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/stack.tif", dir);
    snprintf(results, sizeof(results), "%s/results", dir);
    snprintf(flag, sizeof(flag), "--results-dir=%s", results);
    int n = write_stack(file, true);
    char bad[128];
    snprintf(bad, sizeof(bad), "%s/bad.tif", dir);
    FILE *f = fopen(bad, "w");
    fputs("II*\0garbage", f);
    fclose(f);

    start_worker(&W, "seg", flag, "--preview-ttl-s=3600", NULL);
    char job[512];
    snprintf(job, sizeof(job),
             "{\"job_id\":\"seg1\",\"image_id\":\"st\",\"file_path\":\"%s\","
             "\"algorithm\":\"segmentation_3d\",\"parameters\":{\"sigma\":[0.5,0.5,0.5]},"
             "\"session_id\":\"sg\"}",
             file);
    lpush(job);
    snprintf(job, sizeof(job),
             "{\"job_id\":\"seg2\",\"image_id\":\"bad\",\"file_path\":\"%s\","
             "\"algorithm\":\"segmentation_3d\",\"session_id\":\"sg\"}",
             bad);
    lpush(job);
    static const char *const more[][2] = {
        {"proj", "\"max_projection\",\"parameters\":{\"method\":\"mean\",\"axis\":\"x\"}"},
        {"stats", "\"intensity_stats\",\"parameters\":{\"bins\":64}"},
        {"split", "\"segmentation_3d\",\"parameters\":{\"split\":true,\"threshold\":\"li\"}"},
        {"badp", "\"max_projection\",\"parameters\":{\"method\":\"median\"}"}};
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
        snprintf(job, sizeof(job),
                 "{\"job_id\":\"%s\",\"image_id\":\"st\",\"file_path\":\"%s\","
                 "\"algorithm\":%s,\"session_id\":\"sg\"}",
                 more[i][0], file, more[i][1]);
        lpush(job);
    }
    cr_assert(wait_field("seg1", "status", "complete", 30000), "segmentation did not complete");
    cr_assert(wait_field("proj", "status", "complete", 30000), "projection did not complete");
    cr_assert(wait_field("stats", "status", "complete", 30000), "statistics did not complete");
    cr_assert(wait_field("split", "status", "complete", 30000), "split did not complete");
    cr_assert(wait_field("badp", "status", "failed", 30000));
    cr_assert(wait_field("seg2", "status", "failed", 30000));
    char buf[256];
    redisReply *r;
    cr_expect_str_eq(job_field("seg2", "error_code", buf, sizeof(buf)), "INVALID_IMAGE");
    cr_expect_str_eq(job_field("badp", "error_code", buf, sizeof(buf)), "INVALID_PARAMETERS");
    snprintf(csv, sizeof(csv), "%s/proj.r1/projection.tif", results);
    struct za_stack proj;
    struct za_load_opts lo = {0};
    struct za_err e;
    cr_assert_eq(za_tiff_load(csv, &lo, &proj, &e), 0, "%s", e.message);
    cr_expect(proj.nx == 64 && proj.ny == 20 && proj.nz == 1 && proj.dtype == ZA_F32,
              "mean along x: %d x %d x %d", proj.nx, proj.ny, proj.nz);
    za_stack_free(&proj);
    r = th_cmd(C, "GET zsa:result:stats.r1");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    cr_expect(strstr(r->str, "\"saturated_fraction\":0") && strstr(r->str, "\"best_focus_slice\""),
              "%.300s", r->str);
    freeReplyObject(r);
    r = th_cmd(C, "GET zsa:result:split.r1");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    cr_expect(strstr(r->str, "\"objects_before_split\"") &&
                  strstr(r->str, "\"threshold_method\":\"li\""),
              "%.300s", r->str);
    freeReplyObject(r);

    r = th_cmd(C, "GET zsa:result:seg1.r1");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    struct pr_value v;
    struct pr_err err;
    cr_assert_eq(pr_value_parse_json(r->str, r->len, &v, &err), 0, "%s", err.text);
    freeReplyObject(r);
    const struct pr_value *sum = pr_value_get(&v, "summary");
    cr_assert_not_null(sum);
    const struct pr_value *count = pr_value_get(sum, "object_count");
    cr_assert(count && count->type == PR_V_INT);
    cr_expect_eq(count->u.i, n, "%lld objects for %d spheres", (long long)count->u.i, n);
    const struct pr_value *conf = pr_value_get(&v, "confidence_score");
    cr_assert(conf && conf->type == PR_V_DOUBLE);
    cr_expect(conf->u.d > 0.7 && conf->u.d <= 1, "confidence %g on a clean stack", conf->u.d);
    pr_value_deinit(&v);

    /* the object table has one row per object */
    snprintf(csv, sizeof(csv), "%s/seg1.r1/objects.csv", results);
    f = fopen(csv, "r");
    cr_assert_not_null(f, "%s", csv);
    int lines = 0;
    for (int ch; (ch = fgetc(f)) != EOF;)
        lines += ch == '\n';
    fclose(f);
    cr_expect_eq(lines, n + 1);

    /* the preview: in the result's directory and, byte for byte, in Redis for --preview-ttl-s */
    snprintf(csv, sizeof(csv), "%s/seg1.r1/preview.png", results);
    f = fopen(csv, "rb");
    cr_assert_not_null(f, "%s", csv);
    static unsigned char png[1 << 20];
    size_t plen = fread(png, 1, sizeof(png), f);
    fclose(f);
    cr_assert(plen > 8 && memcmp(png, "\x89PNG", 4) == 0, "%s: not a PNG", csv);
    r = th_cmd(C, "GET zsa:preview:seg1.r1");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    cr_expect(r->len == plen && memcmp(r->str, png, plen) == 0, "the preview in Redis differs");
    freeReplyObject(r);
    r = th_cmd(C, "TTL zsa:preview:seg1.r1"); /* --preview-ttl-s, shorter than the result's */
    cr_expect(r->type == REDIS_REPLY_INTEGER && r->integer > 3000 && r->integer <= 3600,
              "the preview's TTL is %lld, not --preview-ttl-s", (long long)r->integer);
    freeReplyObject(r);
    r = th_cmd(C, "TTL zsa:result:seg1.r1");
    cr_expect(r->type == REDIS_REPLY_INTEGER && r->integer > 3600, "the result's TTL: %lld",
              (long long)r->integer);
    freeReplyObject(r);
    snprintf(csv, sizeof(csv), "rm -rf '%s'", dir);
    cr_expect_eq(system(csv), 0);
}

/* An empty payload, ids "." and ".." (they would name files one level above the results dir),
 * and a second entry with the id of a running job: each is dead-lettered once, leaves nothing in
 * the active list (no phantom active job, no new dead letter after a restart), writes nothing
 * outside the results dir, and the running job is untouched. */
Test(worker, empty_payloads_dot_ids_and_duplicate_ids_are_dead_lettered_cleanly)
{
    char dir[] = "/tmp/zsa-dots-XXXXXX", flag[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(flag, sizeof(flag), "--results-dir=%s/results", dir);
    start_worker(&W, "w1", flag, "--slots=2", NULL);
    lpush("{\"job_id\":\"run1\",\"image_id\":\"i\",\"algorithm\":\"simulate\",\"session_id\":"
          "\"dup\",\"parameters\":{\"duration_seconds\":2,\"steps\":10}}");
    cr_assert(wait_field("run1", "status", "running", 10000));
    freeReplyObject(th_cmd(C, "LPUSH zsa:jobs %b", "", (size_t)0));
    lpush("{\"job_id\":\"..\",\"image_id\":\"i\",\"algorithm\":\"max_projection\"}");
    lpush("{\"job_id\":\".\",\"image_id\":\"i\",\"algorithm\":\"simulate\"}");
    /* the same id again, other parameters: must not replace the running job */
    lpush("{\"job_id\":\"run1\",\"image_id\":\"other\",\"algorithm\":\"simulate\",\"session_id\":"
          "\"dup\",\"parameters\":{\"duration_seconds\":0.1}}");
    cr_assert(wait_field("run1", "status", "complete", 15000));
    char buf[256];
    cr_assert_str_eq(job_field("run1", "attempts", buf, sizeof(buf)), "1");
    cr_assert_str_eq(job_field("run1", "image_id", buf, sizeof(buf)), "i");
    /* one start and one outcome for run1, from the first entry */
    read_events("zsa:events:dup", &EV);
    int started = 0, complete = 0;
    for (int i = 0; i < EV.n; i++) {
        started += EV.m[i].type == PR_PROCESSING_STARTED;
        complete += EV.m[i].type == PR_PROCESSING_COMPLETE;
        cr_assert_neq(EV.m[i].type, PR_PROCESSING_FAILED, "the running job got a failure");
    }
    free_events(&EV);
    cr_assert_eq(started, 1);
    cr_assert_eq(complete, 1);
    int64_t deadline = cm_time_mono_ms() + 10000;
    while (llen("zsa:dead") < 4 && cm_time_mono_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    redisReply *r = th_cmd(C, "LRANGE zsa:dead 0 -1");
    cr_assert_eq(r->elements, 4, "dead letters: %zu", r->elements);
    int dup = 0, invalid = 0;
    for (size_t i = 0; i < r->elements; i++) {
        dup += strstr(r->element[i]->str, "DUPLICATE_JOB") != NULL;
        invalid += strstr(r->element[i]->str, "INVALID_JOB") != NULL;
    }
    freeReplyObject(r);
    cr_assert_eq(dup, 1);
    cr_assert_eq(invalid, 3);
    cr_assert_eq(llen("zsa:active:w1"), 0, "an entry stayed in the active list");
    /* nothing was written next to the results dir (".." would have named it) */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s' | grep -v '^results$')\"", dir);
    cr_assert_eq(system(cmd), 0, "files appeared in %s", dir);
    /* a restart finds nothing to redo: no new dead letter */
    th_proc_signal(&W, SIGTERM);
    cr_assert(th_proc_wait(&W, 10000));
    th_proc_stop(&W);
    start_worker(&W, "w1", flag, NULL);
    lpush("{\"job_id\":\"after\",\"image_id\":\"i\",\"algorithm\":\"simulate\",\"parameters\":{"
          "\"duration_seconds\":0.05}}");
    cr_assert(wait_field("after", "status", "complete", 10000));
    cr_assert_eq(llen("zsa:dead"), 4, "the restart dead-lettered something again");
    th_proc_signal(&W, SIGTERM);
    th_proc_wait(&W, 10000);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

/* Jobs read files only inside the data directories: an absolute path elsewhere, "..", a symlink
 * out, /proc/self/fd/N, a FIFO, a device, a directory, a missing file and a text file each end
 * quickly with their code, and no message shows a byte of the file or a server path outside the
 * roots; a stack inside, named relatively or absolutely, is analysed. */
Test(worker, files_are_confined_to_the_data_directories)
{
    char dir[] = "/tmp/zsa-files-XXXXXX", root[128], path[256], flag[200];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(root, sizeof(root), "%s/root", dir);
    cr_assert_eq(mkdir(root, 0755), 0);
    /* a real stack inside and one outside the root */
    snprintf(path, sizeof(path), "%s/in.tif", root);
    write_stack(path, false);
    snprintf(path, sizeof(path), "%s/secret.tif", dir);
    write_stack(path, false);
    snprintf(path, sizeof(path), "%s/out", root);
    cr_assert_eq(symlink("../secret.tif", path), 0);
    snprintf(path, sizeof(path), "%s/abs", root);
    cr_assert_eq(symlink("/etc/passwd", path), 0);
    snprintf(path, sizeof(path), "%s/zero", root);
    cr_assert_eq(symlink("/dev/zero", path), 0);
    snprintf(path, sizeof(path), "%s/fifo", root);
    cr_assert_eq(mkfifo(path, 0644), 0);
    snprintf(path, sizeof(path), "%s/dir", root);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/notes.txt", root);
    FILE *f = fopen(path, "w");
    fputs("SECRET-BYTES not a tiff", f);
    fclose(f);
    snprintf(flag, sizeof(flag), "--data-dir=%s", root);
    start_worker(&W, "files", flag, "--slots=2", NULL);
    char secret_abs[256], in_abs[256];
    snprintf(secret_abs, sizeof(secret_abs), "%s/secret.tif", dir);
    snprintf(in_abs, sizeof(in_abs), "%s/in.tif", root);
    const struct {
        const char *id, *file, *code;
    } cases[] = {
        {"f-etc", "/etc/passwd", "FILE_NOT_ALLOWED"},
        {"f-abs-out", secret_abs, "FILE_NOT_ALLOWED"},
        {"f-dotdot", "../secret.tif", "FILE_NOT_ALLOWED"},
        {"f-link-out", "out", "FILE_NOT_ALLOWED"},
        {"f-link-abs", "abs", "FILE_NOT_ALLOWED"},
        {"f-proc", "/proc/self/fd/0", "FILE_NOT_ALLOWED"},
        {"f-zero", "zero", "FILE_NOT_ALLOWED"},
        {"f-fifo", "fifo", "INVALID_IMAGE"},
        {"f-dir", "dir", "INVALID_IMAGE"},
        {"f-missing", "missing.tif", "FILE_NOT_FOUND"},
        {"f-text", "notes.txt", "INVALID_IMAGE"},
        {"f-rel", "in.tif", "complete"},
        {"f-in-abs", in_abs, "complete"},
    };
    size_t ncases = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < ncases; i++) {
        char job[600];
        snprintf(job, sizeof(job),
                 "{\"job_id\":\"%s\",\"image_id\":\"i\",\"algorithm\":\"max_projection\","
                 "\"file_path\":\"%s\",\"session_id\":\"files\"}",
                 cases[i].id, cases[i].file);
        lpush(job);
    }
    for (size_t i = 0; i < ncases; i++) {
        bool ok = strcmp(cases[i].code, "complete") == 0;
        cr_assert(wait_field(cases[i].id, "status", ok ? "complete" : "failed", 10000), "%s (%s)",
                  cases[i].id, cases[i].file);
        char code[64], err[512];
        job_field(cases[i].id, "error_code", code, sizeof(code));
        job_field(cases[i].id, "error", err, sizeof(err));
        if (!ok)
            cr_expect_str_eq(code, cases[i].code, "%s (%s): %s", cases[i].id, cases[i].file, err);
        cr_expect(!strstr(err, "SECRET") && !strstr(err, "root:") && !strstr(err, "0x"),
                  "%s: the error shows file bytes: %s", cases[i].id, err);
        if (cases[i].file[0] != '/' && !ok)
            cr_expect(!strstr(err, dir), "%s: the error shows a server path: %s", cases[i].id, err);
    }
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}
