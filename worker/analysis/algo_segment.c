/* The `segmentation_3d` algorithm: load a z-stack, Gaussian smoothing, Otsu's (or a manual)
 * threshold, 3D connected components, a volume filter, per-object measurements, a confidence
 * score; the summary goes into processing_complete, the per-object table (CSV) and the label
 * volume (TIFF) into <results_dir>/<job_id>/. Compute thread.
 *
 * Parameters: sigma (smoothing in the stack's physical unit: a number, or [x, y, z]; default 1;
 * 0 turns it off), threshold ("otsu" or a number), connectivity (6 or 26, default 26),
 * min_volume / max_volume (voxels; default 1 / none), channel, frame (0-based). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "worker/algo.h"
#include "worker/analysis/filter.h"
#include "worker/analysis/par.h"
#include "worker/analysis/segment.h"
#include "worker/analysis/stack.h"

#define SEG_MAX_VOXELS ((uint64_t)1 << 31) /* budget: 2 G voxels (8 GB as float) */

static bool sigma_param(const struct pr_value *p, double out[3], char *err, size_t errlen)
{
    const struct pr_value *v = pr_value_get(p, "sigma");
    out[0] = out[1] = out[2] = 1;
    if (!v)
        return true;
    if (v->type == PR_V_ARRAY && v->u.a.n == 3) {
        for (int i = 0; i < 3; i++)
            if (!wk_value_num(&v->u.a.items[i], &out[i]))
                out[i] = -1;
    } else if (wk_value_num(v, &out[0])) {
        out[1] = out[2] = out[0];
    } else {
        out[0] = -1;
    }
    for (int i = 0; i < 3; i++)
        if (!(out[i] >= 0 && out[i] <= 1000)) {
            snprintf(err, errlen, "sigma: a number or [x, y, z] from 0 to 1000 (physical units)");
            return false;
        }
    return true;
}

