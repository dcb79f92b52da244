/* ETA estimator for a running job: blends the overall rate (exact for steady jobs), a smoothed
 * recent rate (follows jobs that speed up or stall) and a prior from the algorithm's measured
 * throughput (used before progress says much). Pure computation; one instance per job, on the
 * worker's loop thread. */
#ifndef WK_ETA_H
#define WK_ETA_H

#include <stdbool.h>

struct wk_eta {
    double start_s;   /* when the job started (monotonic seconds) */
    double prior_s;   /* expected total duration; <= 0 when unknown */
    double last_t;    /* time of the previous sample; < 0 before the first */
    double last_p;    /* progress of the previous sample, percent */
    double rate_ewma; /* smoothed recent rate, percent per second; 0 when unknown */
};

void wk_eta_init(struct wk_eta *e, double start_s, double prior_s);

/* Feeds a sample (progress in percent at now_s) and returns the estimated seconds left: >= 0, or
 * NAN when unknown (no progress yet and no prior). 0 once progress reaches 100. */
double wk_eta_update(struct wk_eta *e, double now_s, double progress);

#endif
