/* Integration: clients we did not write. Each test runs a script of tests/node (Node's `ws` and
 * @msgpack/msgpack from npm, written from docs/PROTOCOL.md) against a real zsa-gateway on a real
 * redis-server; the script checks the behaviour and exits 0, or 1 saying what failed. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/time.h"
#include "common/time.h"
#include "proto/proto.h"
#include "tests/harness/emit.h"
#include "tests/harness/proc.h"
#include "tests/harness/redis_server.h"
#include "tests/harness/ws_client.h"

static struct th_redis R;
static struct th_proc GW;
static int PORT;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts the suite's gateway on PORT with extra flags (NULL-terminated array, may be NULL). */
static void gateway_up(const char *const *extra)
{
    if (th_gateway_start(&GW, R.url, PORT, extra) != 0) {
        char log[4096];
        th_proc_log(&GW, log, sizeof(log));
        cr_assert_fail("gateway not ready on %d:\n%s", PORT, log);
    }
}

/* The suite's gateway stops and starts again on its port with these flags (NULL-terminated). */
static void restart_gateway(const char *flag, ...)
{
    th_proc_signal(&GW, SIGTERM);
    th_proc_wait(&GW, 10000);
    th_proc_stop(&GW);
    const char *extra[32] = {flag};
    int n = 1;
    va_list ap;
    va_start(ap, flag);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;)
        extra[n++] = a;
    va_end(ap);
    gateway_up(extra);
}

static void setup(void)
{
    cr_assert_eq(th_redis_start(&R), 0);
    PORT = th_free_port();
    gateway_up(NULL);
}

static void teardown(void)
{
    th_proc_signal(&GW, SIGTERM);
    th_proc_wait(&GW, 10000);
    static char log[65536];
    if (GW.log[0])
        cr_expect(th_proc_log_clean(&GW, "gateway", log, sizeof(log)), "gateway log:\n%s", log);
    th_proc_stop(&GW);
    th_redis_stop(&R);
}

TestSuite(clients, .init = setup, .fini = teardown, .timeout = 180);

/* Runs tests/node/<script> with ZSA_GATEWAY pointing at the gateway and extra environment
 * assignments (NULL-terminated); asserts it passed. */
static void node_env(const char *script, int timeout_ms, ...)
{
    char path[256], gw[64];
    snprintf(path, sizeof(path), "tests/node/%s", script);
    snprintf(gw, sizeof(gw), "ZSA_GATEWAY=127.0.0.1:%d", PORT);
    const char *argv[] = {path, NULL};
    const char *env[16] = {gw};
    int n = 1;
    va_list ap;
    va_start(ap, timeout_ms);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 15;)
        env[n++] = a;
    va_end(ap);
    static struct th_proc_result res;
    cr_assert_eq(th_proc_run("/usr/bin/node", argv, env, timeout_ms, &res), 0,
                 "node is missing: scripts/install-deps.sh installs it");
    cr_log_info("%s: %s", script, res.out);
    cr_assert_eq(res.status, 0, "%s failed (status %d):\n%s\n%s", script, res.status, res.out,
                 res.err);
}

#define node(script, timeout_ms) node_env(script, timeout_ms, NULL)

Test(clients, deflating_clients_send_megabytes_and_oversized_messages_close_1009)
{
    node("deflate.mjs", 120000);
}

Test(clients, invalid_session_ids_are_refused_whatever_their_length)
{
    node("sessions.mjs", 60000);
}

/* Starts a gateway as pid 1 of its own PID namespace, as in a container. */
static void start_gateway_pid1(struct th_proc *p, int port)
{
    static char url[340], listen[64], bin[512];
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", port);
    th_bin_path("zsa-gateway", bin, sizeof(bin));
    const char *argv[] = {"--pid", "--fork", "--kill-child=SIGTERM", bin,
                          url,     listen,   "--processes=1",        NULL};
    cr_assert_eq(th_proc_start(p, "/usr/bin/unshare", argv, NULL), 0);
    if (!th_http_wait_ok(port, "/readyz", 15000)) {
        char log[4096];
        th_proc_log(p, log, sizeof(log));
        cr_assert_fail("gateway (unshare --pid) not ready:\n%s", log);
    }
}

/* unshare --fork ignores SIGTERM while it waits: the signal goes to its child, the gateway. */
static void stop_pid1(struct th_proc *p)
{
    char path[64], buf[64] = "";
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)p->pid, (int)p->pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = '\0';
        fclose(f);
    }
    int child = atoi(buf);
    cr_assert_gt(child, 0, "unshare %d has no child", (int)p->pid);
    kill(child, SIGTERM);
    cr_assert(th_proc_wait(p, 10000), "the gateway did not stop");
}

