/* The `max_projection` algorithm: a projection of the z-stack along one axis (max, min, mean, sum
 * or standard deviation), written as a 2D TIFF (<results_dir>/<result_id>/projection.tif: max and
 * min keep the sample type, the others are 32-bit float) with a contrast-stretched preview.png.
 * Compute thread (the projection uses za_threads() threads).
 *
 * Parameters (docs/PROTOCOL.md): method ("max", default; "min", "mean", "sum", "std"), axis ("z",
 * default; "y", "x"), channel, frame. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/algo.h"
#include "analysis/algo_common.h"
#include "analysis/par.h"
#include "analysis/params.h"
#include "analysis/preview.h"

enum proj_method { PROJ_MAX, PROJ_MIN, PROJ_MEAN, PROJ_SUM, PROJ_STD };
static const char *const proj_methods[] = {"max", "min", "mean", "sum", "std"}; /* as the table */

enum { P_METHOD, P_AXIS, P_CHANNEL, P_FRAME, P__COUNT };
static const struct za_param proj_params[P__COUNT] = {
    [P_METHOD] = {"method", ZA_P_CHOICE, 0, 0, "max|min|mean|sum|std", 0, 0, "\"max\"",
                  "how the voxels along the axis are reduced"},
    [P_AXIS] = {"axis", ZA_P_CHOICE, 0, 0, "z|y|x", 0, 0, "\"z\"", "the axis projected along"},
    [P_CHANNEL] = ZA_PARAM_CHANNEL,
    [P_FRAME] = ZA_PARAM_FRAME,
};

static int proj_parse(const struct pr_value *p, enum proj_method *m, int *axis, char *err,
                      size_t errlen)
{
    struct za_pval v[P__COUNT];
    *m = PROJ_MAX, *axis = 2;
    if (za_params_read(proj_params, P__COUNT, p, v, err, errlen) != 0)
        return -1;
    *m = (enum proj_method)v[P_METHOD].choice;
    *axis = 2 - v[P_AXIS].choice; /* z|y|x: 2, 1, 0 */
    return 0;
}

static int proj_check(const struct pr_value *p, char *err, size_t errlen)
{
    enum proj_method m;
    int axis;
    return proj_parse(p, &m, &axis, err, errlen);
}

/* Output (a, b) reduces the samples base + a * sa + b * sb + c * sc for c < nc; rows of b. */
struct proj_job {
    const struct za_stack *s;
    enum proj_method m;
    long nb, nc, sa, sb, sc;
    double *out;   /* na * nb */
    double **line; /* per thread: nc samples */
};

static double proj_value(enum proj_method m, double acc, double acc2, double lo, double hi, long n)
{
    double mean = acc / (double)n;
    switch (m) {
    case PROJ_MAX: return hi;
    case PROJ_MIN: return lo;
    case PROJ_MEAN: return mean;
    case PROJ_SUM: return acc;
    default: return sqrt(fmax(0, acc2 / (double)n - mean * mean));
    }
}

static void proj_rows(void *arg, long begin, long end, int thread)
{
    struct proj_job *j = arg;
    double *line = j->line[thread];
    long nb = j->nb, nc = j->nc, big = nb > nc ? nb : nc;
    double *acc = line + big, *acc2 = acc + big, *lo = acc2 + big, *hi = lo + big;
    for (long a = begin; a < end; a++) {
        if (j->sc == 1) { /* along x: each output sample reduces a contiguous row */
            for (long b = 0; b < nb; b++) {
                za_to_double_range(j->s, (size_t)(a * j->sa + b * j->sb), (size_t)nc, line);
                double s = 0, s2 = 0, l = INFINITY, h = -INFINITY;
                for (long c = 0; c < nc; c++) {
                    s += line[c], s2 += line[c] * line[c];
                    l = line[c] < l ? line[c] : l, h = line[c] > h ? line[c] : h;
                }
                j->out[a * nb + b] = proj_value(j->m, s, s2, l, h, nc);
            }
            continue;
        }
        /* along y or z: whole rows of x accumulate element by element */
        for (long b = 0; b < nb; b++)
            acc[b] = acc2[b] = 0, lo[b] = INFINITY, hi[b] = -INFINITY;
        for (long c = 0; c < nc; c++) {
            za_to_double_range(j->s, (size_t)(a * j->sa + c * j->sc), (size_t)nb, line);
            for (long b = 0; b < nb; b++) {
                double v = line[b];
                acc[b] += v, acc2[b] += v * v;
                lo[b] = v < lo[b] ? v : lo[b], hi[b] = v > hi[b] ? v : hi[b];
            }
        }
        for (long b = 0; b < nb; b++)
            j->out[a * nb + b] = proj_value(j->m, acc[b], acc2[b], lo[b], hi[b], nc);
    }
}

