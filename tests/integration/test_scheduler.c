/* Integration: zsa-scheduler as a real process with real zsa-worker processes against a real
 * redis-server — system_status figures, leader failover, recovery of jobs from killed workers
 * (a chaos run), fencing of a stalled worker, timeouts, dead letters. Events are read back from
 * the streams and decoded with proto/. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/jobctl.h"
#include "common/time.h"
#include "proto/proto.h"
#include "tests/harness/proc.h"
#include "tests/harness/redis_server.h"
#include "tests/harness/ws_client.h"

#define MAXW 16
static struct th_redis R;
static redisContext *C;
static struct th_proc S[2], W[MAXW];

static void setup(void)
{
    cr_assert_eq(th_redis_start(&R), 0);
    C = th_redis_connect(&R);
    cr_assert_not_null(C);
}

static void check_log(struct th_proc *p, const char *who)
{
    static char log[1 << 17];
    if (p->pid <= 0 && !p->log[0])
        return;
    cr_expect(th_proc_log_clean(p, who, log, sizeof(log)), "%s log:\n%s", who, log);
}

static void teardown(void)
{
    for (int i = 0; i < 2; i++) { /* SIGTERM first: a clean exit runs LeakSanitizer */
        if (S[i].pid > 0) {
            th_proc_signal(&S[i], SIGTERM);
            th_proc_wait(&S[i], 5000);
        }
        check_log(&S[i], "scheduler");
        th_proc_stop(&S[i]);
    }
    for (int i = 0; i < MAXW; i++) {
        th_proc_stop(&W[i]);
        memset(&W[i], 0, sizeof(W[i]));
    }
    memset(S, 0, sizeof(S));
    if (C)
        redisFree(C);
    C = NULL;
    th_redis_stop(&R);
}

TestSuite(scheduler, .init = setup, .fini = teardown, .timeout = 300);

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts bin on R with the flags in fixed, then the caller's (va_list, NULL-terminated). */
static void start_daemon(struct th_proc *p, const char *bin, const char *const *fixed, va_list ap)
{
    static char url[340];
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    const char *argv[40] = {url, "--metrics-listen="};
    int n = 2;
    for (; *fixed && n < 20; fixed++)
        argv[n++] = *fixed;
    for (const char *a; (a = va_arg(ap, const char *)) && n < 39;)
        argv[n++] = a;
    cr_assert_eq(th_proc_start(p, bin, argv, NULL), 0);
}

/* A worker with a short heartbeat (a lost one is noticed within a second or two). */
static void start_worker(struct th_proc *p, const char *wid, ...)
{
    char id[96];
    snprintf(id, sizeof(id), "--worker-id=%s", wid);
    const char *fixed[] = {
        id, "--data-dir=/tmp", "--poll-ms=200", "--heartbeat-ms=200", "--heartbeat-ttl-s=1", NULL};
    va_list ap;
    va_start(ap, wid);
    start_daemon(p, "zsa-worker", fixed, ap);
    va_end(ap);
}

static void start_scheduler(struct th_proc *p, const char *sid, ...)
{
    char id[96];
    snprintf(id, sizeof(id), "--scheduler-id=%s", sid);
    const char *fixed[] = {id, NULL};
    va_list ap;
    va_start(ap, sid);
    start_daemon(p, "zsa-scheduler", fixed, ap);
    va_end(ap);
}

static const char *job_field(const char *id, const char *field, char *buf, size_t n)
{
    return th_job_field(C, id, field, buf, n);
}

static bool wait_field(const char *id, const char *field, const char *want, int timeout_ms)
{
    return th_wait_job_field(C, id, field, want, timeout_ms);
}

static long long integer(const char *fmt, const char *key)
{
    redisReply *r = th_cmd(C, fmt, key);
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

/* Waits until worker wid heartbeats with no job running (its last outcome was sent before that
 * heartbeat, on the same connection). */
static bool wait_worker_idle(const char *wid, int timeout_ms)
{
    char key[96];
    snprintf(key, sizeof(key), "zsa:worker:%s", wid);
    for (int64_t end = cm_time_mono_ms() + timeout_ms; cm_time_mono_ms() < end; sleep_ms(50)) {
        redisReply *r = th_cmd(C, "HGET %s busy", key);
        bool idle = r->type == REDIS_REPLY_STRING && strcmp(r->str, "0") == 0;
        freeReplyObject(r);
        if (idle)
            return true;
    }
    return false;
}

/* The port of the scheduler's /metrics, from its start-up log line. */
static int metrics_port(const struct th_proc *p)
{
    static char log[16384];
    int port = 0;
    th_proc_log(p, log, sizeof(log));
    const char *m = strstr(log, "metrics: http://127.0.0.1:");
    cr_assert(m && sscanf(m, "metrics: http://127.0.0.1:%d", &port) == 1, "%s", log);
    return port;
}

/* Per-job tallies of a session stream's events. */
struct tally {
    int started, complete, failed, requeued;
    char failed_code[32];
};

/* Adds the events of stream for job_id to t (every entry must decode). */
static void tally_job(const char *stream, const char *job_id, struct tally *t)
{
    memset(t, 0, sizeof(*t));
    redisReply *r = th_cmd(C, "XRANGE %s - +", stream);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *kv = r->element[i]->element[1];
        struct pr_msg m;
        struct pr_err err;
        cr_assert_eq(
            pr_decode_msgpack(kv->element[1]->str, kv->element[1]->len, PR_WIRE_SERVER, &m, &err),
            0, "%s: %s", r->element[i]->element[0]->str, err.text);
        if (m.job_id && strcmp(m.job_id, job_id) == 0) {
            t->started += m.type == PR_PROCESSING_STARTED;
            t->complete += m.type == PR_PROCESSING_COMPLETE;
            if (m.type == PR_PROCESSING_FAILED) {
                t->failed++;
                snprintf(t->failed_code, sizeof(t->failed_code), "%s",
                         m.u.processing_failed.error_code);
            }
            if (m.type == PR_PROCESSING_PROGRESS &&
                strncmp(m.u.processing_progress.current_step, "Requeued: worker ", 17) == 0)
                t->requeued++;
        }
        pr_msg_deinit(&m);
    }
    freeReplyObject(r);
}

