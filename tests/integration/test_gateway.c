/* Integration: zsa-gateway as a real process with real WebSocket clients over real sockets, a
 * real zsa-worker producing the events and a real redis-server: sessions, fan-out, replay,
 * encodings, slow consumers, REST, Redis restarts, shutdown. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/time.h"
#include "proto/proto.h"
#include "tests/harness/emit.h"
#include "tests/harness/proc.h"
#include "tests/harness/redis_server.h"
#include "tests/harness/ws_client.h"

static struct th_redis R;
static redisContext *C;
static struct th_proc GW, GW2, WK;
static int PORT, PORT2;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void setup(void)
{
    R.aof = true;
    cr_assert_eq(th_redis_start(&R), 0);
    C = th_redis_connect(&R);
    cr_assert_not_null(C);
}

static void check_log(struct th_proc *p, const char *who)
{
    static char log[65536];
    if (!p->log[0])
        return;
    cr_expect(th_proc_log_clean(p, who, log, sizeof(log)), "%s log:\n%s", who, log);
}

static void teardown(void)
{
    /* SIGTERM first: the gateway exits by itself, so LeakSanitizer runs and reports */
    struct th_proc *gws[] = {&GW, &GW2};
    for (int i = 0; i < 2; i++) {
        th_proc_signal(gws[i], SIGTERM);
        th_proc_wait(gws[i], 10000);
    }
    check_log(&GW, "gateway");
    check_log(&GW2, "gateway 2");
    check_log(&WK, "worker");
    th_proc_stop(&GW);
    th_proc_stop(&GW2);
    th_proc_stop(&WK);
    if (C)
        redisFree(C);
    C = NULL;
    th_redis_stop(&R);
}

TestSuite(gateway, .init = setup, .fini = teardown, .timeout = 120);

/* Starts a gateway on a free port with extra flags (NULL-terminated); waits for /readyz. */
static int start_gateway(struct th_proc *p, ...)
{
    const char *extra[32] = {NULL};
    int n = 0, port = th_free_port();
    va_list ap;
    va_start(ap, p);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;)
        extra[n++] = a;
    va_end(ap);
    if (th_gateway_start(p, R.url, port, extra) != 0) {
        char log[4096];
        th_proc_log(p, log, sizeof(log));
        cr_assert_fail("gateway not ready on %d:\n%s", port, log);
    }
    return port;
}

static void start_worker(const char *extra)
{
    static char url[340];
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    const char *argv[] = {url,
                          "--worker-id=gw-w1",
                          "--data-dir=/tmp",
                          "--metrics-listen=",
                          "--poll-ms=200",
                          "--slots=8",
                          extra,
                          NULL};
    cr_assert_eq(th_proc_start(&WK, "zsa-worker", argv, NULL), 0);
}

/* Submits a simulate job over REST; returns its job id in id. */
static void submit(const char *job_id, const char *session, double seconds, int steps)
{
    char body[512], out[1024];
    snprintf(body, sizeof(body),
             "{\"job_id\":\"%s\",\"image_id\":\"img\",\"algorithm\":\"simulate\",\"session_id\":"
             "\"%s\",\"parameters\":{\"duration_seconds\":%g,\"steps\":%d}}",
             job_id, session, seconds, steps);
    int st = cm_http("127.0.0.1", PORT, "POST", "/api/jobs", body, true, out, sizeof(out));
    cr_assert_eq(st, 202, "submit %s: %d %s", job_id, st, out);
}

/* Next message, decoded (JSON text or MessagePack binary). 1, 0 (timeout), -1 (closed). */
static int next_msg(struct cm_ws *w, int timeout_ms, struct pr_msg *m)
{
    struct cm_ws_msg raw;
    int rc = cm_ws_recv(w, timeout_ms, &raw);
    if (rc != 1)
        return rc;
    struct pr_err err;
    int d = raw.opcode == 2 ? pr_decode_msgpack(raw.data, raw.len, PR_WIRE_SERVER, m, &err)
                            : pr_decode_json(raw.data, raw.len, PR_WIRE_SERVER, m, &err);
    cr_assert_eq(d, 0, "undecodable message (%s: %s): %.200s", err.field, err.text, raw.data);
    free(raw.data);
    return 1;
}

/* Skips heartbeats and system_status; waits for a message of type t. */
static bool wait_type(struct cm_ws *w, enum pr_type t, int timeout_ms, struct pr_msg *out)
{
    int64_t deadline = cm_time_mono_ms() + timeout_ms;
    while (cm_time_mono_ms() < deadline) {
        struct pr_msg m;
        int rc = next_msg(w, (int)(deadline - cm_time_mono_ms()), &m);
        if (rc != 1)
            return false;
        if (m.type == t) {
            if (out)
                *out = m;
            else
                pr_msg_deinit(&m);
            return true;
        }
        pr_msg_deinit(&m);
    }
    return false;
}

#define MAXEV 8192
struct seen {
    int n;
    char id[MAXEV][32];
    char job[MAXEV][64];
    int type[MAXEV];
};

/* Collects job events (with event ids) until `complete` processing_complete were seen. Other
 * messages are skipped; a replay_complete is recorded in *rc_count / *rc_trunc when given. */
static void collect(struct cm_ws *w, struct seen *s, int complete, int timeout_ms, int *rc_count,
                    bool *rc_trunc)
{
    int64_t deadline = cm_time_mono_ms() + timeout_ms;
    int done = 0;
    while (done < complete && cm_time_mono_ms() < deadline) {
        struct pr_msg m;
        int rc = next_msg(w, (int)(deadline - cm_time_mono_ms()), &m);
        if (rc != 1)
            break;
        if (m.type == PR_REPLAY_COMPLETE && rc_count) {
            *rc_count = (int)m.u.replay_complete.count;
            *rc_trunc = m.u.replay_complete.truncated;
        }
        if (m.event_id && m.job_id && s->n < MAXEV) {
            snprintf(s->id[s->n], sizeof(s->id[0]), "%s", m.event_id);
            snprintf(s->job[s->n], sizeof(s->job[0]), "%s", m.job_id);
            s->type[s->n] = m.type;
            s->n++;
            done += m.type == PR_PROCESSING_COMPLETE;
        }
        pr_msg_deinit(&m);
    }
    cr_assert_eq(done, complete, "saw %d of %d processing_complete (%d events)", done, complete,
                 s->n);
}

