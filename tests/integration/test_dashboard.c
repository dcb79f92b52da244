/* Integration: the dashboard in a real browser. A real headless Chromium (Debian's chromium,
 * driven over the DevTools protocol with common/wsclient) opens the page zsa-gateway serves at /,
 * which connects to the gateway's WebSocket; the stack is real (redis-server, gateway, worker,
 * scheduler). Checks: the page goes live, shows the scheduler's figures, submits a job from its
 * form and follows it to complete, shows a failure with its code and a result that needs review
 * with its reason; a result's page shows the preview, the sortable object table and downloads. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/time.h"
#include "proto/proto.h"
#include "tests/harness/proc.h"
#include "tests/harness/redis_server.h"
#include "tests/harness/ws_client.h"

static struct th_redis R;
static struct th_proc GW, WK, SCH, BR;
static int PORT, DEVPORT;
static char PROFILE[64], DATA[64];
static char G_URL[340], G_LISTEN[64], G_RESULTS[128];
static struct cm_ws CDP;
static int cdp_id;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The gateway on PORT, serving the worker's results (DATA/results). */
static void gateway_start(void)
{
    snprintf(G_URL, sizeof(G_URL), "--redis-url=%s", R.url);
    snprintf(G_LISTEN, sizeof(G_LISTEN), "--listen=127.0.0.1:%d", PORT);
    snprintf(G_RESULTS, sizeof(G_RESULTS), "--results-dir=%s/results", DATA);
    const char *gargv[] = {G_URL, G_LISTEN, "--processes=1", G_RESULTS, NULL};
    cr_assert_eq(th_proc_start(&GW, "zsa-gateway", gargv, NULL), 0);
}

static void setup(void)
{
    cr_assert_eq(th_redis_start(&R), 0);
    static char data[128];
    char *url = G_URL;
    snprintf(DATA, sizeof(DATA), "/tmp/zsa-dash-XXXXXX");
    cr_assert_not_null(mkdtemp(DATA));
    PORT = th_free_port();
    gateway_start();
    snprintf(data, sizeof(data), "--data-dir=%s", DATA);
    const char *wargv[] = {url, data, "--metrics-listen=", "--poll-ms=200", "--slots=4", NULL};
    cr_assert_eq(th_proc_start(&WK, "zsa-worker", wargv, NULL), 0);
    const char *sargv[] = {url, "--metrics-listen=", "--status-interval-ms=500", NULL};
    cr_assert_eq(th_proc_start(&SCH, "zsa-scheduler", sargv, NULL), 0);
    char body[512];
    int64_t deadline = cm_time_mono_ms() + 15000;
    while (cm_http("127.0.0.1", PORT, "GET", "/readyz", NULL, false, body, sizeof(body)) != 200)
        cr_assert(cm_time_mono_ms() < deadline, "gateway not ready");

    /* the browser, with the DevTools protocol on a free port */
    snprintf(PROFILE, sizeof(PROFILE), "/tmp/zsa-chromium-XXXXXX");
    cr_assert_not_null(mkdtemp(PROFILE));
    DEVPORT = th_free_port();
    static char dev[64], prof[96];
    snprintf(dev, sizeof(dev), "--remote-debugging-port=%d", DEVPORT);
    snprintf(prof, sizeof(prof), "--user-data-dir=%s", PROFILE);
    const char *bargv[] = {"--headless=new",
                           "--no-sandbox", /* as root in CI containers */
                           "--disable-gpu",
                           "--window-size=1280,900", /* the screenshots: a desktop window */
                           "--disable-dev-shm-usage",
                           "--no-first-run",
                           "--no-default-browser-check",
                           "--remote-allow-origins=*",
                           dev,
                           prof,
                           "about:blank",
                           NULL};
    cr_assert_eq(th_proc_start(&BR, "/usr/bin/chromium", bargv, NULL), 0,
                 "chromium is missing: scripts/install-deps.sh installs it");
    /* the page target's WebSocket */
    static char list[16384];
    char *ws = NULL;
    deadline = cm_time_mono_ms() + 30000;
    while (!ws) {
        cr_assert(cm_time_mono_ms() < deadline, "no DevTools page target");
        if (cm_http("127.0.0.1", DEVPORT, "GET", "/json/list", NULL, false, list, sizeof(list)) ==
                200 &&
            strstr(list, "\"type\": \"page\""))
            ws = strstr(list, "/devtools/page/");
        else
            sleep_ms(200);
    }
    char target[256];
    snprintf(target, sizeof(target), "%.*s", (int)strcspn(ws, "\""), ws);
    cr_assert_eq(cm_ws_connect(&CDP, "127.0.0.1", DEVPORT, target, NULL, false), 0,
                 "DevTools WebSocket: HTTP %d", CDP.http_status);
}