/* The newest system_status in the broadcast stream with an id after min_ms, or false. */
static bool latest_status(int64_t min_ms, struct pr_msg *out)
{
    redisReply *r = th_cmd(C, "XREVRANGE zsa:bcast + - COUNT 1");
    bool ok = false;
    if (r->elements == 1) {
        redisReply *e = r->element[0];
        struct pr_err err;
        if (atoll(e->element[0]->str) >= min_ms &&
            pr_decode_msgpack(e->element[1]->element[1]->str, e->element[1]->element[1]->len,
                              PR_WIRE_SERVER, out, &err) == 0) {
            ok = out->type == PR_SYSTEM_STATUS;
            if (!ok)
                pr_msg_deinit(out);
        }
    }
    freeReplyObject(r);
    return ok;
}

/* A simulate job; extra: more parameters ("" or ",\"name\":value..."). */
static void lpush_sim(const char *job_id, const char *session, double seconds, int steps,
                      const char *extra)
{
    char job[512];
    snprintf(job, sizeof(job),
             "{\"job_id\":\"%s\",\"image_id\":\"img-%s\",\"algorithm\":\"simulate\","
             "\"parameters\":{\"duration_seconds\":%.2f,\"steps\":%d%s},\"session_id\":\"%s\"}",
             job_id, job_id, seconds, steps, extra, session);
    freeReplyObject(th_cmd(C, "LPUSH zsa:jobs %s", job));
}

/* ---- system_status ----------------------------------------------------------------------------
 */

/* The cadence is the configured interval (here 1 s, with the checks also every 1 s), not "the
 * first check after interval": that made 5 s into 5-6 s, and 1 s into 2 s. */
Test(scheduler, system_status_keeps_its_interval)
{
    start_scheduler(&S[0], "s1", "--status-interval-ms=1000", "--check-interval-ms=1000", NULL);
    int64_t ids[8];
    int n = 0;
    for (int64_t end = cm_time_mono_ms() + 15000; n < 8 && cm_time_mono_ms() < end; sleep_ms(100)) {
        redisReply *r = th_cmd(C, "XRANGE zsa:bcast - +");
        n = 0;
        for (size_t i = 0; i < r->elements && n < 8; i++)
            ids[n++] = atoll(r->element[i]->element[0]->str);
        freeReplyObject(r);
    }
    cr_assert_eq(n, 8, "only %d system_status in 15 s", n);
    /* the first comes at once (a new leader), then one per interval */
    int64_t sum = 0;
    for (int i = 2; i < n; i++) {
        int64_t d = ids[i] - ids[i - 1];
        sum += d;
        cr_expect(d >= 800 && d <= 1300, "interval %d: %lld ms", i, (long long)d);
    }
    double mean = (double)sum / (n - 2);
    cr_assert(mean >= 950 && mean <= 1080, "mean interval %.0f ms, configured 1000", mean);
}

