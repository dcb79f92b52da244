/* The scheduler core's files (scheduler.c, survey.c, actions.c), internal: the state of the
 * scheduler and of a survey, and what the files call of each other. Loop thread. */
#ifndef SC_INTERNAL_H
#define SC_INTERNAL_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/http.h"
#include "common/rconn.h"
#include "proto/proto.h"
#include "scheduler/scheduler.h"
#include "store/jobhash.h"
#include "store/scripts.h"

#define SC_TRACK_BUCKETS 1024
#define SC_SCAN_COUNT "500"

/* What the leader last saw of a running job's progress, to time it out. */
struct sc_track {
    struct sc_track *next;
    char *job_id;
    char *state;   /* "<attempt>|<progress>|<step>": a change is progress */
    int64_t since; /* monotonic ms when state last changed */
    uint64_t gen;  /* the survey that last saw it */
};

/* The job hash fields a survey reads of each held job (store/jobhash.h), by position. */
enum { SF_STATUS, SF_ATTEMPTS, SF_ATTEMPT, SF_PROGRESS, SF_STEP, SF_ALGORITHM, SF_STARTED_AT };
static const enum st_job_field survey_fields[] = {
    [SF_STATUS] = ST_JF_STATUS,        [SF_ATTEMPTS] = ST_JF_ATTEMPTS,
    [SF_ATTEMPT] = ST_JF_ATTEMPT,      [SF_PROGRESS] = ST_JF_PROGRESS,
    [SF_STEP] = ST_JF_CURRENT_STEP,    [SF_ALGORITHM] = ST_JF_ALGORITHM,
    [SF_STARTED_AT] = ST_JF_STARTED_AT};
#define NFIELDS (sizeof(survey_fields) / sizeof(survey_fields[0]))

struct sc_job {
    char *raw;
    size_t raw_len;
    struct pr_msg spec; /* PR_JOB, when raw decoded */
    bool decoded;
    bool have_hash;   /* the HMGET below answered */
    char *f[NFIELDS]; /* the job hash's survey_fields (NULL: absent) */
};

struct sc_worker {
    char *id;
    bool alive;
    double gpu_util, gpu_used, gpu_total;
    bool has_gpu, has_util;
    struct sc_job *jobs;
    size_t njobs;
};

struct sc;

/* One survey and what it does, alive while its commands are in flight. */
struct sc_survey {
    struct sc *s;
    int round;   /* 1..4 */
    int pending; /* replies still due in this round */
    bool failed; /* a reply was lost (connection down): act on nothing */
    long long queue_length;
    struct sc_worker *workers;
    size_t nworkers;
};

struct sc {
    struct sc_config *cfg;
    char id[160];
    struct event_base *base;
    struct cm_rconn_loop loop_ops;
    struct cm_rconn cmd;
    struct cm_http http;
    struct event *tick_ev, *status_ev, *sig_term, *sig_int, *retention_ev;
    char *k_leader, *k_jobs, *k_workers, *k_dead, *k_bcast, *k_cancel, *k_nojob;
    char lease_ms[16], max_attempts[16], status_maxlen[16], stream_maxlen[16], stream_ttl[16],
        ended_ttl[16];
    bool leader;
    bool lease_pending;
    bool stopping;
    int64_t stop_ms;      /* when the first stop signal came (cm_stop_signal) */
    int64_t leader_until; /* monotonic ms: the lease is ours until then, at least */
    bool status_due;      /* system_status goes out with the next survey */
    struct sc_survey *survey;
    uint64_t gen;
    struct sc_track *track[SC_TRACK_BUCKETS];
    char scan_cursor[2][32]; /* job hashes, session streams */
    /* figures of the last survey, and counters, for /metrics */
    long long last_queue, last_active, last_online;
    uint64_t statuses, requeued, retried, dead, timeouts, forgotten, expired, lease_gained,
        lease_lost, errors, pruned;
    struct sc_prune *prune; /* the retention pass in flight (retention.c) */
};

bool sc__is_leader(const struct sc *s);

/* The seconds of algo in a per-algorithm table, or def. */
int sc__algo_secs(const struct sc_algo_secs *tab, int n, const char *algo, int def);

/* A job event of the scheduler, as MessagePack (proto's pr_event_encode); logged when it cannot
 * be (a bug: not sent). */
int sc__encode_event(struct pr_msg *ev, const char *job_id, const char *session,
                     struct cm_buf *out);

void sc__survey_free(struct sc_survey *sv);

/* Sends a command for the survey; fn (may be NULL) gets its reply, or NULL when none will come
 * (the connection is down), once. */
void sc__call(struct sc_survey *sv, void (*fn)(struct sc_survey *, redisReply *, void *), void *arg,
              int argc, const char **argv, const size_t *argvlen);

void sc__script(struct sc_survey *sv, void (*fn)(struct sc_survey *, redisReply *, void *),
                void *arg, struct st_call *sc__call);

void sc__emit_status(struct sc_survey *sv);

/* A lost worker's job: back to the queue (or to the dead letters) with its event. */
void sc__recover_job(struct sc_survey *sv, struct sc_worker *wk, struct sc_job *j);

void sc__forget_worker(struct sc_survey *sv, struct sc_worker *wk);

/* Fails a running job with TIMEOUT: no progress for secs (stalled), or running for more than
 * secs whatever its progress (runtime: its algorithm's run-time limit). */
void sc__timeout_job(struct sc_survey *sv, struct sc_worker *wk, struct sc_job *j, int secs,
                     bool runtime);

/* Forgets jobs the last survey did not see running (ended, or on another leader's watch). */
void sc__track_sweep(struct sc *s, bool all);

void sc__act(struct sc_survey *sv);

void sc__survey_start(struct sc *s);

/* A held job's hash field (survey_fields position), NULL when absent. */
static inline const char *hash_field(const struct sc_job *j, int i)
{
    return j->f[i];
}

/* One pass of results retention (retention.c): old result directories whose result left Redis
 * are removed. Does nothing unless configured, leading, and no pass is in flight. */
void sc__retention_pass(struct sc *s);

/* Notes a running job's progress; returns how long (ms) it has not moved. */
int64_t sc__track(struct sc *s, const char *job_id, const char *state);

#endif
