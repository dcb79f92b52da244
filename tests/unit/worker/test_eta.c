/* Tests worker/eta.c on synthetic timelines: steady, accelerating, stalled. */
#include <criterion/criterion.h>
#include <math.h>

#include "worker/eta.h"

Test(worker_eta, unknown_without_progress_or_prior)
{
    struct wk_eta e;
    wk_eta_init(&e, 100, 0);
    cr_assert(isnan(wk_eta_update(&e, 100.5, 0)));
    wk_eta_init(&e, 100, 8);
    cr_assert_float_eq(wk_eta_update(&e, 101, 0), 7, 1e-9, "the prior counts down");
}

Test(worker_eta, steady_job_error_under_10_percent_by_half_way)
{
    /* 40 s job reported every 0.5 s, with a prior that is off by 2x */
    const double total = 40;
    struct wk_eta e;
    wk_eta_init(&e, 0, 2 * total);
    for (double t = 0.5; t <= total; t += 0.5) {
        double p = 100 * t / total;
        double eta = wk_eta_update(&e, t, p);
        double truth = total - t;
        cr_assert_geq(eta, 0);
        if (p >= 50)
            cr_assert_leq(fabs(eta - truth), 0.10 * truth + 1e-9, "t=%g eta=%g truth=%g", t, eta,
                          truth);
    }
}

Test(worker_eta, accelerating_job_beats_the_overall_rate)
{
    /* first half at 2.5 %/s (20 s), second half at 10 %/s (5 s) */
    struct wk_eta e;
    wk_eta_init(&e, 0, 0);
    double t = 0, p = 0, eta = NAN;
    while (p < 75) {
        t += 0.5;
        p += (p < 50 ? 2.5 : 10.0) * 0.5;
        eta = wk_eta_update(&e, t, p);
    }
    double truth = (100 - p) / 10.0;
    double naive = (100 - p) * t / p; /* overall rate alone */
    cr_assert_lt(fabs(eta - truth), fabs(naive - truth), "eta %g naive %g truth %g", eta, naive,
                 truth);
}

Test(worker_eta, stalled_job_eta_grows_and_never_goes_negative)
{
    struct wk_eta e;
    wk_eta_init(&e, 0, 10);
    double before = NAN;
    for (double t = 0.5; t <= 4; t += 0.5)
        before = wk_eta_update(&e, t, 10 * t); /* 10 %/s up to 40 % */
    double during = before;
    for (double t = 4.5; t <= 12; t += 0.5) {
        double eta = wk_eta_update(&e, t, 40); /* stuck */
        cr_assert_geq(eta, 0);
        cr_assert_geq(eta, during - 1e-9, "the ETA must not fall while nothing moves");
        during = eta;
    }
    cr_assert_gt(during, before * 1.5, "stalled for 8 s: eta %g was %g", during, before);
    cr_assert_eq(wk_eta_update(&e, 13, 100), 0);
}

Test(worker_eta, samples_in_a_burst_do_not_fake_a_huge_rate)
{
    /* a 10 s job at 10 %/s whose step boundary arrives 1 ms after a regular report */
    struct wk_eta e;
    wk_eta_init(&e, 0, 10);
    double eta = NAN;
    for (double t = 0.5; t <= 3; t += 0.5)
        eta = wk_eta_update(&e, t, 10 * t);
    eta = wk_eta_update(&e, 3.001, 31);
    cr_assert_gt(eta, 5.5, "a 1 %% jump in 1 ms must not read as 1000 %%/s: eta %g", eta);
    eta = wk_eta_update(&e, 3.5, 35);
    cr_assert_float_eq(eta, 6.5, 0.65, "back on track: eta %g", eta);
}