/* Projects s along axis into a 2D stack (nz = 1). Returns ZA_OK or ZA_ENOMEM. */
static int project(const struct za_stack *s, enum proj_method m, int axis, struct za_stack *out)
{
    long n[3] = {s->nx, s->ny, s->nz}, st[3] = {1, s->nx, (long)s->nx * s->ny};
    /* the output's rows are along the first remaining axis (x, or y when x is projected) */
    int ib = axis == 0 ? 1 : 0, ia = axis == 2 ? 1 : 2;
    struct proj_job j = {
        .s = s, .m = m, .nb = n[ib], .nc = n[axis], .sa = st[ia], .sb = st[ib], .sc = st[axis]};
    int nt = za_threads(), rc = ZA_ENOMEM;
    j.out = malloc((size_t)(n[ia] * n[ib]) * sizeof(double));
    j.line = calloc((size_t)nt, sizeof(double *));
    long big = n[axis] > n[ib] ? n[axis] : n[ib];
    for (int t = 0; j.line && t < nt; t++)
        j.line[t] = malloc((size_t)big * 5 * sizeof(double));
    for (int t = 0; j.line && t < nt; t++)
        if (!j.line[t])
            goto out;
    if (!j.out || !j.line)
        goto out;
    za_par_for(n[ia], 4, proj_rows, &j, NULL);
    bool keep = m == PROJ_MAX || m == PROJ_MIN;
    if (za_stack_alloc(out, (int)n[ib], (int)n[ia], 1, keep ? s->dtype : ZA_F32) != 0)
        goto out;
    double d[3] = {s->dx, s->dy, s->dz};
    out->dx = d[ib], out->dy = d[ia], out->dz = 1;
    snprintf(out->unit, sizeof(out->unit), "%s", s->unit);
    size_t total = (size_t)(n[ia] * n[ib]);
    for (size_t i = 0; i < total; i++) {
        double v = j.out[i];
        switch (out->dtype) {
        case ZA_U8: ((uint8_t *)out->data)[i] = (uint8_t)v; break;
        case ZA_U16: ((uint16_t *)out->data)[i] = (uint16_t)v; break;
        case ZA_U32: ((uint32_t *)out->data)[i] = (uint32_t)v; break;
        case ZA_I8: ((int8_t *)out->data)[i] = (int8_t)v; break;
        case ZA_I16: ((int16_t *)out->data)[i] = (int16_t)v; break;
        case ZA_I32: ((int32_t *)out->data)[i] = (int32_t)v; break;
        case ZA_F32: ((float *)out->data)[i] = (float)v; break;
        }
    }
    rc = ZA_OK;
out:
    for (int t = 0; j.line && t < nt; t++)
        free(j.line[t]);
    free(j.line);
    free(j.out);
    return rc;
}

/* preview.png: the projection, contrast-stretched (analysis/preview.h). */
static int proj_preview(struct za_algo_result *res, const struct za_stack *p, const char *dir,
                        struct pr_value *summary, struct pr_value *arts, char *err, size_t errlen)
{
    size_t np = za_voxels(p);
    double *plane = malloc(np * sizeof(double));
    struct za_display d = {0};
    struct za_rgb im = {0};
    int rc = -1;
    if (plane)
        za_to_double_range(p, 0, np, plane);
    if (!plane || za_display_make(plane, p->nx, p->ny, &d) != 0 || za_preview_gray(&d, &im) != 0)
        snprintf(err, errlen, "no memory for the preview");
    else
        rc = za_algo_preview(res, &im, &d, dir, summary, arts, err, errlen);
    free(plane);
    za_display_free(&d);
    za_rgb_free(&im);
    return rc;
}