static bool id_less(const char *a, const char *b)
{
    unsigned long long am, as, bm, bs;
    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    return am < bm || (am == bm && as < bs);
}

/* The session stream's ids after `after` ("-" for all), in order, into s->id. */
static void stream_ids(const char *session, const char *after, struct seen *s)
{
    redisReply *r = redisCommand(C, "XRANGE zsa:events:%s %s%s +", session,
                                 strcmp(after, "-") ? "(" : "", after);
    cr_assert_not_null(r);
    s->n = 0;
    for (size_t i = 0; i < r->elements && s->n < MAXEV; i++) {
        snprintf(s->id[s->n], sizeof(s->id[0]), "%s", r->element[i]->element[0]->str);
        const redisReply *e = r->element[i]->element[1]->element[1];
        struct pr_msg m;
        struct pr_err err;
        cr_assert_eq(pr_decode_msgpack(e->str, e->len, PR_WIRE_SERVER, &m, &err), 0);
        s->type[s->n++] = m.type;
        pr_msg_deinit(&m);
    }
    freeReplyObject(r);
}

static void assert_same_ids(const struct seen *got, const struct seen *want, const char *what)
{
    cr_assert_eq(got->n, want->n, "%s: %d events, the stream has %d", what, got->n, want->n);
    for (int i = 0; i < got->n; i++)
        cr_assert_str_eq(got->id[i], want->id[i], "%s: event %d", what, i);
}

static void ws_open(struct cm_ws *w, const char *target, const char *proto)
{
    cr_assert_eq(cm_ws_connect(w, "127.0.0.1", PORT, target, proto, false), 0,
                 "connect %s: HTTP %d", target, w->http_status);
}

static struct seen S1, S2, S3;

Test(gateway, connect_generates_a_session_and_sends_heartbeats)
{
    PORT = start_gateway(&GW, "--heartbeat-s=1", NULL);
    struct cm_ws w = {0};
    ws_open(&w, "/ws", NULL);
    struct pr_msg m;
    cr_assert(wait_type(&w, PR_CONNECTED, 5000, &m), "no connected message");
    cr_assert_gt(strlen(m.u.connected.session_id), 0);
    cr_assert_gt(strlen(m.u.connected.client_id), 0);
    cr_assert_eq(m.u.connected.heartbeat_interval_seconds, 1);
    cr_assert_not(m.u.connected.resumed);
    pr_msg_deinit(&m);
    cr_assert(wait_type(&w, PR_HEARTBEAT, 4000, NULL), "no heartbeat within 4 s");
    int beats = 0; /* one per --heartbeat-s, not more */
    for (int64_t t0 = cm_time_mono_ms(); cm_time_mono_ms() - t0 < 3500;) {
        int rc = next_msg(&w, 100, &m);
        if (rc == 1) {
            beats += m.type == PR_HEARTBEAT;
            pr_msg_deinit(&m);
        }
    }
    cr_assert(beats >= 2 && beats <= 4, "%d heartbeats in 3.5 s with --heartbeat-s=1", beats);
    cm_ws_send_text(&w, "{\"type\":\"ping\"}");
    cr_assert(wait_type(&w, PR_PONG, 3000, NULL), "no pong");
    cm_ws_send_text(&w, "{\"type\":\"ping\"");
    cr_assert(wait_type(&w, PR_ERROR, 3000, &m), "no error for malformed JSON");
    cr_assert_str_eq(m.u.error.code, "INVALID_MESSAGE");
    pr_msg_deinit(&m);
    cm_ws_send_text(&w, "{\"type\":\"cancel\",\"job_id\":\"nope\"}");
    cr_assert(wait_type(&w, PR_ERROR, 3000, &m), "no error for an unknown job");
    cr_assert_str_eq(m.u.error.code, "UNKNOWN_JOB");
    pr_msg_deinit(&m);
    cm_ws_close(&w);
}

Test(gateway, sessions_are_isolated_and_every_client_of_a_session_gets_every_event)
{
    PORT = start_gateway(&GW, NULL);
    start_worker("--stream-maxlen=1000");
    struct cm_ws a = {0}, b = {0}, c = {0};
    ws_open(&a, "/ws?session_id=s1", NULL);
    ws_open(&b, "/ws?session_id=s1", NULL);
    ws_open(&c, "/ws?session_id=s2", NULL);
    cr_assert(wait_type(&a, PR_CONNECTED, 5000, NULL));
    cr_assert(wait_type(&b, PR_CONNECTED, 5000, NULL));
    cr_assert(wait_type(&c, PR_CONNECTED, 5000, NULL));
    submit("i1", "s1", 0.3, 5);
    submit("i2", "s2", 0.3, 5);
    collect(&a, &S1, 1, 15000, NULL, NULL);
    collect(&b, &S2, 1, 15000, NULL, NULL);
    collect(&c, &S3, 1, 15000, NULL, NULL);
    for (int i = 0; i < S1.n; i++)
        cr_assert_str_eq(S1.job[i], "i1", "a client of s1 got an event of %s", S1.job[i]);
    for (int i = 0; i < S3.n; i++)
        cr_assert_str_eq(S3.job[i], "i2", "a client of s2 got an event of %s", S3.job[i]);
    static struct seen want;
    stream_ids("s1", "-", &want);
    assert_same_ids(&S1, &want, "client a");
    assert_same_ids(&S2, &want, "client b");
    cr_assert_geq(S1.n, 7, "started, 5 progress, complete");
    cm_ws_close(&a);
    cm_ws_close(&b);
    cm_ws_close(&c);
}