Test(scheduler, system_status_reports_what_redis_holds)
{
    /* two live GPU workers holding 2 and 1 running jobs, one lost worker with nothing held,
     * 5 jobs queued; no real workers, so nothing moves */
    for (int i = 0; i < 5; i++)
        freeReplyObject(th_cmd(C, "LPUSH zsa:jobs {\"job_id\":\"q%d\"}", i));
    const char *ws[2][4] = {{"wa", "40", "1000", "8000"}, {"wb", "80", "3000", "8000"}};
    for (int i = 0; i < 2; i++) {
        freeReplyObject(
            th_cmd(C,
                   "HSET zsa:worker:%s gpu_count 1 gpu_utilization %s gpu_memory_used_mb "
                   "%s gpu_memory_total_mb %s heartbeat_at 1",
                   ws[i][0], ws[i][1], ws[i][2], ws[i][3]));
        freeReplyObject(th_cmd(C, "EXPIRE zsa:worker:%s 600", ws[i][0]));
        freeReplyObject(th_cmd(C, "SADD zsa:workers %s", ws[i][0]));
    }
    freeReplyObject(th_cmd(C, "SADD zsa:workers wlost"));
    const char *held[3][2] = {{"wa", "h1"}, {"wa", "h2"}, {"wb", "h3"}};
    for (int i = 0; i < 3; i++) {
        freeReplyObject(th_cmd(C,
                               "LPUSH zsa:active:%s {\"job_id\":\"%s\",\"image_id\":\"i\","
                               "\"algorithm\":\"simulate\"}",
                               held[i][0], held[i][1]));
        freeReplyObject(th_cmd(C,
                               "HSET zsa:job:%s status running attempts 1 attempt 1 progress 10 "
                               "algorithm simulate",
                               held[i][1]));
    }
    int64_t t0 = cm_time_now_ms();
    start_scheduler(&S[0], "s1", "--status-interval-ms=200", "--check-interval-ms=100", NULL);
    struct pr_msg m;
    bool got = false;
    for (int64_t end = cm_time_mono_ms() + 10000; !got && cm_time_mono_ms() < end; sleep_ms(50))
        got = latest_status(t0, &m);
    cr_assert(got, "no system_status within 10 s");
    struct pr_system_status *st = &m.u.system_status;
    cr_expect_eq(st->queue_length, 5);
    cr_expect_eq(st->active_processing_count, 3);
    cr_expect_eq(st->workers_online, 2);
    cr_expect_float_eq(st->gpu_utilization, 60.0, 1e-9);
    cr_expect_eq(st->gpu_memory_used_mb, 4000);
    cr_expect_eq(st->gpu_memory_total_mb, 16000);
    pr_msg_deinit(&m);
    /* the lost worker, holding nothing, leaves the registry; the live ones stay */
    bool gone = false;
    for (int64_t end = cm_time_mono_ms() + 5000; !gone && cm_time_mono_ms() < end; sleep_ms(50))
        gone = integer("SISMEMBER zsa:workers %s", "wlost") == 0;
    cr_expect(gone, "the lost worker was not forgotten");
    cr_expect_eq(integer("SISMEMBER zsa:workers %s", "wa"), 1);
    cr_expect_eq(integer("LLEN %s", "zsa:active:wa"), 2, "a live worker's jobs were touched");
    /* the figures follow what changes: one more job queued */
    freeReplyObject(th_cmd(C, "LPUSH zsa:jobs {\"job_id\":\"q9\"}"));
    int64_t t1 = cm_time_now_ms();
    got = false;
    for (int64_t end = cm_time_mono_ms() + 5000; !got && cm_time_mono_ms() < end; sleep_ms(50))
        got = latest_status(t1 + 1, &m);
    cr_assert(got);
    cr_expect_eq(m.u.system_status.queue_length, 6);
    pr_msg_deinit(&m);
}

/* ---- leader lease -----------------------------------------------------------------------------
 */

