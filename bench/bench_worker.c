/* Benchmark of the worker pipeline against a real redis-server (started here on a free port):
 *  1. throughput: N no-op simulate jobs (progress reported 5 times, ~200-byte summary) pushed at
 *     once; a listener subscribed to the session channel sees every event. Reports end-to-end
 *     jobs/s (first push to last processing_complete seen), events/s, Redis CPU per job.
 *  2. dispatch latency on an idle queue: one job every 5 ms; push -> processing_started seen by
 *     the listener, p50/p99.
 * Usage: bench_worker [jobs] [workers] [slots]   (defaults 20000 1 64). Results:
 * docs/BENCHMARKS.md.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
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

#define MAX_WORKERS 8

static double redis_cpu(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO cpu");
    double sys = 0, user = 0;
    const char *p = r ? strstr(r->str, "used_cpu_sys:") : NULL;
    if (p)
        sys = atof(p + 13);
    p = r ? strstr(r->str, "used_cpu_user:") : NULL;
    if (p)
        user = atof(p + 14);
    freeReplyObject(r);
    return sys + user;
}

/* Returns the type of the next published event (a message carries one or more), or -1. */
static int next_event(redisContext *sub)
{
    static int queue[256];
    static size_t head, tail;
    while (head == tail) {
        redisReply *r;
        if (redisGetReply(sub, (void **)&r) != REDIS_OK)
            return -1;
        head = tail = 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            strcmp(r->element[0]->str, "message") == 0) {
            const char *msg = r->element[2]->str;
            size_t len = r->element[2]->len, pos = 0;
            struct pr_frame f;
            struct pr_err err = {0};
            while (tail < 256 && pr_pub_next(msg, len, &pos, &f, &err) == 1) {
                struct pr_msg m;
                queue[tail++] = pr_decode_msgpack(f.ev, f.ev_len, PR_WIRE_SERVER, &m, &err) == 0
                                    ? (int)m.type
                                    : -1;
                if (queue[tail - 1] >= 0)
                    pr_msg_deinit(&m);
            }
        }
        freeReplyObject(r);
    }
    return queue[head++];
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* A listener that reads the session stream, stalls for 3 s after a quarter of the events, then
 * resumes from its last id. It must either get every event or know exactly how many it missed:
 * on resume, one MULTI reads how many entries were ever added and how many remain, with the next
 * entries, so a gap is detected and counted, never silent. */
struct stalled {
    int port;
    long long expect, before, missed, after, added;
    bool gap;
};

static long long xinfo_int(const redisReply *info, const char *key, char *str, size_t n)
{
    for (size_t i = 0; info && info->type == REDIS_REPLY_ARRAY && i + 1 < info->elements; i += 2) {
        if (strcmp(info->element[i]->str, key) != 0)
            continue;
        const redisReply *v = info->element[i + 1];
        if (str && v->type == REDIS_REPLY_STRING)
            snprintf(str, n, "%s", v->str);
        return v->type == REDIS_REPLY_INTEGER ? v->integer : 0;
    }
    return -1;
}

static void *stalled_main(void *arg)
{
    struct stalled *st = arg;
    redisContext *c = redisConnect("127.0.0.1", st->port);
    char last[48] = "0-0";
    bool stalled = false;
    int64_t give_up = cm_time_mono_ms() + 120000;
    while (c && !c->err && st->before + st->missed + st->after < st->expect &&
           cm_time_mono_ms() < give_up) {
        if (!stalled && st->before >= st->expect / 4) {
            struct timespec ts = {3, 0};
            nanosleep(&ts, NULL);
            stalled = true;
            /* resume: what was trimmed, and the next entries, as of one instant */
            freeReplyObject(redisCommand(c, "MULTI"));
            freeReplyObject(redisCommand(c, "XINFO STREAM zsa:events:bench"));
            freeReplyObject(redisCommand(c, "XREAD COUNT 1000 STREAMS zsa:events:bench %s", last));
            redisReply *ex = redisCommand(c, "EXEC");
            long long added = xinfo_int(ex ? ex->element[0] : NULL, "entries-added", NULL, 0);
            long long len = xinfo_int(ex ? ex->element[0] : NULL, "length", NULL, 0);
            /* trimming removes the oldest entries (nothing else deletes from these streams):
             * past the ones read before, every removed entry is one this listener missed */
            st->gap = added - len > st->before;
            if (st->gap)
                st->missed = added - len - st->before;
            redisReply *rd = ex ? ex->element[1] : NULL;
            if (rd && rd->type == REDIS_REPLY_ARRAY) {
                redisReply *ents = rd->element[0]->element[1];
                st->after += (long long)ents->elements;
                if (ents->elements)
                    snprintf(last, sizeof(last), "%s",
                             ents->element[ents->elements - 1]->element[0]->str);
            }
            freeReplyObject(ex);
            continue;
        }
        redisReply *rd =
            redisCommand(c, "XREAD COUNT 1000 BLOCK 200 STREAMS zsa:events:bench %s", last);
        if (rd && rd->type == REDIS_REPLY_ARRAY) {
            redisReply *ents = rd->element[0]->element[1];
            *(stalled ? &st->after : &st->before) += (long long)ents->elements;
            if (ents->elements)
                snprintf(last, sizeof(last), "%s",
                         ents->element[ents->elements - 1]->element[0]->str);
        }
        freeReplyObject(rd);
    }
    redisReply *info = c ? redisCommand(c, "XINFO STREAM zsa:events:bench") : NULL;
    st->added = xinfo_int(info, "entries-added", NULL, 0);
    freeReplyObject(info);
    if (c)
        redisFree(c);
    return NULL;
}

