/* Integration: access control against a real zsa-gateway with --auth required and a real
 * redis-server. The clients are Node's (tests/node/auth*.mjs: `ws`, fetch, and tokens minted with
 * Node's crypto from docs/PROTOCOL.md), curl, and the gateway's own refusal to start without
 * keys. */
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
#include "proto/proto.h"
#include "tests/harness/emit.h"
#include "tests/harness/proc.h"
#include "tests/harness/redis_server.h"
#include "tests/harness/ws_client.h"

static struct th_redis R;
static struct th_proc GW;
static int PORT;
static char DIR[64], KEYS[128];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void setup(void)
{
    cr_assert_eq(th_redis_start(&R), 0);
    snprintf(DIR, sizeof(DIR), "/tmp/zsa-auth-XXXXXX");
    cr_assert_not_null(mkdtemp(DIR));
    snprintf(KEYS, sizeof(KEYS), "%s/keys", DIR);
    cr_assert_eq(th_keys_file(KEYS, "k1"), 0);
    PORT = th_free_port();
    static char keys_flag[160];
    snprintf(keys_flag, sizeof(keys_flag), "--auth-keys-file=%s", KEYS);
    const char *extra[] = {"--auth=required", keys_flag, "--auth-timeout-s=1", NULL};
    if (th_gateway_start(&GW, R.url, PORT, extra) != 0) {
        char log[4096];
        th_proc_log(&GW, log, sizeof(log));
        cr_assert_fail("gateway not ready on %d:\n%s", PORT, log);
    }
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
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", DIR);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 180);

/* The environment of a tests/node script: the gateway, its keys and its pid. */
static void node_env(char env[][200], int *n)
{
    snprintf(env[(*n)++], 200, "ZSA_GATEWAY=127.0.0.1:%d", PORT);
    snprintf(env[(*n)++], 200, "ZSA_KEYS_FILE=%s", KEYS);
    snprintf(env[(*n)++], 200, "ZSA_GATEWAY_PID=%d", (int)GW.pid);
}

Test(auth, every_route_and_the_websocket_refuse_what_a_token_does_not_allow)
{
    /* results of jobs in sessions A and B, as a worker stores them */
    redisContext *c = th_redis_connect(&R);
    freeReplyObject(th_cmd(c, "SET zsa:result:ra.r1 %s",
                           "{\"result_id\":\"ra.r1\",\"job_id\":\"ra\",\"session_id\":\"A\","
                           "\"summary\":{\"artifacts\":[{\"name\":\"preview.png\",\"type\":"
                           "\"image/png\",\"size\":12}]}}"));
    freeReplyObject(th_cmd(c, "SET zsa:preview:ra.r1 %s", "preview-of-A"));
    freeReplyObject(th_cmd(c, "SET zsa:result:rb.r1 %s",
                           "{\"result_id\":\"rb.r1\",\"job_id\":\"rb\",\"session_id\":\"B\"}"));
    redisFree(c);
    char env[8][200];
    int n = 0;
    node_env(env, &n);
    snprintf(env[n++], 200, "ZSA_RESULT_A=ra.r1");
    snprintf(env[n++], 200, "ZSA_RESULT_B=rb.r1");
    snprintf(env[n++], 200, "ZSA_PREVIEW_A=preview-of-A");
    const char *envp[9] = {env[0], env[1], env[2], env[3], env[4], env[5], NULL};
    const char *argv[] = {"tests/node/auth.mjs", NULL};
    static struct th_proc_result res;
    cr_assert_eq(th_proc_run("/usr/bin/node", argv, envp, 120000, &res), 0);
    cr_log_info("auth.mjs: %s", res.out);
    char log[8192];
    th_proc_log(&GW, log, sizeof(log));
    cr_assert_eq(res.status, 0, "auth.mjs failed (%d):\n%s\n%s\ngateway:\n%s", res.status, res.out,
                 res.err, log);
    th_proc_log(&GW, log, sizeof(log));
    cr_assert(strstr(log, "SIGHUP: 1 key(s)") && strstr(log, "1 client(s) with a withdrawn key"),
              "the reloads are logged:\n%s", log);
    cr_assert(strstr(log, "keeping the 1 key(s) loaded before"), "a bad file is logged:\n%s", log);
}

/* Emits n progress events for job j<k> into session s (ids in order), then "end". */
static void emit_session(redisContext *c, const char *s, int k, bool end)
{
    struct pr_msg m;
    char ts[CM_RFC3339_LEN], job[32], e[256];
    if (end) {
        pr_msg_init(&m, PR_PROCESSING_COMPLETE);
        pr_set_str(&m.u.processing_complete.image_id, "img");
        pr_set_str(&m.u.processing_complete.result_id, "end.r1");
        m.u.processing_complete.summary = pr_value_new_object();
        m.u.processing_complete.confidence_score = 1;
        m.u.processing_complete.processing_time_seconds = 1;
        snprintf(job, sizeof(job), "end");
    } else {
        pr_msg_init(&m, PR_PROCESSING_PROGRESS);
        pr_set_str(&m.u.processing_progress.image_id, "img");
        pr_set_str(&m.u.processing_progress.current_step, "step");
        m.u.processing_progress.progress = k % 100;
        snprintf(job, sizeof(job), "j%d", k);
    }
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    pr_set_str(&m.session_id, s);
    pr_set_str(&m.job_id, job);
    cr_assert_eq(th_emit(c, &m, 100000, e, sizeof(e)), 0, "%s", e);
    pr_msg_deinit(&m);
}

Test(auth, a_token_for_one_session_never_receives_another_sessions_events)
{
    enum { N = 2000 };
    char env[8][200], nev[32];
    int n = 0;
    node_env(env, &n);
    snprintf(nev, sizeof(nev), "ZSA_EVENTS=%d", N);
    const char *envp[] = {env[0], env[1], env[2], nev, NULL};
    const char *argv[] = {"tests/node/auth_isolation.mjs", NULL};
    struct th_proc node;
    cr_assert_eq(th_proc_start(&node, "/usr/bin/node", argv, envp), 0);
    char log[16384];
    int64_t until = cm_time_mono_ms() + 30000;
    do {
        sleep_ms(50);
        th_proc_log(&node, log, sizeof(log));
    } while (!strstr(log, "READY") && cm_time_mono_ms() < until && !th_proc_wait(&node, 0));
    cr_assert(strstr(log, "READY"), "the clients did not connect:\n%s", log);
    redisContext *c = th_redis_connect(&R);
    for (int k = 0; k < N; k++) { /* interleaved: A, B, A, B, ... */
        emit_session(c, "A", k, false);
        emit_session(c, "B", k, false);
    }
    emit_session(c, "A", 0, true);
    emit_session(c, "B", 0, true);
    redisFree(c);
    bool done = th_proc_wait(&node, 60000);
    th_proc_log(&node, log, sizeof(log));
    cr_log_info("auth_isolation.mjs: %s", log);
    cr_assert(done && node.status == 0, "auth_isolation.mjs failed (%d):\n%s", node.status, log);
    th_proc_stop(&node);
}

Test(auth, curl_without_a_token_gets_401_with_a_json_body_and_the_gateway_needs_keys_to_start)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/sessions/A/jobs", PORT);
    const char *argv[] = {"-s", "-i", url, NULL};
    static struct th_proc_result res;
    cr_assert_eq(th_proc_run("/usr/bin/curl", argv, NULL, 10000, &res), 0);
    cr_assert(strstr(res.out, "HTTP/1.1 401") && strstr(res.out, "\"UNAUTHORIZED\"") &&
                  strstr(res.out, "www-authenticate: Bearer"),
              "%s", res.out);
    /* a POST refused before its body is read closes its connection, and says so: a client
     * that reused it would fail its next request */
    char post_url[128];
    snprintf(post_url, sizeof(post_url), "http://127.0.0.1:%d/api/jobs", PORT);
    const char *pargv[] = {"-s",     "-i",
                           "-H",     "content-type: application/json",
                           "--data", "{\"image_id\":\"i\",\"algorithm\":\"simulate\"}",
                           post_url, NULL};
    cr_assert_eq(th_proc_run("/usr/bin/curl", pargv, NULL, 10000, &res), 0);
    cr_assert(strstr(res.out, "HTTP/1.1 401") && strstr(res.out, "connection: close"), "%s",
              res.out);
    /* --auth required (the default: ZSA_AUTH unset) without keys refuses to start */
    char rurl[340], listen[64];
    snprintf(rurl, sizeof(rurl), "--redis-url=%s", R.url);
    snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", th_free_port());
    const char *gargv[] = {rurl, listen, "--processes=1", NULL};
    const char *genv[] = {"ZSA_AUTH=required", NULL};
    cr_assert_eq(th_proc_run("zsa-gateway", gargv, genv, 10000, &res), 0);
    cr_assert_eq(res.status, 2, "status %d: %s", res.status, res.err);
    cr_assert(strstr(res.err, "needs --auth-keys-file"), "%s", res.err);
    /* --auth off starts, with a warning */
    const char *oargv[] = {rurl, listen, "--processes=1", "--auth=off", "--check", NULL};
    cr_assert_eq(th_proc_run("zsa-gateway", oargv, NULL, 10000, &res), 0);
    cr_assert_eq(res.status, 0, "%s", res.err);
    cr_assert(strstr(res.err, "AUTHENTICATION IS OFF"), "%s", res.err);
}