static void wait_leader(const char *want, int timeout_ms)
{
    char cur[64] = "";
    for (int64_t end = cm_time_mono_ms() + timeout_ms; cm_time_mono_ms() < end; sleep_ms(20)) {
        redisReply *r = th_cmd(C, "GET zsa:scheduler:leader");
        snprintf(cur, sizeof(cur), "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
        freeReplyObject(r);
        if (strcmp(cur, want) == 0)
            return;
    }
    cr_assert_fail("leader is \"%s\", expected \"%s\" within %d ms", cur, want, timeout_ms);
}

Test(scheduler, a_standby_takes_over_when_the_leader_dies)
{
    const int lease = 1500;
    start_scheduler(&S[0], "leader-a", "--lease-ms=1500", "--check-interval-ms=100",
                    "--status-interval-ms=300", NULL);
    wait_leader("leader-a", 5000);
    start_scheduler(&S[1], "standby-b", "--lease-ms=1500", "--check-interval-ms=100",
                    "--status-interval-ms=300", NULL);
    sleep_ms(2 * lease); /* renewed all along: the standby stays a standby */
    wait_leader("leader-a", 10);

    th_proc_signal(&S[0], SIGKILL);
    th_proc_wait(&S[0], 5000);
    int64_t killed = cm_time_now_ms(), t_mono = cm_time_mono_ms();
    struct pr_msg m;
    bool got = false;
    while (!got && cm_time_mono_ms() < t_mono + 2 * lease) {
        got = latest_status(killed + 1, &m);
        sleep_ms(20);
    }
    cr_assert(got, "no system_status within two lease periods (%d ms) after the leader died",
              2 * lease);
    pr_msg_deinit(&m);
    wait_leader("standby-b", 10);

    /* a leader that stops cleanly gives the lease back: the next one takes it at once */
    start_scheduler(&S[0], "leader-c", "--lease-ms=60000", "--check-interval-ms=100", NULL);
    sleep_ms(500);
    wait_leader("standby-b", 10);
    th_proc_signal(&S[1], SIGTERM);
    cr_assert(th_proc_wait(&S[1], 5000), "the scheduler did not exit on SIGTERM");
    wait_leader("leader-c", 3000);
}

/* ---- chaos ----------------------------------------------------------------------------------- */

Test(scheduler, chaos_every_job_ends_exactly_once_while_workers_are_killed)
{
    enum { JOBS = 300, SESSIONS = 10, WORKERS = 3 };
    start_scheduler(&S[0], "chaos", "--check-interval-ms=200", "--max-attempts=4", NULL);
    char ids[WORKERS][32];
    int next_id = 0;
    for (int i = 0; i < WORKERS; i++) {
        snprintf(ids[i], sizeof(ids[i]), "cw%d", next_id++);
        start_worker(&W[i], ids[i], "--slots=4", NULL);
    }
    unsigned seed = 12345;
    for (int i = 0; i < JOBS; i++) {
        char job[32], sess[16];
        snprintf(job, sizeof(job), "c%d", i);
        snprintf(sess, sizeof(sess), "s%d", i % SESSIONS);
        lpush_sim(job, sess, 0.1 + (rand_r(&seed) % 900) / 1000.0, 3, "");
    }
    int kills = 0;
    int64_t end = cm_time_mono_ms() + 240000, next_kill = cm_time_mono_ms() + 2000;
    for (;;) {
        int ended = 0;
        char buf[32];
        for (int i = 0; i < JOBS; i++) {
            char job[32];
            snprintf(job, sizeof(job), "c%d", i);
            job_field(job, "status", buf, sizeof(buf));
            ended += !strcmp(buf, "complete") || !strcmp(buf, "dead") || !strcmp(buf, "failed");
        }
        if (ended == JOBS)
            break;
        cr_assert(cm_time_mono_ms() < end, "only %d of %d jobs ended after 240 s", ended, JOBS);
        if (cm_time_mono_ms() >= next_kill && kills < 40) {
            int k = (int)(rand_r(&seed) % WORKERS);
            th_proc_signal(&W[k], SIGKILL);
            th_proc_wait(&W[k], 5000);
            th_proc_stop(&W[k]);
            snprintf(ids[k], sizeof(ids[k]), "cw%d", next_id++);
            start_worker(&W[k], ids[k], "--slots=4", NULL);
            kills++;
            next_kill = cm_time_mono_ms() + 1500 + (int64_t)(rand_r(&seed) % 1000);
        }
        sleep_ms(100);
    }
    /* every outcome removed its job from its active list in the same step */
    bool empty = false;
    for (int64_t until = cm_time_mono_ms() + 10000; !empty && cm_time_mono_ms() < until;
         sleep_ms(50)) {
        redisReply *r = th_cmd(C, "KEYS zsa:active:*");
        empty = true;
        for (size_t i = 0; i < r->elements; i++)
            empty = empty && integer("LLEN %s", r->element[i]->str) == 0;
        freeReplyObject(r);
    }
    cr_expect(empty, "an active list still holds a job");
    int complete = 0, dead = 0, retried = 0;
    for (int i = 0; i < JOBS; i++) {
        char job[32], stream[32], st[32], att[16];
        snprintf(job, sizeof(job), "c%d", i);
        snprintf(stream, sizeof(stream), "zsa:events:s%d", i % SESSIONS);
        job_field(job, "status", st, sizeof(st));
        int attempts = atoi(job_field(job, "attempts", att, sizeof(att)));
        struct tally t;
        tally_job(stream, job, &t);
        cr_expect_eq(t.started, attempts, "job %s: %d starts, attempts %d", job, t.started,
                     attempts);
        cr_expect_eq(t.requeued, attempts - 1, "job %s: %d requeue events, attempts %d", job,
                     t.requeued, attempts);
        if (strcmp(st, "complete") == 0) {
            complete++;
            cr_expect_eq(t.complete, 1, "job %s: %d processing_complete", job, t.complete);
            cr_expect_eq(t.failed, 0, "job %s: complete and failed", job);
        } else {
            dead++;
            cr_expect_str_eq(st, "dead", "job %s", job);
            cr_expect_eq(t.complete, 0, "job %s: dead with a completion", job);
            cr_expect_eq(t.failed, 1, "job %s: %d processing_failed", job, t.failed);
            cr_expect_str_eq(t.failed_code, "WORKER_LOST");
            cr_expect_eq(attempts, 4, "job %s: dead after %d attempts", job, attempts);
        }
        retried += attempts > 1;
    }
    cr_expect_eq(integer("LLEN %s", "zsa:dead"), dead);
    cr_expect_eq(integer("LLEN %s", "zsa:jobs"), 0);
    cr_expect(kills >= 5 && retried > 0, "the run killed %d workers and retried %d jobs", kills,
              retried);
    fprintf(stderr, "chaos: %d kills, %d jobs complete, %d dead, %d needed more than one attempt\n",
            kills, complete, dead, retried);
}

/* ---- fencing -----------------------------------------------------------------------------------
 */

Test(scheduler, a_stalled_worker_that_comes_back_records_no_second_outcome)
{
    start_scheduler(&S[0], "fence", "--check-interval-ms=100", NULL);
    start_worker(&W[0], "stall", NULL);
    lpush_sim("f1", "fs", 2.0, 5, "");
    cr_assert(wait_field("f1", "worker", "stall", 10000));
    cr_assert(wait_field("f1", "progress", "25.00", 10000));
    th_proc_signal(&W[0], SIGSTOP); /* longer than its heartbeat TTL: presumed lost */
    cr_assert(wait_field("f1", "status", "queued", 10000), "the job was not requeued");
    start_worker(&W[1], "healthy", NULL);
    cr_assert(wait_field("f1", "status", "complete", 15000));
    char buf[64];
    cr_expect_str_eq(job_field("f1", "worker", buf, sizeof(buf)), "healthy");
    th_proc_signal(&W[0], SIGCONT); /* its simulate wakes up and tries to finish */
    cr_assert(wait_worker_idle("stall", 10000), "the stalled worker never let go of the job");
    struct tally t;
    tally_job("zsa:events:fs", "f1", &t);
    cr_expect_eq(t.complete, 1, "%d processing_complete", t.complete);
    cr_expect_eq(t.failed, 0);
    cr_expect_eq(t.started, 2);
    cr_expect_eq(t.requeued, 1);
    cr_expect_str_eq(job_field("f1", "status", buf, sizeof(buf)), "complete");
    cr_expect_str_eq(job_field("f1", "worker", buf, sizeof(buf)), "healthy");
    cr_expect_str_eq(job_field("f1", "attempts", buf, sizeof(buf)), "2");
    /* the woken worker is a live worker again, holding nothing */
    cr_expect_eq(integer("LLEN %s", "zsa:active:stall"), 0);
}

/* ---- timeout -----------------------------------------------------------------------------------
 */

Test(scheduler, a_job_without_progress_fails_with_timeout_and_the_worker_stops_it)
{
    start_scheduler(&S[0], "timeouts", "--check-interval-ms=100", "--job-timeouts=simulate=1",
                    NULL);
    start_worker(&W[0], "slow", NULL);
    lpush_sim("t1", "ts", 30.0, 5, ",\"hang_at\":25"); /* stuck at 25 % */
    cr_assert(wait_field("t1", "status", "running", 10000));
    cr_assert(wait_field("t1", "status", "failed", 10000), "no timeout");
    char buf[256];
    cr_expect_str_eq(job_field("t1", "error_code", buf, sizeof(buf)), "TIMEOUT");
    /* the worker was told: its slot frees long before the 30 s are over */
    cr_expect(wait_worker_idle("slow", 5000), "the worker still runs the timed-out job");
    struct tally t;
    tally_job("zsa:events:ts", "t1", &t);
    cr_expect_eq(t.failed, 1, "%d processing_failed (the worker's own CANCELLED must be fenced)",
                 t.failed);
    cr_expect_str_eq(t.failed_code, "TIMEOUT");
    cr_expect_eq(t.complete, 0);
    cr_expect_eq(integer("LLEN %s", "zsa:active:slow"), 0);
    cr_expect_str_eq(job_field("t1", "status", buf, sizeof(buf)), "failed");
}

Test(scheduler, a_job_that_progresses_past_its_run_time_limit_fails_with_timeout)
{
    start_scheduler(&S[0], "runtimes", "--check-interval-ms=100", "--job-max-runtimes=simulate=2",
                    NULL);
    start_worker(&W[0], "busy", NULL);
    lpush_sim("r1", "rs", 30.0, 300, ""); /* progress every 0.1 s for 30 s */
    cr_assert(wait_field("r1", "status", "running", 10000));
    /* well before the 30 s it would run */
    cr_assert(wait_field("r1", "status", "failed", 10000), "no run-time limit");
    char buf[512];
    cr_expect_str_eq(job_field("r1", "error_code", buf, sizeof(buf)), "TIMEOUT");
    cr_expect(strstr(job_field("r1", "error", buf, sizeof(buf)), "run-time limit of simulate"),
              "%s", buf);
    cr_expect(wait_worker_idle("busy", 5000), "the worker still runs the job");
}

/* ---- dead letters ------------------------------------------------------------------------------
 */

Test(scheduler, a_job_lost_on_its_last_attempt_is_a_dead_letter_that_can_be_requeued)
{
    start_scheduler(&S[0], "dl", "--check-interval-ms=100", "--max-attempts=1", NULL);
    start_worker(&W[0], "doomed", NULL);
    lpush_sim("d1", "ds", 1.0, 3, "");
    cr_assert(wait_field("d1", "status", "running", 10000));
    th_proc_signal(&W[0], SIGKILL);
    cr_assert(wait_field("d1", "status", "dead", 10000));
    char buf[256], err[256];
    cr_expect_str_eq(job_field("d1", "error_code", buf, sizeof(buf)), "WORKER_LOST");
    struct tally t;
    tally_job("zsa:events:ds", "d1", &t);
    cr_expect_eq(t.failed, 1);
    cr_expect_str_eq(t.failed_code, "WORKER_LOST");

    char **e;
    size_t n;
    cr_assert_eq(st_dead_list(C, "zsa", 0, 0, &e, &n, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(n, 1);
    cr_expect(strstr(e[0], "\"job_id\":\"d1\"") && strstr(e[0], "\"error_code\":\"WORKER_LOST\""),
              "%s", e[0]);
    st_dead_free(e, n);
    char *one = st_dead_get(C, "zsa", "d1", err, sizeof(err));
    cr_assert_not_null(one, "%s", err);
    free(one);
    cr_expect_null(st_dead_get(C, "zsa", "nope", err, sizeof(err)));
    cr_expect_str_eq(err, "");
    cr_expect_eq(st_dead_requeue(C, "zsa", "nope", err, sizeof(err)), ST_JOBCTL_UNKNOWN);

    /* requeued: attempts start over, and a worker completes it */
    cr_assert_eq(st_dead_requeue(C, "zsa", "d1", err, sizeof(err)), ST_JOBCTL_OK, "%s", err);
    cr_expect_eq(integer("LLEN %s", "zsa:dead"), 0);
    cr_expect_str_eq(job_field("d1", "status", buf, sizeof(buf)), "queued");
    start_worker(&W[1], "rescuer", NULL);
    cr_assert(wait_field("d1", "status", "complete", 10000));
    cr_expect_str_eq(job_field("d1", "attempts", buf, sizeof(buf)), "1");

    /* a dead job can also be retried (REST's retry): it leaves the dead letters, attempts reset */
    lpush_sim("d2", "ds", 5.0, 3, "");
    cr_assert(wait_field("d2", "status", "running", 10000));
    th_proc_signal(&W[1], SIGKILL);
    cr_assert(wait_field("d2", "status", "dead", 10000));
    cr_expect_eq(integer("LLEN %s", "zsa:dead"), 1);
    cr_assert_eq(st_jobctl_retry(C, "zsa", "d2", 1, err, sizeof(err)), ST_JOBCTL_OK, "%s", err);
    cr_expect_eq(integer("LLEN %s", "zsa:dead"), 0);
    cr_expect_str_eq(job_field("d2", "status", buf, sizeof(buf)), "queued");
    cr_expect_str_eq(job_field("d2", "attempts", buf, sizeof(buf)), "0");
    cr_expect_eq(integer("LLEN %s", "zsa:jobs"), 1);
    /* a completed job cannot be retried */
    cr_expect_eq(st_jobctl_retry(C, "zsa", "d1", 1, err, sizeof(err)), ST_JOBCTL_REFUSED);

    /* purge: one entry, then all */
    freeReplyObject(th_cmd(C, "LPUSH zsa:dead {\"job_id\":\"x1\"}"));
    freeReplyObject(th_cmd(C, "LPUSH zsa:dead {\"job_id\":\"x2\"}"));
    freeReplyObject(th_cmd(C, "LPUSH zsa:dead not-json"));
    cr_expect_eq(st_dead_requeue(C, "zsa", "x1", err, sizeof(err)), ST_JOBCTL_REFUSED);
    cr_expect_eq(st_dead_purge(C, "zsa", "x1", err, sizeof(err)), 1);
    cr_expect_eq(st_dead_purge(C, "zsa", "x1", err, sizeof(err)), 0);
    cr_expect_eq(st_dead_purge(C, "zsa", NULL, err, sizeof(err)), 2);
    cr_expect_eq(integer("LLEN %s", "zsa:dead"), 0);
}

/* ---- a job queued without an id ---------------------------------------------------------------
 */

Test(scheduler, a_job_without_an_id_is_recovered_under_the_id_its_worker_gave_it)
{
    start_scheduler(&S[0], "noid", "--check-interval-ms=100", NULL);
    start_worker(&W[0], "first", NULL);
    freeReplyObject(th_cmd(C, "LPUSH zsa:jobs {\"image_id\":\"anon\",\"algorithm\":\"simulate\","
                              "\"parameters\":{\"duration_seconds\":1.5},\"session_id\":\"ns\"}"));
    /* wait until it runs: the active entry then carries the id the worker gave it */
    char id[160] = "";
    for (int64_t end = cm_time_mono_ms() + 10000; !id[0] && cm_time_mono_ms() < end; sleep_ms(20)) {
        redisReply *r = th_cmd(C, "LRANGE zsa:active:first 0 -1");
        if (r->elements == 1) {
            const char *p = strstr(r->element[0]->str, "\"job_id\":\"");
            if (p)
                sscanf(p + 10, "%159[^\"]", id);
        }
        freeReplyObject(r);
    }
    cr_assert(id[0], "the active entry never got a job_id");
    th_proc_signal(&W[0], SIGKILL);
    cr_assert(wait_field(id, "status", "queued", 10000));
    start_worker(&W[1], "second", NULL);
    cr_assert(wait_field(id, "status", "complete", 15000));
    /* one job, under one id: no other hash was made for it */
    redisReply *r = th_cmd(C, "KEYS zsa:job:*");
    cr_expect_eq(r->elements, 1, "%zu job hashes", r->elements);
    freeReplyObject(r);
    char buf[16];
    cr_expect_str_eq(job_field(id, "attempts", buf, sizeof(buf)), "2");
}

/* ---- housekeeping, metrics, health ------------------------------------------------------------
 */

static long long ttl(const char *key)
{
    return integer("TTL %s", key);
}

Test(scheduler, housekeeping_expires_ended_jobs_and_streams_and_metrics_say_so)
{
    freeReplyObject(th_cmd(C, "HSET zsa:job:e1 status complete"));
    freeReplyObject(th_cmd(C, "HSET zsa:job:e2 status dead"));
    freeReplyObject(th_cmd(C, "HSET zsa:job:r1 status running"));
    freeReplyObject(th_cmd(C, "HSET zsa:job:k1 status failed"));
    freeReplyObject(th_cmd(C, "EXPIRE zsa:job:k1 100000"));
    freeReplyObject(th_cmd(C, "XADD zsa:events:idle * e x"));
    start_scheduler(&S[0], "hk", "--check-interval-ms=100", "--ended-ttl-s=3600",
                    "--stream-ttl-s=7200", "--metrics-listen=127.0.0.1:0", NULL);
    bool done = false;
    for (int64_t end = cm_time_mono_ms() + 10000; !done && cm_time_mono_ms() < end; sleep_ms(50))
        done = ttl("zsa:job:e1") > 0 && ttl("zsa:job:e2") > 0 && ttl("zsa:events:idle") > 0;
    cr_assert(done, "ended jobs or the idle stream got no TTL");
    cr_expect(ttl("zsa:job:e1") > 3500 && ttl("zsa:job:e1") <= 3600);
    cr_expect(ttl("zsa:events:idle") > 7100 && ttl("zsa:events:idle") <= 7200);
    cr_expect_eq(ttl("zsa:job:r1"), -1, "a running job's hash must not expire");
    cr_expect(ttl("zsa:job:k1") > 99000, "a TTL already set was changed");

    int port = metrics_port(&S[0]);
    char body[16384];
    cr_assert_eq(cm_http("127.0.0.1", port, "GET", "/metrics", NULL, false, body, sizeof(body)),
                 200);
    cr_expect(strstr(body, "zsa_scheduler_leader{scheduler=\"hk\"} 1\n"), "%s", body);
    cr_expect(strstr(body, "zsa_scheduler_keys_expired_total{scheduler=\"hk\"} 3\n"), "%s", body);
    cr_expect(strstr(body, "zsa_scheduler_status_broadcasts_total{scheduler=\"hk\"} "), "%s", body);
    cr_assert_eq(cm_http("127.0.0.1", port, "GET", "/healthz", NULL, false, body, sizeof(body)),
                 200);
    cr_expect(strstr(body, "\"leader\":true"), "%s", body);
    cr_assert_eq(cm_http("127.0.0.1", port, "GET", "/nope", NULL, false, body, sizeof(body)), 404);
    cr_expect(strstr(body, "\"code\":\"NOT_FOUND\""), "%s", body);
}

/* A result directory with files, its mtime days_ago in the past. */
static void old_dir(const char *root, const char *name, int days_ago)
{
    char path[300], file[400];
    snprintf(path, sizeof(path), "%s/%s", root, name);
    cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
    snprintf(file, sizeof(file), "%s/objects.csv", path);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("label,voxels\n1,10\n", f);
    fclose(f);
    struct timespec t[2] = {{time(NULL) - (time_t)days_ago * 86400, 0},
                            {time(NULL) - (time_t)days_ago * 86400, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* Retention: of the result directories older than --results-retention-days, those whose result
 * left Redis are removed; one whose result is still there, a young one, a link to an old
 * directory elsewhere (never followed), a hidden one and a file stay. */
Test(scheduler, retention_removes_old_result_directories_whose_result_left_redis)
{
    char root[] = "/tmp/zsa-retention-XXXXXX", out[] = "/tmp/zsa-retention-out-XXXXXX";
    cr_assert_not_null(mkdtemp(root));
    cr_assert_not_null(mkdtemp(out));
    old_dir(root, "gone1.r1", 40);
    old_dir(root, "gone2.r3", 31);
    old_dir(root, "kept.r1", 40);
    old_dir(root, "young.r1", 2);
    old_dir(root, ".hidden.r1", 40);
    old_dir(out, "elsewhere.r1", 40);
    char path[300], target[300];
    snprintf(path, sizeof(path), "%s/link.r1", root);
    snprintf(target, sizeof(target), "%s/elsewhere.r1", out);
    cr_assert_eq(symlink(target, path), 0);
    snprintf(path, sizeof(path), "%s/notes.r1", root);
    FILE *f = fopen(path, "w");
    fclose(f);
    freeReplyObject(th_cmd(C, "SET zsa:result:kept.r1 {}"));
    /* more than one batch (256) of old directories, half of them still in Redis: a pass reads on
     * past those it keeps */
    for (int i = 0; i < 600; i++) {
        char name[32];
        snprintf(name, sizeof(name), "bulk%d.r1", i);
        old_dir(root, name, 60);
        if (i % 2)
            freeReplyObject(th_cmd(C, "SET zsa:result:%s {}", name));
    }

    char flag[80];
    snprintf(flag, sizeof(flag), "--results-dir=%s", root);
    start_scheduler(&S[0], "rt", "--check-interval-ms=100", flag, "--results-retention-days=30",
                    "--retention-interval-s=1", "--metrics-listen=127.0.0.1:0", NULL);
    char g1[300], g2[300];
    snprintf(g1, sizeof(g1), "%s/gone1.r1", root);
    snprintf(g2, sizeof(g2), "%s/gone2.r3", root);
    int64_t end = cm_time_mono_ms() + 15000;
    while ((access(g1, F_OK) == 0 || access(g2, F_OK) == 0) && cm_time_mono_ms() < end)
        sleep_ms(100);
    cr_expect_neq(access(g1, F_OK), 0, "gone1.r1 (40 days, no result) was not removed");
    cr_expect_neq(access(g2, F_OK), 0, "gone2.r3 (31 days, no result) was not removed");
    int bulk_left = 0;
    for (end = cm_time_mono_ms() + 15000; cm_time_mono_ms() < end; sleep_ms(100)) {
        bulk_left = 0;
        for (int i = 0; i < 600; i += 2) {
            snprintf(path, sizeof(path), "%s/bulk%d.r1", root, i);
            bulk_left += access(path, F_OK) == 0;
        }
        if (!bulk_left)
            break;
    }
    cr_expect_eq(bulk_left, 0, "%d of 300 old directories without a result are still there",
                 bulk_left);
    for (int i = 1; i < 600; i += 2) {
        snprintf(path, sizeof(path), "%s/bulk%d.r1", root, i);
        if (access(path, F_OK) != 0)
            cr_expect_fail("bulk%d.r1 was removed while its result is in Redis", i);
    }
    /* the pass that removed them looked at the others too, and says so */
    char log[8192];
    for (end = cm_time_mono_ms() + 10000; cm_time_mono_ms() < end; sleep_ms(100)) {
        th_proc_log(&S[0], log, sizeof(log));
        if (strstr(log, "retention: removed 302 result directories older than 30 days"))
            break;
    }
    cr_expect(strstr(log, "retention: removed 302 result directories older than 30 days under") &&
                  strstr(log, "(301 kept: their result is still in Redis; 0 could not be removed)"),
              "%s", log);
    const char *stay[] = {"kept.r1/objects.csv", "young.r1/objects.csv", ".hidden.r1/objects.csv",
                          "link.r1", "notes.r1"};
    for (size_t i = 0; i < sizeof(stay) / sizeof(stay[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, stay[i]);
        struct stat st;
        cr_expect_eq(lstat(path, &st), 0, "%s was removed", stay[i]);
    }
    snprintf(path, sizeof(path), "%s/elsewhere.r1/objects.csv", out);
    cr_expect_eq(access(path, F_OK), 0, "the link was followed");
    char body[16384];
    cr_assert_eq(cm_http("127.0.0.1", metrics_port(&S[0]), "GET", "/metrics", NULL, false, body,
                         sizeof(body)),
                 200);
    cr_expect(strstr(body, "zsa_scheduler_results_pruned_total{scheduler=\"rt\"} 302\n"), "%s",
              body);
    snprintf(path, sizeof(path), "rm -rf '%s' '%s'", root, out);
    cr_expect_eq(system(path), 0);
}

Test(scheduler, survives_a_redis_outage_and_leads_again)
{
    start_scheduler(&S[0], "outage", "--check-interval-ms=100", "--status-interval-ms=200",
                    "--metrics-listen=127.0.0.1:0", NULL);
    wait_leader("outage", 5000);
    int port = metrics_port(&S[0]);
    redisFree(C);
    C = NULL;
    th_redis_kill(&R);
    char body[4096];
    int code = 0;
    for (int64_t end = cm_time_mono_ms() + 5000; code != 503 && cm_time_mono_ms() < end;
         sleep_ms(50))
        code = cm_http("127.0.0.1", port, "GET", "/healthz", NULL, false, body, sizeof(body));
    cr_expect_eq(code, 503, "healthz still %d with Redis down", code);
    cr_expect(strstr(body, "\"redis\":false"), "%s", body);
    cr_assert_eq(th_redis_restart(&R), 0);
    C = th_redis_connect(&R);
    cr_assert_not_null(C);
    int64_t t0 = cm_time_now_ms();
    struct pr_msg m;
    bool got = false;
    for (int64_t end = cm_time_mono_ms() + 15000; !got && cm_time_mono_ms() < end; sleep_ms(50))
        got = latest_status(t0, &m);
    cr_assert(got, "no system_status after Redis came back");
    pr_msg_deinit(&m);
    wait_leader("outage", 10);
    cr_expect_eq(cm_http("127.0.0.1", port, "GET", "/healthz", NULL, false, body, sizeof(body)),
                 200);
}