Test(gateway, reconnect_with_last_event_id_replays_exactly_the_missed_events)
{
    PORT = start_gateway(&GW, NULL);
    start_worker("--stream-maxlen=1000");
    struct cm_ws w = {0};
    ws_open(&w, "/ws?session_id=r1", NULL);
    cr_assert(wait_type(&w, PR_CONNECTED, 5000, NULL));
    submit("r-a", "r1", 0.1, 5);
    memset(&S1, 0, sizeof(S1));
    collect(&w, &S1, 1, 15000, NULL, NULL);
    char last[32];
    snprintf(last, sizeof(last), "%s", S1.id[S1.n - 1]);
    cm_ws_close(&w);
    /* missed while away: one job that ended, one still running when the client is back */
    submit("r-b", "r1", 0.1, 5);
    submit("r-c", "r1", 1.5, 10);
    char out[1024];
    int64_t deadline = cm_time_mono_ms() + 15000;
    while (
        cm_time_mono_ms() < deadline &&
        !strstr((cm_http("127.0.0.1", PORT, "GET", "/api/jobs/r-b", NULL, false, out, sizeof(out)),
                 out),
                "\"complete\""))
        sleep_ms(20);
    char target[128];
    snprintf(target, sizeof(target), "/ws?session_id=r1&last_event_id=%s", last);
    ws_open(&w, target, NULL);
    struct pr_msg m;
    cr_assert(wait_type(&w, PR_CONNECTED, 5000, &m));
    cr_assert(m.u.connected.resumed);
    pr_msg_deinit(&m);
    int count = -1;
    bool trunc = true;
    memset(&S2, 0, sizeof(S2));
    collect(&w, &S2, 2, 20000, &count, &trunc); /* r-b and r-c complete */
    cr_assert_geq(count, 7, "replay_complete count %d", count);
    cr_assert_not(trunc);
    static struct seen want;
    stream_ids("r1", last, &want);
    assert_same_ids(&S2, &want, "replayed + live");
    for (int i = 1; i < S2.n; i++)
        cr_assert(id_less(S2.id[i - 1], S2.id[i]));
    cm_ws_close(&w);
    /* a resume message on an open connection does the same */
    ws_open(&w, "/ws?session_id=r1", NULL);
    cr_assert(wait_type(&w, PR_CONNECTED, 5000, NULL));
    char msg[128];
    snprintf(msg, sizeof(msg), "{\"type\":\"resume\",\"last_event_id\":\"%s\"}", last);
    cm_ws_send_text(&w, msg);
    cr_assert(wait_type(&w, PR_REPLAY_COMPLETE, 5000, &m));
    cr_assert_eq(m.u.replay_complete.count, want.n);
    pr_msg_deinit(&m);
    cm_ws_close(&w);
}

Test(gateway, too_old_id_or_too_many_events_are_flagged_truncated)
{
    freeReplyObject(redisCommand(C, "CONFIG SET stream-node-max-entries 4"));
    PORT = start_gateway(&GW, "--replay-max=5", NULL);
    start_worker("--stream-maxlen=10");
    struct cm_ws w = {0};
    ws_open(&w, "/ws?session_id=t1", NULL);
    cr_assert(wait_type(&w, PR_CONNECTED, 5000, NULL));
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof(id), "t-%d", i);
        submit(id, "t1", 0, 5);
    }
    memset(&S1, 0, sizeof(S1));
    collect(&w, &S1, 4, 20000, NULL, NULL);
    cm_ws_close(&w);
    /* the first event is trimmed away: a replay from it cannot be complete */
    char target[128];
    snprintf(target, sizeof(target), "/ws?session_id=t1&last_event_id=%s", S1.id[0]);
    ws_open(&w, target, NULL);
    struct pr_msg m;
    cr_assert(wait_type(&w, PR_REPLAY_COMPLETE, 5000, &m));
    cr_assert(m.u.replay_complete.truncated, "trimmed history must say truncated");
    pr_msg_deinit(&m);
    cm_ws_close(&w);
    /* a recent id with more than --replay-max after it: truncated by the cap */
    snprintf(target, sizeof(target), "/ws?session_id=t1&last_event_id=%s", S1.id[S1.n - 7]);
    ws_open(&w, target, NULL);
    cr_assert(wait_type(&w, PR_REPLAY_COMPLETE, 5000, &m));
    cr_assert_eq(m.u.replay_complete.count, 5);
    cr_assert(m.u.replay_complete.truncated);
    pr_msg_deinit(&m);
    cm_ws_close(&w);
    /* the last id: nothing missed, not truncated */
    snprintf(target, sizeof(target), "/ws?session_id=t1&last_event_id=%s", S1.id[S1.n - 1]);
    ws_open(&w, target, NULL);
    cr_assert(wait_type(&w, PR_REPLAY_COMPLETE, 5000, &m));
    cr_assert_eq(m.u.replay_complete.count, 0);
    cr_assert_not(m.u.replay_complete.truncated);
    pr_msg_deinit(&m);
    cm_ws_close(&w);
}

Test(gateway, msgpack_clients_get_the_same_events_as_json_clients)
{
    PORT = start_gateway(&GW, NULL);
    start_worker("--stream-maxlen=1000");
    struct cm_ws j = {0}, mp = {0};
    ws_open(&j, "/ws?session_id=m1", NULL);
    ws_open(&mp, "/ws?session_id=m1", "zsa.v1.msgpack");
    cr_assert_str_eq(mp.protocol, "zsa.v1.msgpack");
    cr_assert(wait_type(&j, PR_CONNECTED, 5000, NULL));
    struct cm_ws_msg raw;
    cr_assert_eq(cm_ws_recv(&mp, 5000, &raw), 1);
    cr_assert_eq(raw.opcode, 2, "msgpack clients get binary messages");
    free(raw.data);
    submit("m-1", "m1", 0.2, 5);
    memset(&S1, 0, sizeof(S1));
    memset(&S2, 0, sizeof(S2));
    collect(&j, &S1, 1, 15000, NULL, NULL);
    collect(&mp, &S2, 1, 15000, NULL, NULL);
    assert_same_ids(&S2, &S1, "msgpack vs json");
    for (int i = 0; i < S1.n; i++)
        cr_assert_eq(S1.type[i], S2.type[i]);
    cm_ws_close(&j);
    cm_ws_close(&mp);
}

