/* Integration: the three daemon binaries as real processes — --help, --version, configuration
 * errors (exit 2, naming the option), defaults < env < flags in --print-config, --check against a
 * real redis-server and against a closed port, JSON log lines, the GPU probe line. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/harness/proc.h"
#include "tests/harness/redis_server.h"

static const char *const daemons[] = {"zsa-gateway", "zsa-worker", "zsa-scheduler"};
#define NDAEMONS 3

Test(daemons, help_lists_the_common_options_and_exits_0)
{
    static const char *const must[] = {"--redis-url", "ZSA_REDIS_URL", "--prefix", "ZSA_PREFIX",
                                       "--log-level", "--log-format",  "--check",  "--help"};
    for (int i = 0; i < NDAEMONS; i++) {
        struct th_proc_result res;
        const char *argv[] = {"--help", NULL};
        cr_assert_eq(th_proc_run(daemons[i], argv, NULL, 10000, &res), 0);
        cr_assert_eq(res.status, 0, "%s --help: %d %s", daemons[i], res.status, res.err);
        cr_assert(strstr(res.out, "Usage: "), "%s", res.out);
        for (size_t k = 0; k < sizeof(must) / sizeof(must[0]); k++)
            cr_assert(strstr(res.out, must[k]), "%s --help lacks %s", daemons[i], must[k]);
    }
}

Test(daemons, readme_documents_every_option)
{
    FILE *f = fopen("README.md", "r");
    cr_assert_not_null(f, "run from the repository root");
    static char readme[65536];
    size_t n = fread(readme, 1, sizeof(readme) - 1, f);
    readme[n] = '\0';
    fclose(f);
    for (int i = 0; i < NDAEMONS; i++) {
        struct th_proc_result res;
        const char *argv[] = {"--help", NULL};
        th_proc_run(daemons[i], argv, NULL, 10000, &res);
        int seen = 0;
        for (char *p = strstr(res.out, "\n  --"); p; p = strstr(p + 1, "\n  --")) {
            char flag[64], cell[80];
            if (sscanf(p + 3, "%63[a-z-]", flag) != 1 || strcmp(flag, "--help") == 0 ||
                strcmp(flag, "--version") == 0)
                continue;
            snprintf(cell, sizeof(cell), "`%s`", flag);
            cr_assert(strstr(readme, cell), "README.md does not document %s of %s", flag,
                      daemons[i]);
            seen++;
        }
        cr_assert_geq(seen, 7, "%s", res.out);
    }
}

Test(daemons, version_exits_0)
{
    for (int i = 0; i < NDAEMONS; i++) {
        struct th_proc_result res;
        const char *argv[] = {"--version", NULL};
        th_proc_run(daemons[i], argv, NULL, 10000, &res);
        cr_assert_eq(res.status, 0);
        cr_assert(strncmp(res.out, daemons[i], strlen(daemons[i])) == 0, "%s", res.out);
    }
}

Test(daemons, configuration_errors_exit_2_and_name_the_option)
{
    static const struct {
        const char *arg, *env, *expect;
    } cases[] = {
        {"--redis-url=http://x", NULL, "--redis-url: redis url: must start with"},
        {"--prefix=a b", NULL, "--prefix: must be 1..64 characters"},
        {"--log-level=loud", NULL, "--log-level: must be one of error|warn|info|debug"},
        {"--redis-timeout-ms=0", NULL, "--redis-timeout-ms: must be an integer from 10"},
        {"--no-such-flag", NULL, "unknown option --no-such-flag"},
        {NULL, "ZSA_LOG_FORMAT=xml", "ZSA_LOG_FORMAT (--log-format): must be one of text|json"},
        {NULL, "ZSA_REDIS_URL=redis://h:99999", "ZSA_REDIS_URL (--redis-url): redis url: port"},
    };
    for (int i = 0; i < NDAEMONS; i++) {
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            struct th_proc_result res;
            const char *argv[] = {cases[k].arg, NULL};
            const char *env[] = {cases[k].env, NULL};
            th_proc_run(daemons[i], argv, env, 10000, &res);
            cr_assert_eq(res.status, 2, "%s %s: exit %d", daemons[i], cases[k].expect, res.status);
            cr_assert(strstr(res.err, cases[k].expect), "%s: %s", daemons[i], res.err);
        }
    }
}

Test(daemons, print_config_shows_defaults_env_and_flags_in_order_of_precedence)
{
    struct th_proc_result res;
    const char *argv[] = {"--print-config", "--slots=4", NULL};
    const char *env[] = {"ZSA_SLOTS=2", "ZSA_PREFIX=lab7", "ZSA_REDIS_URL=redis://:pw@db:6390/1",
                         NULL};
    th_proc_run("zsa-worker", argv, env, 10000, &res);
    cr_assert_eq(res.status, 0, "%s", res.err);
    cr_assert(strstr(res.out, "slots = 4\n"), "flag must win over env: %s", res.out);
    cr_assert(strstr(res.out, "prefix = lab7\n"), "env must win over default: %s", res.out);
    cr_assert(strstr(res.out, "log-level = info\n"), "default: %s", res.out);
    cr_assert(strstr(res.out, "redis-url = redis://:***@db:6390/1\n"), "%s", res.out);
    cr_assert(!strstr(res.out, "pw@"), "password printed: %s", res.out);
}

Test(daemons, check_succeeds_against_a_real_redis)
{
    struct th_redis r = {0};
    cr_assert_eq(th_redis_start(&r), 0);
    for (int i = 0; i < NDAEMONS; i++) {
        struct th_proc_result res;
        char url[340];
        snprintf(url, sizeof(url), "--redis-url=%s", r.url);
        const char *argv[] = {"--check", url, NULL};
        th_proc_run(daemons[i], argv, NULL, 10000, &res);
        cr_assert_eq(res.status, 0, "%s --check: %d %s", daemons[i], res.status, res.err);
        cr_assert(strstr(res.err, "check ok: redis 127.0.0.1:"), "%s", res.err);
        cr_assert(strstr(res.err, "version 7."), "%s", res.err);
    }
    th_redis_stop(&r);
}

Test(daemons, a_redis_password_comes_from_a_file)
{
    struct th_redis r = {0};
    cr_assert_eq(th_redis_start(&r), 0);
    redisContext *c = th_redis_connect(&r);
    freeReplyObject(th_cmd(c, "CONFIG SET requirepass %s", "s3cret:with@odd/chars"));
    redisFree(c);
    char dir[] = "/tmp/zsa-pw-XXXXXX", pw[64], empty[64], url[340], flag[96], eflag[96];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(pw, sizeof(pw), "%s/pw", dir);
    snprintf(empty, sizeof(empty), "%s/empty", dir);
    FILE *f = fopen(pw, "w");
    fputs("s3cret:with@odd/chars\n", f);
    fclose(f);
    fclose(fopen(empty, "w"));
    snprintf(url, sizeof(url), "--redis-url=%s", r.url);
    snprintf(flag, sizeof(flag), "--redis-password-file=%s", pw);
    snprintf(eflag, sizeof(eflag), "--redis-password-file=%s", empty);
    for (int i = 0; i < NDAEMONS; i++) {
        struct th_proc_result res;
        const char *with[] = {"--check", url, flag, "--auth=off", NULL};
        const char *without[] = {"--check", url, "--auth=off", NULL};
        const char *bad[] = {"--check", url, eflag, "--auth=off", NULL};
        int skip = strcmp(daemons[i], "zsa-gateway") != 0; /* --auth is the gateway's */
        if (skip)
            with[3] = without[2] = bad[3] = NULL;
        th_proc_run(daemons[i], with, NULL, 10000, &res);
        cr_expect_eq(res.status, 0, "%s with the file: %d %s", daemons[i], res.status, res.err);
        th_proc_run(daemons[i], without, NULL, 10000, &res);
        cr_expect_eq(res.status, 1, "%s without a password: %d %s", daemons[i], res.status,
                     res.err);
        cr_expect(strstr(res.err, "NOAUTH") || strstr(res.err, "uthentication"), "%s", res.err);
        th_proc_run(daemons[i], bad, NULL, 10000, &res);
        cr_expect_eq(res.status, 2, "%s with an empty file: %d %s", daemons[i], res.status,
                     res.err);
        cr_expect(!strstr(res.err, "s3cret") && !strstr(res.out, "s3cret"), "the password leaked");
    }
    unlink(pw);
    unlink(empty);
    rmdir(dir);
    c = th_redis_connect(&r); /* the harness stops it with SHUTDOWN: */
    freeReplyObject(th_cmd(c, "AUTH %s", "s3cret:with@odd/chars"));
    freeReplyObject(th_cmd(c, "CONFIG SET requirepass %s", ""));
    redisFree(c);
    th_redis_stop(&r);
}

