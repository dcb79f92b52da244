/* Integration: zsa-proto (schema checks from the command line) and `make demo` / scripts/demo.sh
 * as real processes: a live segmentation with the ground-truth count, one demo at a time, and
 * nothing left behind. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/time.h"
#include "tests/harness/proc.h"
#include "tests/harness/ws_client.h"

/* Writes data to a new temp file; returns its path in buf. */
static void temp_file(char *buf, size_t n, const void *data, size_t len)
{
    snprintf(buf, n, "%s/zsa-tools-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(buf);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

Test(zsa_proto, check_normalizes_a_valid_job_and_refuses_a_bad_one)
{
    char path[256];
    const char *job = "{\"image_id\":\"a1\",\"algorithm\":\"simulate\",\"x\":1}\n";
    temp_file(path, sizeof(path), job, strlen(job));
    struct th_proc_result res;
    const char *argv[] = {"check", "--wire", "job", path, NULL};
    cr_assert_eq(th_proc_run("zsa-proto", argv, NULL, 10000, &res), 0);
    cr_assert_eq(res.status, 0, "%s", res.err);
    cr_assert_str_eq(res.out, "{\"image_id\":\"a1\",\"algorithm\":\"simulate\"}\n");
    unlink(path);

    const char *bad = "{\"event_type\":\"processing_progress\",\"progress\":101}";
    temp_file(path, sizeof(path), bad, strlen(bad));
    const char *argv2[] = {"check", path, NULL};
    th_proc_run("zsa-proto", argv2, NULL, 10000, &res);
    cr_assert_eq(res.status, 1);
    cr_assert(strstr(res.err, "invalid message: "), "%s", res.err);
    unlink(path);
}

Test(zsa_proto, check_reads_msgpack)
{
    /* {"type":"ping"} */
    char path[256];
    const char mp[] = "\x81\xa4type\xa4ping";
    temp_file(path, sizeof(path), mp, sizeof(mp) - 1);
    struct th_proc_result res;
    const char *argv[] = {"check", "--wire", "client", "--msgpack", path, NULL};
    th_proc_run("zsa-proto", argv, NULL, 10000, &res);
    cr_assert_eq(res.status, 0, "%s", res.err);
    cr_assert_str_eq(res.out, "{\"type\":\"ping\"}\n");
    unlink(path);
}

Test(zsa_proto, usage_errors_exit_2)
{
    struct th_proc_result res;
    const char *argv[] = {"check", "--wire", "sideways", NULL};
    th_proc_run("zsa-proto", argv, NULL, 10000, &res);
    cr_assert_eq(res.status, 2);
    cr_assert(strstr(res.err, "--wire"), "%s", res.err);
    const char *none[] = {NULL};
    th_proc_run("zsa-proto", none, NULL, 10000, &res);
    cr_assert_eq(res.status, 2);
}

/* True when a process whose command line mentions needle is still alive. */
static bool process_mentions(const char *needle)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    bool found = false;
    while (d && (e = readdir(d)) && !found) {
        char path[300], cmdline[4096];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(cmdline, 1, sizeof(cmdline) - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            cmdline[i] = cmdline[i] ? cmdline[i] : ' ';
        cmdline[n] = '\0';
        found = strstr(cmdline, needle) != NULL;
    }
    if (d)
        closedir(d);
    return found;
}

/* True when something listens on 127.0.0.1:port. */
static bool listening(int port)
{
    char body[64];
    return cm_http("127.0.0.1", port, "GET", "/", NULL, false, body, sizeof(body)) >= 0;
}

/* Checks what a demo printed: everything it started is gone. */
static void expect_nothing_left(const char *out)
{
    int pid = 0, rport = 0, gport = 0, spid = 0;
    char dir[256] = "";
    const char *p = strstr(out, "redis-server pid ");
    cr_assert_not_null(p, "%s", out);
    cr_assert_eq(
        sscanf(p, "redis-server pid %d on 127.0.0.1:%d (data in %255[^)])", &pid, &rport, dir), 3,
        "%s", p);
    cr_assert(kill(pid, 0) != 0, "redis-server %d is still running", pid);
    const char *sp = strstr(out, "scheduler pid ");
    cr_assert(sp && sscanf(sp, "scheduler pid %d", &spid) == 1, "%s", out);
    cr_assert(kill(spid, 0) != 0, "zsa-scheduler %d is still running", spid);
    const char *gp = strstr(out, "gateway pid ");
    cr_assert(gp && sscanf(gp, "gateway pid %*d on 127.0.0.1:%d", &gport) == 1, "%s", out);
    cr_assert(!listening(rport), "the demo's Redis port %d still answers", rport);
    cr_assert(!listening(gport), "the demo's gateway port %d still answers", gport);
    cr_assert(!process_mentions(dir), "a process started by the demo is still running");
    struct stat st;
    cr_assert(stat(dir, &st) != 0, "%s was left behind", dir);
    cr_assert(strstr(out, "demo: stopped the gateway"), "%s", out);
}

Test(demo, make_demo_segments_live_runs_once_and_leaves_nothing_behind, .timeout = 300)
{
    /* a TMPDIR of its own: a demo the developer runs meanwhile has another lock file */
    char tmp[] = "/tmp/zsa-demo-test-XXXXXX", tmpenv[64];
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(tmpenv, sizeof(tmpenv), "TMPDIR=%s", tmp);
    struct th_proc_result res;
    const char *env[] = {"ZSA_DEMO_BOUNDED=1", tmpenv, NULL};
    /* the README's command, as a user runs it (not inside this make's jobserver) */
    const char *argv[] = {
        "-c", "unset MAKEFLAGS MAKELEVEL MFLAGS; exec make --no-print-directory demo", NULL};
    cr_assert_eq(th_proc_run("/bin/sh", argv, env, 280000, &res), 0);
    cr_assert_eq(res.status, 0, "demo failed: %s\n%s", res.out, res.err);
    for (int i = 0; i < 2; i++) {
        static const char *const who[] = {"zsa-gateway[", "zsa-scheduler["};
        char *line = strstr(res.err, who[i]);
        cr_assert(line && strstr(line, "check ok"), "%s did not check ok: %s", who[i], res.err);
    }
    cr_assert(strstr(res.out, "(refused, as it should be)"), "%s", res.out);
    int objects = -1, truth = -2;
    const char *p = strstr(res.out, "job demo1 ended: complete: ");
    cr_assert(p && sscanf(p, "job demo1 ended: complete: %d objects (ground truth %d)", &objects,
                          &truth) == 2,
              "%s", res.out);
    cr_expect_eq(objects, truth, "the demo's segmentation found %d objects of %d", objects, truth);
    cr_expect(strstr(res.out, "\"event_type\":\"processing_complete\""), "%s", res.out);
    expect_nothing_left(res.out);

    /* one demo at a time (in this same test: demos share the lock file); Ctrl-C stops it */
    struct th_proc first;
    const char *hold[] = {"ZSA_DEMO_HOLD=1", tmpenv, NULL};
    const char *none[] = {NULL};
    cr_assert_eq(th_proc_start(&first, "scripts/demo.sh", none, hold), 0);
    char log[1 << 15];
    int64_t deadline = cm_time_mono_ms() + 120000;
    do {
        th_proc_log(&first, log, sizeof(log));
        if (strstr(log, "stays up until Ctrl-C"))
            break;
        cr_assert(cm_time_mono_ms() < deadline && kill(first.pid, 0) == 0, "demo: %s", log);
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    } while (1);
    /* the dashboard it points to is there, and the token in its URL opens the session */
    int dport = 0;
    static char token[4200];
    const char *d = strstr(log, "  http://127.0.0.1:");
    cr_assert(d &&
                  sscanf(d, "  http://127.0.0.1:%d/?session=demo#token=%4100s", &dport, token) == 2,
              "%s", log);
    static char page[16384];
    cr_expect_eq(cm_http("127.0.0.1", dport, "GET", "/", NULL, false, page, sizeof(page)), 200);
    cr_expect(strstr(page, "<title>zsa dashboard</title>"), "%.200s", page);
    cr_expect_eq(cm_http("127.0.0.1", dport, "GET", "/api/sessions/demo/jobs", NULL, false, page,
                         sizeof(page)),
                 401, "the demo's gateway requires a token");
    cr_expect_eq(cm_http_auth("127.0.0.1", dport, "GET", "/api/sessions/demo/jobs", token, NULL,
                              false, page, sizeof(page)),
                 200, "%s", page);
    cr_expect(strstr(page, "\"demo1\""), "the demo's job is in its session: %.300s", page);
    /* the result page it points to: served, and the result's files listed, preview first seen */
    char rid[160] = "", path[256];
    const char *r = strstr(log, "  http://127.0.0.1:");
    r = r ? strstr(r + 1, "/results/") : NULL;
    cr_assert(r && sscanf(r, "/results/%150[^?]?session=demo#token=", rid) == 1, "%s", log);
    snprintf(path, sizeof(path), "/results/%s", rid);
    cr_expect_eq(cm_http("127.0.0.1", dport, "GET", path, NULL, false, page, sizeof(page)), 200);
    snprintf(path, sizeof(path), "/api/results/%s/artifacts", rid);
    cr_expect_eq(
        cm_http_auth("127.0.0.1", dport, "GET", path, token, NULL, false, page, sizeof(page)), 200,
        "%s", page);
    cr_expect(strstr(page, "\"preview.png\"") && strstr(page, "\"objects.csv\""), "%s", page);
    const char *env2[] = {"ZSA_DEMO_BOUNDED=1", tmpenv, NULL};
    cr_assert_eq(th_proc_run("scripts/demo.sh", none, env2, 60000, &res), 0);
    cr_expect_eq(res.status, 1, "%s%s", res.out, res.err);
    cr_expect(strstr(res.err, "a demo is already running") && strstr(res.err, "gateway http://"),
              "%s", res.err);
    th_proc_signal(&first, SIGINT);     /* Ctrl-C */
    if (!th_proc_wait(&first, 30000)) { /* say what it was doing, and which of its processes lag */
        th_proc_log(&first, log, sizeof(log));
        int ps = system("ps -eo pid,ppid,stat,etime,args | grep -E 'zsa-|redis-server' >&2");
        (void)ps;
        cr_assert_fail("the demo did not stop on Ctrl-C within 30 s; its output:\n%s", log);
    }
    th_proc_log(&first, log, sizeof(log));
    expect_nothing_left(log);
    th_proc_stop(&first);
    cr_expect_eq(rmdir(tmp), 0, "the demo left something in its TMPDIR");
}

Test(install_deps, is_quiet_and_succeeds_when_everything_is_installed)
{
    /* make test got here, so every package is present: the script must say nothing. With
     * ZSA_NO_INSTALL=1 it would list what is missing instead of installing it. */
    struct th_proc_result res;
    const char *env[] = {"ZSA_NO_INSTALL=1", NULL};
    const char *none[] = {NULL};
    cr_assert_eq(th_proc_run("scripts/install-deps.sh", none, env, 60000, &res), 0);
    cr_assert_eq(res.status, 0, "%s", res.err);
    cr_assert_str_eq(res.out, "");
    cr_assert_str_eq(res.err, "");
}
