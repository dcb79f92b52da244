/* The `intensity_stats` algorithm: what is in a z-stack before anyone segments it — range, mean
 * and standard deviation, a histogram, percentiles, the saturated fraction, and per slice the
 * mean and a focus score (variance of the 4-neighbour Laplacian), with the best-focused slice.
 * Compute thread (the passes use za_threads() threads).
 *
 * Parameters (docs/PROTOCOL.md): bins (2..65536, default 256), percentiles (numbers in 0..100,
 * default [1, 5, 25, 50, 75, 95, 99]), saturation (the saturated level; default the sample
 * type's maximum for integer stacks, none for float), channel, frame. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/algo.h"
#include "analysis/algo_common.h"
#include "analysis/par.h"
#include "analysis/params.h"
#include "analysis/preview.h"

#define ST_MAX_PCT 32
#define ST_FINE 65536 /* bins of the histogram percentiles are read from */

struct st_params {
    int bins, npct;
    double pct[ST_MAX_PCT];
    double saturation; /* NAN: none */
};

enum { P_BINS, P_PERCENTILES, P_SATURATION, P_CHANNEL, P_FRAME, P__COUNT };
static const struct za_param st_param_table[P__COUNT] = {
    [P_BINS] = {"bins", ZA_P_INT, 2, 65536, NULL, 0, 256, "256", "histogram bins"},
    [P_PERCENTILES] = {"percentiles", ZA_P_NUMS, 0, 100, NULL, ST_MAX_PCT, NAN,
                       "[1, 5, 25, 50, 75, 95, 99]", "the percentiles reported"},
    [P_SATURATION] = {"saturation", ZA_P_NUM, -1e300, 1e300, NULL, 0, NAN,
                      "the integer type's maximum", "the saturated level"},
    [P_CHANNEL] = ZA_PARAM_CHANNEL,
    [P_FRAME] = ZA_PARAM_FRAME,
};

static int st_parse(const struct pr_value *p, struct st_params *o, char *err, size_t errlen)
{
    struct za_pval v[P__COUNT];
    if (za_params_read(st_param_table, P__COUNT, p, v, err, errlen) != 0)
        return -1;
    o->bins = (int)v[P_BINS].num;
    static const double def[] = {1, 5, 25, 50, 75, 95, 99};
    if (!v[P_PERCENTILES].set) {
        o->npct = 7;
        memcpy(o->pct, def, sizeof(def));
    } else {
        const struct pr_value *pv = v[P_PERCENTILES].raw;
        o->npct = (int)pv->u.a.n;
        for (int i = 0; i < o->npct; i++)
            za_value_num(&pv->u.a.items[i], &o->pct[i]); /* checked by the table */
    }
    o->saturation = v[P_SATURATION].num;
    return 0;
}

static int st_check(const struct pr_value *p, char *err, size_t errlen)
{
    struct st_params o;
    return st_parse(p, &o, err, errlen);
}

struct plane {
    double lo, hi, sum, sumsq, focus;
    size_t saturated;
};

struct st_job {
    const struct za_stack *s;
    double saturation;
    struct plane *planes;
    double **rows; /* per thread: three rows */
    /* pass 2 */
    double lo, hi;
    bool exact; /* one fine bin per integer value */
    int bins;
    uint64_t **coarse, **fine; /* per thread */
};

