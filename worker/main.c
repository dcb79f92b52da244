/* zsa-worker entry point: configuration, GPU probe and start-up checks. The job loop (libevent,
 * reliable BLMOVE intake, events, heartbeats) lands with issue 3; until then the daemon only
 * supports --check. Main thread. */
#include <stddef.h>
#include <stdio.h>

#include "common/daemon.h"
#include "common/gpu.h"

struct wk_config {
    struct cm_common_cfg common;
    char *worker_id; /* unique per worker; "" means <hostname>-<pid> */
    char *data_dir;  /* where job file paths are resolved and results are written */
    int slots;       /* concurrent jobs */
    bool cpu_only;   /* ignore GPUs even when present */
};

static const struct cm_opt wk_opts[] = {
    CM_COMMON_OPTS(struct wk_config),
    { "worker-id", CM_OPT_STR, offsetof(struct wk_config, worker_id), "", 0, 0, NULL, NULL,
      "unique worker id (default <hostname>-<pid>)" },
    { "data-dir", CM_OPT_STR, offsetof(struct wk_config, data_dir), "/var/lib/zsa", 0, 0, NULL,
      NULL, "directory for input stacks and result artifacts" },
    { "slots", CM_OPT_INT, offsetof(struct wk_config, slots), "1", 1, 64, NULL, NULL,
      "jobs run at the same time" },
    { "cpu-only", CM_OPT_BOOL, offsetof(struct wk_config, cpu_only), "false", 0, 0, NULL, NULL,
      "use the CPU even when a CUDA device is present" },
};

static const struct cm_config_spec wk_spec = {
    "zsa-worker", "Analysis worker of zsa: takes jobs from Redis, runs them on a GPU or the CPU.",
    wk_opts, sizeof(wk_opts) / sizeof(wk_opts[0])
};

int main(int argc, char **argv)
{
    struct wk_config cfg = { 0 };
    int rc = cm_daemon_init(&wk_spec, &cfg, &cfg.common, argc, argv);
    if (rc == CM_DAEMON_CONTINUE) {
        struct cm_gpu_probe gpu;
        cm_gpu_probe(&gpu);
        cm_log(CM_LOG_INFO, "gpu: %s%s", cfg.cpu_only ? "ignored (--cpu-only); " : "", gpu.message);
        if (cfg.common.check) {
            rc = cm_daemon_check_redis(&cfg.common);
        } else {
            cm_log(CM_LOG_ERROR, "the job loop is not implemented yet (issue 3); "
                                 "only --check, --help and --print-config work");
            rc = 3;
        }
    }
    cm_daemon_deinit(&wk_spec, &cfg, &cfg.common);
    return rc;
}