static int proj_run(struct za_algo_ctx *ctx, struct za_algo_result *res)
{
    enum proj_method m;
    int axis, rc = -1;
    char err[320], dir[1024], path[1100];
    proj_parse(ctx->params, &m, &axis, err, sizeof(err)); /* checked before the job started */
    double t0 = za_now_ms();
    struct za_stack s, p = {0};
    if (za_algo_load(ctx, 70, &s, res) != 0)
        return -1;
    double t_load = za_now_ms() - t0;
    if (atomic_load(ctx->cancel)) {
        za_algo_fail(res, "CANCELLED", "cancelled", true);
        goto out;
    }
    ctx->progress(ctx, 70, "Projecting");
    double t1 = za_now_ms();
    if (project(&s, m, axis, &p) != ZA_OK) {
        za_algo_fail(res, "IMAGE_TOO_LARGE", "no memory for the projection", true);
        goto out;
    }
    double t_proj = za_now_ms() - t1;
    ctx->progress(ctx, 90, "Writing results");
    struct za_err ze;
    if (za_algo_result_dir(ctx, dir, sizeof(dir), err, sizeof(err)) != 0) {
        za_algo_fail(res, "RESULT_WRITE_FAILED", err, true);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/projection.tif", dir);
    if (za_tiff_write(path, &p, false, true, &ze) != 0) {
        za_algo_fail(res, "RESULT_WRITE_FAILED", ze.message, true);
        goto out;
    }
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    size_t np = za_voxels(&p);
    for (size_t i = 0; i < np; i++) {
        double v = za_get(&p, i);
        lo = fmin(lo, v), hi = fmax(hi, v), sum += v;
    }
    struct pr_value *out = pr_value_new_object(), *arts = pr_value_new_array();
    struct pr_value *tm = pr_value_new_object();
    pr_value_set(out, "algorithm", pr_value_str("max_projection"));
    pr_value_set(out, "method", pr_value_str(proj_methods[m]));
    char ax[2] = {(char)('x' + axis), 0};
    pr_value_set(out, "axis", pr_value_str(ax));
    pr_value_set(out, "width", pr_value_int(p.nx));
    pr_value_set(out, "height", pr_value_int(p.ny));
    pr_value_set(out, "min", pr_value_double(lo));
    pr_value_set(out, "max", pr_value_double(hi));
    pr_value_set(out, "mean", pr_value_double(sum / (double)np));
    za_set_obj(out, "image", za_image_summary(&s));
    pr_value_set(tm, "load", pr_value_double(round(t_load * 10) / 10));
    pr_value_set(tm, "project", pr_value_double(round(t_proj * 10) / 10));
    za_set_obj(out, "time_ms", tm);
    za_artifact_add(arts, dir, "projection.tif", "image/tiff");
    if (proj_preview(res, &p, dir, out, arts, err, sizeof(err)) != 0) {
        pr_value_free(arts);
        pr_value_free(out);
        za_algo_fail(res, "RESULT_WRITE_FAILED", err, true);
        goto out;
    }
    za_set_obj(out, "artifacts", arts);
    res->summary = out;
    res->confidence = 1; /* a deterministic transform: nothing to doubt */
    ctx->progress(ctx, 100, "Complete");
    rc = 0;
out:
    za_stack_free(&s);
    za_stack_free(&p);
    return rc;
}

const struct za_algo za_algo_max_projection = {
    .name = "max_projection",
    .input_doc = "a z-stack, as for segmentation_3d",
    .params = proj_params,
    .nparams = P__COUNT,
    .needs_file = true,
    .default_seconds = 2,
    .check = proj_check,
    .estimate = NULL, /* the measured throughput */
    .run = proj_run,
};