/* Pass 1, one plane per call: range, sums, saturation, Laplacian variance. */
static void st_planes(void *arg, long begin, long end, int thread)
{
    struct st_job *j = arg;
    long nx = j->s->nx, ny = j->s->ny;
    double *r[3] = {j->rows[thread], j->rows[thread] + nx, j->rows[thread] + 2 * nx};
    for (long z = begin; z < end; z++) {
        struct plane pl = {INFINITY, -INFINITY, 0, 0, 0, 0};
        double ls = 0, ls2 = 0;
        long nl = 0;
        size_t base = (size_t)z * nx * ny;
        for (long y = 0; y < ny; y++) {
            double *prev = r[0], *cur = r[1], *next = r[2];
            if (y == 0) {
                za_to_double_range(j->s, base, (size_t)nx, cur);
                if (ny > 1)
                    za_to_double_range(j->s, base + (size_t)nx, (size_t)nx, next);
            } else { /* rotate: the next row becomes current */
                r[0] = cur, r[1] = next, r[2] = prev;
                prev = r[0], cur = r[1], next = r[2];
                if (y + 1 < ny)
                    za_to_double_range(j->s, base + (size_t)(y + 1) * nx, (size_t)nx, next);
            }
            for (long x = 0; x < nx; x++) {
                double v = cur[x];
                pl.lo = v < pl.lo ? v : pl.lo, pl.hi = v > pl.hi ? v : pl.hi;
                pl.sum += v, pl.sumsq += v * v;
                pl.saturated += v >= j->saturation;
            }
            if (y == 0 || y + 1 >= ny)
                continue;
            for (long x = 1; x + 1 < nx; x++) {
                double l = prev[x] + next[x] + cur[x - 1] + cur[x + 1] - 4 * cur[x];
                ls += l, ls2 += l * l;
                nl++;
            }
        }
        if (nl) {
            double m = ls / (double)nl;
            pl.focus = fmax(0, ls2 / (double)nl - m * m);
        }
        j->planes[z] = pl;
    }
}

/* Pass 2: the display histogram (bins equal bins, numpy's semantics) and the fine one. */
static void st_hist(void *arg, long begin, long end, int thread)
{
    struct st_job *j = arg;
    double *row = j->rows[thread], w = j->hi - j->lo, norm = w > 0 ? j->bins / w : 0;
    double fnorm = w > 0 ? ST_FINE / w : 0;
    long nx = j->s->nx;
    uint64_t *c = j->coarse[thread], *f = j->fine[thread];
    for (long rr = begin; rr < end; rr++) {
        za_to_double_range(j->s, (size_t)rr * nx, (size_t)nx, row);
        for (long x = 0; x < nx; x++) {
            /* numpy.histogram: (v - lo) * (bins / (hi - lo)), the last bin includes hi */
            size_t b = (size_t)((row[x] - j->lo) * norm);
            size_t fb = j->exact ? (size_t)(row[x] - j->lo) : (size_t)((row[x] - j->lo) * fnorm);
            c[b >= (size_t)j->bins ? (size_t)j->bins - 1 : b]++;
            f[fb >= ST_FINE ? ST_FINE - 1 : fb]++;
        }
    }
}

/* The value of rank k (0-based) from the fine histogram: exact for integer bins, else linear
 * inside the bin. */
static double rank_value(const struct st_job *j, const uint64_t *fine, double k)
{
    double before = 0, width = (j->hi - j->lo) / ST_FINE;
    for (size_t b = 0; b < ST_FINE; b++) {
        double n = (double)fine[b];
        if (n > 0 && k < before + n)
            return j->exact ? j->lo + (double)b
                            : j->lo + width * ((double)b + (k - before + 0.5) / n);
        before += n;
    }
    return j->hi;
}

static double int_max(enum za_dtype t)
{
    switch (t) {
    case ZA_U8: return 255;
    case ZA_U16: return 65535;
    case ZA_U32: return 4294967295.0;
    case ZA_I8: return 127;
    case ZA_I16: return 32767;
    case ZA_I32: return 2147483647.0;
    default: return NAN;
    }
}

/* preview.png: the histogram as a plot (analysis/preview.h), the summary's only artifact. */
static int st_preview(struct za_algo_ctx *ctx, struct za_algo_result *res, const uint64_t *counts,
                      int bins, double lo, double hi, struct pr_value *out, char *err,
                      size_t errlen)
{
    char dir[1024];
    struct za_rgb im = {0};
    if (za_algo_result_dir(ctx, dir, sizeof(dir), err, errlen) != 0)
        return -1;
    if (za_preview_histogram(counts, bins, lo, hi, &im) != 0) {
        snprintf(err, errlen, "no memory for the preview");
        return -1;
    }
    struct pr_value *arts = pr_value_new_array();
    int rc = za_algo_preview(res, &im, NULL, dir, out, arts, err, errlen);
    za_set_obj(out, "artifacts", arts);
    za_rgb_free(&im);
    return rc;
}