Test(clients, generated_ids_never_collide_across_containers_or_restarts)
{
    /* two gateways that are both pid 1 (the old ids were "<pid>-<counter>": identical) */
    struct th_proc a = {0}, b = {0};
    int pa = th_free_port(), pb = th_free_port();
    start_gateway_pid1(&a, pa);
    start_gateway_pid1(&b, pb);
    char list[128], file[64], fenv[96];
    snprintf(list, sizeof(list), "ZSA_GATEWAYS=127.0.0.1:%d,127.0.0.1:%d", pa, pb);
    snprintf(file, sizeof(file), "/tmp/zsa-ids-XXXXXX");
    int fd = mkstemp(file);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(file);
    snprintf(fenv, sizeof(fenv), "ZSA_IDS_FILE=%s", file);
    node_env("ids.mjs", 60000, list, fenv, NULL);
    /* the first one restarts (pid 1 again) and must not hand out any id of before */
    stop_pid1(&a);
    th_proc_stop(&a);
    start_gateway_pid1(&a, pa);
    snprintf(list, sizeof(list), "ZSA_GATEWAYS=127.0.0.1:%d", pa);
    node_env("ids.mjs", 60000, list, fenv, NULL);
    unlink(file);
    stop_pid1(&a);
    stop_pid1(&b);
    static char log[65536];
    cr_expect(th_proc_log_clean(&a, "gateway a", log, sizeof(log)), "%s", log);
    cr_expect(th_proc_log_clean(&b, "gateway b", log, sizeof(log)), "%s", log);
    th_proc_stop(&a);
    th_proc_stop(&b);
}

static void start_worker(struct th_proc *wk)
{
    static char url[340];
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    const char *wargv[] = {url, "--metrics-listen=", "--poll-ms=200", "--slots=2", NULL};
    cr_assert_eq(th_proc_start(wk, "zsa-worker", wargv, NULL), 0);
}

static void stop_worker(struct th_proc *wk)
{
    th_proc_signal(wk, SIGTERM);
    th_proc_wait(wk, 10000);
    static char log[65536];
    cr_expect(th_proc_log_clean(wk, "worker", log, sizeof(log)), "%s", log);
    th_proc_stop(wk);
}

Test(clients, a_hung_redis_gets_deadlines_and_clients_are_told)
{
    struct th_proc wk = {0};
    start_worker(&wk);
    char pid[32];
    snprintf(pid, sizeof(pid), "ZSA_REDIS_PID=%d", (int)R.pid);
    node_env("hung_redis.mjs", 90000, pid, "ZSA_REDIS_TIMEOUT_MS=2000", NULL);
    stop_worker(&wk);
}

Test(clients, replay_complete_names_the_streams_it_replayed)
{
    struct th_proc wk = {0};
    start_worker(&wk);
    node("replay.mjs", 60000);
    stop_worker(&wk);
}

Test(clients, one_connection_follows_several_sessions_each_event_once)
{
    struct th_proc wk;
    start_worker(&wk);
    node("multiroom.mjs", 120000);
    stop_worker(&wk);
}