#define JOB_JSON                                                                                   \
    "{\"image_id\":\"img%d\",\"algorithm\":\"simulate\",\"session_id\":\"bench\","                 \
    "\"parameters\":{\"duration_seconds\":0,\"steps\":5,\"confidence\":0.9}}"

int main(int argc, char **argv)
{
    int njobs = argc > 1 ? atoi(argv[1]) : 20000;
    int nworkers = argc > 2 ? atoi(argv[2]) : 1;
    const char *slots = argc > 3 ? argv[3] : "64";
    if (nworkers < 1 || nworkers > MAX_WORKERS)
        nworkers = 2;
    struct th_redis r = {0};
    if (th_redis_start(&r) != 0)
        return 1;
    redisContext *c = th_redis_connect(&r), *sub = th_redis_connect(&r);
    freeReplyObject(redisCommand(sub, "SUBSCRIBE zsa:ch:bench"));
    struct th_proc w[MAX_WORKERS];
    char url[340], slotflag[32], ids[MAX_WORKERS][32];
    snprintf(url, sizeof(url), "--redis-url=%s", r.url);
    snprintf(slotflag, sizeof(slotflag), "--slots=%s", slots);
    for (int i = 0; i < nworkers; i++) {
        snprintf(ids[i], sizeof(ids[i]), "--worker-id=bw%d", i);
        const char *args[] = {url,
                              ids[i],
                              slotflag,
                              "--metrics-listen=",
                              "--log-level=warn",
                              "--stream-maxlen=100000",
                              NULL};
        th_proc_start(&w[i], "zsa-worker", args, NULL);
    }
    /* wait until every worker has its heartbeat in */
    long long online = 0;
    for (int64_t deadline = cm_time_mono_ms() + 10000; cm_time_mono_ms() < deadline;) {
        redisReply *rep = redisCommand(c, "SCARD zsa:workers");
        online = rep ? rep->integer : 0;
        freeReplyObject(rep);
        if (online >= nworkers)
            break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (online < nworkers) {
        char log[2048];
        th_proc_log(&w[0], log, sizeof(log));
        fprintf(stderr, "bench_worker: only %lld of %d workers came up; first worker says:\n%s\n",
                online, nworkers, log);
        for (int i = 0; i < nworkers; i++)
            th_proc_stop(&w[i]);
        th_redis_stop(&r);
        return 1;
    }
    struct timeval tmo = {30, 0}; /* a stuck pipeline ends the run instead of hanging it */
    redisSetTimeout(sub, tmo);

    /* 1. throughput */
    struct stalled stall = {.port = r.port, .expect = 7LL * njobs};
    pthread_t stall_thread;
    pthread_create(&stall_thread, NULL, stalled_main, &stall);
    double cpu0 = redis_cpu(c), self0 = th_proc_cpu(getpid()), wcpu0 = 0;
    for (int i = 0; i < nworkers; i++)
        wcpu0 += th_proc_cpu(w[i].pid);
    int64_t t0 = cm_time_mono_ns();
    char buf[256];
    for (int i = 0; i < njobs; i++) {
        snprintf(buf, sizeof(buf), JOB_JSON, i);
        redisAppendCommand(c, "LPUSH zsa:jobs %s", buf);
    }
    for (int i = 0; i < njobs; i++) {
        redisReply *rep;
        redisGetReply(c, (void **)&rep);
        freeReplyObject(rep);
    }
    int complete = 0;
    long long events = 0;
    while (complete < njobs) {
        int t = next_event(sub);
        if (t < 0)
            break;
        events++;
        complete += t == PR_PROCESSING_COMPLETE;
    }
    double secs = (double)(cm_time_mono_ns() - t0) / 1e9;
    double cpu = redis_cpu(c) - cpu0, self = th_proc_cpu(getpid()) - self0, wcpu = -wcpu0;
    for (int i = 0; i < nworkers; i++)
        wcpu += th_proc_cpu(w[i].pid);
    printf("throughput: %d jobs, %d workers x %s slots: %.2f s, %.0f jobs/s, %.0f events/s, "
           "redis cpu %.1f us/job (%.0f%% of one core)\n",
           njobs, nworkers, slots, secs, complete / secs, events / secs, cpu * 1e6 / njobs,
           100 * cpu / secs);
    printf("  cpu per job: workers %.1f us, listener %.1f us\n", wcpu * 1e6 / njobs,
           self * 1e6 / njobs);

    pthread_join(stall_thread, NULL);
    printf("stalled listener (3 s after %lld events): %s; read %lld before, %lld after, "
           "%lld missed = %lld of %lld entries added\n",
           stall.before,
           stall.gap ? "trimmed past its last id: gap detected and counted"
                     : "resumed with every event still in the stream",
           stall.before, stall.after, stall.missed, stall.before + stall.after + stall.missed,
           stall.added);
    int rc = 0;
    if (stall.before + stall.after + stall.missed != stall.added) {
        fprintf(stderr, "bench_worker: the stalled listener has a silent gap\n");
        rc = 1;
    }

    if (getenv("ZSA_BENCH_STATS")) { /* where Redis spends its time */
        redisReply *st = redisCommand(c, "INFO commandstats");
        printf("%s\n", st ? st->str : "");
        freeReplyObject(st);
    }

    /* 2. dispatch latency, idle queue: one job every 5 ms */
    int nlat = 400;
    long long *lat = calloc((size_t)nlat, sizeof(long long));
    for (int i = 0; i < nlat; i++) {
        snprintf(buf, sizeof(buf), JOB_JSON, i);
        int64_t s = cm_time_mono_ns();
        freeReplyObject(redisCommand(c, "LPUSH zsa:jobs %s", buf));
        int t;
        while ((t = next_event(sub)) >= 0 && t != PR_PROCESSING_STARTED) {
        }
        lat[i] = (cm_time_mono_ns() - s) / 1000;
        while ((t = next_event(sub)) >= 0 && t != PR_PROCESSING_COMPLETE) {
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    qsort(lat, (size_t)nlat, sizeof(long long), cmp_ll);
    printf("dispatch (push -> processing_started seen): p50 %.2f ms, p99 %.2f ms, max %.2f ms "
           "(%d jobs, one every 5 ms)\n",
           lat[nlat / 2] / 1000.0, lat[nlat * 99 / 100] / 1000.0, lat[nlat - 1] / 1000.0, nlat);
    free(lat);
    /* 3. cancel latency: cancel a running simulate job, wait for its status to say cancelled */
    long long canc[10];
    for (int i = 0; i < 10; i++) {
        snprintf(buf, sizeof(buf),
                 "{\"job_id\":\"cx%d\",\"image_id\":\"c\",\"algorithm\":\"simulate\","
                 "\"session_id\":\"cb\",\"parameters\":{\"duration_seconds\":60}}",
                 i);
        freeReplyObject(redisCommand(c, "LPUSH zsa:jobs %s", buf));
        char st[32] = "", err[128];
        int64_t give_up = cm_time_mono_ms() + 30000; /* a lost job ends the run, not hangs it */
        while (strcmp(st, "running") != 0 && cm_time_mono_ms() < give_up) {
            redisReply *rep = redisCommand(c, "HGET zsa:job:cx%d status", i);
            snprintf(st, sizeof(st), "%s", rep && rep->str ? rep->str : "");
            freeReplyObject(rep);
        }
        char id[16];
        snprintf(id, sizeof(id), "cx%d", i);
        int64_t s0 = cm_time_mono_ns();
        st_jobctl_cancel(c, "zsa", id, err, sizeof(err));
        while (strcmp(st, "cancelled") != 0 && cm_time_mono_ms() < give_up) {
            redisReply *rep = redisCommand(c, "HGET zsa:job:cx%d status", i);
            snprintf(st, sizeof(st), "%s", rep && rep->str ? rep->str : "");
            freeReplyObject(rep);
        }
        canc[i] = (cm_time_mono_ns() - s0) / 1000;
    }
    qsort(canc, 10, sizeof(long long), cmp_ll);
    printf("cancel (request -> status cancelled): p50 %.1f ms, max %.1f ms (10 running jobs)\n",
           canc[5] / 1000.0, canc[9] / 1000.0);

    for (int i = 0; i < nworkers; i++) {
        th_proc_signal(&w[i], SIGTERM);
        th_proc_wait(&w[i], 10000);
        th_proc_stop(&w[i]);
    }
    redisFree(c);
    redisFree(sub);
    th_redis_stop(&r);
    return rc;
}
