/* Integration: the zsa CLI as a real process against a real local stack (redis-server, one
 * gateway, one worker, all real processes): submit/watch exit statuses for complete, failed and
 * cancelled jobs, JSON lines that parse, status, results and their CSV, dead letters, and the
 * errors for an unreachable gateway (exit 2) and a refused request (exit 4). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/time.h"
#include "proto/proto.h"
#include "tests/harness/proc.h"
#include "tests/harness/redis_server.h"
#include "tests/harness/ws_client.h"

static struct th_redis R;
static struct th_proc GW, WK, SCH;
static int PORT;
static char URL_ENV[64], DIR[64];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void setup(void)
{
    cr_assert_eq(th_redis_start(&R), 0);
    snprintf(DIR, sizeof(DIR), "/tmp/zsa-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(DIR));
    static char url[340], listen[64], data[128], rurl[340], results[128];
    PORT = th_free_port();
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", PORT);
    snprintf(results, sizeof(results), "--results-dir=%s/results", DIR);
    const char *gargv[] = {url, listen, "--processes=1", results, NULL};
    cr_assert_eq(th_proc_start(&GW, "zsa-gateway", gargv, NULL), 0);
    snprintf(data, sizeof(data), "--data-dir=%s", DIR);
    const char *wargv[] = {url, data, "--metrics-listen=", "--poll-ms=200", "--slots=4", NULL};
    cr_assert_eq(th_proc_start(&WK, "zsa-worker", wargv, NULL), 0);
    snprintf(rurl, sizeof(rurl), "--redis-url=%s", R.url);
    const char *sargv[] = {rurl, "--metrics-listen=", "--status-interval-ms=500", NULL};
    cr_assert_eq(th_proc_start(&SCH, "zsa-scheduler", sargv, NULL), 0);
    snprintf(URL_ENV, sizeof(URL_ENV), "ZSA_URL=http://127.0.0.1:%d", PORT);
    char body[256];
    int64_t deadline = cm_time_mono_ms() + 15000;
    while (cm_http("127.0.0.1", PORT, "GET", "/readyz", NULL, false, body, sizeof(body)) != 200)
        cr_assert(cm_time_mono_ms() < deadline, "gateway not ready");
}

static void stop(struct th_proc *p, const char *who)
{
    static char log[1 << 16];
    if (p->pid > 0) {
        th_proc_signal(p, SIGTERM);
        th_proc_wait(p, 10000);
        cr_expect(th_proc_log_clean(p, who, log, sizeof(log)), "%s log:\n%s", who, log);
    }
    th_proc_stop(p);
    memset(p, 0, sizeof(*p));
}

static void teardown(void)
{
    stop(&WK, "worker");
    stop(&SCH, "scheduler");
    stop(&GW, "gateway");
    th_redis_stop(&R);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", DIR);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);

/* Runs zsa with argv against the stack; *res gets its exit status and output. */
static void resume_and_progress(void);

static void zsa(struct th_proc_result *res, const char *const *argv)
{
    const char *env[] = {URL_ENV, NULL};
    cr_assert_eq(th_proc_run("zsa", argv, env, 60000, res), 0);
}

/* Every stdout line is a JSON object; returns how many, and the last one's event_type. */
static int json_lines(const char *out, char *last_type, size_t n)
{
    int lines = 0;
    last_type[0] = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len) {
            struct pr_value v;
            struct pr_err e;
            cr_assert_eq(pr_value_parse_json(p, len, &v, &e), 0, "not JSON: %.*s", (int)len, p);
            cr_assert_eq(v.type, PR_V_OBJECT);
            const struct pr_value *t = pr_value_get(&v, "event_type");
            snprintf(last_type, n, "%s", t && t->type == PR_V_STR ? t->u.s.p : "");
            pr_value_deinit(&v);
            lines++;
        }
        p += len + (nl ? 1 : 0);
    }
    return lines;
}

