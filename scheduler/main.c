/* zsa-scheduler entry point: the configuration table, then the scheduler loop (scheduler.c).
 * Main thread. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/daemon.h"
#include "common/net.h"
#include "common/text.h"
#include "scheduler/scheduler.h"

#define CM_OPT_STRUCT struct sc_config

static const struct cm_opt sc_opts[] = {
    CM_COMMON_OPTS(struct sc_config),
    CM_OPT("scheduler-id", CM_OPT_STR, scheduler_id, "", 0, 0, NULL, cm_opt_check_id_or_empty,
           "unique scheduler id, the lease holder's name (default <hostname>-<pid>)"),
    CM_OPT("status-interval-ms", CM_OPT_INT, status_interval_ms, "5000", 100, 3600000, NULL, NULL,
           "period of the system_status broadcast"),
    CM_OPT("check-interval-ms", CM_OPT_INT, check_interval_ms, "1000", 50, 60000, NULL, NULL,
           "how often the lease is renewed and workers and jobs are checked"),
    CM_OPT("lease-ms", CM_OPT_INT, lease_ms, "10000", 300, 600000, NULL, NULL,
           "leader lease; a standby takes over within about one lease after the leader dies"),
    CM_OPT_MAX_ATTEMPTS,
    CM_OPT("job-timeout-s", CM_OPT_INT, job_timeout_s, "1800", 1, 31536000, NULL, NULL,
           "a running job whose progress has not moved for this long fails with TIMEOUT"),
    CM_OPT("job-timeouts", CM_OPT_STR, job_timeouts, "", 0, 0, NULL, sc_job_timeouts_check,
           "per-algorithm timeouts overriding --job-timeout-s: algorithm=seconds[,...]"),
    CM_OPT("job-max-runtime-s", CM_OPT_INT, job_max_runtime_s, "14400", 1, 31536000, NULL, NULL,
           "a job running longer than this fails with TIMEOUT, however it progresses"),
    CM_OPT("job-max-runtimes", CM_OPT_STR, job_max_runtimes, "", 0, 0, NULL, sc_job_timeouts_check,
           "per-algorithm run-time limits overriding --job-max-runtime-s: algorithm=seconds[,...]"),
    CM_OPT("status-maxlen", CM_OPT_INT, status_maxlen, "1000", 10, 10000000, NULL, NULL,
           "events kept in the broadcast stream (approximate, MAXLEN ~)"),
    CM_OPT_STREAM_MAXLEN,
    CM_OPT_STREAM_TTL_S,
    CM_OPT("ended-ttl-s", CM_OPT_INT, ended_ttl_s, "604800", 60, 315360000, NULL, NULL,
           "hashes of ended jobs (complete, failed, cancelled, dead) expire after this"),
    CM_OPT("results-dir", CM_OPT_STR, results_dir, "", 0, 0, NULL, NULL,
           "the workers' results directory (the shared volume, writable), for retention"),
    CM_OPT("results-retention-days", CM_OPT_INT, results_retention_days, "0", 0, 36500, NULL, NULL,
           "the leader removes result directories older than this whose result has left Redis "
           "(0: never; results stay in Redis --result-ttl-s, 7 days by default)"),
    CM_OPT("retention-interval-s", CM_OPT_INT, retention_interval_s, "3600", 1, 86400, NULL, NULL,
           "how often the leader looks for result directories to remove"),
    CM_OPT_METRICS_LISTEN,
};

static const struct cm_config_spec sc_spec = {
    "zsa-scheduler",
    "Scheduler of zsa: system_status, recovery of jobs held by lost workers, job timeouts, "
    "dead letters, housekeeping. Run several: one holds the leader lease, the others stand by.",
    sc_opts, sizeof(sc_opts) / sizeof(sc_opts[0])};

int main(int argc, char **argv)
{
    struct sc_config cfg = {0};
    int rc = cm_daemon_init(&sc_spec, &cfg, &cfg.common, argc, argv);
    if (rc == CM_DAEMON_CONTINUE) {
        char err[256];
        if (sc_job_timeouts_parse(&cfg, err, sizeof(err)) != 0) { /* checked already */
            cm_log(CM_LOG_ERROR, "--job-timeouts / --job-max-runtimes: %s", err);
            rc = 2;
        } else if (cfg.common.check) {
            rc = cm_daemon_check_redis(&cfg.common);
        } else {
            rc = sc_run(&cfg);
        }
    }
    cm_daemon_deinit(&sc_spec, &cfg, &cfg.common);
    return rc;
}
