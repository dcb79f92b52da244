/* zsa-gateway entry point: configuration, start-up checks, and the processes that share the
 * port (SO_REUSEPORT, nginx-style: each with its own loop and Redis connections). Main thread. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"
#include "gateway/gateway.h"

#define CM_OPT_STRUCT struct gw_config

static const struct cm_opt gw_opts[] = {
    CM_COMMON_OPTS(struct gw_config),
    CM_OPT("listen", CM_OPT_STR, listen, "127.0.0.1:8080", 0, 0, NULL, cm_hostport_check,
           "address for WebSocket (/ws), REST (/api), /metrics and the dashboard"),
    CM_OPT("processes", CM_OPT_INT, processes, "0", 0, 256, NULL, NULL,
           "processes sharing the port with SO_REUSEPORT (0: one per core)"),
    CM_OPT("heartbeat-s", CM_OPT_INT, heartbeat_s, "30", 1, 3600, NULL, NULL,
           "seconds between app-level heartbeat messages"),
    CM_OPT("idle-timeout-s", CM_OPT_INT, idle_timeout_s, "45", 2, 3600, NULL, NULL,
           "a client silent this long (no pong, no message) is closed"),
    CM_OPT("replay-max", CM_OPT_INT, replay_max, "1000", 1, 100000, NULL, NULL,
           "events per replay; more and replay_complete says truncated"),
    CM_OPT("queue-soft-kb", CM_OPT_INT, queue_soft_kb, "256", 1, 1048576, NULL, NULL,
           "a client with more queued has its progress events coalesced per job"),
    CM_OPT("queue-hard-kb", CM_OPT_INT, queue_hard_kb, "4096", 1, 1048576, NULL, NULL,
           "a client with more queued is closed with 1013 (it resumes by last_event_id)"),
    CM_OPT("max-connections", CM_OPT_INT, max_connections, "10000", 1, 1000000, NULL, NULL,
           "WebSocket clients per process; more get HTTP 503"),
    CM_OPT("sndbuf-kb", CM_OPT_INT, sndbuf_kb, "0", 0, 65536, NULL, NULL,
           "kernel send buffer per WebSocket client (0: autotuned, up to net.ipv4.tcp_wmem)"),
    CM_OPT("max-body-kb", CM_OPT_INT, max_body_kb, "1024", 1, 65536, NULL, NULL,
           "largest REST request body (413 above)"),
    CM_OPT(
        "allowed-origins", CM_OPT_STR, allowed_origins, "", 0, 0, NULL, NULL,
        "other web origins (scheme://host[:port], comma-separated) whose pages may open WebSockets "
        "and call REST here; empty: only pages this gateway serves; * (any) is logged as a "
        "warning"),
    CM_OPT("body-timeout-s", CM_OPT_INT, body_timeout_s, "30", 1, 3600, NULL, NULL,
           "a REST request body must arrive within this many seconds (408 after)"),
    CM_OPT("client-msg-rate", CM_OPT_INT, client_msg_rate, "100", 1, 100000, NULL, NULL,
           "messages per second one WebSocket client may send (past its burst the gateway stops "
           "reading it)"),
    CM_OPT("client-msg-burst", CM_OPT_INT, client_msg_burst, "1000", 1, 1000000, NULL, NULL,
           "messages a WebSocket client may send at once above its rate"),
    CM_OPT("auth", CM_OPT_ENUM, auth, "required", 0, 0, "required|off", NULL,
           "required: every request but /, /healthz and /readyz needs an access token (see "
           "docs/SECURITY.md); off: anyone who reaches --listen reads and controls every session "
           "(logged as a warning)"),
    CM_OPT(
        "auth-keys-file", CM_OPT_STR, auth_keys_file, "", 0, 0, NULL, NULL,
        "file of '<kid> <base64url secret>' lines that tokens may be signed with (zsa keygen makes "
        "one); read again on SIGHUP"),
    CM_OPT("auth-timeout-s", CM_OPT_INT, auth_timeout_s, "10", 1, 300, NULL, NULL,
           "a WebSocket that came without a token must send its auth message within this"),
    CM_OPT(
        "submit-rate", CM_OPT_DOUBLE, submit_rate, "10", 0, 100000, NULL, NULL,
        "jobs per second one client may submit over REST, across every gateway (a token's subject, "
        "or the address when auth is off; 0: no limit); past it 429 RATE_LIMITED with Retry-After"),
    CM_OPT("submit-burst", CM_OPT_INT, submit_burst, "100", 1, 1000000, NULL, NULL,
           "jobs one client may submit at once above --submit-rate"),
    CM_OPT("max-session-jobs", CM_OPT_INT, max_session_jobs, "1000", 0, 10000000, NULL, NULL,
           "jobs one session may have queued or running (0: no limit); past it 429 QUOTA_EXCEEDED"),
    CM_OPT("max-job-kb", CM_OPT_INT, max_job_kb, "64", 1, 65536, NULL, NULL,
           "largest job a client may submit (its JSON); larger get 413 JOB_TOO_LARGE"),
    CM_OPT("results-dir", CM_OPT_STR, results_dir, "", 0, 0, NULL, NULL,
           "the workers' results directory (a shared volume; read-only is enough): artifacts are "
           "served from it; empty: previews only (they come from Redis)"),
    CM_OPT(
        "max-preview-kb", CM_OPT_INT, max_preview_kb, "2048", 0, 65536, NULL, NULL,
        "largest preview pushed in a binary WebSocket frame (larger: its URL; 0: always the URL)"),
    CM_OPT("link-ttl-s", CM_OPT_INT, link_ttl_s, "600", 1, 86400, NULL, NULL,
           "lifetime of the download links in artifact lists (one file each, no token needed: "
           "what a browser's plain link can fetch)"),
    CM_OPT(
        "tls-cert", CM_OPT_STR, tls_cert, "", 0, 0, NULL, NULL,
        "PEM certificate chain: the port speaks TLS only (https://, wss://); read again on SIGHUP"),
    CM_OPT("tls-key", CM_OPT_STR, tls_key, "", 0, 0, NULL, NULL,
           "PEM private key of --tls-cert (keep it readable by the gateway's user only)"),
    CM_OPT_MAX_ATTEMPTS,
};

static const struct cm_config_spec gw_spec = {
    "zsa-gateway", "WebSocket gateway of zsa: live job events, replay on reconnect, REST.", gw_opts,
    sizeof(gw_opts) / sizeof(gw_opts[0])};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

/* Starts n processes running gw_run and waits for them; a signal is passed on to all. */
static int supervise(struct gw_config *cfg, int n)
{
    pid_t pids[256];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            signal(SIGHUP, SIG_DFL);
            _exit(gw_run(cfg));
        }
        if (pids[i] < 0) {
            cm_log(CM_LOG_ERROR, "fork: %s", strerror(errno));
            n = i;
            break;
        }
    }
    cm_log(CM_LOG_INFO, "%d gateway processes on %s", n, cfg->listen);
    int alive = n, rc = 0;
    while (alive > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR) {
            for (int i = 0; i < n; i++) /* SIGHUP too: each process reloads its keys */
                if (pids[i] > 0)
                    kill(pids[i], got_signal);
            continue;
        }
        if (pid < 0)
            break;
        for (int i = 0; i < n; i++)
            if (pids[i] == pid)
                pids[i] = 0;
        alive--;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            rc = 1;
            cm_log(CM_LOG_ERROR, "gateway process %d ended (%s %d)", (int)pid,
                   WIFEXITED(status) ? "status" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct gw_config cfg = {0};
    int rc = cm_daemon_init(&gw_spec, &cfg, &cfg.common, argc, argv);
    if (rc == CM_DAEMON_CONTINUE) {
        if (gw_auth_config_check(&cfg) != 0 || gw_tls_config_check(&cfg) != 0) {
            rc = 2;
        } else if (cfg.common.check) {
            rc = cm_daemon_check_redis(&cfg.common);
        } else {
            long cores = sysconf(_SC_NPROCESSORS_ONLN);
            int n = cfg.processes > 0 ? cfg.processes : (int)(cores > 0 ? cores : 1);
            rc = n == 1 ? gw_run(&cfg) : supervise(&cfg, n);
        }
    }
    cm_daemon_deinit(&gw_spec, &cfg, &cfg.common);
    return rc;
}