Test(clients, large_responses_arrive_whole_and_lists_are_paged)
{
    redisContext *c = th_redis_connect(&R);
    cr_assert_not_null(c);
    /* a 20 MB result (a segmentation's object table can be megabytes) */
    size_t big = 20u << 20;
    char *json = malloc(big);
    cr_assert_not_null(json);
    memset(json, 'x', big);
    memcpy(json, "{\"pad\":\"", 8);
    memcpy(json + big - 2, "\"}", 2);
    freeReplyObject(th_cmd(c, "SET zsa:result:big1 %b", json, big));
    free(json);
    /* 400 dead letters of ~18 KB: 7 MB */
    char *raw = malloc(18001);
    memset(raw, 'z', 18000);
    raw[18000] = 0;
    for (int i = 0; i < 400; i++)
        redisAppendCommand(
            c, "LPUSH zsa:dead {\"job_id\":\"d%d\",\"error_code\":\"X\",\"raw\":\"%s\"}", i, raw);
    for (int i = 0; i < 400; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    free(raw);
    redisFree(c);
    char bytes[64];
    snprintf(bytes, sizeof(bytes), "ZSA_RESULT_BYTES=%zu", big);
    node_env("large_responses.mjs", 120000, "ZSA_RESULT_ID=big1", bytes, "ZSA_DEAD_COUNT=400",
             NULL);
}

Test(clients, a_flooding_client_is_slowed_and_memory_stays_bounded)
{
    char pid[32];
    snprintf(pid, sizeof(pid), "ZSA_GATEWAY_PID=%d", (int)GW.pid);
    node_env("flood.mjs", 60000, pid, NULL);
}

Test(clients, every_connection_counts_and_slow_bodies_get_408)
{
    /* a gateway of its own with a small limit and a short body deadline */
    restart_gateway("--max-connections=4", "--body-timeout-s=3", NULL);
    node_env("slow_connections.mjs", 60000, "ZSA_MAX_CONNECTIONS=4", "ZSA_BODY_TIMEOUT_S=3", NULL);
}

/* A processing_failed with a 4 KB hard-to-compress error text in session's stream. */
static void emit_big(redisContext *c, const char *session, int k)
{
    char e[256];
    cr_assert_eq(th_emit_big(c, session, k, 10000, e, sizeof(e)), 0, "%s", e);
}

Test(clients, the_1013_close_reaches_a_slow_client)
{
    restart_gateway("--queue-hard-kb=256", "--queue-soft-kb=64", "--sndbuf-kb=64", NULL);
    char gw[64];
    snprintf(gw, sizeof(gw), "ZSA_GATEWAY=127.0.0.1:%d", PORT);
    const char *argv[] = {"tests/node/slow_close.mjs", NULL};
    /* longer than the 5 s the gateway gave a doomed client to read up to its close frame */
    const char *env[] = {gw, "ZSA_PAUSE_MS=8000", NULL};
    struct th_proc nd = {0};
    cr_assert_eq(th_proc_start(&nd, "/usr/bin/node", argv, env), 0);
    static char log[16384];
    int64_t deadline = cm_time_mono_ms() + 20000;
    do {
        th_proc_log(&nd, log, sizeof(log));
        cr_assert(cm_time_mono_ms() < deadline, "the client never got ready: %s", log);
    } while (!strstr(log, "ready") && (sleep_ms(50), true));
    redisContext *c = th_redis_connect(&R);
    cr_assert_not_null(c);
    for (int k = 0; k < 3000; k++)
        emit_big(c, "slow1", k);
    redisFree(c);
    cr_assert(th_proc_wait(&nd, 30000), "the client did not finish");
    th_proc_log(&nd, log, sizeof(log));
    cr_log_info("slow_close.mjs: %s", log);
    cr_assert_eq(nd.status, 0, "slow_close.mjs failed:\n%s", log);
    th_proc_stop(&nd);
}

Test(clients, http_and_websocket_edges_get_their_codes)
{
    restart_gateway("--idle-timeout-s=2", NULL);
    node_env("http_edges.mjs", 60000, "ZSA_IDLE_TIMEOUT_S=2", NULL);
    /* no error line per bad request */
    static char log[65536];
    th_proc_log(&GW, log, sizeof(log));
    cr_expect(!strstr(log, " error "), "the gateway logged errors:\n%s", log);
}

Test(clients, other_sites_cannot_use_the_gateway_from_a_browser)
{
    restart_gateway("--allowed-origins=https://app.example:8443", NULL);
    node_env("origins.mjs", 60000, "ZSA_ALLOWED_ORIGIN=https://app.example:8443", NULL);
}

/* A worker with its own data directory on a fresh temporary one: <dir>/data (the stack) and
 * <dir>/data/results. */
static void start_worker_in(struct th_proc *wk, const char *dir)
{
    static char url[340], data[300];
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(data, sizeof(data), "--data-dir=%s/data", dir);
    const char *wargv[] = {url, data, "--metrics-listen=", "--poll-ms=200", NULL};
    cr_assert_eq(th_proc_start(wk, "zsa-worker", wargv, NULL), 0);
}

Test(clients, artifacts_over_rest_and_previews_in_binary_frames)
{
    char dir[] = "/tmp/zsa-artifacts-XXXXXX", path[300], synth[512], rd[320], env[340];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/data", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/data/stack.tif", dir);
    th_bin_path("zsa-synth", synth, sizeof(synth));
    const char *sargv[] = {"--size", "96x80x16", path, NULL};
    struct th_proc_result res;
    cr_assert_eq(th_proc_run(synth, sargv, NULL, 60000, &res), 0);
    cr_assert_eq(res.status, 0, "%s", res.err);
    snprintf(rd, sizeof(rd), "--results-dir=%s/data/results", dir);
    restart_gateway(rd, NULL);
    struct th_proc wk = {0};
    start_worker_in(&wk, dir);
    snprintf(env, sizeof(env), "ZSA_RESULTS_DIR=%s/data/results", dir);
    /* and a 64 MB artifact, for the downloads cut in the middle */
    snprintf(path, sizeof(path),
             "mkdir -p '%s/data/results/big.r1' && "
             "head -c 67108864 /dev/urandom > '%s/data/results/big.r1/big.tif'",
             dir, dir);
    cr_assert_eq(system(path), 0);
    redisContext *c = th_redis_connect(&R);
    freeReplyObject(th_cmd(c, "SET zsa:result:big.r1 %s",
                           "{\"result_id\":\"big.r1\",\"job_id\":\"big\",\"summary\":{"
                           "\"artifacts\":[{\"name\":\"big.tif\",\"type\":\"image/tiff\","
                           "\"size\":67108864}]}}"));
    redisFree(c);
    node_env("artifacts.mjs", 120000, env, "ZSA_FILE=stack.tif", "ZSA_BIG_RESULT=1", NULL);
    /* a gateway without the results volume: the preview still comes (from Redis); one over
     * --max-preview-kb comes as its URL only, also to MessagePack clients */
    restart_gateway("--max-preview-kb=1", NULL);
    node_env("artifacts.mjs", 120000, env, "ZSA_FILE=stack.tif", "ZSA_NO_RESULTS_DIR=1", NULL);
    stop_worker(&wk);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}
