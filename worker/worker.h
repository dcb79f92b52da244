/* zsa-worker core: one libevent loop owns every Redis connection (commands, intake with
 * BLMOVE, cancel subscription); each job slot has a compute thread that runs the algorithm and
 * posts progress back to the loop through a locked queue and a pipe. */
#ifndef WK_WORKER_H
#define WK_WORKER_H

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/daemon.h"
#include "worker/gpu.h"
#include "proto/proto.h"
#include "analysis/input.h"
#include "analysis/algo.h"
#include "common/http.h"
#include "common/rconn.h"
#include "worker/eta.h"
#include "worker/outbox.h"

struct wk_config {
    struct cm_common_cfg common;
    char *worker_id;   /* "" means <hostname>-<pid> */
    char *data_dir;    /* relative file paths are resolved here */
    char *results_dir; /* artifacts; "" means <data-dir>/results */
    int slots;         /* concurrent jobs */
    bool cpu_only;
    int max_attempts; /* retry limit */
    double confidence_threshold;
    int stream_maxlen; /* MAXLEN ~ of session streams */
    int stream_ttl_s;
    int result_ttl_s;
    int max_preview_kb; /* previews up to this size go to Redis too */
    int preview_ttl_s;  /* for this long (0: the result's TTL) */
    int poll_ms;        /* BLMOVE timeout */
    int heartbeat_ms;
    int heartbeat_ttl_s;
    int grace_ms;         /* SIGTERM: how long running jobs may finish */
    int outbox_max;       /* commands buffered while Redis is away */
    int analysis_threads; /* threads per analysis job (0: CPUs / slots) */
    int buffer_cache_mb;  /* freed working volumes kept for the next job */
    int max_simulate_s;   /* longest simulate job (duration_seconds) */
    char *metrics_listen; /* host:port for /metrics and /healthz; "" disables */
};

struct wk_job;
struct wk_worker;

struct wk_slot {
    int index;
    struct wk_worker *w;
    struct wk_job *job;         /* loop side: the job this slot runs, NULL when free */
    struct wk_job *todo;        /* under w->pool_lock: handed to a compute thread */
    struct wk_slot *ready_next; /* under w->pool_lock: the ready queue */
    atomic_bool cancel;         /* set by the loop, read by the algorithm */
    int64_t cancel_ms;          /* loop side: when cancel was set (0: not) */
    bool abandoned;             /* loop side: its job ended without it (see abandon_stuck) */
    /* compute-thread side: progress rate limit */
    int64_t last_post_ns;
    char last_step[128];
};

struct wk_post; /* a message from a compute thread to the loop */

#define WK_ALGO_CACHE 16 /* algorithms whose measured duration a worker remembers */

