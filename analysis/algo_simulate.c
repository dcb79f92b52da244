/* The `simulate` algorithm: walks the seed document's demo steps (Starting, Loading data,
 * Processing, Finalizing, Complete) through the real pipeline without an image, so the queue,
 * events, ETA, cancel and failure paths can be exercised anywhere. Compute thread.
 * Parameters: duration_seconds (default 4), steps (progress reports, default 5), fail_at
 * (percent at which to fail with SIMULATED_FAILURE), hang_at (percent at which to stop making
 * progress until cancelled: a stuck analysis, for the scheduler's timeout), stall_at and
 * stall_seconds (at stall_at percent, block for stall_seconds without looking at cancel, as a
 * read on a file server that stopped answering does: for the worker's handling of analyses that
 * cannot be interrupted), confidence (default 0.92). */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "analysis/algo.h"
#include "analysis/params.h"

#define SIM_TICK_MS 50 /* cancel checks and intermediate progress at this period */

static const char *const step_names[] = {"Starting", "Loading data", "Processing", "Finalizing",
                                         "Complete"};

static double sim_max_s = 3600;

void za_simulate_set_max(double seconds)
{
    sim_max_s = seconds;
}

enum {
    P_DURATION,
    P_STEPS,
    P_FAIL_AT,
    P_HANG_AT,
    P_STALL_AT,
    P_STALL_SECONDS,
    P_CONFIDENCE,
    P__COUNT
};
static const struct za_param sim_param_table[P__COUNT] = {
    [P_DURATION] = {"duration_seconds", ZA_P_NUM, 0, 1e7, NULL, 0, 4, "4",
                    "how long it runs (at most the worker's --max-simulate-s, 3600 by default)"},
    [P_STEPS] = {"steps", ZA_P_INT, 2, 1000, NULL, 0, 5, "5", "progress reports"},
    [P_FAIL_AT] = {"fail_at", ZA_P_NUM, 0, 100, NULL, 0, -1, "none",
                   "percent at which it fails with SIMULATED_FAILURE"},
    [P_HANG_AT] = {"hang_at", ZA_P_NUM, 0, 100, NULL, 0, -1, "none",
                   "percent at which it stops making progress until cancelled (a stuck "
                   "analysis, for timeouts)"},
    [P_STALL_AT] = {"stall_at", ZA_P_NUM, 0, 100, NULL, 0, -1, "none",
                    "percent at which it blocks for stall_seconds without looking at cancel, as "
                    "a read from a file server that stopped answering does"},
    [P_STALL_SECONDS] = {"stall_seconds", ZA_P_NUM, 0, 1e7, NULL, 0, 0, "0",
                         "how long stall_at blocks (at most --max-simulate-s)"},
    [P_CONFIDENCE] = {"confidence", ZA_P_NUM, 0, 1, NULL, 0, 0.92, "0.92",
                      "the result's confidence score"},
};

static int sim_check(const struct pr_value *p, char *err, size_t errlen)
{
    struct za_pval v[P__COUNT];
    if (za_params_read(sim_param_table, P__COUNT, p, v, err, errlen) != 0)
        return -1;
    if (v[P_DURATION].num > sim_max_s)
        return snprintf(err, errlen,
                        "duration_seconds: must be a number from 0 to %g (--max-simulate-s)",
                        sim_max_s),
               -1;
    if (v[P_STALL_SECONDS].num > sim_max_s)
        return snprintf(err, errlen,
                        "stall_seconds: must be a number from 0 to %g (--max-simulate-s)",
                        sim_max_s),
               -1;
    return 0;
}

static double sim_estimate(const struct pr_value *p)
{
    return za_param_num(p, "duration_seconds", 4, NULL);
}

static void sleep_ms(double ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000) * 1e6)};
    nanosleep(&ts, NULL);
}

/* Waits ms in ticks, reporting interpolated progress from p0 towards p1; false on cancel. */
static bool sim_wait(struct za_algo_ctx *ctx, double ms, double p0, double p1, const char *step)
{
    int ticks = (int)(ms / SIM_TICK_MS);
    for (int i = 0; i < ticks; i++) {
        if (atomic_load(ctx->cancel))
            return false;
        sleep_ms(SIM_TICK_MS);
        ctx->progress(ctx, p0 + (p1 - p0) * (i + 1) / (ticks + 1), step);
    }
    sleep_ms(ms - ticks * SIM_TICK_MS);
    return !atomic_load(ctx->cancel);
}

static int sim_run(struct za_algo_ctx *ctx, struct za_algo_result *res)
{
    double duration = za_param_num(ctx->params, "duration_seconds", 4, NULL);
    int steps = (int)za_param_num(ctx->params, "steps", 5, NULL);
    double fail_at = za_param_num(ctx->params, "fail_at", -1, NULL);
    double hang_at = za_param_num(ctx->params, "hang_at", -1, NULL);
    double stall_at = za_param_num(ctx->params, "stall_at", -1, NULL);
    double stall_s = za_param_num(ctx->params, "stall_seconds", 0, NULL);
    double interval_ms = duration * 1000.0 / (steps - 1);
    for (int i = 0; i < steps; i++) {
        double p = 100.0 * i / (steps - 1);
        const char *step = step_names[(i * 4 + (steps - 1) / 2) / (steps - 1)];
        if (fail_at >= 0 && p >= fail_at) {
            res->retry_available = true;
            snprintf(res->error_code, sizeof(res->error_code), "SIMULATED_FAILURE");
            snprintf(res->error, sizeof(res->error), "simulated failure at %.0f%% (fail_at)", p);
            return -1;
        }
        ctx->progress(ctx, p, step);
        if (stall_at >= 0 && p >= stall_at) { /* deaf to cancel, once */
            sleep_ms(stall_s * 1000);
            stall_at = -1;
        }
        while (hang_at >= 0 && p >= hang_at) { /* stuck: only a cancel ends it */
            if (atomic_load(ctx->cancel))
                goto cancelled;
            sleep_ms(SIM_TICK_MS);
        }
        if (i + 1 < steps && !sim_wait(ctx, interval_ms, p, 100.0 * (i + 1) / (steps - 1), step))
            goto cancelled;
    }
    res->confidence = za_param_num(ctx->params, "confidence", 0.92, NULL);
    res->summary = pr_value_new_object();
    pr_value_set(res->summary, "algorithm", pr_value_str("simulate"));
    pr_value_set(res->summary, "steps", pr_value_int(steps));
    pr_value_set(res->summary, "duration_seconds", pr_value_double(duration));
    pr_value_set(res->summary, "object_count", pr_value_int(0));
    snprintf(res->suggested_actions[0], sizeof(res->suggested_actions[0]),
             "Re-run with a higher confidence parameter");
    return 0;
cancelled:
    res->retry_available = true;
    snprintf(res->error_code, sizeof(res->error_code), "CANCELLED");
    snprintf(res->error, sizeof(res->error), "cancelled");
    return -1;
}

const struct za_algo za_algo_simulate = {
    .name = "simulate",
    .input_doc = "not read (a missing one is fine)",
    .params = sim_param_table,
    .nparams = P__COUNT,
    .needs_file = false,
    .default_seconds = 4,
    .check = sim_check,
    .estimate = sim_estimate,
    .run = sim_run,
};