Test(auth, quotas_limit_one_client_while_another_goes_on)
{
    /* the gateway again with small limits, and a worker */
    th_proc_signal(&GW, SIGTERM);
    th_proc_wait(&GW, 10000);
    th_proc_stop(&GW);
    static char keys_flag[160], url[340], data[128];
    snprintf(keys_flag, sizeof(keys_flag), "--auth-keys-file=%s", KEYS);
    const char *extra[] = {"--auth=required",        keys_flag,
                           "--submit-rate=5",        "--submit-burst=10",
                           "--max-session-jobs=30",  "--client-msg-rate=50",
                           "--client-msg-burst=100", NULL};
    cr_assert_eq(th_gateway_start(&GW, R.url, PORT, extra), 0);
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(data, sizeof(data), "--data-dir=%s", DIR);
    const char *wargv[] = {
        url, data, "--metrics-listen=", "--poll-ms=100", "--slots=4", "--max-simulate-s=60", NULL};
    struct th_proc wk;
    cr_assert_eq(th_proc_start(&wk, "zsa-worker", wargv, NULL), 0);
    redisContext *c = th_redis_connect(&R);
    redisReply *before = th_cmd(c, "DBSIZE");

    char env[8][200];
    int n = 0;
    node_env(env, &n);
    const char *envp[] = {env[0], env[1], NULL};
    const char *argv[] = {"tests/node/quotas.mjs", NULL};
    static struct th_proc_result res;
    cr_assert_eq(th_proc_run("/usr/bin/node", argv, envp, 150000, &res), 0);
    cr_log_info("quotas.mjs: %s", res.out);
    char log[8192];
    th_proc_log(&GW, log, sizeof(log));
    cr_assert_eq(res.status, 0, "quotas.mjs failed (%d):\n%s\n%s\ngateway:\n%s", res.status,
                 res.out, res.err, log);
    /* what the flood could store is bounded by the bucket: jobs, not requests */
    redisReply *jobs = th_cmd(c, "EVAL %s 0", "return #redis.call('KEYS', 'zsa:job:*')");
    cr_assert_eq(jobs->type, REDIS_REPLY_INTEGER);
    cr_log_info("keys before %lld; job hashes after the flood: %lld", before->integer,
                jobs->integer);
    /* 20 of the other token, 31 + 1 of the cap and duration checks, and the flood: ~27 */
    cr_expect_lt(jobs->integer, 100, "%lld jobs stored", jobs->integer);
    freeReplyObject(before);
    freeReplyObject(jobs);
    redisFree(c);
    th_proc_signal(&wk, SIGTERM);
    th_proc_wait(&wk, 40000);
    th_proc_stop(&wk);
}

