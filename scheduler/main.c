/* zsa-scheduler entry point: configuration and start-up checks. system_status, recovery and the
 * leader lease land with issue 5; until then the daemon only supports --check. Main thread. */
#include <stddef.h>
#include <stdio.h>

#include "common/daemon.h"

struct sc_config {
    struct cm_common_cfg common;
    int status_interval_ms; /* system_status period */
    int lease_ms;           /* leader lease length */
};

static const struct cm_opt sc_opts[] = {
    CM_COMMON_OPTS(struct sc_config),
    {"status-interval-ms", CM_OPT_INT, offsetof(struct sc_config, status_interval_ms), "5000", 100,
     3600000, NULL, NULL, "period of the system_status broadcast"},
    {"lease-ms", CM_OPT_INT, offsetof(struct sc_config, lease_ms), "10000", 1000, 600000, NULL,
     NULL, "leader lease; a standby takes over within one lease after the leader dies"},
};

static const struct cm_config_spec sc_spec = {
    "zsa-scheduler", "Scheduler of zsa: system_status, recovery of lost jobs, dead letters.",
    sc_opts, sizeof(sc_opts) / sizeof(sc_opts[0])};

int main(int argc, char **argv)
{
    struct sc_config cfg = {0};
    int rc = cm_daemon_init(&sc_spec, &cfg, &cfg.common, argc, argv);
    if (rc == CM_DAEMON_CONTINUE) {
        if (cfg.common.check) {
            rc = cm_daemon_check_redis(&cfg.common);
        } else {
            cm_log(CM_LOG_ERROR, "the scheduler loop is not implemented yet (issue 5); "
                                 "only --check, --help and --print-config work");
            rc = 3;
        }
    }
    cm_daemon_deinit(&sc_spec, &cfg, &cfg.common);
    return rc;
}