/* Long: the two passes over the stack and the summary they fill, in order; each pass is a
 * function */
static int st_run(struct za_algo_ctx *ctx, struct za_algo_result *res)
{
    struct st_params sp;
    char err[320];
    st_parse(ctx->params, &sp, err, sizeof(err)); /* checked before the job started */
    double t0 = za_now_ms();
    struct za_stack s;
    if (za_algo_load(ctx, 70, &s, res) != 0)
        return -1;
    double t_load = za_now_ms() - t0, t1 = za_now_ms();
    int nt = za_threads(), rc = -1;
    double sat = isnan(sp.saturation) ? int_max(s.dtype) : sp.saturation;
    struct st_job j = {.s = &s, .saturation = isnan(sat) ? INFINITY : sat, .bins = sp.bins};
    j.planes = calloc((size_t)s.nz, sizeof(struct plane));
    j.rows = calloc((size_t)nt, sizeof(double *));
    j.coarse = calloc((size_t)nt, sizeof(uint64_t *));
    j.fine = calloc((size_t)nt, sizeof(uint64_t *));
    bool ok = j.planes && j.rows && j.coarse && j.fine;
    for (int t = 0; ok && t < nt; t++) {
        j.rows[t] = malloc((size_t)s.nx * 3 * sizeof(double));
        j.coarse[t] = calloc((size_t)sp.bins, sizeof(uint64_t));
        j.fine[t] = calloc(ST_FINE, sizeof(uint64_t));
        ok = j.rows[t] && j.coarse[t] && j.fine[t];
    }
    if (!ok) {
        za_algo_fail(res, "IMAGE_TOO_LARGE", "no memory for the statistics", true);
        goto out;
    }
    ctx->progress(ctx, 70, "Statistics");
    if (za_par_for(s.nz, 1, st_planes, &j, ctx->cancel) != ZA_OK)
        goto cancelled;
    struct plane all = {INFINITY, -INFINITY, 0, 0, 0, 0};
    int best = 0;
    for (int z = 0; z < s.nz; z++) {
        all.lo = fmin(all.lo, j.planes[z].lo), all.hi = fmax(all.hi, j.planes[z].hi);
        all.sum += j.planes[z].sum, all.sumsq += j.planes[z].sumsq;
        all.saturated += j.planes[z].saturated;
        best = j.planes[z].focus > j.planes[best].focus ? z : best;
    }
    j.lo = all.lo, j.hi = all.hi;
    j.exact = s.dtype != ZA_F32 && all.hi - all.lo < ST_FINE;
    ctx->progress(ctx, 85, "Histogram");
    if (za_par_for((long)s.ny * s.nz, 64, st_hist, &j, ctx->cancel) != ZA_OK)
        goto cancelled;
    for (int t = 1; t < nt; t++) {
        for (int b = 0; b < sp.bins; b++)
            j.coarse[0][b] += j.coarse[t][b];
        for (size_t b = 0; b < ST_FINE; b++)
            j.fine[0][b] += j.fine[t][b];
    }
    size_t n = za_voxels(&s);
    double mean = all.sum / (double)n, sd = sqrt(fmax(0, all.sumsq / (double)n - mean * mean));
    double satf = (double)all.saturated / (double)n;
    struct pr_value *out = pr_value_new_object(), *pc = pr_value_new_object();
    struct pr_value *h = pr_value_new_object(), *counts = pr_value_new_array();
    struct pr_value *ps = pr_value_new_object(), *pm = pr_value_new_array();
    struct pr_value *pf = pr_value_new_array(), *tm = pr_value_new_object();
    pr_value_set(out, "algorithm", pr_value_str("intensity_stats"));
    pr_value_set(out, "min", pr_value_double(all.lo));
    pr_value_set(out, "max", pr_value_double(all.hi));
    pr_value_set(out, "mean", pr_value_double(mean));
    pr_value_set(out, "std", pr_value_double(sd));
    for (int i = 0; i < sp.npct; i++) { /* numpy's default: linear between order statistics */
        double rank = sp.pct[i] / 100 * (double)(n - 1), k = floor(rank);
        double a = rank_value(&j, j.fine[0], k), b = rank_value(&j, j.fine[0], fmin(k + 1, n - 1));
        char key[32];
        snprintf(key, sizeof(key), "p%g", sp.pct[i]);
        pr_value_set(pc, key, pr_value_double(a + (rank - k) * (b - a)));
    }
    za_set_obj(out, "percentiles", pc);
    pr_value_set(out, "percentiles_exact", pr_value_bool(j.exact));
    if (isnan(sat))
        pr_value_set(out, "saturation_level", pr_value_null());
    else
        pr_value_set(out, "saturation_level", pr_value_double(sat));
    pr_value_set(out, "saturated_fraction", pr_value_double(satf));
    pr_value_set(h, "bins", pr_value_int(sp.bins));
    pr_value_set(h, "min", pr_value_double(all.lo));
    pr_value_set(h, "max", pr_value_double(all.hi));
    for (int b = 0; b < sp.bins; b++)
        pr_value_push(counts, pr_value_int((int64_t)j.coarse[0][b]));
    za_set_obj(h, "counts", counts);
    za_set_obj(out, "histogram", h);
    for (int z = 0; z < s.nz; z++) {
        size_t np = (size_t)s.nx * s.ny;
        pr_value_push(pm, pr_value_double(j.planes[z].sum / (double)np));
        pr_value_push(pf, pr_value_double(j.planes[z].focus));
    }
    za_set_obj(ps, "mean", pm);
    za_set_obj(ps, "focus", pf);
    za_set_obj(out, "per_slice", ps);
    pr_value_set(out, "focus_method", pr_value_str("variance of the 4-neighbour Laplacian"));
    pr_value_set(out, "best_focus_slice", pr_value_int(best));
    za_set_obj(out, "image", za_image_summary(&s));
    pr_value_set(tm, "load", pr_value_double(round(t_load * 10) / 10));
    pr_value_set(tm, "statistics", pr_value_double(round((za_now_ms() - t1) * 10) / 10));
    za_set_obj(out, "time_ms", tm);
    /* what needs a human look: saturation, or focus best at an end of the stack */
    bool edge = s.nz >= 3 && (best == 0 || best == s.nz - 1);
    res->confidence = fmax(0, 1 - 20 * satf) * (edge ? 0.75 : 1);
    if (satf > 0.01) {
        snprintf(res->suggested_actions[0], sizeof(res->suggested_actions[0]),
                 "%.1f%% of the voxels are saturated: lower the exposure or gain", 100 * satf);
    } else if (edge) {
        snprintf(res->suggested_actions[0], sizeof(res->suggested_actions[0]),
                 "The sharpest slice is at an end of the stack: the focal plane may lie outside");
        snprintf(res->suggested_actions[1], sizeof(res->suggested_actions[1]),
                 "Extend the z range of the acquisition");
    }
    if (st_preview(ctx, res, j.coarse[0], sp.bins, all.lo, all.hi, out, err, sizeof(err)) != 0) {
        pr_value_free(out);
        za_algo_fail(res, "RESULT_WRITE_FAILED", err, true);
        goto out;
    }
    res->summary = out;
    ctx->progress(ctx, 100, "Complete");
    rc = 0;
    goto out;
cancelled:
    za_algo_fail(res, "CANCELLED", "cancelled", true);
out:
    for (int t = 0; t < nt; t++) {
        if (j.rows)
            free(j.rows[t]);
        if (j.coarse)
            free(j.coarse[t]);
        if (j.fine)
            free(j.fine[t]);
    }
    free(j.rows);
    free(j.coarse);
    free(j.fine);
    free(j.planes);
    za_stack_free(&s);
    return rc;
}

const struct za_algo za_algo_intensity_stats = {
    .name = "intensity_stats",
    .input_doc = "a z-stack, as for segmentation_3d",
    .params = st_param_table,
    .nparams = P__COUNT,
    .needs_file = true,
    .default_seconds = 2,
    .check = st_check,
    .estimate = NULL, /* the measured throughput */
    .run = st_run,
};