Test(cli, submit_watch_exits_0_on_complete_with_parsable_json_events)
{
    struct th_proc_result r;
    const char *argv[] = {"submit",      "/nonexistent/input.tif",
                          "--algorithm", "simulate",
                          "--param",     "duration_seconds=0.3",
                          "--param",     "steps=3",
                          "--job-id",    "ok1",
                          "--watch",     "--json",
                          NULL};
    zsa(&r, argv);
    cr_assert_eq(r.status, 0, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
    char last[64];
    int n = json_lines(r.out, last, sizeof(last));
    cr_expect_geq(n, 4, "started, progress..., complete: %s", r.out);
    cr_expect_str_eq(last, "processing_complete");
    cr_expect(strstr(r.out, "\"processing_started\"") && strstr(r.out, "\"job_id\":\"ok1\""));
    /* watching the finished job again: its outcome at once, from REST */
    const char *argv2[] = {"watch", "--session", "x", "--job", "ok1", NULL};
    zsa(&r, argv2);
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
}

Test(cli, submit_watch_exits_1_on_failure_and_says_why)
{
    struct th_proc_result r;
    const char *argv[] = {"submit",     "in.tif",  "--algorithm",          "simulate", "--param",
                          "fail_at=50", "--param", "duration_seconds=0.3", "--watch",  NULL};
    zsa(&r, argv);
    cr_expect_eq(r.status, 1, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
    char last[64];
    json_lines(r.out, last, sizeof(last));
    cr_expect_str_eq(last, "processing_failed");
    cr_expect(strstr(r.out, "SIMULATED_FAILURE"), "%s", r.out);
}

Test(cli, a_cancelled_job_ends_the_watch_with_exit_3)
{
    struct th_proc w;
    const char *env[] = {URL_ENV, NULL};
    const char *argv[] = {
        "submit",   "in.tif", "--algorithm", "simulate", "--param", "duration_seconds=30",
        "--job-id", "long1",  "--session",   "s-cancel", "--watch", "--json",
        NULL};
    cr_assert_eq(th_proc_start(&w, "zsa", argv, env), 0);
    /* once it runs, cancel it from another zsa */
    char body[2048];
    int64_t deadline = cm_time_mono_ms() + 20000;
    while (!(cm_http("127.0.0.1", PORT, "GET", "/api/jobs/long1", NULL, false, body,
                     sizeof(body)) == 200 &&
             strstr(body, "\"status\":\"running\"")))
        cr_assert(cm_time_mono_ms() < deadline, "long1 never started: %s", body);
    struct th_proc_result r;
    const char *cancel[] = {"cancel", "long1", NULL};
    zsa(&r, cancel);
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(th_proc_wait(&w, 20000), "the watch did not end");
    cr_expect_eq(w.status, 3, "exit status %d", w.status);
    /* cancelling an ended job is refused: exit 4 with the gateway's reason */
    zsa(&r, cancel);
    cr_expect_eq(r.status, 4);
    cr_expect(strstr(r.err, "INVALID_STATE"), "%s", r.err);
    /* a session watch replays the session's events from the start, as JSON lines */
    const char *watch[] = {"watch", "--session", "s-cancel", "--from",
                           "0-0",   "--job",     "long1",    NULL};
    zsa(&r, watch);
    cr_expect_eq(r.status, 3, "%s%s", r.out, r.err);
    th_proc_stop(&w);
}

Test(cli, unreachable_gateway_is_exit_2_with_a_clear_message)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", th_free_port());
    struct th_proc_result r;
    const char *argv[] = {"--url", url, "status", NULL};
    cr_assert_eq(th_proc_run("zsa", argv, NULL, 20000, &r), 0);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "cannot reach the gateway") && strstr(r.err, url), "%s", r.err);
    const char *argv2[] = {"--url", url, "submit", "x.tif", "-a", "simulate", "--watch", NULL};
    cr_assert_eq(th_proc_run("zsa", argv2, NULL, 20000, &r), 0);
    cr_expect_eq(r.status, 2, "%s", r.err);
    const char *bad[] = {"--url", "ftp://x", "status", NULL};
    cr_assert_eq(th_proc_run("zsa", bad, NULL, 20000, &r), 0);
    cr_expect_eq(r.status, 64, "%s", r.err);
    char tls[64]; /* https is understood: nobody there is "unreachable", not bad usage */
    snprintf(tls, sizeof(tls), "https://127.0.0.1:%d", th_free_port());
    const char *https[] = {"--url", tls, "status", NULL};
    cr_assert_eq(th_proc_run("zsa", https, NULL, 20000, &r), 0);
    cr_expect(r.status == 2 && strstr(r.err, "cannot reach the gateway"), "%d %s", r.status, r.err);
}

Test(cli, refused_requests_are_exit_4_and_help_and_usage_work)
{
    struct th_proc_result r;
    const char *argv[] = {"submit", "x.tif", "--algorithm", "bad name", NULL};
    zsa(&r, argv);
    cr_expect_eq(r.status, 4);
    cr_expect(strstr(r.err, "INVALID_JOB") && strstr(r.err, "algorithm"), "%s", r.err);
    const char *help[] = {"submit", "--help", NULL};
    zsa(&r, help);
    cr_expect(r.status == 0 && strstr(r.out, "usage: zsa submit"), "%s", r.out);
    const char *none[] = {"frobnicate", NULL};
    zsa(&r, none);
    cr_expect_eq(r.status, 64);
    const char *missing[] = {"submit", "x.tif", NULL};
    zsa(&r, missing);
    cr_expect_eq(r.status, 64);
}