Test(gateway, deflate_clients_get_the_same_events_compressed)
{
    PORT = start_gateway(&GW, NULL);
    start_worker("--stream-maxlen=1000");
    struct cm_ws j = {0}, z = {0}, zm = {0};
    ws_open(&j, "/ws?session_id=z1", NULL);
    cr_assert_eq(cm_ws_connect(&z, "127.0.0.1", PORT, "/ws?session_id=z1", NULL, true), 0);
    cr_assert(z.deflate, "permessage-deflate was not negotiated");
    cr_assert_eq(cm_ws_connect(&zm, "127.0.0.1", PORT, "/ws?session_id=z1", "zsa.v1.msgpack", true),
                 0);
    cr_assert(zm.deflate);
    cr_assert(wait_type(&j, PR_CONNECTED, 5000, NULL));
    cr_assert(wait_type(&z, PR_CONNECTED, 5000, NULL));
    cr_assert(wait_type(&zm, PR_CONNECTED, 5000, NULL));
    submit("z-1", "z1", 0.2, 5);
    submit("z-2", "z1", 0.2, 5);
    memset(&S1, 0, sizeof(S1));
    memset(&S2, 0, sizeof(S2));
    memset(&S3, 0, sizeof(S3));
    collect(&j, &S1, 2, 15000, NULL, NULL);
    collect(&z, &S2, 2, 15000, NULL, NULL);
    collect(&zm, &S3, 2, 15000, NULL, NULL);
    assert_same_ids(&S2, &S1, "deflate json vs json");
    assert_same_ids(&S3, &S1, "deflate msgpack vs json");
    cr_assert_gt(z.compressed, 5, "messages were not compressed (%d)", z.compressed);
    cr_assert_gt(zm.compressed, 5);
    cm_ws_close(&j);
    cm_ws_close(&z);
    cm_ws_close(&zm);
    /* an offer lws 4.1 cannot honour is declined: the connection goes on uncompressed */
    struct cm_ws bad = {.ext_offer = "permessage-deflate; server_no_context_takeover"};
    cr_assert_eq(cm_ws_connect(&bad, "127.0.0.1", PORT, "/ws", NULL, false), 0, "HTTP %d",
                 bad.http_status);
    cr_assert(!bad.deflate, "server_no_context_takeover was accepted");
    struct cm_ws_msg m;
    cr_assert_eq(cm_ws_recv(&bad, 5000, &m), 1);
    cr_assert(strstr(m.data, "\"connected\""), "%s", m.data);
    free(m.data);
    cm_ws_close(&bad);
}

Test(gateway, bad_upgrades_get_an_http_error)
{
    PORT = start_gateway(&GW, NULL);
    struct cm_ws w = {0};
    cr_assert_eq(cm_ws_connect(&w, "127.0.0.1", PORT, "/ws", "chat.v2", false), -1);
    cr_assert_eq(w.http_status, 400, "unknown subprotocol: HTTP %d", w.http_status);
    cm_ws_close(&w);
    cr_assert_eq(cm_ws_connect(&w, "127.0.0.1", PORT, "/ws?session_id=bad%20id", NULL, false), -1);
    cr_assert_eq(w.http_status, 400, "bad session id: HTTP %d", w.http_status);
    cm_ws_close(&w);
    cr_assert_eq(cm_ws_connect(&w, "127.0.0.1", PORT, "/ws?last_event_id=yesterday", NULL, false),
                 -1);
    cr_assert_eq(w.http_status, 400, "bad last_event_id: HTTP %d", w.http_status);
    cm_ws_close(&w);
    cr_assert_eq(cm_ws_connect(&w, "127.0.0.1", PORT, "/elsewhere", NULL, false), -1);
    cr_assert_eq(w.http_status, 404);
    cm_ws_close(&w);
}

Test(gateway, rest_answers_every_error_with_a_status_and_a_json_body)
{
    PORT = start_gateway(&GW, "--max-body-kb=1", NULL);
    static const struct {
        const char *method, *path, *body;
        bool length;
        int status;
        const char *needle;
    } cases[] = {
        {"POST", "/api/jobs", "{\"image_id\":\"a\"}", true, 400, "\"field\":\"algorithm\""},
        {"POST", "/api/jobs", "{\"image_id\":", true, 400, "INVALID_JOB"},
        {"POST", "/api/jobs", "[1,2]", true, 400, "INVALID_JOB"},
        {"POST", "/api/jobs",
         "{\"image_id\":\"a\",\"algorithm\":\"simulate\",\"session_id\":\"a b\"}", true, 400,
         "\"field\":\"session_id\""},
        {"POST", "/api/jobs", NULL, false, 411, "LENGTH_REQUIRED"},
        {"GET", "/api/jobs/nope", NULL, false, 404, "UNKNOWN_JOB"},
        {"GET", "/api/jobs/bad%20id", NULL, false, 405, "error"},
        {"POST", "/api/jobs/nope/cancel", NULL, false, 404, "UNKNOWN_JOB"},
        {"POST", "/api/jobs/nope/retry", NULL, false, 404, "UNKNOWN_JOB"},
        {"GET", "/api/results/nope", NULL, false, 404, "UNKNOWN_RESULT"},
        {"GET", "/api/nothing", NULL, false, 404, "NOT_FOUND"},
        {"GET", "/nothing", NULL, false, 404, "NOT_FOUND"},
        {"DELETE", "/api/jobs/x", NULL, false, 405, "METHOD_NOT_ALLOWED"},
        /* the route table: a path that a route of the other method serves is 405 */
        {"POST", "/api/jobs/nope", NULL, false, 405, "METHOD_NOT_ALLOWED"},
        {"GET", "/api/jobs/nope/cancel", NULL, false, 405, "METHOD_NOT_ALLOWED"},
        {"POST", "/healthz", NULL, false, 405, "METHOD_NOT_ALLOWED"},
        {"GET", "/api/dead/x/purge", NULL, false, 405, "METHOD_NOT_ALLOWED"},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int st = cm_http("127.0.0.1", PORT, cases[i].method, cases[i].path, cases[i].body,
                         cases[i].length, out, sizeof(out));
        cr_assert_eq(st, cases[i].status, "%s %s: %d %s", cases[i].method, cases[i].path, st, out);
        cr_assert(strstr(out, "{\"error\":{\"code\":") && strstr(out, cases[i].needle), "%s %s: %s",
                  cases[i].method, cases[i].path, out);
    }
    char big[2048];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    cr_assert_eq(cm_http("127.0.0.1", PORT, "POST", "/api/jobs", big, true, out, sizeof(out)), 413,
                 "%s", out);
    cr_assert(strstr(out, "BODY_TOO_LARGE"));
    /* the gateway is still fine */
    cr_assert_eq(cm_http("127.0.0.1", PORT, "GET", "/healthz", NULL, false, out, sizeof(out)), 200);
}