static int seg_check(const struct pr_value *p, char *err, size_t errlen)
{
    double s[3];
    bool bad = false;
    if (!sigma_param(p, s, err, errlen))
        return -1;
    const struct pr_value *t = pr_value_get(p, "threshold");
    if (t && !(t->type == PR_V_STR && strcmp(t->u.s.p, "otsu") == 0) && t->type != PR_V_INT &&
        t->type != PR_V_DOUBLE)
        return snprintf(err, errlen, "threshold: \"otsu\" or a number"), -1;
    double c = wk_param_num(p, "connectivity", 26, &bad);
    if (bad || (c != 6 && c != 26))
        return snprintf(err, errlen, "connectivity: 6 or 26"), -1;
    double mn = wk_param_num(p, "min_volume", 1, &bad), mx = wk_param_num(p, "max_volume", 0, &bad);
    if (bad || mn < 0 || mx < 0 || (mx > 0 && mx < mn))
        return snprintf(err, errlen, "min_volume, max_volume: voxel counts, min <= max"), -1;
    double ch = wk_param_num(p, "channel", 0, &bad), fr = wk_param_num(p, "frame", 0, &bad);
    if (bad || ch < 0 || fr < 0 || ch != floor(ch) || fr != floor(fr))
        return snprintf(err, errlen, "channel, frame: 0-based integers"), -1;
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool load_progress(void *arg, double fraction)
{
    struct wk_algo_ctx *ctx = arg;
    ctx->progress(ctx, 40 * fraction, "Loading data");
    return !atomic_load(ctx->cancel);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static struct pr_value *obj(void)
{
    return pr_value_new_object();
}

static void set_obj(struct pr_value *parent, const char *key, struct pr_value *child)
{
    pr_value_set(parent, key, *child);
    free(child);
}

static void fail(struct wk_algo_result *res, const char *code, const char *msg, bool retry)
{
    snprintf(res->error_code, sizeof(res->error_code), "%s", code);
    snprintf(res->error, sizeof(res->error), "%s", msg);
    res->retry_available = retry;
}

/* Writes objects.csv and labels.tif under <results_dir>/<job_id>/; returns 0 or -1. */
static int write_artifacts(struct wk_algo_ctx *ctx, const struct za_stack *raw,
                           const uint32_t *labels, const struct za_object *o, uint32_t n,
                           struct pr_value *arts, char *err, size_t errlen)
{
    char dir[1024], path[1100];
    snprintf(dir, sizeof(dir), "%s/%s", ctx->results_dir, ctx->job_id);
    if ((mkdir(ctx->results_dir, 0775) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0775) != 0 && errno != EEXIST)) {
        snprintf(err, errlen, "%.200s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/objects.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%.200s: %s", path, strerror(errno));
        return -1;
    }
    double vv = raw->dx * raw->dy * raw->dz;
    fprintf(f, "label,voxels,volume,centroid_x,centroid_y,centroid_z,weighted_x,weighted_y,"
               "weighted_z,bbox_x0,bbox_y0,bbox_z0,bbox_x1,bbox_y1,bbox_z1,min,max,mean,sum,"
               "surface_area,sphericity,touches_border\n");
    for (uint32_t k = 0; k < n; k++) {
        double vol = (double)o[k].voxels * vv;
        double sph = o[k].surface > 0 ? cbrt(M_PI) * pow(6 * vol, 2.0 / 3.0) / o[k].surface : 0;
        fprintf(f,
                "%u,%ld,%.6g,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%d,%d,%d,%d,%d,%d,%.6g,%.6g,%.6g,%.8g,"
                "%.6g,%.4f,%d\n",
                o[k].label, o[k].voxels, vol, o[k].cx, o[k].cy, o[k].cz, o[k].wcx, o[k].wcy,
                o[k].wcz, o[k].x0, o[k].y0, o[k].z0, o[k].x1, o[k].y1, o[k].z1, o[k].min, o[k].max,
                o[k].sum / (double)o[k].voxels, o[k].sum, o[k].surface, sph, o[k].touches_border);
    }
    bool ok = fclose(f) == 0;
    pr_value_set(arts, "objects_csv", pr_value_str(path));
    if (!ok) {
        snprintf(err, errlen, "%.200s: write failed", path);
        return -1;
    }
    struct za_stack lab = *raw;
    size_t nv = za_voxels(raw);
    lab.dtype = n < 65536 ? ZA_U16 : ZA_U32;
    lab.data = za_alloc(nv * za_dtype_size(lab.dtype));
    if (!lab.data) {
        snprintf(err, errlen, "no memory for the label volume");
        return -1;
    }
    for (size_t i = 0; i < nv; i++) {
        if (lab.dtype == ZA_U16)
            ((uint16_t *)lab.data)[i] = (uint16_t)labels[i];
        else
            ((uint32_t *)lab.data)[i] = labels[i];
    }
    snprintf(path, sizeof(path), "%s/labels.tif", dir);
    struct za_err ze;
    int rc = za_tiff_write(path, &lab, false, true, &ze);
    za_free(lab.data);
    if (rc != 0) {
        snprintf(err, errlen, "%s", ze.message);
        return -1;
    }
    pr_value_set(arts, "labels_tif", pr_value_str(path));
    return 0;
}

static int seg_run(struct wk_algo_ctx *ctx, struct wk_algo_result *res)
{
    const struct pr_value *p = ctx->params;
    double sigma[3], t0 = now_ms(), tms[6] = {0};
    char err[320];
    sigma_param(p, sigma, err, sizeof(err));
    const struct pr_value *tp = pr_value_get(p, "threshold");
    bool manual = tp && (tp->type == PR_V_INT || tp->type == PR_V_DOUBLE);
    int conn = (int)wk_param_num(p, "connectivity", 26, NULL);
    long min_vol = (long)wk_param_num(p, "min_volume", 1, NULL);
    long max_vol = (long)wk_param_num(p, "max_volume", 0, NULL);
    struct za_load_opts lo = {.channel = (int)wk_param_num(p, "channel", 0, NULL),
                              .frame = (int)wk_param_num(p, "frame", 0, NULL),
                              .max_voxels = SEG_MAX_VOXELS,
                              .progress = load_progress,
                              .arg = ctx};
    struct za_stack raw;
    struct za_err ze;
    ctx->progress(ctx, 0, "Loading data");
    if (za_tiff_load(ctx->input_path, &lo, &raw, &ze) != 0) {
        fail(res, ze.code, ze.message, strcmp(ze.code, "CANCELLED") == 0);
        return -1;
    }
    tms[0] = now_ms() - t0;
    size_t nv = za_voxels(&raw);
    float *v = za_alloc(nv * sizeof(float));
    uint32_t *labels = za_alloc(nv * sizeof(uint32_t));
    struct za_object *objs = NULL;
    int rc = -1;
    if (!v || !labels) {
        fail(res, "IMAGE_TOO_LARGE", "no memory for the working volumes", true);
        goto out;
    }
    ctx->progress(ctx, 40, "Smoothing");
    double t1 = now_ms();
    double sv[3] = {sigma[0] / raw.dx, sigma[1] / raw.dy, sigma[2] / raw.dz};
    int zr = za_gaussian3d_from(&raw, v, sv, ctx->cancel);
    if (zr == ZA_ECANCEL)
        goto cancelled;
    if (zr != ZA_OK) {
        fail(res, "IMAGE_TOO_LARGE", "no memory for smoothing", true);
        goto out;
    }
    tms[1] = now_ms() - t1;
    if (atomic_load(ctx->cancel))
        goto cancelled;
    ctx->progress(ctx, 60, "Thresholding");
    t1 = now_ms();
    bool integer = raw.dtype != ZA_F32 && sv[0] <= 0 && sv[1] <= 0 && sv[2] <= 0;
    double sep = 0, thr = za_otsu(v, nv, integer, &sep);
    if (manual)
        thr = tp->type == PR_V_INT ? (double)tp->u.i : tp->u.d;
    tms[2] = now_ms() - t1;
    ctx->progress(ctx, 65, "Labelling");
    t1 = now_ms();
    uint32_t count = 0;
    size_t fg = 0;
    zr = za_label(v, raw.nx, raw.ny, raw.nz, thr, conn, labels, &count, &fg, ctx->cancel);
    if (zr == ZA_ECANCEL)
        goto cancelled;
    if (zr != ZA_OK) {
        fail(res, "IMAGE_TOO_LARGE", "no memory for labelling", true);
        goto out;
    }
    tms[3] = now_ms() - t1;
    if (atomic_load(ctx->cancel))
        goto cancelled;
    ctx->progress(ctx, 80, "Measuring");
    t1 = now_ms();
    objs = calloc(count ? count : 1, sizeof(*objs));
    if (!objs) {
        fail(res, "IMAGE_TOO_LARGE", "no memory for the object table", true);
        goto out;
    }
    za_measure(&raw, labels, count, objs);
    uint32_t all = count;
    count = za_filter_volume(labels, nv, objs, count, min_vol, max_vol);
    tms[4] = now_ms() - t1;

    /* volumes and the confidence parts */
    long *vols = malloc(sizeof(long) * (count ? count : 1)), kept_vox = 0;
    for (uint32_t k = 0; k < count; k++)
        vols[k] = objs[k].voxels, kept_vox += objs[k].voxels;
    qsort(vols, count, sizeof(long), cmp_long);
    double median = count ? (count % 2 ? (double)vols[count / 2]
                                       : 0.5 * (double)(vols[count / 2 - 1] + vols[count / 2]))
                          : 0;
    long big = 0;
    for (uint32_t k = 0; k < count; k++)
        big += vols[k] > 2 * median ? vols[k] : 0;
    double ff = (double)fg / (double)nv;
    double c_sep = fmin(1, fmax(0, (sep - 2 / M_PI) / (1 - 2 / M_PI)));
    double c_kept = fg ? (double)kept_vox / (double)fg : 0;
    double c_merge = kept_vox ? 1 - (double)big / (double)kept_vox : 0;
    double c_ff = ff < 0.001 ? ff / 0.001 : ff > 0.5 ? (1 - ff) / 0.5 : 1;
    double parts[4] = {c_sep, c_kept, c_merge, c_ff}, logsum = 0;
    for (int i = 0; i < 4; i++)
        logsum += log(fmax(parts[i], 0.01));
    res->confidence = count ? exp(logsum / 4) : 0;
    /* hints that match the weakest part */
    int weakest = 0;
    for (int i = 1; i < 4; i++)
        weakest = parts[i] < parts[weakest] ? i : weakest;
    static const char *const hints[4][2] = {
        {"Low contrast between objects and background: check the channel and the exposure",
         "Try a manual threshold or more smoothing (sigma)"},
        {"Many tiny objects were dropped: raise sigma or check min_volume",
         "Inspect the label volume for noise"},
        {"Some objects are much larger than the median: they may be merged",
         "Re-run with a smaller sigma or split touching objects"},
        {"The foreground fraction is implausible: check the threshold",
         "Check that the stack holds stained objects on a darker background"}};
    snprintf(res->suggested_actions[0], sizeof(res->suggested_actions[0]), "%s", hints[weakest][0]);
    snprintf(res->suggested_actions[1], sizeof(res->suggested_actions[1]), "%s", hints[weakest][1]);

    ctx->progress(ctx, 95, "Writing results");
    t1 = now_ms();
    struct pr_value *sum = obj(), *img = obj(), *vs = obj(), *cp = obj(), *tm = obj(),
                    *arts = obj();
    if (write_artifacts(ctx, &raw, labels, objs, count, arts, err, sizeof(err)) != 0) {
        pr_value_free(sum), pr_value_free(img), pr_value_free(vs), pr_value_free(cp);
        pr_value_free(tm), pr_value_free(arts);
        free(vols);
        fail(res, "RESULT_WRITE_FAILED", err, true);
        goto out;
    }
    tms[5] = now_ms() - t1;
    pr_value_set(sum, "algorithm", pr_value_str("segmentation_3d"));
    pr_value_set(sum, "object_count", pr_value_int(count));
    pr_value_set(sum, "objects_before_volume_filter", pr_value_int(all));
    pr_value_set(sum, "threshold", pr_value_double(thr));
    pr_value_set(sum, "threshold_method", pr_value_str(manual ? "manual" : "otsu"));
    pr_value_set(sum, "connectivity", pr_value_int(conn));
    pr_value_set(sum, "foreground_fraction", pr_value_double(ff));
    pr_value_set(img, "nx", pr_value_int(raw.nx));
    pr_value_set(img, "ny", pr_value_int(raw.ny));
    pr_value_set(img, "nz", pr_value_int(raw.nz));
    pr_value_set(img, "dtype", pr_value_str(za_dtype_name(raw.dtype)));
    char vsz[96];
    snprintf(vsz, sizeof(vsz), "%g x %g x %g %s", raw.dx, raw.dy, raw.dz, raw.unit);
    pr_value_set(img, "voxel_size", pr_value_str(vsz));
    set_obj(sum, "image", img);
    double vv = raw.dx * raw.dy * raw.dz, mean = count ? (double)kept_vox / count : 0;
    pr_value_set(vs, "min_voxels", pr_value_int(count ? vols[0] : 0));
    pr_value_set(vs, "median_voxels", pr_value_double(median));
    pr_value_set(vs, "mean_voxels", pr_value_double(mean));
    pr_value_set(vs, "max_voxels", pr_value_int(count ? vols[count - 1] : 0));
    pr_value_set(vs, "mean_volume", pr_value_double(mean * vv));
    pr_value_set(vs, "unit", pr_value_str(raw.unit));
    set_obj(sum, "volume", vs);
    pr_value_set(cp, "separability", pr_value_double(c_sep));
    pr_value_set(cp, "kept_fraction", pr_value_double(c_kept));
    pr_value_set(cp, "not_merged", pr_value_double(c_merge));
    pr_value_set(cp, "foreground_plausible", pr_value_double(c_ff));
    pr_value_set(cp, "raw_otsu_separability", pr_value_double(sep));
    set_obj(sum, "confidence_parts", cp);
    static const char *const steps[6] = {"load",  "smooth",  "threshold",
                                         "label", "measure", "write"};
    for (int i = 0; i < 6; i++)
        pr_value_set(tm, steps[i], pr_value_double(round(tms[i] * 10) / 10));
    set_obj(sum, "time_ms", tm);
    set_obj(sum, "artifacts", arts);
    free(vols);
    res->summary = sum;
    ctx->progress(ctx, 100, "Complete");
    rc = 0;
    goto out;
cancelled:
    fail(res, "CANCELLED", "cancelled", true);
out:
    za_free(v);
    za_free(labels);
    free(objs);
    za_stack_free(&raw);
    return rc;
}

const struct wk_algo wk_algo_segmentation_3d = {
    .name = "segmentation_3d",
    .needs_file = true,
    .default_seconds = 10,
    .check = seg_check,
    .estimate = NULL, /* the measured throughput */
    .run = seg_run,
};