Test(cli, status_result_csv_and_dead_letters)
{
    struct th_proc_result r;
    const char *st[] = {"status", "--json", NULL};
    zsa(&r, st);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    struct pr_value v;
    struct pr_err e;
    cr_assert_eq(pr_value_parse_json(r.out, strlen(r.out), &v, &e), 0, "%s", r.out);
    const struct pr_value *ss = pr_value_get(&v, "system_status");
    cr_expect(ss && ss->type == PR_V_OBJECT, "no system_status: %s", r.out);
    cr_expect_not_null(pr_value_get(&v, "gateway"));
    pr_value_deinit(&v);

    /* a real segmentation, then its result and object table */
    char file[128], cmd[300];
    snprintf(file, sizeof(file), "%s/stack.tif", DIR);
    snprintf(cmd, sizeof(cmd), "zsa-synth");
    const char *synth[] = {"--size", "64x48x16", file, NULL};
    cr_assert_eq(th_proc_run("zsa-synth", synth, NULL, 20000, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *sub[] = {"submit",   file,   "-a",      "segmentation_3d",
                         "--job-id", "seg1", "--watch", NULL};
    zsa(&r, sub);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    const char *res[] = {"result", "seg1", NULL};
    zsa(&r, res);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "\"object_count\""), "%s", r.out);
    const char *csv[] = {"result", "seg1.r1", "--csv", NULL};
    zsa(&r, csv);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strncmp(r.out, "label,voxels,", 13) == 0, "%.200s", r.out);

    /* every artifact over REST into a directory, byte for byte the worker's files */
    char dldir[128];
    snprintf(dldir, sizeof(dldir), "%s/download", DIR);
    const char *down[] = {"result", "seg1", "--download", dldir, NULL};
    zsa(&r, down);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    const char *names[] = {"objects.csv", "labels.tif", "preview.png"};
    for (size_t i = 0; i < 3; i++) {
        cr_expect(strstr(r.out, names[i]), "%s not reported: %s", names[i], r.out);
        snprintf(cmd, sizeof(cmd), "cmp -s '%s/%s' '%s/results/seg1.r1/%s'", dldir, names[i], DIR,
                 names[i]);
        cr_expect_eq(system(cmd), 0, "%s differs from the worker's", names[i]);
    }
    const char *none[] = {"result", "nosuch", "--download", dldir, NULL};
    zsa(&r, none);
    cr_expect_eq(r.status, 4, "%s", r.err);
    resume_and_progress();

    /* a malformed job lands in the dead letters; list them; requeue what is not there: 4 */
    redisContext *c = th_redis_connect(&R);
    redisReply *rep = redisCommand(c, "LPUSH zsa:jobs {not-json");
    freeReplyObject(rep);
    redisFree(c);
    const char *dl[] = {"dead", "list", NULL};
    int64_t deadline = cm_time_mono_ms() + 10000;
    do {
        zsa(&r, dl);
        cr_assert_eq(r.status, 0, "%s", r.err);
        if (strstr(r.out, "INVALID_JOB"))
            break;
        sleep_ms(100);
    } while (cm_time_mono_ms() < deadline);
    cr_expect(strstr(r.out, "\"count\":1") && strstr(r.out, "INVALID_JOB"), "%s", r.out);
    const char *rq[] = {"dead", "requeue", "nosuch", NULL};
    zsa(&r, rq);
    cr_expect_eq(r.status, 4, "%s", r.err);
    cr_expect(strstr(r.err, "UNKNOWN_JOB"), "%s", r.err);
}

/* A run that was cut left labels.tif's first half in its .part (zeros planted here, so that what
 * was not fetched again shows): the same command continues it with a range request, and only
 * the rest comes. A .part that is already whole is renamed without a transfer. On a terminal
 * (script(1) gives zsa a pty) each file gets a progress bar. */