Test(gateway, rest_job_lifecycle_submit_status_cancel_retry_result)
{
    PORT = start_gateway(&GW, NULL);
    char out[4096];
    const char *job = "{\"job_id\":\"L1\",\"image_id\":\"a\",\"algorithm\":\"simulate\","
                      "\"session_id\":\"l1\",\"parameters\":{\"duration_seconds\":0.1}}";
    cr_assert_eq(cm_http("127.0.0.1", PORT, "POST", "/api/jobs", job, true, out, sizeof(out)), 202,
                 "%s", out);
    cr_assert(strstr(out, "\"job_id\":\"L1\"") && strstr(out, "\"queue_position\":1"), "%s", out);
    /* the same job again (a client retrying a POST whose answer it lost): nothing new */
    cr_assert_eq(cm_http("127.0.0.1", PORT, "POST", "/api/jobs", job, true, out, sizeof(out)), 200,
                 "%s", out);
    cr_assert(strstr(out, "\"duplicate\":true") && strstr(out, "\"status\":\"queued\""), "%s", out);
    redisReply *len = th_cmd(C, "LLEN zsa:jobs");
    cr_assert_eq(len->integer, 1, "the duplicate was queued");
    freeReplyObject(len);
    /* another job with the same id: a conflict */
    const char *other = "{\"job_id\":\"L1\",\"image_id\":\"b\",\"algorithm\":\"simulate\"}";
    cr_assert_eq(cm_http("127.0.0.1", PORT, "POST", "/api/jobs", other, true, out, sizeof(out)),
                 409, "%s", out);
    cr_assert(strstr(out, "JOB_EXISTS"), "%s", out);
    cr_assert_eq(cm_http("127.0.0.1", PORT, "GET", "/api/jobs/L1", NULL, false, out, sizeof(out)),
                 200);
    cr_assert(strstr(out, "\"status\":\"queued\"") && strstr(out, "\"algorithm\":\"simulate\""),
              "%s", out);
    cr_assert_eq(
        cm_http("127.0.0.1", PORT, "POST", "/api/jobs/L1/retry", NULL, false, out, sizeof(out)),
        409, "%s", out);
    cr_assert_eq(
        cm_http("127.0.0.1", PORT, "POST", "/api/jobs/L1/cancel", NULL, false, out, sizeof(out)),
        202, "%s", out);
    start_worker("--stream-maxlen=1000");
    int64_t deadline = cm_time_mono_ms() + 15000;
    while (
        cm_time_mono_ms() < deadline &&
        !strstr(
            (cm_http("127.0.0.1", PORT, "GET", "/api/jobs/L1", NULL, false, out, sizeof(out)), out),
            "\"cancelled\""))
        sleep_ms(20);
    cr_assert(strstr(out, "\"status\":\"cancelled\""), "queued job not skipped: %s", out);
    cr_assert_eq(
        cm_http("127.0.0.1", PORT, "POST", "/api/jobs/L1/retry", NULL, false, out, sizeof(out)),
        202, "%s", out);
    while (
        cm_time_mono_ms() < deadline &&
        !strstr(
            (cm_http("127.0.0.1", PORT, "GET", "/api/jobs/L1", NULL, false, out, sizeof(out)), out),
            "\"complete\""))
        sleep_ms(20);
    cr_assert(strstr(out, "\"status\":\"complete\"") && strstr(out, "\"attempts\":2"), "%s", out);
    char *rid = strstr(out, "\"result_id\":\"");
    cr_assert_not_null(rid, "%s", out);
    char path[160];
    snprintf(path, sizeof(path), "/api/results/%.*s", (int)strcspn(rid + 13, "\""), rid + 13);
    cr_assert_eq(cm_http("127.0.0.1", PORT, "GET", path, NULL, false, out, sizeof(out)), 200, "%s",
                 out);
    cr_assert(strstr(out, "\"job_id\":\"L1\""), "%s", out);
    cr_assert_eq(
        cm_http("127.0.0.1", PORT, "POST", "/api/jobs/L1/cancel", NULL, false, out, sizeof(out)),
        409, "%s", out);
    /* the seed's demo route enqueues a simulate job */
    cr_assert_eq(cm_http("127.0.0.1", PORT, "POST", "/demo/simulate-analysis/img7?session_id=d1",
                         NULL, false, out, sizeof(out)),
                 202, "%s", out);
    cr_assert(strstr(out, "\"image_id\":\"img7\""), "%s", out);
    cr_assert_eq(cm_http("127.0.0.1", PORT, "GET", "/ws/stats", NULL, false, out, sizeof(out)),
                 200);
    cr_assert(strstr(out, "\"connections\":0") && strstr(out, "\"redis\":\"connected\""), "%s",
              out);
    static char metrics[65536]; /* the whole page */
    cr_assert_eq(
        cm_http("127.0.0.1", PORT, "GET", "/metrics", NULL, false, metrics, sizeof(metrics)), 200);
    cr_assert(strstr(metrics, "zsa_gateway_http_requests_total "), "%s", metrics);
}

