/* ETA estimator. Pure computation; the worker's loop thread. */
#include "worker/eta.h"

#include <math.h>

#define WK_ETA_TRUST_PCT 25.0 /* progress after which measurement fully replaces the prior */

void wk_eta_init(struct wk_eta *e, double start_s, double prior_s)
{
    e->start_s = start_s;
    e->prior_s = prior_s;
    e->last_t = -1;
    e->last_p = 0;
    e->rate_ewma = 0;
}

/* Seconds left from the rates, or NAN when they say nothing yet. */
static double measured(const struct wk_eta *e, double elapsed, double p)
{
    if (p <= 0 || elapsed <= 0)
        return NAN;
    double overall = p / elapsed;
    double rate = e->rate_ewma > 0 ? 0.5 * overall + 0.5 * e->rate_ewma : overall;
    return (100.0 - p) / rate;
}

double wk_eta_update(struct wk_eta *e, double now_s, double progress)
{
    double p = progress < 0 ? 0 : progress > 100 ? 100 : progress;
    double elapsed = now_s - e->start_s;
    /* samples closer than 10 ms say little about the rate (step boundaries come in pairs) */
    if (e->last_t >= 0 && now_s - e->last_t < 0.010 && p >= e->last_p) {
        e->last_p = p;
    } else if (e->last_t >= 0 && now_s > e->last_t && p >= e->last_p) {
        double inst = (p - e->last_p) / (now_s - e->last_t);
        e->rate_ewma = e->rate_ewma > 0 ? 0.5 * inst + 0.5 * e->rate_ewma : inst;
    }
    if (e->last_t < 0 || now_s - e->last_t >= 0.010)
        e->last_t = now_s;
    e->last_p = p;
    if (p >= 100)
        return 0;
    double m = measured(e, elapsed, p);
    double prior = e->prior_s > 0 ? fmax(e->prior_s - elapsed, 0) : NAN;
    double eta;
    if (isnan(m))
        eta = prior;
    else if (isnan(prior))
        eta = m;
    else {
        double w = fmin(1.0, p / WK_ETA_TRUST_PCT);
        eta = w * m + (1 - w) * prior;
    }
    return isnan(eta) ? NAN : fmax(eta, 0);
}
