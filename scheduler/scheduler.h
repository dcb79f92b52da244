/* zsa-scheduler: the leader lease, system_status, recovery of jobs held by lost workers, job
 * timeouts and housekeeping. One libevent loop (main thread); all Redis work goes through one
 * reconnecting connection and the server-side scripts of store/scripts.c, each of which checks
 * the lease itself, so a scheduler that lost the lease without knowing it changes nothing. */
#ifndef SC_SCHEDULER_H
#define SC_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/daemon.h"

#define SC_MAX_ALGO_TIMEOUTS 32

struct sc_config {
    struct cm_common_cfg common;
    char *scheduler_id;     /* "" means <hostname>-<pid> */
    int status_interval_ms; /* system_status period */
    int check_interval_ms;  /* how often workers, jobs and the lease are looked at */
    int lease_ms;           /* leader lease length */
    int max_attempts;       /* a job lost with its worker this often goes to the dead letters */
    int job_timeout_s;      /* no progress for this long: TIMEOUT (default for every algorithm) */
    char *job_timeouts;     /* "algorithm=seconds,..." overrides */
    int job_max_runtime_s;  /* running longer than this, progress or not: TIMEOUT */
    char *job_max_runtimes; /* "algorithm=seconds,..." overrides */
    int status_maxlen;      /* MAXLEN ~ of the broadcast stream */
    int stream_maxlen;      /* MAXLEN ~ of session streams (the events the scheduler adds) */
    int stream_ttl_s;       /* session streams without a TTL get this one */
    int ended_ttl_s;        /* hashes of ended jobs expire after this */
    char *metrics_listen;   /* host:port for /metrics and /healthz; "" disables */
    char *results_dir;      /* the workers' results volume, for retention ("": none) */
    int results_retention_days; /* result directories older than this are removed (0: never) */
    int retention_interval_s;   /* how often the leader looks */
    /* parsed from job_timeouts and job_max_runtimes */
    int nalgo_timeouts, nalgo_runtimes;
    struct sc_algo_secs {
        char name[64];
        int seconds;
    } algo_timeouts[SC_MAX_ALGO_TIMEOUTS], algo_runtimes[SC_MAX_ALGO_TIMEOUTS];
};

/* Checks and parses --job-timeouts and --job-max-runtimes ("name=seconds,..."; "" for none). */
int sc_job_timeouts_check(const char *v, char *err, size_t errlen);
int sc_job_timeouts_parse(struct sc_config *cfg, char *err, size_t errlen);

/* Runs until SIGTERM/SIGINT (the lease is given back on the way out). Returns the exit code. */
int sc_run(struct sc_config *cfg);

#endif