Test(gateway, a_client_that_stops_reading_is_closed_and_resumes_without_loss)
{
    PORT = start_gateway(&GW, "--queue-soft-kb=16", "--queue-hard-kb=128", "--replay-max=100000",
                         "--sndbuf-kb=16", "--submit-rate=0" /* 600 submits at once */, NULL);
    start_worker("--stream-maxlen=100000");
    struct cm_ws slow = {.small_rcvbuf = true};
    ws_open(&slow, "/ws?session_id=q1", NULL);
    cr_assert(wait_type(&slow, PR_CONNECTED, 5000, NULL));
    /* the slow client reads nothing while 600 jobs x 8 events go by */
    for (int i = 0; i < 600; i++) {
        char id[16];
        snprintf(id, sizeof(id), "q-%d", i);
        submit(id, "q1", 0, 20);
    }
    redisReply *r = NULL;
    for (int64_t deadline = cm_time_mono_ms() + 90000; cm_time_mono_ms() < deadline;) {
        freeReplyObject(r);
        r = redisCommand(C, "HGET zsa:job:q-599 status");
        if (r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "complete") == 0)
            break;
        sleep_ms(50);
    }
    cr_assert(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "complete") == 0,
              "the jobs did not complete");
    freeReplyObject(r);
    char out[2048];
    cr_assert_eq(cm_http("127.0.0.1", PORT, "GET", "/ws/stats", NULL, false, out, sizeof(out)),
                 200);
    cr_assert(strstr(out, "\"closed_slow\":1"), "the slow client was not closed: %s", out);
    /* it drains what reached it, sees the close, and resumes from the last event it got */
    memset(&S2, 0, sizeof(S2));
    struct pr_msg m;
    int rc;
    while ((rc = next_msg(&slow, 5000, &m)) == 1) {
        if (m.event_id && m.job_id && S2.n < MAXEV) {
            S2.type[S2.n] = m.type;
            snprintf(S2.id[S2.n++], sizeof(S2.id[0]), "%s", m.event_id);
        }
        pr_msg_deinit(&m);
    }
    cr_assert_eq(rc, -1, "the connection must be closed");
    cr_assert(slow.close_code == 0 || slow.close_code == 1013, "close code %d", slow.close_code);
    cm_ws_close(&slow);
    char target[128];
    snprintf(target, sizeof(target), "/ws?session_id=q1&last_event_id=%s",
             S2.n ? S2.id[S2.n - 1] : "0-0");
    ws_open(&slow, target, NULL);
    int count = -1;
    bool trunc = true;
    cr_assert(wait_type(&slow, PR_CONNECTED, 5000, NULL));
    while ((rc = next_msg(&slow, 3000, &m)) == 1) {
        if (m.type == PR_REPLAY_COMPLETE) {
            count = (int)m.u.replay_complete.count;
            trunc = m.u.replay_complete.truncated;
        } else if (m.event_id && m.job_id && S2.n < MAXEV) {
            S2.type[S2.n] = m.type;
            snprintf(S2.id[S2.n++], sizeof(S2.id[0]), "%s", m.event_id);
        }
        pr_msg_deinit(&m);
    }
    cr_assert_not(trunc);
    cr_assert_gt(count, 0);
    /* superseded progress events may be missing (latest wins while behind); every other event
     * arrives exactly once, in order */
    static struct seen want, got, keep;
    stream_ids("q1", "-", &want);
    for (int i = 0; i < S2.n; i++) {
        if (i > 0)
            cr_assert(id_less(S2.id[i - 1], S2.id[i]), "out of order or repeated at %d", i);
        if (S2.type[i] != PR_PROCESSING_PROGRESS)
            snprintf(got.id[got.n++], sizeof(got.id[0]), "%s", S2.id[i]);
    }
    for (int i = 0; i < want.n; i++)
        if (want.type[i] != PR_PROCESSING_PROGRESS)
            snprintf(keep.id[keep.n++], sizeof(keep.id[0]), "%s", want.id[i]);
    assert_same_ids(&got, &keep, "slow client, before and after resuming (non-progress)");
    cr_assert_gt(S2.n, got.n, "progress events arrive too");
    cm_ws_close(&slow);
}

Test(gateway, redis_restart_keeps_clients_and_delivers_every_event_once)
{
    PORT = start_gateway(&GW, NULL);
    start_worker("--stream-maxlen=1000");
    struct cm_ws w = {0};
    ws_open(&w, "/ws?session_id=o1", NULL);
    cr_assert(wait_type(&w, PR_CONNECTED, 5000, NULL));
    submit("o-1", "o1", 3, 30);
    cr_assert(wait_type(&w, PR_PROCESSING_PROGRESS, 10000, NULL));
    redisFree(C);
    C = NULL;
    cr_assert_eq(th_redis_restart(&R), 0);
    C = th_redis_connect(&R);
    cr_assert_not_null(C);
    memset(&S1, 0, sizeof(S1));
    collect(&w, &S1, 1, 30000, NULL, NULL);
    static struct seen want;
    stream_ids("o1", "-", &want);
    /* the client already had the started event and at least one progress event */
    cr_assert_geq(want.n, S1.n + 2);
    static struct seen tail;
    tail.n = S1.n;
    for (int i = 0; i < S1.n; i++)
        snprintf(tail.id[i], sizeof(tail.id[0]), "%s", want.id[want.n - S1.n + i]);
    assert_same_ids(&S1, &tail, "events around the outage");
    for (int i = 1; i < S1.n; i++)
        cr_assert(id_less(S1.id[i - 1], S1.id[i]), "duplicate or reordered at %d", i);
    char out[1024];
    cm_http("127.0.0.1", PORT, "GET", "/ws/stats", NULL, false, out, sizeof(out));
    cr_assert(strstr(out, "\"connections\":1"), "the client stayed connected: %s", out);
    cm_ws_close(&w);
}