static void resume_and_progress(void)
{
    char dir[128], part[256], cmd[1024], orig[160];
    snprintf(dir, sizeof(dir), "%s/download2", DIR);
    snprintf(orig, sizeof(orig), "%s/results/seg1.r1/labels.tif", DIR);
    struct stat st;
    cr_assert_eq(stat(orig, &st), 0);
    long half = (long)st.st_size / 2;
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(part, sizeof(part), "%s/labels.tif.seg1.r1.part", dir);
    FILE *f = fopen(part, "wb");
    cr_assert_not_null(f);
    for (long i = 0; i < half; i++)
        fputc(0, f);
    fclose(f);
    snprintf(part, sizeof(part), "%s/objects.csv.seg1.r1.part", dir); /* whole, in a cut run */
    snprintf(cmd, sizeof(cmd), "cp '%s/results/seg1.r1/objects.csv' '%s'", DIR, part);
    cr_assert_eq(system(cmd), 0);
    struct th_proc_result r;
    const char *down[] = {"result", "seg1", "--download", dir, NULL};
    zsa(&r, down);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    char want[64];
    snprintf(want, sizeof(want), "\"resumed_at\":%ld", half);
    cr_expect(strstr(r.out, want), "labels.tif not continued at %ld: %s", half, r.out);
    snprintf(cmd, sizeof(cmd),
             "cmp -s -n %ld '%s/labels.tif' /dev/zero && cmp -s -i %ld '%s/labels.tif' '%s' && "
             "cmp -s '%s/objects.csv' '%s/results/seg1.r1/objects.csv' && "
             "! ls '%s' | grep -q part",
             half, dir, half, dir, orig, dir, DIR, dir);
    cr_expect_eq(system(cmd), 0, "the continued files are not what they should be: %s", r.out);

    /* the progress bar, on a terminal */
    char bin[512], tty[160];
    th_bin_path("zsa", bin, sizeof(bin));
    snprintf(tty, sizeof(tty), "%s/tty-download.out", DIR);
    snprintf(cmd, sizeof(cmd),
             "script -qec \"exec %s result seg1 --download '%s/download3'\" /dev/null >'%s'", bin,
             DIR, tty);
    const char *argv[] = {"-c", cmd, NULL};
    const char *env[] = {URL_ENV, NULL};
    cr_assert_eq(th_proc_run("/bin/sh", argv, env, 60000, &r), 0);
    cr_expect_eq(r.status, 0, "%s", r.err);
    static char out[1 << 16];
    f = fopen(tty, "r");
    cr_assert_not_null(f);
    out[fread(out, 1, sizeof(out) - 1, f)] = 0;
    fclose(f);
    cr_expect(strstr(out, "labels.tif") && strstr(out, "100.0%") && strstr(out, "/s  ETA"),
              "no progress bar on the terminal:\n%s", out);
}

Test(cli, ctrl_c_on_a_terminal_offers_to_cancel_and_yes_cancels)
{
    /* a real terminal (script(1) gives zsa a pty): Ctrl-C is the byte 0x03 typed into it once
     * the job is submitted, "y" once the prompt shows; the terminal's output goes to a file the
     * typist watches. The job must end cancelled and zsa with exit status 3. */
    char bin[512], cmd[2048], tty[128];
    th_bin_path("zsa", bin, sizeof(bin));
    snprintf(tty, sizeof(tty), "%s/tty.out", DIR);
    snprintf(cmd, sizeof(cmd),
             "t='%s'; : >\"$t\"\n"
             "seen() { i=0; until grep -q \"$1\" \"$t\"; do i=$((i+1)); [ $i -le 300 ] || return 1;"
             " sleep 0.1; done; }\n"
             "( seen 'Submitted job tty1' && printf '\\003' && seen 'Cancel job tty1?' &&"
             " printf 'y\\n' && seen 'cancelled: CANCELLED'; true ) |"
             " script -qec 'exec %s submit in.tif --algorithm simulate --param"
             " duration_seconds=30 --job-id tty1 --session s-tty --watch' /dev/null >\"$t\"\n",
             tty, bin);
    const char *argv[] = {"-c", cmd, NULL};
    const char *env[] = {URL_ENV, NULL};
    struct th_proc_result r;
    cr_assert_eq(th_proc_run("/bin/sh", argv, env, 60000, &r), 0);
    static char out[1 << 16];
    FILE *f = fopen(tty, "r");
    cr_assert_not_null(f);
    out[fread(out, 1, sizeof(out) - 1, f)] = 0;
    fclose(f);
    cr_expect_eq(r.status, 3, "exit %d; the terminal showed:\n%s\n%s", r.status, out, r.err);
    cr_expect(strstr(out, "Cancel job tty1?"), "no prompt on the terminal:\n%s", out);
    cr_expect(strstr(out, "cancelled: CANCELLED"), "%s", out);
    char body[1024];
    cr_assert_eq(
        cm_http("127.0.0.1", PORT, "GET", "/api/jobs/tty1", NULL, false, body, sizeof(body)), 200);
    cr_expect(strstr(body, "\"status\":\"cancelled\""), "%s", body);
}