struct wk_worker {
    struct wk_config *cfg;
    struct za_roots roots; /* --data-dir, opened once (analysis/input.h) */
    char id[160];
    char host[96];
    struct wk_gpu_probe gpu;
    pthread_t gpu_thread; /* samples NVML every heartbeat (NVML calls may block) */
    bool gpu_sampling;
    pthread_cond_t gpu_cond;      /* with lock: wakes the sampler to quit */
    bool gpu_quit;                /* under lock */
    struct wk_gpu_sample gpu_now; /* under lock: the latest sample */
    bool gpu_now_ok;              /* under lock */
    struct event_base *base;
    struct cm_rconn_loop loop_ops; /* base, for the Redis connections */
    struct cm_rconn cmd, intake, sub;
    struct wk_outbox outbox;
    char emit_header[3][16];
    struct {
        const struct za_algo *algo;
        double seconds;        /* measured duration per job (EWMA), 0 unknown */
    } algo_est[WK_ALGO_CACHE]; /* EMIT batch header: stream MAXLEN, stream TTL, result TTL */
    struct wk_slot *slots;
    int busy;               /* slots with a job */
    int claiming;           /* jobs taken whose TAKE has not answered yet */
    struct wk_job **claims; /* those jobs (one entry per slot, NULL when free) */
    int intake_pending;     /* BLMOVEs in flight */
    bool queue_busy;        /* the last BLMOVE found a job: pipeline the next ones */
    bool draining;          /* SIGTERM: no new jobs */
    int64_t stop_ms;        /* when the first stop signal came (cm_stop_signal) */
    bool recovered;         /* own active list checked since the intake connected */
    int64_t drain_deadline_ms;
    pthread_mutex_t lock; /* guards the GPU sample */
    /* compute threads (as many as slots): a pool taking ready slots in order */
    pthread_t *threads;
    int nthreads; /* started */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond; /* with pool_lock: a slot is ready, or quit */
    struct wk_slot *ready_head, *ready_tail;
    int ready_len, pool_idle, pool_wakes; /* under pool_lock; wakes: signalled, not yet up */
    bool pool_quit;                       /* under pool_lock */
    _Atomic(struct wk_post *) posts; /* lock-free stack, newest first; the loop takes it whole */
    int doorbell[2];                 /* pipe: compute threads ring, the loop drains posts */
    struct event *doorbell_ev, *hb_timer, *drain_timer, *sig_term, *sig_int;
    struct cm_http http; /* /metrics and /healthz */
    char *k_jobs, *k_active, *k_worker, *k_workers, *k_dead, *k_cancel, *k_bcast;
    char *k_noresult;     /* placeholder key for events without a result */
    uint64_t job_counter; /* for generated ids and take tokens */
    uint64_t jobs_done, jobs_failed, jobs_cancelled, jobs_invalid, jobs_requeued, events;
    uint64_t jobs_fenced;    /* stopped: their attempt was given to another worker */
    uint64_t jobs_abandoned; /* cancelled while their analysis would not stop */
    int64_t started_ms;
    int exit_code;
};

/* Runs the worker until SIGTERM/SIGINT (graceful) or a second signal (at once). Returns the
 * process exit status. cfg is borrowed. */
int wk_worker_run(struct wk_config *cfg);

/* compute.c: slot threads and the post queue */
int wk_compute_start(struct wk_worker *w);
void wk_compute_stop(struct wk_worker *w);
void wk_compute_assign(struct wk_slot *s, struct wk_job *job);
void wk_compute_drain(struct wk_worker *w); /* loop: handle every post */

/* worker.c callbacks used by compute.c (loop thread) */
void wk__on_progress(struct wk_worker *w, struct wk_slot *s, double progress, const char *step,
                     double t_s);
void wk__on_done(struct wk_worker *w, struct wk_slot *s, int rc);

/* http.c: /metrics and /healthz on evhttp. Returns 0, or -1 when the address is unusable. */
int wk_http_start(struct wk_worker *w);
void wk_http_stop(struct wk_worker *w);

/* The job a slot runs (loop thread, except algo/params/result which the compute thread uses
 * while it runs). */
struct wk_job {
    char *raw;          /* exactly as taken from the queue (for LREM) */
    size_t raw_len;     /* its length: a payload may hold NUL bytes */
    char *json;         /* normalized spec with job_id */
    bool renamed;       /* raw had no job_id: TAKE replaces it in the active list by json */
    struct pr_msg spec; /* PR_JOB */
    const char *job_id; /* into spec */
    const struct za_algo *algo;
    char *input_path; /* resolved, or NULL */
    char token[200];  /* TAKE idempotency token */
    uint64_t serial;  /* unique in this worker (the token's number) */
    bool fenced;      /* Redis refused its events: the scheduler gave the job to another worker */
    struct wk_worker *w;
    char *keys[3]; /* job hash, session stream, session channel (cached) */
    int attempt;
    long long seq;  /* last event sequence number used */
    double prior_s; /* ETA prior */
    int64_t start_ms;
    double start_s;
    struct wk_eta eta;
    double progress;
    char step[128];
    struct za_algo_result res;
    struct wk_slot *slot;
};

/* The id of the result an attempt of job makes ("<job_id>.r<attempt>"; also its artifacts
 * directory's name). */
void wk_job_result_id(const struct wk_job *job, char *out, size_t n);

#endif