Test(gateway, two_gateways_serve_one_session_and_sigterm_closes_clients_with_1001)
{
    PORT = start_gateway(&GW, NULL);
    PORT2 = start_gateway(&GW2, NULL);
    start_worker("--stream-maxlen=1000");
    struct cm_ws a = {0}, b = {0};
    ws_open(&a, "/ws?session_id=g2", NULL);
    cr_assert_eq(cm_ws_connect(&b, "127.0.0.1", PORT2, "/ws?session_id=g2", NULL, false), 0);
    cr_assert(wait_type(&a, PR_CONNECTED, 5000, NULL));
    cr_assert(wait_type(&b, PR_CONNECTED, 5000, NULL));
    submit("g-1", "g2", 0.2, 5);
    memset(&S1, 0, sizeof(S1));
    memset(&S2, 0, sizeof(S2));
    collect(&a, &S1, 1, 15000, NULL, NULL);
    collect(&b, &S2, 1, 15000, NULL, NULL);
    assert_same_ids(&S2, &S1, "gateway 2 vs gateway 1");
    th_proc_signal(&GW2, SIGTERM);
    struct pr_msg m;
    int rc;
    while ((rc = next_msg(&b, 5000, &m)) == 1)
        pr_msg_deinit(&m);
    cr_assert_eq(rc, -1);
    cr_assert_eq(b.close_code, 1001, "close code %d", b.close_code);
    cr_assert(th_proc_wait(&GW2, 10000), "gateway 2 did not exit");
    cr_assert_eq(GW2.status, 0);
    cm_ws_close(&a);
    cm_ws_close(&b);
}

Test(gateway, processes_share_the_port_and_stop_together)
{
    PORT = start_gateway(&GW, "--processes=2", NULL);
    int pids[2] = {0, 0}, distinct = 0;
    char out[1024];
    for (int i = 0; i < 40 && distinct < 2; i++) {
        cr_assert_eq(cm_http("127.0.0.1", PORT, "GET", "/ws/stats", NULL, false, out, sizeof(out)),
                     200);
        int pid = 0;
        cr_assert_eq(sscanf(out, "{\"pid\":%d", &pid), 1, "%s", out);
        if (pid != pids[0] && pid != pids[1])
            pids[distinct++] = pid;
    }
    cr_assert_eq(distinct, 2, "40 requests all reached one process");
    th_proc_signal(&GW, SIGTERM);
    cr_assert(th_proc_wait(&GW, 10000), "the gateway processes did not stop");
    cr_assert_eq(GW.status, 0);
    cr_assert(kill(pids[0], 0) != 0 && kill(pids[1], 0) != 0, "a gateway process is left");
}

Test(gateway, connection_cap_and_silent_peers)
{
    PORT = start_gateway(&GW, "--max-connections=2", "--idle-timeout-s=2", NULL);
    struct cm_ws a = {.no_pong = true}, b = {0}, c = {0};
    ws_open(&a, "/ws?session_id=c1", NULL);
    ws_open(&b, "/ws?session_id=c1", NULL);
    cr_assert_eq(cm_ws_connect(&c, "127.0.0.1", PORT, "/ws?session_id=c1", NULL, false), -1);
    cr_assert_eq(c.http_status, 503, "over the cap: HTTP %d", c.http_status);
    cm_ws_close(&c);
    /* a peer that answers no ping is closed after the idle timeout; one that answers (it reads,
     * so its client answers) stays */
    struct pr_msg m;
    int rc_a = 1, rc_b = 1;
    int64_t t0 = cm_time_mono_ms();
    while (rc_a != -1 && cm_time_mono_ms() - t0 < 10000) {
        if ((rc_a = next_msg(&a, 100, &m)) == 1)
            pr_msg_deinit(&m);
        if ((rc_b = next_msg(&b, 100, &m)) == 1)
            pr_msg_deinit(&m);
        cr_assert_neq(rc_b, -1, "the live peer was closed");
    }
    cr_assert_eq(rc_a, -1, "the silent peer was not closed");
    for (int64_t t1 = cm_time_mono_ms(); cm_time_mono_ms() - t1 < 3000;) {
        if ((rc_b = next_msg(&b, 100, &m)) == 1)
            pr_msg_deinit(&m);
        cr_assert_neq(rc_b, -1, "the live peer was closed");
    }
    cm_ws_close(&a);
    cm_ws_close(&b);
}

/* Emits a system_status on the broadcast stream through the EMIT script, as the scheduler will. */
static void emit_status(int queue_length)
{
    struct pr_msg m;
    pr_msg_init(&m, PR_SYSTEM_STATUS);
    char ts[CM_RFC3339_LEN], e[256];
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    m.u.system_status.queue_length = queue_length;
    m.u.system_status.workers_online = 2;
    m.u.system_status.gpu_utilization = 0;
    cr_assert_eq(th_emit(C, &m, 100, e, sizeof(e)), 0, "%s", e);
    pr_msg_deinit(&m);
}

/* Emits a processing_failed with a 4 KB hard-to-compress error text into a session stream. */
static void emit_big(const char *session, int k)
{
    char e[256];
    cr_assert_eq(th_emit_big(C, session, k, 1000, e, sizeof(e)), 0, "%s", e);
}

Test(gateway, large_events_arrive_intact_and_in_order_over_deflate)
{
    PORT = start_gateway(&GW, NULL);
    struct cm_ws z = {0}, j = {0};
    cr_assert_eq(cm_ws_connect(&z, "127.0.0.1", PORT, "/ws?session_id=L1", NULL, true), 0);
    cr_assert(z.deflate);
    ws_open(&j, "/ws?session_id=L1", NULL);
    cr_assert(wait_type(&z, PR_CONNECTED, 5000, NULL));
    cr_assert(wait_type(&j, PR_CONNECTED, 5000, NULL));
    for (int k = 0; k < 20; k++)
        emit_big("L1", k);
    struct cm_ws *cl[] = {&z, &j};
    for (int c = 0; c < 2; c++) {
        for (int k = 0; k < 20; k++) {
            struct pr_msg m;
            cr_assert(wait_type(cl[c], PR_PROCESSING_FAILED, 5000, &m), "client %d: event %d", c,
                      k);
            char job[32];
            snprintf(job, sizeof(job), "big%d", k);
            cr_assert_str_eq(m.job_id, job, "client %d out of order", c);
            cr_assert_eq(strlen(m.u.processing_failed.error), 4096);
            pr_msg_deinit(&m);
        }
    }
    cr_assert_gt(z.compressed, 10);
    cm_ws_close(&z);
    cm_ws_close(&j);
}

