/* Integration: web/client (@zsa/client, TypeScript, run by Vitest in Node with the `ws` package)
 * against a real zsa-gateway (auth required), zsa-worker and redis-server: resume exactly once
 * after a dropped connection, JSON and MessagePack clients see the same events, refusals reach
 * the application (web/client/test/live). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness/proc.h"
#include "tests/harness/redis_server.h"
#include "tests/harness/ws_client.h"

static struct th_redis R;
static struct th_proc GW, WK;
static int PORT;
static char DIR[64], KEYS[128];

static void setup(void)
{
    cr_assert_eq(th_redis_start(&R), 0);
    snprintf(DIR, sizeof(DIR), "/tmp/zsa-web-XXXXXX");
    cr_assert_not_null(mkdtemp(DIR));
    snprintf(KEYS, sizeof(KEYS), "%s/keys", DIR);
    cr_assert_eq(th_keys_file(KEYS, "kweb"), 0);
    PORT = th_free_port();
    static char kflag[160], url[340], data[128];
    snprintf(kflag, sizeof(kflag), "--auth-keys-file=%s", KEYS);
    const char *extra[] = {"--auth=required", kflag, NULL};
    cr_assert_eq(th_gateway_start(&GW, R.url, PORT, extra), 0);
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(data, sizeof(data), "--data-dir=%s", DIR);
    const char *wargv[] = {url, data, "--metrics-listen=", "--poll-ms=100", "--slots=4", NULL};
    cr_assert_eq(th_proc_start(&WK, "zsa-worker", wargv, NULL), 0);
}

static void teardown(void)
{
    static char log[65536];
    th_proc_signal(&WK, SIGTERM);
    th_proc_wait(&WK, 10000);
    th_proc_signal(&GW, SIGTERM);
    th_proc_wait(&GW, 10000);
    if (GW.log[0])
        cr_expect(th_proc_log_clean(&GW, "gateway", log, sizeof(log)), "gateway log:\n%s", log);
    th_proc_stop(&WK);
    th_proc_stop(&GW);
    th_redis_stop(&R);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", DIR);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(web, .init = setup, .fini = teardown, .timeout = 180);

Test(web, the_client_library_against_a_real_gateway)
{
    char gw[64], keys[160];
    snprintf(gw, sizeof(gw), "ZSA_GATEWAY=127.0.0.1:%d", PORT);
    snprintf(keys, sizeof(keys), "ZSA_KEYS_FILE=%s", KEYS);
    const char *env[] = {gw, keys, "NO_COLOR=1", NULL};
    const char *argv[] = {
        "web/node_modules/vitest/vitest.mjs", "run", "--root", "web/client", "test/live", NULL};
    static struct th_proc_result res;
    cr_assert_eq(th_proc_run("/usr/bin/node", argv, env, 150000, &res), 0,
                 "node is missing: scripts/install-deps.sh installs it");
    cr_log_info("%s", res.out);
    char log[8192];
    th_proc_log(&GW, log, sizeof(log));
    cr_assert_eq(res.status, 0, "vitest (live) failed (%d):\n%s\n%s\ngateway:\n%s", res.status,
                 res.out, res.err, log);
    cr_assert(strstr(res.out, "4 passed"), "%s", res.out);
}
