/* Integration: clients we did not write. Each test runs a script of tests/node (Node's `ws` and
 * @msgpack/msgpack from npm, written from docs/PROTOCOL.md) against a real zsa-gateway on a real
 * redis-server; the script checks the behaviour and exits 0, or 1 saying what failed. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/time.h"
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

/* Starts the gateway with extra flags (NULL-terminated) and waits for /readyz. */
static void start_gateway(struct th_proc *p, int port, ...)
{
    static char url[340], listen[64];
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", port);
    const char *argv[32] = {url, listen, "--processes=1"};
    int n = 3;
    va_list ap;
    va_start(ap, port);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;)
        argv[n++] = a;
    va_end(ap);
    cr_assert_eq(th_proc_start(p, "zsa-gateway", argv, NULL), 0);
    char body[512];
    int64_t deadline = cm_time_mono_ms() + 15000;
    while (cm_http("127.0.0.1", port, "GET", "/readyz", NULL, false, body, sizeof(body)) != 200) {
        cr_assert(cm_time_mono_ms() < deadline, "gateway not ready on %d", port);
        sleep_ms(50);
    }
}

static void setup(void)
{
    cr_assert_eq(th_redis_start(&R), 0);
    PORT = th_free_port();
    start_gateway(&GW, PORT, NULL);
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

/* Runs tests/node/<script> with ZSA_GATEWAY pointing at the gateway; asserts it passed. */
static void node(const char *script, int timeout_ms)
{
    char path[256], gw[64];
    snprintf(path, sizeof(path), "tests/node/%s", script);
    snprintf(gw, sizeof(gw), "ZSA_GATEWAY=127.0.0.1:%d", PORT);
    const char *argv[] = {path, NULL};
    const char *env[] = {gw, NULL};
    static struct th_proc_result res;
    cr_assert_eq(th_proc_run("/usr/bin/node", argv, env, timeout_ms, &res), 0,
                 "node is missing: scripts/install-deps.sh installs it");
    cr_log_info("%s: %s", script, res.out);
    cr_assert_eq(res.status, 0, "%s failed (status %d):\n%s\n%s", script, res.status, res.out,
                 res.err);
}

Test(clients, deflating_clients_send_megabytes_and_oversized_messages_close_1009)
{
    node("deflate.mjs", 120000);
}