static void stop(struct th_proc *p)
{
    if (p->pid > 0) {
        th_proc_signal(p, SIGTERM);
        th_proc_wait(p, 10000);
    }
    th_proc_stop(p);
}

static void teardown(void)
{
    cm_ws_close(&CDP);
    stop(&BR);
    stop(&WK);
    stop(&SCH);
    stop(&GW);
    th_redis_stop(&R);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", PROFILE, DATA);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(dashboard, .init = setup, .fini = teardown, .timeout = 180);

/* A DevTools call; returns its "result" object (pr_value_free it). */
static struct pr_value *cdp(const char *method, const char *params)
{
    char msg[4096];
    int id = ++cdp_id;
    snprintf(msg, sizeof(msg), "{\"id\":%d,\"method\":\"%s\",\"params\":%s}", id, method, params);
    cr_assert_eq(cm_ws_send_text(&CDP, msg), 0);
    int64_t deadline = cm_time_mono_ms() + 20000;
    while (cm_time_mono_ms() < deadline) {
        struct cm_ws_msg m;
        int r = cm_ws_recv(&CDP, 500, &m);
        cr_assert_geq(r, 0, "the DevTools connection closed");
        if (r == 0)
            continue;
        struct pr_value *v = cm_xcalloc(1, sizeof(*v));
        struct pr_err e;
        bool mine = false;
        if (pr_value_parse_json(m.data, m.len, v, &e) == 0) {
            const struct pr_value *i = pr_value_get(v, "id");
            mine = i && i->type == PR_V_INT && i->u.i == id;
            cr_assert(!mine || !pr_value_get(v, "error"), "%s failed: %s", method, m.data);
        }
        free(m.data);
        if (mine)
            return v;
        pr_value_free(v);
    }
    cr_assert_fail("no answer to %s", method);
    return NULL;
}

/* Evaluates a JavaScript expression in the page; its value as a string into out. */
static void eval(const char *expr, char *out, size_t n)
{
    struct cm_buf p = CM_BUF_INIT;
    cm_buf_puts(&p, "{\"expression\":");
    cm_buf_append_json_str(&p, expr, strlen(expr));
    cm_buf_puts(&p, ",\"returnByValue\":true}");
    struct pr_value *v = cdp("Runtime.evaluate", p.data);
    cm_buf_deinit(&p);
    const struct pr_value *res = pr_value_get(v, "result");
    const struct pr_value *r = res ? pr_value_get(res, "result") : NULL;
    const struct pr_value *val = r ? pr_value_get(r, "value") : NULL;
    out[0] = 0;
    if (val && val->type == PR_V_STR)
        snprintf(out, n, "%s", val->u.s.p);
    pr_value_free(v);
}

/* Waits until the expression's value contains want. */
static void wait_for(const char *expr, const char *want, int ms)
{
    char got[4096];
    int64_t deadline = cm_time_mono_ms() + ms;
    for (;;) {
        eval(expr, got, sizeof(got));
        if (strstr(got, want))
            return;
        cr_assert(cm_time_mono_ms() < deadline, "%s: waited for \"%s\", the page shows \"%s\"",
                  expr, want, got);
        sleep_ms(200);
    }
}

/* On a phone's width (390 CSS pixels) nothing on the page runs off to the side: wide content
 * scrolls inside its own box. Says which elements overflow when something does. */
static void fits_a_phone(void)
{
    pr_value_free(cdp("Emulation.setDeviceMetricsOverride",
                      "{\"width\":390,\"height\":844,\"deviceScaleFactor\":1,\"mobile\":true}"));
    wait_for("document.documentElement.scrollWidth <= innerWidth ? 'fits' : 'overflows: ' + "
             "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right "
             "> innerWidth + 1).slice(0, 4).map(e => e.tagName + '.' + e.className).join(' ')",
             "fits", 3000);
    pr_value_free(cdp("Emulation.clearDeviceMetricsOverride", "{}"));
}

/* Saves a PNG of the page as build/test-artifacts/<name>.png (kept after the run, to look at). */
static void screenshot(const char *name)
{
    struct pr_value *v = cdp("Page.captureScreenshot", "{\"format\":\"png\"}");
    const struct pr_value *res = pr_value_get(v, "result");
    const struct pr_value *data = res ? pr_value_get(res, "data") : NULL;
    cr_assert(data && data->type == PR_V_STR, "no screenshot");
    unsigned char *png = cm_xmalloc(data->u.s.len);
    int n = EVP_DecodeBlock(png, (const unsigned char *)data->u.s.p, (int)data->u.s.len);
    cr_assert_gt(n, 8);
    cr_expect_eq(memcmp(png, "\x89PNG", 4), 0, "not a PNG");
    mkdir("build", 0755);
    mkdir("build/test-artifacts", 0755);
    char path[160];
    snprintf(path, sizeof(path), "build/test-artifacts/%s.png", name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fwrite(png, 1, (size_t)n, f);
    fclose(f);
    cr_log_info("screenshot: %s (%d bytes)", path, n);
    free(png);
    pr_value_free(v);
}

#define TOASTS                                                                                     \
    "[...document.querySelectorAll('.zsa-toast')].map(t => t.className + ':' + "                   \
    "t.textContent).join('|')"

#define ROWS                                                                                       \
    "[...document.querySelectorAll('#jobs tr')].map(t => t.dataset.job + '|' + "                   \
    "t.className + '|' + t.textContent).join('\\n')"

Test(dashboard, shows_the_cluster_and_follows_jobs_live_in_a_real_browser)
{
    char nav[256];
    snprintf(nav, sizeof(nav), "{\"url\":\"http://127.0.0.1:%d/?session=dash1\"}", PORT);
    pr_value_free(cdp("Page.navigate", nav));
    wait_for("document.getElementById('conn').textContent", "live", 20000);
    wait_for("document.getElementById('session').textContent", "dash1", 1000);
    /* the scheduler's system_status reaches the cards */
    wait_for("document.getElementById('workers').textContent", "1", 20000);
    wait_for("document.getElementById('gpu').textContent", "CPU", 1000);

    /* a job from the page's own form */
    char out[256];
    eval("document.getElementById('algorithm').value = 'simulate';"
         "document.getElementById('params').value = '{\"duration_seconds\": 0.5, \"steps\": 4}';"
         "document.getElementById('submit').requestSubmit(); 'sent'",
         out, sizeof(out));
    cr_assert_str_eq(out, "sent");
    wait_for(ROWS, "complete|", 20000);
    wait_for(ROWS, "confidence 0.92", 1000);
    /* and a toast says so (@zsa/react's provider) */
    wait_for(TOASTS, "zsa-toast-success:Analysis complete", 5000);

    /* a failure and a result that needs review, submitted elsewhere, show up live */
    char body[1024];
    const char *fail = "{\"job_id\":\"fail1\",\"image_id\":\"i\",\"algorithm\":\"simulate\","
                       "\"session_id\":\"dash1\",\"parameters\":{\"duration_seconds\":0.3,"
                       "\"fail_at\":50}}";
    const char *low = "{\"job_id\":\"low1\",\"image_id\":\"i\",\"algorithm\":\"simulate\","
                      "\"session_id\":\"dash1\",\"parameters\":{\"duration_seconds\":0.3,"
                      "\"confidence\":0.3}}";
    cr_assert_eq(cm_http("127.0.0.1", PORT, "POST", "/api/jobs", fail, true, body, sizeof(body)),
                 202, "%s", body);
    cr_assert_eq(cm_http("127.0.0.1", PORT, "POST", "/api/jobs", low, true, body, sizeof(body)),
                 202, "%s", body);
    wait_for(ROWS, "fail1|failed|", 20000);
    wait_for(ROWS, "SIMULATED_FAILURE", 1000);
    wait_for(ROWS, "low1|complete review|", 20000);
    wait_for(ROWS, "Needs review (confidence 0.30)", 1000);
    wait_for(TOASTS, "zsa-toast-error:Analysis failed", 1000);
    wait_for(TOASTS, "Retry", 1000);
    wait_for(TOASTS, "zsa-toast-warning:Result needs review", 1000);
    screenshot("dashboard-live");
    fits_a_phone();
    /* a job of another session does not appear */
    const char *other = "{\"job_id\":\"other1\",\"image_id\":\"i\",\"algorithm\":\"simulate\","
                        "\"session_id\":\"elsewhere\",\"parameters\":{\"duration_seconds\":0.1}}";
    cr_assert_eq(cm_http("127.0.0.1", PORT, "POST", "/api/jobs", other, true, body, sizeof(body)),
                 202);
    char job[64];
    int64_t deadline = cm_time_mono_ms() + 10000;
    do {
        cr_assert_eq(
            cm_http("127.0.0.1", PORT, "GET", "/api/jobs/other1", NULL, false, body, sizeof(body)),
            200);
        sleep_ms(100);
    } while (!strstr(body, "\"complete\"") && cm_time_mono_ms() < deadline);
    eval(ROWS, body, sizeof(body));
    snprintf(job, sizeof(job), "other1|");
    cr_expect(!strstr(body, job), "a job of another session is shown: %s", body);

    /* the gateway dies while a job runs and comes back on the same port: the page reconnects
     * with its last event id and gets every event of the session once, in order */
    const char *slow = "{\"job_id\":\"slow1\",\"image_id\":\"i\",\"algorithm\":\"simulate\","
                       "\"session_id\":\"dash1\",\"parameters\":{\"duration_seconds\":3,"
                       "\"steps\":30}}";
    cr_assert_eq(cm_http("127.0.0.1", PORT, "POST", "/api/jobs", slow, true, body, sizeof(body)),
                 202);
    wait_for(ROWS, "slow1|running|", 10000);
    th_proc_signal(&GW, SIGKILL);
    th_proc_wait(&GW, 5000);
    th_proc_stop(&GW);
    wait_for("document.getElementById('conn').textContent", "reconnecting", 10000);
    gateway_start();
    wait_for("document.getElementById('conn').textContent", "live", 20000);
    wait_for(ROWS, "slow1|complete|", 20000);
    static char ids[65536];
    eval("window.zsa.ids.join(' ')", ids, sizeof(ids));
    redisContext *c = th_redis_connect(&R);
    redisReply *x = redisCommand(c, "XRANGE zsa:events:dash1 - +");
    cr_assert_eq(x->type, REDIS_REPLY_ARRAY);
    struct cm_buf want = CM_BUF_INIT;
    for (size_t i = 0; i < x->elements; i++)
        cm_buf_printf(&want, "%s%s", i ? " " : "", x->element[i]->element[0]->str);
    cr_expect_str_eq(ids, want.data ? want.data : "",
                     "the page's events differ from the session stream");
    screenshot("dashboard-after-reconnect");
    cm_buf_deinit(&want);
    freeReplyObject(x);
    redisFree(c);
}

/* The page's own WebSocket (Chromium negotiates permessage-deflate with a 15-bit window) sends
 * more than 1 MB of varied messages through WebSocket.send, JSON text and MessagePack binary;
 * every one is answered and the connection stays open. */
Test(dashboard, a_browser_sends_megabytes_compressed_and_every_message_is_answered)
{
    char nav[256];
    snprintf(nav, sizeof(nav), "{\"url\":\"http://127.0.0.1:%d/?session=dfl\"}", PORT);
    pr_value_free(cdp("Page.navigate", nav));
    wait_for("document.getElementById('conn').textContent", "live", 20000);
    char out[1024];
    eval("window.dfl = 'running'; (async () => {"
         "  const ws = new WebSocket('ws://' + location.host + '/ws?session_id=dfl2');"
         "  await new Promise((ok, no) => { ws.onopen = ok; ws.onerror = no; });"
         "  let closed = null, answers = [], wake = null;"
         "  ws.onclose = (e) => { closed = e.code; if (wake) wake(); };"
         "  ws.onmessage = (e) => { const m = JSON.parse(e.data);"
         "    if (m.event_type === 'pong' || m.event_type === 'error') { answers.push(m);"
         "      if (wake) wake(); } };"
         "  const next = () => new Promise((ok) => { wake = ok; if (answers.length || closed) "
         "ok(); });"
         "  const utf8 = new TextEncoder();"
         "  const mpStr = (s) => { const b = utf8.encode(s); const h = b.length < 32 ? [0xa0 | "
         "b.length]"
         "    : [0xdb, b.length >>> 24, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length "
         "& 255];"
         "    return [...h, ...b]; };"
         "  let bytes = 0, n = 0;"
         "  for (let i = 0; bytes < 1100000 && closed === null; i++) {"
         "    const word = Math.random().toString(36).slice(2, 9);"
         "    const note = i + ':' + Array.from({length: 100 + i % 300}, (_, k) => word + '-' + "
         "      ((k * 7919 + i) % 1000)).join(' ');"
         "    if (i % 2) ws.send(JSON.stringify({type: 'ping', note}));"
         "    else ws.send(new Uint8Array([0x82, ...mpStr('type'), ...mpStr('ping'), "
         "      ...mpStr('note'), ...mpStr(note)]));"
         "    bytes += note.length; n++;"
         "    await next(); const a = answers.shift(); wake = null;"
         "    if (!a || a.event_type !== 'pong') { window.dfl = 'failed at ' + i + ': ' + "
         "      JSON.stringify(a) + ' closed ' + closed; return; }"
         "  }"
         "  window.dfl = 'done ext=' + ws.extensions + ' sent=' + n + ' bytes=' + bytes + "
         "    ' closed=' + closed; ws.close();"
         "})().catch((e) => { window.dfl = 'failed: ' + e; }); 'started'",
         out, sizeof(out));
    cr_assert_str_eq(out, "started");
    wait_for("window.dfl", "done", 60000);
    eval("window.dfl", out, sizeof(out));
    cr_log_info("%s", out);
    cr_expect(strstr(out, "ext=permessage-deflate"), "deflate was not negotiated: %s", out);
    cr_expect(strstr(out, "closed=null"), "the connection closed: %s", out);
}

/* The page shows the session's history on load: jobs that ended before it opened (complete, and
 * failed with their code) and a job that is running, with its algorithm, from REST
 * (GET /api/sessions/S/jobs), then follows them live. */
Test(dashboard, shows_the_sessions_history_on_load)
{
    char body[1024];
    const char *jobs[] = {
        "{\"job_id\":\"hc\",\"image_id\":\"i\",\"algorithm\":\"simulate\",\"session_id\":\"hist1\","
        "\"parameters\":{\"duration_seconds\":0.2}}",
        "{\"job_id\":\"hf\",\"image_id\":\"i\",\"algorithm\":\"simulate\",\"session_id\":\"hist1\","
        "\"parameters\":{\"duration_seconds\":0.2,\"fail_at\":50}}",
        "{\"job_id\":\"hr\",\"image_id\":\"i\",\"algorithm\":\"simulate\",\"session_id\":\"hist1\","
        "\"parameters\":{\"duration_seconds\":20,\"steps\":40}}",
    };
    for (int i = 0; i < 3; i++)
        cr_assert_eq(
            cm_http("127.0.0.1", PORT, "POST", "/api/jobs", jobs[i], true, body, sizeof(body)), 202,
            "%s", body);
    const char *want[][2] = {{"hc", "complete"}, {"hf", "failed"}, {"hr", "running"}};
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/api/jobs/%s", want[i][0]);
        int64_t deadline = cm_time_mono_ms() + 20000;
        for (;;) {
            cr_assert_eq(cm_http("127.0.0.1", PORT, "GET", path, NULL, false, body, sizeof(body)),
                         200);
            if (strstr(body, want[i][1]))
                break;
            cr_assert(cm_time_mono_ms() < deadline, "%s never became %s: %s", want[i][0],
                      want[i][1], body);
            sleep_ms(100);
        }
    }
    char nav[256];
    snprintf(nav, sizeof(nav), "{\"url\":\"http://127.0.0.1:%d/?session=hist1\"}", PORT);
    pr_value_free(cdp("Page.navigate", nav));
    wait_for("document.getElementById('conn').textContent", "live", 20000);
    wait_for(ROWS, "hc|complete|", 10000);
    wait_for(ROWS, "confidence 0.92", 1000);
    wait_for(ROWS, "hf|failed|", 1000);
    wait_for(ROWS, "SIMULATED_FAILURE", 1000);
    wait_for(ROWS, "hr|running|hrsimulate", 1000);
    /* and the running one goes on live */
    char out[64];
    eval("String(window.zsa.history)", out, sizeof(out));
    cr_expect_str_eq(out, "3");
    /* the page's CSP admits its own script only: an injected inline script does not run */
    eval("const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
         "document.head.appendChild(s); String(window.injected)",
         out, sizeof(out));
    cr_expect_str_eq(out, "undefined", "an injected inline script ran: the CSP is missing");
    const char *cancel = "{}";
    cr_assert_eq(
        cm_http("127.0.0.1", PORT, "POST", "/api/jobs/hr/cancel", cancel, true, body, sizeof(body)),
        202, "%s", body);
    wait_for(ROWS, "hr|cancelled|", 20000);
}

/* Mints a token with zsa token (keys file keys) into out. */
static void mint(const char *keys, const char *session, const char *scope, char *out, size_t n)
{
    char env[160];
    snprintf(env, sizeof(env), "ZSA_AUTH_KEYS_FILE=%s", keys);
    const char *e[] = {env, NULL};
    const char *argv[] = {"token", "--session", session, "--scope", scope, "--ttl", "1h", NULL};
    static struct th_proc_result r;
    cr_assert_eq(th_proc_run("zsa", argv, e, 10000, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(out, n, "%.*s", (int)strcspn(r.out, "\n"), r.out);
}

/* With --auth required, as make demo runs it: the page opened with #token= takes its session
 * from the token, keeps the token out of the address bar, submits with it and follows the job
 * live; a page whose token does not allow the session it asks for says so. */
Test(dashboard, with_a_token_in_its_url_it_follows_its_session_and_keeps_the_token_out_of_sight)
{
    static char keys[128], kflag[160], url[340], listen[64];
    snprintf(keys, sizeof(keys), "%s/keys", PROFILE);
    cr_assert_eq(th_keys_file(keys, NULL), 0);
    stop(&GW);
    snprintf(kflag, sizeof(kflag), "--auth-keys-file=%s", keys);
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", PORT);
    const char *gargv[] = {url, listen, "--processes=1", "--auth=required", kflag, NULL};
    cr_assert_eq(th_proc_start(&GW, "zsa-gateway", gargv, NULL), 0);
    cr_assert(th_http_wait_ok(PORT, "/readyz", 15000));
    static char tok[4200], admin[4200], nav[4400];
    mint(keys, "tok1", "read,submit,control", tok, sizeof(tok));
    mint(keys, "*", "read,submit,admin", admin, sizeof(admin));

    snprintf(nav, sizeof(nav), "{\"url\":\"http://127.0.0.1:%d/#token=%s\"}", PORT, tok);
    pr_value_free(cdp("Page.navigate", nav));
    wait_for("document.getElementById('conn').textContent", "live", 20000);
    wait_for("document.getElementById('session').textContent", "tok1", 1000);
    char out[4400];
    eval("location.href", out, sizeof(out));
    cr_expect(!strstr(out, "token"), "the token is still in the address bar: %s", out);
    eval("sessionStorage.getItem('zsa.token')", out, sizeof(out));
    cr_expect_str_eq(out, tok, "the tab keeps the token");
    eval("document.getElementById('algorithm').value = 'simulate';"
         "document.getElementById('params').value = '{\"duration_seconds\": 0.5, \"steps\": 4}';"
         "document.getElementById('submit').requestSubmit(); 'sent'",
         out, sizeof(out));
    wait_for(ROWS, "complete|", 20000);
    /* a job of another session, submitted with another token, does not show */
    char body[1024];
    const char *other = "{\"job_id\":\"othertok\",\"image_id\":\"i\",\"algorithm\":\"simulate\","
                        "\"session_id\":\"elsewhere\",\"parameters\":{\"duration_seconds\":0.1}}";
    cr_assert_eq(cm_http_auth("127.0.0.1", PORT, "POST", "/api/jobs", admin, other, true, body,
                              sizeof(body)),
                 202, "%s", body);
    const char *mine = "{\"job_id\":\"mine2\",\"image_id\":\"i\",\"algorithm\":\"simulate\","
                       "\"session_id\":\"tok1\",\"parameters\":{\"duration_seconds\":0.3}}";
    cr_assert_eq(
        cm_http_auth("127.0.0.1", PORT, "POST", "/api/jobs", admin, mine, true, body, sizeof(body)),
        202, "%s", body);
    wait_for(ROWS, "mine2|complete|", 20000);
    eval(ROWS, body, sizeof(body));
    cr_expect(!strstr(body, "othertok"), "a job of another session is shown: %s", body);

    /* the same tab asking for another session: refused, and the page says so */
    snprintf(nav, sizeof(nav), "{\"url\":\"http://127.0.0.1:%d/?session=elsewhere\"}", PORT);
    pr_value_free(cdp("Page.navigate", nav));
    wait_for("document.getElementById('conn').textContent", "no access", 20000);
    wait_for("document.getElementById('msg').textContent", "does not allow", 1000);
}

/* The README's React example (web/examples/basic.tsx: WebSocketProvider, ProcessingStatus),
 * bundled and served from another origin than the gateway's (as an application is), follows a
 * job live through an auth-required gateway that lists that origin. */
Test(dashboard, the_readme_react_example_follows_a_job_from_another_origin)
{
    char dir[] = "/tmp/zsa-example-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    static char page[128], keys[128], kflag[160], oflag[96], url[340], listen[64], port_s[16];
    snprintf(page, sizeof(page), "%s/index.html", dir);
    const char *bargv[] = {"web/examples/build.mjs", page, NULL};
    static struct th_proc_result r;
    cr_assert_eq(th_proc_run("/usr/bin/node", bargv, NULL, 60000, &r), 0);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    int sport = th_free_port();
    snprintf(port_s, sizeof(port_s), "%d", sport);
    const char *sargv[] = {"-m",        "http.server", port_s, "--bind",
                           "127.0.0.1", "--directory", dir,    NULL};
    struct th_proc srv;
    cr_assert_eq(th_proc_start(&srv, "/usr/bin/python3", sargv, NULL), 0);
    /* the gateway: auth required, the example's origin allowed */
    snprintf(keys, sizeof(keys), "%s/keys", PROFILE);
    cr_assert_eq(th_keys_file(keys, NULL), 0);
    stop(&GW);
    snprintf(kflag, sizeof(kflag), "--auth-keys-file=%s", keys);
    snprintf(oflag, sizeof(oflag), "--allowed-origins=http://127.0.0.1:%d", sport);
    snprintf(url, sizeof(url), "--redis-url=%s", R.url);
    snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", PORT);
    const char *gargv[] = {url, listen, "--processes=1", "--auth=required", kflag, oflag, NULL};
    cr_assert_eq(th_proc_start(&GW, "zsa-gateway", gargv, NULL), 0);
    cr_assert(th_http_wait_ok(PORT, "/readyz", 15000));
    cr_assert(th_http_wait_ok(sport, "/index.html", 15000), "the static server did not start");
    static char tok[4200], nav[4600];
    mint(keys, "ex1", "read,submit", tok, sizeof(tok));
    snprintf(nav, sizeof(nav),
             "{\"url\":\"http://127.0.0.1:%d/index.html#gateway=ws://127.0.0.1:%d/ws&session=ex1&"
             "token=%s\"}",
             sport, PORT, tok);
    pr_value_free(cdp("Page.navigate", nav));
    wait_for("document.getElementById('conn') && document.getElementById('conn').textContent",
             "live", 20000);
    char body[1024];
    const char *job =
        "{\"job_id\":\"ex-job\",\"image_id\":\"stack7\",\"algorithm\":\"simulate\","
        "\"session_id\":\"ex1\",\"parameters\":{\"duration_seconds\":2,\"steps\":20}}";
    cr_assert_eq(
        cm_http_auth("127.0.0.1", PORT, "POST", "/api/jobs", tok, job, true, body, sizeof(body)),
        202, "%s", body);
#define STATUS_OF_STACK7                                                                           \
    "[...document.querySelectorAll('.zsa-status')].map(s => s.dataset.image + '|' + s.className "  \
    "+ '|' + s.querySelector('[role=progressbar]').getAttribute('aria-valuenow')).join(',')"
    wait_for(STATUS_OF_STACK7, "stack7|zsa-status zsa-status-processing|", 10000);
    wait_for(STATUS_OF_STACK7, "stack7|zsa-status zsa-status-complete|100", 20000);
    screenshot("readme-example");
    th_proc_signal(&srv, SIGTERM);
    th_proc_wait(&srv, 5000);
    th_proc_stop(&srv);
    unlink(page);
    rmdir(dir);
}

/* A segmentation of a real stack: the completion toast's "View Results" opens the result's page
 * (/results/<id>), which shows the preview (decoded by the browser, at the summary's size), one
 * table row per object, sorted by a column on a click, and the three downloads; the page also
 * loads at that URL directly. */
Test(dashboard, a_result_page_shows_the_preview_the_objects_and_the_downloads)
{
    char path[128], body[65536], out[4096];
    snprintf(path, sizeof(path), "%s/stack.tif", DATA);
    const char *sargv[] = {"--size", "96x80x16", path, NULL};
    struct th_proc_result res;
    cr_assert_eq(th_proc_run("zsa-synth", sargv, NULL, 30000, &res), 0);
    cr_assert_eq(res.status, 0, "%s", res.err);
    /* as in production: tokens required */
    static char keys[128], kflag[160], tok[4200], nav[4400];
    snprintf(keys, sizeof(keys), "%s/keys", PROFILE);
    cr_assert_eq(th_keys_file(keys, NULL), 0);
    stop(&GW);
    snprintf(kflag, sizeof(kflag), "--auth-keys-file=%s", keys);
    const char *gargv[] = {G_URL, G_LISTEN, "--processes=1", G_RESULTS, "--auth=required",
                           kflag, NULL};
    cr_assert_eq(th_proc_start(&GW, "zsa-gateway", gargv, NULL), 0);
    cr_assert(th_http_wait_ok(PORT, "/readyz", 15000));
    mint(keys, "dres", "read,submit", tok, sizeof(tok));
    snprintf(nav, sizeof(nav), "{\"url\":\"http://127.0.0.1:%d/?session=dres#token=%s\"}", PORT,
             tok);
    pr_value_free(cdp("Page.navigate", nav));
    wait_for("document.getElementById('conn').textContent", "live", 20000);
    const char *seg = "{\"job_id\":\"dres1\",\"image_id\":\"stack\",\"algorithm\":"
                      "\"segmentation_3d\",\"file_path\":\"stack.tif\",\"session_id\":\"dres\"}";
    cr_assert_eq(
        cm_http_auth("127.0.0.1", PORT, "POST", "/api/jobs", tok, seg, true, body, sizeof(body)),
        202, "%s", body);
    wait_for(ROWS, "dres1|complete|", 30000);
    /* what the page must show, from REST */
    cr_assert_eq(cm_http_auth("127.0.0.1", PORT, "GET", "/api/results/dres1.r1", tok, NULL, false,
                              body, sizeof(body)),
                 200);
    struct pr_value v;
    struct pr_err e;
    cr_assert_eq(pr_value_parse_json(body, strlen(body), &v, &e), 0, "%s", body);
    const struct pr_value *sum = pr_value_get(&v, "summary"), *pv = pr_value_get(sum, "preview");
    const struct pr_value *n = pr_value_get(sum, "object_count");
    cr_assert(pv && n && n->type == PR_V_INT && n->u.i > 1, "%s", body);
    char size[64], rows[64];
    snprintf(size, sizeof(size), "%lldx%lld", (long long)pr_value_get(pv, "width")->u.i,
             (long long)pr_value_get(pv, "height")->u.i);
    snprintf(rows, sizeof(rows), "%lld rows", (long long)n->u.i);
    pr_value_deinit(&v);

    wait_for(TOASTS, "View Results", 5000);
    eval("[...document.querySelectorAll('.zsa-toast-action')].find(b => b.textContent === "
         "'View Results' && b.closest('.zsa-toast').textContent.includes('stack')).click(); 'ok'",
         out, sizeof(out));
    wait_for("location.pathname", "/results/dres1.r1", 5000);
#define PREVIEW_SIZE                                                                               \
    "(() => { const i = document.querySelector('.zsa-preview'); return i && i.complete ? "         \
    "i.naturalWidth + 'x' + i.naturalHeight : 'none'; })()"
    wait_for(PREVIEW_SIZE, size, 10000);
    wait_for("document.querySelectorAll('.zsa-objects tbody tr').length + ' rows'", rows, 10000);
    wait_for("[...document.querySelectorAll('.zsa-download')].map(b => b.dataset.name).join()",
             "objects.csv,labels.tif,preview.png", 1000);
    /* voxels, twice: descending */
#define VOXELS                                                                                     \
    "[...document.querySelectorAll('.zsa-objects tbody tr')].map(r => +r.children[1].textContent)"
    eval("document.querySelectorAll('.zsa-objects th button')[1].click(); "
         "document.querySelectorAll('.zsa-objects th button')[1].click(); 'ok'",
         out, sizeof(out));
    wait_for("document.querySelectorAll('.zsa-objects th')[1].getAttribute('aria-sort')",
             "descending", 2000);
    eval("(() => { const v = " VOXELS "; return v.every((x, i) => !i || v[i - 1] >= x) && "
         "v[0] > v[v.length - 1] ? 'sorted' : 'unsorted ' + v.join(); })()",
         out, sizeof(out));
    cr_expect_str_eq(out, "sorted");
    screenshot("result-page");
    fits_a_phone();
    /* a download is the browser's own (its download_url, a signed link: no Authorization
     * header goes with a plain link), saved whole */
    char dl[128], cmd[400], params[256];
    snprintf(dl, sizeof(dl), "%s/downloads", DATA);
    snprintf(params, sizeof(params), "{\"behavior\":\"allow\",\"downloadPath\":\"%s\"}", dl);
    pr_value_free(cdp("Page.setDownloadBehavior", params));
    eval("document.querySelector('.zsa-download[data-name=\"labels.tif\"]').click(); 'ok'", out,
         sizeof(out));
    snprintf(cmd, sizeof(cmd), "cmp -s '%s/labels.tif' '%s/results/dres1.r1/labels.tif'", dl, DATA);
    int64_t until = cm_time_mono_ms() + 15000;
    while (system(cmd) != 0 && cm_time_mono_ms() < until)
        sleep_ms(100);
    cr_expect_eq(system(cmd), 0, "the browser did not save labels.tif whole in %s", dl);

    /* the same page by its URL */
    snprintf(nav, sizeof(nav), "{\"url\":\"http://127.0.0.1:%d/results/dres1.r1?session=dres\"}",
             PORT);
    pr_value_free(cdp("Page.navigate", nav));
    wait_for(PREVIEW_SIZE, size, 20000);
    eval("document.getElementById('back').click(); location.pathname", out, sizeof(out));
    wait_for(ROWS, "dres1|complete|", 10000);
}