Test(daemons, check_fails_clearly_when_redis_is_down)
{
    struct th_redis r = {0};
    cr_assert_eq(th_redis_start(&r), 0);
    char url[340];
    snprintf(url, sizeof(url), "--redis-url=%s", r.url);
    th_redis_stop(&r);
    for (int i = 0; i < NDAEMONS; i++) {
        struct th_proc_result res;
        const char *argv[] = {"--check", url, "--redis-timeout-ms=500", NULL};
        th_proc_run(daemons[i], argv, NULL, 10000, &res);
        cr_assert_eq(res.status, 1, "%s: %d", daemons[i], res.status);
        cr_assert(strstr(res.err, "check failed: redis connect 127.0.0.1:"), "%s", res.err);
        cr_assert(strstr(res.err, "Connection refused"), "%s", res.err);
    }
}

Test(daemons, json_log_lines_parse)
{
    struct th_proc_result res;
    const char *argv[] = {"--check", "--redis-url=redis://127.0.0.1:1", "--log-format=json", NULL};
    th_proc_run("zsa-scheduler", argv, NULL, 10000, &res);
    cr_assert_eq(res.status, 1);
    int lines = 0;
    for (char *line = strtok(res.err, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_object *j = json_tokener_parse(line);
        cr_assert_not_null(j, "not JSON: %s", line);
        json_object *c;
        cr_assert(json_object_object_get_ex(j, "component", &c));
        cr_assert_str_eq(json_object_get_string(c), "zsa-scheduler");
        json_object_put(j);
    }
    cr_assert_geq(lines, 1);
}

Test(daemons, worker_reports_the_gpu_probe)
{
    struct th_proc_result res;
    const char *argv[] = {"--check", "--redis-url=redis://127.0.0.1:1", "--redis-timeout-ms=200",
                          NULL};
    th_proc_run("zsa-worker", argv, NULL, 20000, &res);
    cr_assert(strstr(res.err, "gpu: "), "%s", res.err);
    if (access("/dev/nvidiactl", F_OK) != 0)
        cr_assert(strstr(res.err, "no CUDA device, using CPU"), "%s", res.err);
}
