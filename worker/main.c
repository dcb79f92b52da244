/* zsa-worker entry point: the configuration table, then the worker loop (worker.c). Main thread. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/daemon.h"
#include "worker/gpu.h"
#include "common/net.h"
#include "common/text.h"
#include "analysis/par.h"
#include "worker/worker.h"

#define CM_OPT_STRUCT struct wk_config

static const struct cm_opt wk_opts[] = {
    CM_COMMON_OPTS(struct wk_config),
    CM_OPT("worker-id", CM_OPT_STR, worker_id, "", 0, 0, NULL, cm_opt_check_id_or_empty,
           "unique worker id (default <hostname>-<pid>)"),
    CM_OPT("data-dir", CM_OPT_STR, data_dir, "/var/lib/zsa", 0, 0, NULL, NULL,
           "directories (comma-separated) jobs may read files from: relative file paths are "
           "looked up in them in order; absolute ones must lie inside one"),
    CM_OPT("results-dir", CM_OPT_STR, results_dir, "", 0, 0, NULL, NULL,
           "where result artifacts go (default <first data-dir>/results)"),
    CM_OPT("slots", CM_OPT_INT, slots, "1", 1, 64, NULL, NULL, "jobs run at the same time"),
    CM_OPT("cpu-only", CM_OPT_BOOL, cpu_only, "false", 0, 0, NULL, NULL,
           "ignore any GPU (no probe, no GPU figures in heartbeats); analyses run on the CPU "
           "either way"),
    CM_OPT_MAX_ATTEMPTS,
    CM_OPT("confidence-threshold", CM_OPT_DOUBLE, confidence_threshold, "0.7", 0, 1, NULL, NULL,
           "below it a result gets validation_required (per job: parameters.confidence_threshold)"),
    CM_OPT_STREAM_MAXLEN,
    CM_OPT_STREAM_TTL_S,
    CM_OPT("result-ttl-s", CM_OPT_INT, result_ttl_s, "604800", 60, 315360000, NULL, NULL,
           "results expire after"),
    CM_OPT("max-preview-kb", CM_OPT_INT, max_preview_kb, "2048", 0, 65536, NULL, NULL,
           "a result's preview.png up to this size is also stored in Redis (every gateway serves "
           "it and pushes it to clients that ask; 0: never)"),
    CM_OPT("preview-ttl-s", CM_OPT_INT, preview_ttl_s, "0", 0, 315360000, NULL, NULL,
           "previews leave Redis after this (0: with their result, --result-ttl-s); gateways with "
           "the results volume then serve the file"),
    CM_OPT("poll-ms", CM_OPT_INT, poll_ms, "1000", 10, 60000, NULL, NULL,
           "BLMOVE timeout: how often an idle worker re-checks its state"),
    CM_OPT("heartbeat-ms", CM_OPT_INT, heartbeat_ms, "2000", 100, 60000, NULL, NULL,
           "heartbeat period"),
    CM_OPT("heartbeat-ttl-s", CM_OPT_INT, heartbeat_ttl_s, "10", 1, 3600, NULL, NULL,
           "a worker whose heartbeat is older is presumed dead"),
    CM_OPT("grace-ms", CM_OPT_INT, grace_ms, "30000", 0, 3600000, NULL, NULL,
           "on SIGTERM, running jobs may finish within this; then they go back to the queue"),
    CM_OPT("outbox-max", CM_OPT_INT, outbox_max, "10000", 10, 10000000, NULL, NULL,
           "commands buffered while Redis is away (past it, progress events are dropped)"),
    CM_OPT("analysis-threads", CM_OPT_INT, analysis_threads, "0", 0, 256, NULL, NULL,
           "threads of one analysis job (0: the CPUs this process may use, divided by --slots)"),
    CM_OPT("max-simulate-s", CM_OPT_INT, max_simulate_s, "3600", 0, 86400, NULL, NULL,
           "longest duration_seconds a simulate job may ask for (longer: INVALID_PARAMETERS)"),
    CM_OPT("buffer-cache-mb", CM_OPT_INT, buffer_cache_mb, "1024", 0, 1048576, NULL, NULL,
           "MB of freed working volumes kept for the next job (saves page faults; 0: off)"),
    CM_OPT_METRICS_LISTEN,
};

static const struct cm_config_spec wk_spec = {
    "zsa-worker",
    "Analysis worker of zsa: takes jobs from Redis and runs them (on the CPU; a GPU is sampled for "
    "the status figures).",
    wk_opts, sizeof(wk_opts) / sizeof(wk_opts[0])};

int main(int argc, char **argv)
{
    struct wk_config cfg = {0};
    int rc = cm_daemon_init(&wk_spec, &cfg, &cfg.common, argc, argv);
    if (rc == CM_DAEMON_CONTINUE) {
        if (!cfg.results_dir[0]) {
            free(cfg.results_dir);
            cfg.results_dir =
                cm_xasprintf("%.*s/results", (int)strcspn(cfg.data_dir, ","), cfg.data_dir);
        }
        int cpus = (za_set_threads(0), za_threads());
        za_set_threads(cfg.analysis_threads ? cfg.analysis_threads
                                            : (cpus / cfg.slots > 0 ? cpus / cfg.slots : 1));
        za_set_cache_limit((size_t)cfg.buffer_cache_mb << 20);
        za_simulate_set_max(cfg.max_simulate_s);
        if (cfg.common.check) {
            struct wk_gpu_probe gpu;
            wk_gpu_probe(&gpu);
            cm_log(CM_LOG_INFO, "gpu: %s%s", cfg.cpu_only ? "ignored (--cpu-only); " : "",
                   gpu.message);
            rc = cm_daemon_check_redis(&cfg.common);
        } else {
            rc = wk_worker_run(&cfg);
        }
    }
    cm_daemon_deinit(&wk_spec, &cfg, &cfg.common);
    return rc;
}
