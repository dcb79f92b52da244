/* Integration: the container stack's files. docker-compose.yml is validated by Debian's
 * docker-compose (no engine runs here), the image's package list is checked against the
 * libraries the binaries link; deploy/nginx/zsa.conf is checked with `nginx -t` and run
 * for real in front of two zsa-gateway processes: a WebSocket client reaches a gateway through
 * nginx, one of the two gateways is killed, the client reconnects with its last_event_id and
 * gets every event of the session exactly once. */
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

Test(deploy, compose_file_is_valid_with_the_services_the_docs_name)
{
    struct th_proc_result r;
    const char *argv[] = {"-f", "docker-compose.yml", "config", "-q", NULL};
    cr_assert_eq(th_proc_run("/usr/bin/docker-compose", argv, NULL, 60000, &r), 0,
                 "docker-compose is missing: scripts/install-deps.sh installs it");
    cr_assert_eq(r.status, 0, "docker-compose config: %s%s", r.out, r.err);
    const char *svc[] = {"-f",     "docker-compose.yml", "--profile", "cpu",
                         "config", "--services",         NULL};
    cr_assert_eq(th_proc_run("/usr/bin/docker-compose", svc, NULL, 60000, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    static const char *const want[] = {"redis\n",     "gateway-1\n", "gateway-2\n", "nginx\n",
                                       "scheduler\n", "worker\n",    "worker-cpu\n"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect(strstr(r.out, want[i]), "no service %s in %s", want[i], r.out);
    /* the resolved file: Redis durable and never evicting, the GPU reservation, the volume */
    const char *full[] = {"-f", "docker-compose.yml", "config", NULL};
    cr_assert_eq(th_proc_run("/usr/bin/docker-compose", full, NULL, 60000, &r), 0);
    cr_expect(strstr(r.out, "noeviction") && strstr(r.out, "appendonly"), "%s", r.out);
    cr_expect(strstr(r.out, "driver: nvidia") && strstr(r.out, "- gpu"), "%s", r.out);
    cr_expect(strstr(r.out, "- data:/data"), "%s", r.out);
    /* the gateways read the workers' results (read-only) to serve artifacts */
    cr_expect(strstr(r.out, "- data:/data:ro") && strstr(r.out, "ZSA_RESULTS_DIR: /data/results"),
              "%s", r.out);
    /* the scheduler has the volume for retention, off unless the operator sets it */
    cr_expect(strstr(r.out, "ZSA_RESULTS_RETENTION_DAYS: '0'"), "%s", r.out);
    /* the gateways run with auth on, their keys a compose secret */
    cr_expect(strstr(r.out, "ZSA_AUTH_KEYS_FILE: /run/secrets/zsa_auth_keys") &&
                  strstr(r.out, "deploy/secrets/auth-keys"),
              "%s", r.out);
    cr_expect(!strstr(r.out, "ZSA_AUTH: 'off'") && !strstr(r.out, "--auth=off"), "%s", r.out);
    /* Redis wants a password, which every daemon reads from a secret; clients get TLS only */
    cr_expect(strstr(r.out, "--requirepass") && strstr(r.out, "deploy/secrets/redis-password") &&
                  strstr(r.out, "ZSA_REDIS_PASSWORD_FILE: /run/secrets/zsa_redis_password"),
              "%s", r.out);
    cr_expect(strstr(r.out, "published: 8443") && !strstr(r.out, "published: 8080"), "%s", r.out);
}

Test(deploy, gen_secrets_makes_the_stacks_secrets_that_the_tools_accept_and_keeps_them)
{
    char dir[64], env[128], keys[128];
    snprintf(dir, sizeof(dir), "/tmp/zsa-secrets-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(env, sizeof(env), "ZSA_SECRETS_DIR=%s/s", dir);
    snprintf(keys, sizeof(keys), "%s/s/auth-keys", dir);
    const char *e[] = {env, NULL}, *none[] = {NULL};
    struct th_proc_result r;
    cr_assert_eq(th_proc_run("scripts/gen-secrets.sh", none, e, 30000, &r), 0);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    struct stat st;
    cr_assert_eq(stat(keys, &st), 0);
    cr_expect_eq(st.st_mode & 077, 0, "the keys file is readable by others: %o", st.st_mode);
    char first[256] = "", again[256] = "";
    FILE *f = fopen(keys, "r");
    cr_assert(f && fgets(first, sizeof(first), f));
    fclose(f);
    const char *tok[] = {"token", "--keys-file", keys, "--session", "s1", "--scope", "read", NULL};
    cr_assert_eq(th_proc_run("zsa", tok, NULL, 10000, &r), 0);
    cr_expect(r.status == 0 && strncmp(r.out, "v1.", 3) == 0, "%s%s", r.out, r.err);
    cr_assert_eq(th_proc_run("scripts/gen-secrets.sh", none, e, 30000, &r), 0);
    cr_expect(strstr(r.out, "kept"), "%s", r.out);
    f = fopen(keys, "r");
    cr_assert(f && fgets(again, sizeof(again), f));
    fclose(f);
    cr_expect_str_eq(again, first, "a second run replaced the key");
    /* the Redis password and a certificate whose key matches it */
    char pw[160], crt[160], key[160];
    snprintf(pw, sizeof(pw), "%s/s/redis-password", dir);
    snprintf(crt, sizeof(crt), "%s/s/tls.crt", dir);
    snprintf(key, sizeof(key), "%s/s/tls.key", dir);
    cr_expect(stat(pw, &st) == 0 && st.st_size >= 40 && (st.st_mode & 077) == 0, "%s", pw);
    const char *x509[] = {"x509", "-in", crt, "-noout", "-subject", NULL};
    cr_assert_eq(th_proc_run("/usr/bin/openssl", x509, NULL, 10000, &r), 0);
    cr_expect(r.status == 0 && strstr(r.out, "localhost"), "%s%s", r.out, r.err);
    cr_expect(stat(key, &st) == 0 && (st.st_mode & 077) == 0, "%s", key);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(deploy, the_image_installs_every_library_the_binaries_link)
{
    /* the Dockerfile's runtime stage against readelf NEEDED of the release binaries */
    struct th_proc_result r;
    const char *argv[] = {"build/bin", NULL};
    cr_assert_eq(th_proc_run("scripts/check-image-deps.sh", argv, NULL, 60000, &r), 0);
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
}

/* ---- nginx in front of two gateways ------------------------------------------------------- */

static struct th_redis R;
static struct th_proc GW[2], WK, NG;
static char TMP[64];

/* deploy/nginx/zsa.conf with the upstreams on 127.0.0.1:p1/p2, listening on port (plain) and
 * tls_port (TLS, with the certificate gen-secrets.sh makes, in TMP), inside a minimal nginx.conf
 * whose paths are all under TMP. */
static void write_nginx_conf(int p1, int p2, int port, int tls_port)
{
    FILE *in = fopen("deploy/nginx/zsa.conf", "r");
    cr_assert_not_null(in, "deploy/nginx/zsa.conf");
    char path[128], line[1024];
    snprintf(path, sizeof(path), "%s/zsa.conf", TMP);
    FILE *out = fopen(path, "w");
    cr_assert_not_null(out);
    while (fgets(line, sizeof(line), in)) {
        char *p;
        if ((p = strstr(line, "gateway-1:8080")))
            fprintf(out, "%.*s127.0.0.1:%d%s", (int)(p - line), line, p1, p + 14);
        else if ((p = strstr(line, "gateway-2:8080")))
            fprintf(out, "%.*s127.0.0.1:%d%s", (int)(p - line), line, p2, p + 14);
        else if ((p = strstr(line, "listen 8080;")))
            fprintf(out, "%.*slisten 127.0.0.1:%d;\n", (int)(p - line), line, port);
        else if ((p = strstr(line, "listen 8443 ssl;")))
            fprintf(out, "%.*slisten 127.0.0.1:%d ssl;\n", (int)(p - line), line, tls_port);
        else if ((p = strstr(line, "/etc/nginx/tls/")))
            fprintf(out, "%.*s%s/%s", (int)(p - line), line, TMP, p + 15);
        else
            fputs(line, out);
    }
    fclose(in);
    fclose(out);
    snprintf(path, sizeof(path), "%s/nginx.conf", TMP);
    out = fopen(path, "w");
    fprintf(out,
            "daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log info;\n"
            "events { worker_connections 1024; }\n"
            "http {\n  access_log off;\n  client_body_temp_path %s/t1;\n  proxy_temp_path %s/t2;\n"
            "  fastcgi_temp_path %s/t3;\n  uwsgi_temp_path %s/t4;\n  scgi_temp_path %s/t5;\n"
            "  include %s/zsa.conf;\n}\n",
            TMP, TMP, TMP, TMP, TMP, TMP, TMP, TMP);
    fclose(out);
}

static int start_gateway(struct th_proc *p)
{
    static char url[340], listen[2][64];
    static int k;
    int port = th_free_port();
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(listen[k % 2], sizeof(listen[0]), "--listen=127.0.0.1:%d", port);
    const char *argv[] = {url, listen[k++ % 2], "--processes=1", NULL};
    cr_assert_eq(th_proc_start(p, "zsa-gateway", argv, NULL), 0);
    char body[256];
    int64_t deadline = cm_time_mono_ms() + 15000;
    while (cm_http("127.0.0.1", port, "GET", "/readyz", NULL, false, body, sizeof(body)) != 200)
        cr_assert(cm_time_mono_ms() < deadline, "gateway not ready");
    return port;
}

static void teardown(void)
{
    if (NG.pid > 0) { /* nginx's workers leave with a graceful stop of the master */
        th_proc_signal(&NG, SIGQUIT);
        th_proc_wait(&NG, 5000);
    }
    th_proc_stop(&NG);
    th_proc_stop(&WK);
    th_proc_stop(&GW[0]);
    th_proc_stop(&GW[1]);
    th_redis_stop(&R);
    if (TMP[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", TMP);
        cr_expect_eq(system(cmd), 0);
    }
}

/* Reads messages until the job's processing_complete, appending event ids to ids (checking that
 * they only go up). Returns true when the outcome came. */
static bool read_events(struct cm_ws *w, char ids[][64], int *n, int max, int stop_after)
{
    int64_t deadline = cm_time_mono_ms() + 30000;
    int got = 0;
    while (cm_time_mono_ms() < deadline) {
        struct cm_ws_msg m;
        int r = cm_ws_recv(w, 500, &m);
        if (r < 0)
            return false;
        if (r == 0)
            continue;
        struct pr_value v;
        struct pr_err e;
        cr_assert_eq(pr_value_parse_json(m.data, m.len, &v, &e), 0, "%s", m.data);
        const struct pr_value *id = pr_value_get(&v, "event_id");
        const struct pr_value *t = pr_value_get(&v, "event_type");
        const struct pr_value *s = pr_value_get(&v, "session_id");
        bool done = false;
        if (id && id->type == PR_V_STR && s && s->type == PR_V_STR) { /* the session's events */
            cr_assert_lt(*n, max);
            if (*n > 0) {
                unsigned long long a, b, c, d;
                sscanf(ids[*n - 1], "%llu-%llu", &a, &b);
                sscanf(id->u.s.p, "%llu-%llu", &c, &d);
                cr_assert(c > a || (c == a && d > b), "ids went back: %s after %s", id->u.s.p,
                          ids[*n - 1]);
            }
            snprintf(ids[(*n)++], 64, "%s", id->u.s.p);
            done = strcmp(t->u.s.p, "processing_complete") == 0;
            got++;
        }
        pr_value_deinit(&v);
        free(m.data);
        if (done)
            return true;
        if (stop_after && got >= stop_after)
            return false;
    }
    cr_assert_fail("no outcome within 30 s");
    return false;
}

Test(deploy, nginx_reaches_a_gateway_and_a_client_resumes_after_its_gateway_dies, .fini = teardown,
     .timeout = 180)
{
    snprintf(TMP, sizeof(TMP), "/tmp/zsa-nginx-XXXXXX");
    cr_assert_not_null(mkdtemp(TMP));
    chmod(TMP, 0755); /* nginx's workers may run as nobody */
    for (int i = 1; i <= 5; i++) {
        char d[96];
        snprintf(d, sizeof(d), "%s/t%d", TMP, i);
        mkdir(d, 0777);
        chmod(d, 0777);
    }
    cr_assert_eq(th_redis_start(&R), 0);
    int p1 = start_gateway(&GW[0]), p2 = start_gateway(&GW[1]), port = th_free_port();
    static char url[340];
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    const char *wargv[] = {url, "--metrics-listen=", "--poll-ms=200", NULL};
    cr_assert_eq(th_proc_start(&WK, "zsa-worker", wargv, NULL), 0);
    int tls_port = th_free_port();
    char senv[96];
    snprintf(senv, sizeof(senv), "ZSA_SECRETS_DIR=%s", TMP);
    const char *se[] = {senv, NULL}, *none[] = {NULL};
    struct th_proc_result gs;
    cr_assert_eq(th_proc_run("scripts/gen-secrets.sh", none, se, 60000, &gs), 0);
    cr_assert_eq(gs.status, 0, "%s%s", gs.out, gs.err);
    chmod(TMP, 0755); /* gen-secrets made it 700 */
    write_nginx_conf(p1, p2, port, tls_port);

    char conf[128], errlog[128];
    snprintf(conf, sizeof(conf), "%s/nginx.conf", TMP);
    snprintf(errlog, sizeof(errlog), "%s/error.log", TMP);
    struct th_proc_result r;
    const char *test[] = {"-t", "-p", TMP, "-c", conf, "-e", errlog, NULL};
    cr_assert_eq(th_proc_run("/usr/sbin/nginx", test, NULL, 20000, &r), 0,
                 "nginx is missing: scripts/install-deps.sh installs it");
    cr_assert_eq(r.status, 0, "nginx -t: %s%s", r.out, r.err);
    cr_expect(strstr(r.err, "syntax is ok") && strstr(r.err, "test is successful"), "%s", r.err);
    const char *run[] = {"-p", TMP, "-c", conf, "-e", errlog, NULL};
    cr_assert_eq(th_proc_start(&NG, "/usr/sbin/nginx", run, NULL), 0);
    char body[2048];
    int64_t deadline = cm_time_mono_ms() + 15000;
    while (cm_http("127.0.0.1", port, "GET", "/healthz", NULL, false, body, sizeof(body)) != 200)
        cr_assert(cm_time_mono_ms() < deadline, "nginx does not answer on %d", port);

    /* TLS at nginx: curl trusting the certificate gen-secrets.sh made */
    char tls_url[96], ca[128];
    snprintf(tls_url, sizeof(tls_url), "https://127.0.0.1:%d/readyz", tls_port);
    snprintf(ca, sizeof(ca), "%s/tls.crt", TMP);
    const char *curl[] = {"-s", "--cacert", ca, tls_url, NULL};
    cr_assert_eq(th_proc_run("/usr/bin/curl", curl, NULL, 20000, &r), 0);
    cr_expect(strstr(r.out, "\"ready\":true"), "https through nginx: %s%s", r.out, r.err);

    /* a client through nginx, then a job of its session */
    struct cm_ws w = {0};
    cr_assert_eq(cm_ws_connect(&w, "127.0.0.1", port, "/ws?session_id=dep1", "zsa.v1.json", false),
                 0, "upgrade through nginx: HTTP %d", w.http_status);
    struct cm_ws_msg m;
    cr_assert_eq(cm_ws_recv(&w, 5000, &m), 1);
    cr_expect(strstr(m.data, "\"connected\""), "%s", m.data);
    free(m.data);
    const char *job = "{\"job_id\":\"dj1\",\"image_id\":\"i\",\"algorithm\":\"simulate\","
                      "\"session_id\":\"dep1\",\"parameters\":{\"duration_seconds\":4,"
                      "\"steps\":40}}";
    cr_assert_eq(cm_http("127.0.0.1", port, "POST", "/api/jobs", job, true, body, sizeof(body)),
                 202, "%s", body);
    static char ids[400][64];
    int n = 0;
    cr_assert_not(read_events(&w, ids, &n, 400, 5), "the job ended too soon");

    /* kill the gateway this client is on (the one with a connection) */
    int victim = -1;
    for (int i = 0; i < 2; i++) {
        int p = i ? p2 : p1;
        cr_assert_eq(cm_http("127.0.0.1", p, "GET", "/ws/stats", NULL, false, body, sizeof(body)),
                     200);
        if (strstr(body, "\"connections\":1,"))
            victim = i;
    }
    cr_assert_geq(victim, 0, "no gateway holds the client");
    th_proc_signal(&GW[victim], SIGKILL);
    th_proc_wait(&GW[victim], 5000);
    int64_t until = cm_time_mono_ms() + 10000;
    int rc = 0;
    while (cm_time_mono_ms() < until && (rc = cm_ws_recv(&w, 200, &m)) >= 0)
        if (rc == 1)
            free(m.data); /* anything still in flight (ids checked below via the stream) */
    cr_assert_lt(rc, 0, "the connection did not close when its gateway died");
    cm_ws_close(&w);

    /* reconnect through nginx with the last event id: the survivor replays, then live */
    char target[160];
    snprintf(target, sizeof(target), "/ws?session_id=dep1&last_event_id=%s", ids[n - 1]);
    int before = n;
    cr_assert_eq(cm_ws_connect(&w, "127.0.0.1", port, target, "zsa.v1.json", false), 0,
                 "reconnect through nginx: HTTP %d", w.http_status);
    cr_assert(read_events(&w, ids, &n, 400, 0), "no processing_complete after the reconnect");
    cm_ws_close(&w);
    cr_expect_gt(n, before);

    /* every event of the session stream arrived, once, in order (before + after the kill) */
    redisContext *c = th_redis_connect(&R);
    redisReply *x = redisCommand(c, "XRANGE zsa:events:dep1 - +");
    cr_assert_eq(x->type, REDIS_REPLY_ARRAY);
    int matched = 0;
    for (size_t i = 0; i < x->elements; i++) {
        const char *sid = x->element[i]->element[0]->str;
        bool found = false;
        for (int k = 0; k < n && !found; k++)
            found = strcmp(ids[k], sid) == 0;
        matched += found;
        cr_expect(found, "event %s of the stream never reached the client", sid);
    }
    cr_expect_eq(matched, n, "the client got %d events, the stream holds %zu", n, x->elements);
    freeReplyObject(x);
    redisFree(c);
    th_proc_signal(&NG, SIGQUIT);
    th_proc_wait(&NG, 5000);
    FILE *f = fopen(errlog, "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f))
        cr_expect(!strstr(line, "[emerg]") && !strstr(line, "[alert]"), "nginx: %s", line);
    if (f)
        fclose(f);
}
