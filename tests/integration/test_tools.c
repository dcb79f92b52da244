/* Integration: zsa-proto (schema checks from the command line) and scripts/demo.sh as real
 * processes. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness/proc.h"

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

Test(demo, bounded_run_completes_a_job_live_and_leaves_nothing_behind)
{
    struct th_proc_result res;
    const char *env[] = {"ZSA_DEMO_BOUNDED=1", NULL};
    const char *none[] = {NULL};
    cr_assert_eq(th_proc_run("scripts/demo.sh", none, env, 120000, &res), 0);
    cr_assert_eq(res.status, 0, "demo failed: %s\n%s", res.out, res.err);
    for (int i = 0; i < 2; i++) {
        static const char *const who[] = {"zsa-gateway[", "zsa-scheduler["};
        char *line = strstr(res.err, who[i]);
        cr_assert(line && strstr(line, "check ok"), "%s did not check ok: %s", who[i], res.err);
    }
    cr_assert(strstr(res.out, "(refused, as it should be)"), "%s", res.out);
    cr_assert(strstr(res.err, "invalid job: parameters: must be a finite number"), "%s", res.err);
    cr_assert(strstr(res.out, "job demo1 ended: complete"), "%s", res.out);
    cr_assert(strstr(res.out, "100%  Complete"), "no progress bar reached 100 %%: %s", res.out);
    cr_assert(strstr(res.out, "\"result_id\":\"demo1.r1\""), "%s", res.out);
    int pid = 0;
    char dir[256] = "";
    const char *p = strstr(res.out, "redis-server pid ");
    cr_assert_not_null(p, "%s", res.out);
    cr_assert_eq(sscanf(p, "redis-server pid %d on %*s (data in %255[^)])", &pid, dir), 2, "%s", p);
    cr_assert(kill(pid, 0) != 0, "redis-server %d is still running", pid);
    const char *sp = strstr(res.out, "scheduler pid ");
    int spid = 0;
    cr_assert(sp && sscanf(sp, "scheduler pid %d", &spid) == 1, "%s", res.out);
    cr_assert(kill(spid, 0) != 0, "zsa-scheduler %d is still running", spid);
    cr_assert(!process_mentions(dir), "a process started by the demo is still running");
    struct stat st;
    cr_assert(stat(dir, &st) != 0, "%s was left behind", dir);
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