Test(gateway, broadcasts_reach_every_session_and_the_latest_status_greets_new_clients)
{
    emit_status(7); /* before the gateway starts: read from the stream */
    PORT = start_gateway(&GW, NULL);
    struct cm_ws a = {0}, b = {0};
    ws_open(&a, "/ws?session_id=b1", NULL);
    struct pr_msg m;
    cr_assert(wait_type(&a, PR_CONNECTED, 5000, NULL));
    cr_assert(wait_type(&a, PR_SYSTEM_STATUS, 3000, &m), "no system_status on connect");
    cr_assert_eq(m.u.system_status.queue_length, 7);
    pr_msg_deinit(&m);
    ws_open(&b, "/ws?session_id=b2", "zsa.v1.msgpack");
    cr_assert(wait_type(&b, PR_CONNECTED, 5000, NULL));
    cr_assert(wait_type(&b, PR_SYSTEM_STATUS, 3000, NULL));
    emit_status(9); /* live: both sessions get it */
    cr_assert(wait_type(&a, PR_SYSTEM_STATUS, 3000, &m));
    cr_assert_eq(m.u.system_status.queue_length, 9);
    cr_assert_not_null(m.event_id);
    pr_msg_deinit(&m);
    cr_assert(wait_type(&b, PR_SYSTEM_STATUS, 3000, &m));
    cr_assert_eq(m.u.system_status.queue_length, 9);
    pr_msg_deinit(&m);
    cm_ws_close(&a);
    cm_ws_close(&b);
    struct cm_ws c = {0}; /* a newcomer gets the newest one */
    ws_open(&c, "/ws?session_id=b3", NULL);
    cr_assert(wait_type(&c, PR_SYSTEM_STATUS, 3000, &m));
    cr_assert_eq(m.u.system_status.queue_length, 9);
    pr_msg_deinit(&m);
    cm_ws_close(&c);
}

Test(gateway, events_published_while_the_subscription_is_down_arrive_once)
{
    PORT = start_gateway(&GW, NULL);
    start_worker("--stream-maxlen=1000");
    struct cm_ws w = {0};
    ws_open(&w, "/ws?session_id=k1", NULL);
    cr_assert(wait_type(&w, PR_CONNECTED, 5000, NULL));
    submit("k-1", "k1", 0, 5);
    memset(&S1, 0, sizeof(S1));
    collect(&w, &S1, 1, 15000, NULL, NULL);
    /* the gateway's subscription drops; a job runs while it reconnects (backoff >= 50 ms) */
    freeReplyObject(redisCommand(C, "CLIENT KILL TYPE pubsub"));
    submit("k-2", "k1", 0, 5);
    memset(&S2, 0, sizeof(S2));
    collect(&w, &S2, 1, 15000, NULL, NULL);
    static struct seen want;
    stream_ids("k1", S1.id[S1.n - 1], &want);
    assert_same_ids(&S2, &want, "events around the lost subscription");
    cm_ws_close(&w);
}

Test(gateway, redis_down_answers_503_with_json_and_the_gateway_recovers)
{
    PORT = start_gateway(&GW, NULL);
    struct cm_ws w = {0};
    ws_open(&w, "/ws?session_id=d1", NULL);
    cr_assert(wait_type(&w, PR_CONNECTED, 5000, NULL));
    redisFree(C);
    C = NULL;
    th_redis_kill(&R);
    char out[1024];
    int st = 0;
    for (int64_t deadline = cm_time_mono_ms() + 10000; cm_time_mono_ms() < deadline;) {
        if ((st = cm_http("127.0.0.1", PORT, "GET", "/readyz", NULL, false, out, sizeof(out))) ==
            503)
            break;
        sleep_ms(50);
    }
    cr_assert_eq(st, 503, "/readyz while Redis is down: %d %s", st, out);
    const char *job = "{\"image_id\":\"a\",\"algorithm\":\"simulate\",\"session_id\":\"d1\"}";
    st = cm_http("127.0.0.1", PORT, "POST", "/api/jobs", job, true, out, sizeof(out));
    cr_assert_eq(st, 503, "%d %s", st, out);
    cr_assert(strstr(out, "\"code\":\"UNAVAILABLE\""), "%s", out);
    cr_assert_eq(cm_http("127.0.0.1", PORT, "GET", "/api/jobs/x", NULL, false, out, sizeof(out)),
                 503);
    cr_assert_eq(cm_http("127.0.0.1", PORT, "GET", "/healthz", NULL, false, out, sizeof(out)), 200,
                 "the process itself is fine");
    cr_assert_eq(th_redis_restart(&R), 0);
    C = th_redis_connect(&R);
    for (int64_t deadline = cm_time_mono_ms() + 15000; cm_time_mono_ms() < deadline;) {
        if ((st = cm_http("127.0.0.1", PORT, "GET", "/readyz", NULL, false, out, sizeof(out))) ==
            200)
            break;
        sleep_ms(50);
    }
    cr_assert_eq(st, 200, "not ready again after Redis came back");
    cr_assert_eq(cm_http("127.0.0.1", PORT, "POST", "/api/jobs", job, true, out, sizeof(out)), 202,
                 "%s", out);
    cm_http("127.0.0.1", PORT, "GET", "/ws/stats", NULL, false, out, sizeof(out));
    cr_assert(strstr(out, "\"connections\":1") && strstr(out, "\"redis_reconnects\":2"), "%s", out);
    cm_ws_close(&w);
}