/* A self-signed certificate for localhost and 127.0.0.1, in dir/<name>.crt and .key. */
static void make_cert(const char *name)
{
    char crt[160], key[160];
    snprintf(crt, sizeof(crt), "%s/%s.crt", DIR, name);
    snprintf(key, sizeof(key), "%s/%s.key", DIR, name);
    const char *argv[] = {"req",
                          "-x509",
                          "-newkey",
                          "rsa:2048",
                          "-nodes",
                          "-subj",
                          "/CN=localhost",
                          "-addext",
                          "subjectAltName=IP:127.0.0.1,DNS:localhost",
                          "-days",
                          "2",
                          "-keyout",
                          key,
                          "-out",
                          crt,
                          NULL};
    static struct th_proc_result res;
    cr_assert_eq(th_proc_run("/usr/bin/openssl", argv, NULL, 60000, &res), 0,
                 "openssl is missing: scripts/install-deps.sh installs it");
    cr_assert_eq(res.status, 0, "%s", res.err);
}

Test(auth, tls_serves_https_and_wss_and_reloads_its_certificate_on_sighup)
{
    make_cert("one");
    make_cert("two");
    th_proc_signal(&GW, SIGTERM);
    th_proc_wait(&GW, 10000);
    th_proc_stop(&GW);
    static char keys_flag[160], cert[180], key[180], url[340], listen[64];
    snprintf(keys_flag, sizeof(keys_flag), "--auth-keys-file=%s", KEYS);
    snprintf(cert, sizeof(cert), "--tls-cert=%s/one.crt", DIR);
    snprintf(key, sizeof(key), "--tls-key=%s/one.key", DIR);
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", PORT);
    const char *gargv[] = {url, listen, "--processes=1", "--auth=required", keys_flag, cert,
                           key, NULL};
    cr_assert_eq(th_proc_start(&GW, "zsa-gateway", gargv, NULL), 0);
    /* ready when curl, trusting the certificate, gets 200 from /readyz */
    char rz[128], cafile[160];
    snprintf(rz, sizeof(rz), "https://127.0.0.1:%d/readyz", PORT);
    snprintf(cafile, sizeof(cafile), "%s/one.crt", DIR);
    const char *curl[] = {"-s",       "-o",   "/dev/null", "-w", "%{http_code}",
                          "--cacert", cafile, rz,          NULL};
    static struct th_proc_result res;
    int64_t until = cm_time_mono_ms() + 15000;
    do {
        sleep_ms(100);
        cr_assert_eq(th_proc_run("/usr/bin/curl", curl, NULL, 10000, &res), 0);
    } while (strcmp(res.out, "200") != 0 && cm_time_mono_ms() < until);
    char log[8192];
    th_proc_log(&GW, log, sizeof(log));
    cr_assert_str_eq(res.out, "200", "curl over https: %s\n%s", res.err, log);

    char env[10][200];
    int n = 0;
    node_env(env, &n);
    snprintf(env[n++], 200, "ZSA_CERT=%s/one.crt", DIR);
    snprintf(env[n++], 200, "ZSA_KEY=%s/one.key", DIR);
    snprintf(env[n++], 200, "ZSA_CERT2=%s/two.crt", DIR);
    snprintf(env[n++], 200, "ZSA_KEY2=%s/two.key", DIR);
    const char *envp[] = {env[0], env[1], env[2], env[3], env[4], env[5], env[6], NULL};
    const char *argv[] = {"tests/node/tls.mjs", NULL};
    cr_assert_eq(th_proc_run("/usr/bin/node", argv, envp, 120000, &res), 0);
    cr_log_info("tls.mjs: %s", res.out);
    th_proc_log(&GW, log, sizeof(log));
    cr_assert_eq(res.status, 0, "tls.mjs failed (%d):\n%s\n%s\ngateway:\n%s", res.status, res.out,
                 res.err, log);
    cr_expect(strstr(log, "keeping the certificate loaded before") &&
                  strstr(log, "SIGHUP: TLS certificate reloaded"),
              "%s", log);
    /* the CLI over TLS: trusting the (renewed) certificate, and not */
    char kenv[200], cenv[200], uenv[96], tenv[4300];
    snprintf(kenv, sizeof(kenv), "ZSA_AUTH_KEYS_FILE=%s", KEYS);
    const char *ke[] = {kenv, NULL};
    const char *mint[] = {"token", "--session", "tls1", "--scope", "read,admin", NULL};
    cr_assert_eq(th_proc_run("zsa", mint, ke, 10000, &res), 0);
    cr_assert_eq(res.status, 0, "%s", res.err);
    snprintf(tenv, sizeof(tenv), "ZSA_TOKEN=%.*s", (int)strcspn(res.out, "\n"), res.out);
    snprintf(uenv, sizeof(uenv), "ZSA_URL=https://127.0.0.1:%d", PORT);
    snprintf(cenv, sizeof(cenv), "ZSA_CA_FILE=%s/two.crt", DIR);
    const char *trusting[] = {uenv, tenv, cenv, NULL}, *not [] = {uenv, tenv, NULL};
    const char *status[] = {"--json", "status", NULL};
    cr_assert_eq(th_proc_run("zsa", status, trusting, 30000, &res), 0);
    cr_expect(res.status == 0 && strstr(res.out, "\"gateway\":{"), "zsa status over https: %d %s%s",
              res.status, res.out, res.err);
    cr_assert_eq(th_proc_run("zsa", status, not, 30000, &res), 0);
    cr_expect(res.status == 2 && strstr(res.err, "self-signed"), "zsa without the CA: %d %s",
              res.status, res.err);
    /* a pair that does not match refuses to start */
    snprintf(key, sizeof(key), "--tls-key=%s/nonexistent.key", DIR);
    const char *bad[] = {url, listen, "--processes=1", "--auth=off", cert, key, "--check", NULL};
    cr_assert_eq(th_proc_run("zsa-gateway", bad, NULL, 10000, &res), 0);
    cr_expect_eq(res.status, 2, "%s", res.err);
    cr_expect(strstr(res.err, "cannot load the private key"), "%s", res.err);
}