Test(cli, redis_down_behind_the_gateway_is_exit_2_with_its_reason)
{
    th_redis_kill(&R); /* the gateway stays up and answers 503 UNAVAILABLE */
    struct th_proc_result r;
    const char *argv[] = {"submit", "x.tif", "--algorithm", "simulate", NULL};
    int64_t deadline = cm_time_mono_ms() + 15000;
    do { /* until the gateway has noticed */
        zsa(&r, argv);
        if (r.status == 2)
            break;
        sleep_ms(200);
    } while (cm_time_mono_ms() < deadline);
    cr_expect_eq(r.status, 2, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "UNAVAILABLE"), "%s", r.err);
}

Test(cli, tokens_from_keygen_and_token_open_a_gateway_that_requires_them)
{
    /* zsa keygen -> a keys file; a gateway with --auth required on it */
    struct th_proc_result r;
    char keys[128], kflag[160], url[340], listen[64], env_url[64], env_keys[160];
    snprintf(keys, sizeof(keys), "%s/keys", DIR);
    const char *kg[] = {"keygen", "--kid", "k-test", NULL};
    zsa(&r, kg);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "k-test ", 7) == 0 && strlen(r.out) == 7 + 43 + 1, "%s", r.out);
    FILE *f = fopen(keys, "w");
    cr_assert_not_null(f);
    fputs(r.out, f);
    fclose(f);
    int port = th_free_port();
    snprintf(kflag, sizeof(kflag), "--auth-keys-file=%s", keys);
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", port);
    const char *gargv[] = {url, listen, "--processes=1", "--auth=required", kflag, NULL};
    struct th_proc gw;
    cr_assert_eq(th_proc_start(&gw, "zsa-gateway", gargv, NULL), 0);
    cr_assert(th_http_wait_ok(port, "/readyz", 15000));
    snprintf(env_url, sizeof(env_url), "ZSA_URL=http://127.0.0.1:%d", port);
    snprintf(env_keys, sizeof(env_keys), "ZSA_AUTH_KEYS_FILE=%s", keys);
    /* bad usage of zsa token */
    const char *e1[] = {env_keys, NULL};
    const char *bad[][10] = {{"token", "--session", "s1", "--scope", "root", NULL},
                             {"token", "--session", "s1", "--scope", "read", "--ttl", "5x", NULL},
                             {"token", "--scope", "read", NULL},
                             {"token", "--session", "a b", "--scope", "read", NULL}};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(th_proc_run("zsa", bad[i], e1, 10000, &r), 0);
        cr_expect_eq(r.status, 64, "case %zu: %s", i, r.err);
    }
    /* a token for session cli-auth: submit --watch finds its session in the token */
    const char *mint[] = {"token", "--session", "cli-auth", "--scope", "read,submit", NULL};
    cr_assert_eq(th_proc_run("zsa", mint, e1, 10000, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    static char env_tok[sizeof(r.out) + 16];
    r.out[strcspn(r.out, "\n")] = '\0';
    snprintf(env_tok, sizeof(env_tok), "ZSA_TOKEN=%s", r.out);
    const char *e2[] = {env_url, env_tok, NULL};
    const char *sub[] = {
        "--json",  "submit", "x", "--algorithm", "simulate", "--param", "duration_seconds=1",
        "--watch", NULL};
    cr_assert_eq(th_proc_run("zsa", sub, e2, 60000, &r), 0);
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "\"session_id\":\"cli-auth\"") &&
                  strstr(r.out, "\"processing_complete\""),
              "%s", r.out);
    /* without a token: refused (exit 4) with the gateway's reason */
    const char *e3[] = {env_url, NULL};
    cr_assert_eq(th_proc_run("zsa", sub, e3, 60000, &r), 0);
    cr_expect_eq(r.status, 4, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "UNAUTHORIZED"), "%s", r.err);
    /* a token that expires while watching: exit 4 saying why, not endless reconnects */
    const char *shortlived[] = {"token", "--session", "cli-auth", "--scope",
                                "read",  "--ttl",     "2",        NULL};
    cr_assert_eq(th_proc_run("zsa", shortlived, e1, 10000, &r), 0);
    r.out[strcspn(r.out, "\n")] = '\0';
    snprintf(env_tok, sizeof(env_tok), "ZSA_TOKEN=%s", r.out);
    const char *watch[] = {"watch", NULL};
    cr_assert_eq(th_proc_run("zsa", watch, e2, 20000, &r), 0);
    cr_expect_eq(r.status, 4, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "expired"), "%s", r.err);
    th_proc_signal(&gw, SIGTERM);
    th_proc_wait(&gw, 10000);
    th_proc_stop(&gw);
}
