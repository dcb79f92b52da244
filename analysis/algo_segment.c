/* The `segmentation_3d` algorithm: load a z-stack, Gaussian smoothing, optional background
 * subtraction, Otsu's, Li's or a manual threshold, 3D connected components, optional watershed
 * split of touching objects, a volume filter, per-object measurements, a confidence score; the
 * summary goes into processing_complete, the per-object table (CSV) and the label volume (TIFF)
 * into <results_dir>/<result_id>/. Compute thread (the steps use za_threads() threads).
 *
 * Parameters (docs/PROTOCOL.md): sigma (physical unit: a number, or [x, y, z]; default 1; 0 turns
 * it off), background_sigma (physical; subtracts a Gaussian of this width; default 0 = off),
 * threshold ("otsu", "li" or a number), connectivity (6 or 26, default 26), split (bool),
 * split_depth (physical; default 0.1 x the smallest voxel side), min_volume / max_volume (voxels;
 * default 1 / none), channel, frame (0-based). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "analysis/algo.h"
#include "analysis/algo_common.h"
#include "analysis/filter.h"
#include "analysis/par.h"
#include "analysis/params.h"
#include "analysis/preview.h"
#include "analysis/segment.h"
#include "analysis/split.h"
#include "analysis/stack.h"

enum seg_thr { SEG_OTSU, SEG_LI, SEG_MANUAL };

struct seg_params {
    double sigma[3], bg_sigma, thr_value, split_depth; /* split_depth < 0: the default */
    enum seg_thr thr;
    int connectivity, channel, frame;
    long min_vol, max_vol;
    bool split;
};

enum {
    P_SIGMA,
    P_BACKGROUND_SIGMA,
    P_THRESHOLD,
    P_CONNECTIVITY,
    P_SPLIT,
    P_SPLIT_DEPTH,
    P_MIN_VOLUME,
    P_MAX_VOLUME,
    P_CHANNEL,
    P_FRAME,
    P__COUNT
};
static const struct za_param seg_param_table[P__COUNT] = {
    [P_SIGMA] = {"sigma", ZA_P_XYZ, 0, 1000, NULL, 0, 1, "1",
                 "Gaussian smoothing in the stack's physical unit (0: none)"},
    [P_BACKGROUND_SIGMA] = {"background_sigma", ZA_P_XYZ, 0, 1000, NULL, 0, 0, "0",
                            "subtract a Gaussian of this width (physical; 0: off)"},
    [P_THRESHOLD] = {"threshold", ZA_P_CHOICE_OR_NUM, 0, 0, "otsu|li", 0, 0, "\"otsu\"",
                     "the foreground threshold: a method, or a level"},
    [P_CONNECTIVITY] = {"connectivity", ZA_P_INT, 6, 26, "6|26", 0, 26, "26",
                        "voxel neighbourhood of the labelling"},
    [P_SPLIT] = {"split", ZA_P_BOOL, 0, 0, NULL, 0, 0, "false",
                 "split touching objects by watershed"},
    [P_SPLIT_DEPTH] = {"split_depth", ZA_P_NUM, 0, 1e6, NULL, 0, -1,
                       "0.1 x the smallest voxel side",
                       "the depth a basin needs to become its own object (physical; > 0)"},
    [P_MIN_VOLUME] = {"min_volume", ZA_P_NUM, 0, 1e15, NULL, 0, 1, "1",
                      "the smallest object kept (voxels)"},
    [P_MAX_VOLUME] = {"max_volume", ZA_P_NUM, 0, 1e15, NULL, 0, 0, "none",
                      "the largest object kept (voxels; 0: none)"},
    [P_CHANNEL] = ZA_PARAM_CHANNEL,
    [P_FRAME] = ZA_PARAM_FRAME,
};

/* The job's parameters, checked: 0, or -1 with the reason (naming the parameter) in err. */
static int seg_parse(const struct pr_value *p, struct seg_params *o, char *err, size_t errlen)
{
    struct za_pval v[P__COUNT];
    memset(o, 0, sizeof(*o));
    if (za_params_read(seg_param_table, P__COUNT, p, v, err, errlen) != 0)
        return -1;
    memcpy(o->sigma, v[P_SIGMA].xyz, sizeof(o->sigma));
    const double *bg = v[P_BACKGROUND_SIGMA].xyz; /* one width: the same along every axis */
    if (bg[0] != bg[1] || bg[1] != bg[2])
        return snprintf(err, errlen, "background_sigma: a number from 0 to 1000 (physical units)"),
               -1;
    o->bg_sigma = bg[0];
    o->thr = v[P_THRESHOLD].choice == 0   ? SEG_OTSU
             : v[P_THRESHOLD].choice == 1 ? SEG_LI
                                          : SEG_MANUAL;
    o->thr_value = v[P_THRESHOLD].choice < 0 ? v[P_THRESHOLD].num : 0;
    o->connectivity = (int)v[P_CONNECTIVITY].num;
    double mn = v[P_MIN_VOLUME].num, mx = v[P_MAX_VOLUME].num;
    if (mx > 0 && mx < mn)
        return snprintf(err, errlen, "min_volume, max_volume: voxel counts, min <= max"), -1;
    o->min_vol = (long)mn, o->max_vol = (long)mx;
    o->channel = (int)v[P_CHANNEL].num, o->frame = (int)v[P_FRAME].num;
    o->split = v[P_SPLIT].b;
    o->split_depth = v[P_SPLIT_DEPTH].num;
    if (v[P_SPLIT_DEPTH].set && !(o->split_depth > 0))
        return snprintf(err, errlen, "split_depth: a positive number (physical units)"), -1;
    return 0;
}

static int seg_check(const struct pr_value *p, char *err, size_t errlen)
{
    struct seg_params o;
    return seg_parse(p, &o, err, errlen);
}

#define CSV_CHUNK 1024 /* objects per formatting chunk */

struct csv_job {
    const struct za_object *o;
    uint32_t n;
    struct cm_buf *out; /* per chunk */
};

static void csv_rows(void *arg, long begin, long end, int thread)
{
    (void)thread;
    struct csv_job *j = arg;
    for (long c = begin; c < end; c++) {
        struct cm_buf *b = &j->out[c];
        cm_buf_init(b);
        uint32_t last = (uint32_t)(c + 1) * CSV_CHUNK < j->n ? (uint32_t)(c + 1) * CSV_CHUNK : j->n;
        for (uint32_t k = (uint32_t)c * CSV_CHUNK; k < last; k++) {
            const struct za_object *o = &j->o[k];
            const double f[] = {o->volume, o->cx,      o->cy,        o->cz,
                                o->wcx,    o->wcy,     o->wcz,       (double)o->x0,
                                o->y0,     o->z0,      o->x1,        o->y1,
                                o->z1,     o->min,     o->max,       o->sum / (double)o->voxels,
                                o->sum,    o->surface, o->sphericity};
            cm_buf_append_uint(b, o->label);
            cm_buf_putc(b, ',');
            cm_buf_append_int(b, o->voxels);
            for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
                cm_buf_putc(b, ',');
                cm_buf_append_sig(b, f[i], i == 16 ? 12 : 9);
            }
            cm_buf_puts(b, o->touches_border ? ",1\n" : ",0\n");
        }
    }
}

/* The max projections along z of the raw stack and of the labels, rows of y on all threads. */
struct seg_proj {
    const struct za_stack *raw;
    const uint32_t *labels;
    double *plane, **rows; /* rows: one nx scratch row per thread */
    uint32_t *lmax;
};

static void seg_proj_rows(void *arg, long begin, long end, int thread)
{
    struct seg_proj *j = arg;
    const struct za_stack *raw = j->raw;
    double *row = j->rows[thread];
    for (long y = begin; y < end; y++) {
        size_t o = (size_t)y * raw->nx;
        double *pl = j->plane + o;
        uint32_t *lm = j->lmax + o;
        for (int x = 0; x < raw->nx; x++)
            pl[x] = -INFINITY, lm[x] = 0;
        for (int z = 0; z < raw->nz; z++) {
            size_t at = ((size_t)z * raw->ny + (size_t)y) * raw->nx;
            const uint32_t *l = j->labels + at;
            za_to_double_range(raw, at, (size_t)raw->nx, row);
            for (int x = 0; x < raw->nx; x++) {
                pl[x] = row[x] > pl[x] ? row[x] : pl[x];
                lm[x] = l[x] > lm[x] ? l[x] : lm[x];
            }
        }
    }
}

/* preview.png: the objects over the raw max projection along z (analysis/preview.h). */
static int seg_preview(struct za_algo_result *res, const struct za_stack *raw,
                       const uint32_t *labels, uint32_t n, const char *dir, struct pr_value *sum,
                       struct pr_value *arts, char *err, size_t errlen)
{
    size_t np = (size_t)raw->nx * raw->ny;
    int nt = za_threads();
    struct seg_proj j = {raw, labels, malloc(np * sizeof(double)),
                         calloc((size_t)nt, sizeof(double *)), malloc(np * sizeof(uint32_t))};
    double *plane = j.plane;
    uint32_t *lmax = j.lmax, *lab = NULL;
    struct za_display d = {0};
    struct za_rgb im = {0};
    int rc = -1;
    bool ok = plane && lmax && j.rows;
    for (int t = 0; ok && t < nt; t++)
        ok = (j.rows[t] = malloc((size_t)raw->nx * sizeof(double))) != NULL;
    if (!ok)
        goto out;
    za_par_for(raw->ny, 8, seg_proj_rows, &j, NULL);
    if (za_display_make(plane, raw->nx, raw->ny, &d) != 0 ||
        !(lab = calloc((size_t)d.w * d.h, sizeof(uint32_t))))
        goto out;
    for (int y = 0; y < raw->ny; y++) /* each block: its largest label */
        for (int x = 0; x < raw->nx; x++) {
            uint32_t *b = &lab[(size_t)(y / d.scale) * d.w + x / d.scale];
            uint32_t l = lmax[(size_t)y * raw->nx + x];
            *b = l > *b ? l : *b;
        }
    if (za_preview_overlay(&d, lab, n, &im) != 0)
        goto out;
    rc = za_algo_preview(res, &im, &d, dir, sum, arts, err, errlen);
out:
    if (rc != 0 && !err[0])
        snprintf(err, errlen, "no memory for the preview");
    for (int t = 0; j.rows && t < nt; t++)
        free(j.rows[t]);
    free(j.rows);
    free(plane);
    free(lmax);
    free(lab);
    za_display_free(&d);
    za_rgb_free(&im);
    return rc;
}

/* Writes objects.csv, labels.tif and preview.png under <results_dir>/<result_id>/; returns 0 or
 * -1. */
static int write_artifacts(struct za_algo_ctx *ctx, struct za_algo_result *res,
                           const struct za_stack *raw, const uint32_t *labels,
                           const struct za_object *o, uint32_t n, struct pr_value *sum,
                           struct pr_value *arts, char *err, size_t errlen)
{
    char dir[1024], path[1100];
    if (za_algo_result_dir(ctx, dir, sizeof(dir), err, errlen) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/objects.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%.200s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "label,voxels,volume,centroid_x,centroid_y,centroid_z,weighted_x,weighted_y,"
               "weighted_z,bbox_x0,bbox_y0,bbox_z0,bbox_x1,bbox_y1,bbox_z1,min,max,mean,sum,"
               "surface_area,sphericity,touches_border\n");
    /* formatted on all threads, in chunks written in order */
    long chunks = ((long)n + CSV_CHUNK - 1) / CSV_CHUNK;
    struct csv_job cj = {o, n, calloc((size_t)(chunks ? chunks : 1), sizeof(struct cm_buf))};
    bool ok = cj.out != NULL;
    if (ok)
        za_par_for(chunks, 1, csv_rows, &cj, NULL);
    for (long c = 0; ok && c < chunks; c++) {
        ok = fwrite(cj.out[c].data, 1, cj.out[c].len, f) == cj.out[c].len;
        cm_buf_deinit(&cj.out[c]);
    }
    for (long c = 0; cj.out && c < chunks; c++)
        cm_buf_deinit(&cj.out[c]);
    free(cj.out);
    ok = fclose(f) == 0 && ok;
    za_artifact_add(arts, dir, "objects.csv", "text/csv");
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
    za_artifact_add(arts, dir, "labels.tif", "image/tiff");
    err[0] = '\0';
    return seg_preview(res, raw, labels, n, dir, sum, arts, err, errlen);
}

/* The confidence parts and hints, from the kept objects (docs/PROTOCOL.md). */
static void seg_confidence(const struct za_object *objs, uint32_t count, size_t fg, size_t nv,
                           double sep, double parts[4], struct za_algo_result *res)
{
    long kept_vox = 0, big = 0;
    double *vols = malloc(sizeof(double) * (count ? count : 1));
    double *sph = malloc(sizeof(double) * (count ? count : 1));
    for (uint32_t k = 0; k < count && vols && sph; k++) {
        vols[k] = (double)objs[k].voxels, kept_vox += objs[k].voxels;
        sph[k] = objs[k].sphericity;
    }
    double med_v = vols && sph ? za_median(vols, count) : 0;
    double med_s = vols && sph ? za_median(sph, count) : 0;
    /* likely merged: over twice the median volume and clearly less round than the median */
    for (uint32_t k = 0; k < count && vols && sph; k++)
        if ((double)objs[k].voxels > 2 * med_v && objs[k].sphericity < 0.9 * med_s)
            big += objs[k].voxels;
    free(vols);
    free(sph);
    double ff = (double)fg / (double)nv;
    parts[0] = fmin(1, fmax(0, (sep - 2 / M_PI) / (1 - 2 / M_PI)));
    parts[1] = fg ? (double)kept_vox / (double)fg : 0;
    parts[2] = kept_vox ? 1 - (double)big / (double)kept_vox : 0;
    parts[3] = ff < 0.001 ? ff / 0.001 : ff > 0.5 ? (1 - ff) / 0.5 : 1;
    double logsum = 0;
    for (int i = 0; i < 4; i++)
        logsum += log(fmax(parts[i], 0.01));
    res->confidence = count ? exp(logsum / 4) : 0;
    int weakest = 0; /* hints that match the weakest part */
    for (int i = 1; i < 4; i++)
        weakest = parts[i] < parts[weakest] ? i : weakest;
    static const char *const hints[4][2] = {
        {"Low contrast between objects and background: check the channel and the exposure",
         "Try threshold \"li\" or a manual value, more smoothing, or background_sigma"},
        {"Many tiny objects were dropped: raise sigma or check min_volume",
         "Inspect the label volume for noise"},
        {"Some objects are large and irregular: they may be touching objects merged",
         "Re-run with split: true (or a smaller sigma)"},
        {"The foreground fraction is implausible: check the threshold",
         "Check that the stack holds stained objects on a darker background"}};
    snprintf(res->suggested_actions[0], sizeof(res->suggested_actions[0]), "%s", hints[weakest][0]);
    snprintf(res->suggested_actions[1], sizeof(res->suggested_actions[1]), "%s", hints[weakest][1]);
}

#define SEG_STEPS 8
static const char *const seg_steps[SEG_STEPS] = {"load",  "smooth", "background", "threshold",
                                                 "label", "split",  "measure",    "write"};

/* Long: the analysis as a pipeline, step after step, each with its progress report and cancel
 * check; the steps themselves are functions of segment.c, split.c and filter.c */
static int seg_run(struct za_algo_ctx *ctx, struct za_algo_result *res)
{
    struct seg_params sp;
    char err[320];
    double t0 = za_now_ms(), tms[SEG_STEPS] = {0};
    seg_parse(ctx->params, &sp, err, sizeof(err)); /* checked before the job started */
    struct za_stack raw;
    if (za_algo_load(ctx, 40, &raw, res) != 0)
        return -1;
    tms[0] = za_now_ms() - t0;
    size_t nv = za_voxels(&raw);
    float *v = za_alloc(nv * sizeof(float)), *bg = NULL;
    uint32_t *labels = za_alloc(nv * sizeof(uint32_t));
    struct za_object *objs = NULL;
    int rc = -1, zr;
    if (!v || !labels) {
        za_algo_fail(res, "IMAGE_TOO_LARGE", "no memory for the working volumes", true);
        goto out;
    }
    ctx->progress(ctx, 40, "Smoothing");
    double t1 = za_now_ms();
    double sv[3] = {sp.sigma[0] / raw.dx, sp.sigma[1] / raw.dy, sp.sigma[2] / raw.dz};
    float range[2];
    if ((zr = za_gaussian3d_from(&raw, v, sv, range, ctx->cancel)) != ZA_OK)
        goto step_failed;
    tms[1] = za_now_ms() - t1;
    if (sp.bg_sigma > 0) {
        ctx->progress(ctx, 52, "Subtracting background");
        t1 = za_now_ms();
        double sb[3] = {sp.bg_sigma / raw.dx, sp.bg_sigma / raw.dy, sp.bg_sigma / raw.dz};
        zr = (bg = za_alloc(nv * sizeof(float))) ? ZA_OK : ZA_ENOMEM;
        if (zr == ZA_OK) {
            memcpy(bg, v, nv * sizeof(float));
            zr = za_gaussian3d(bg, raw.nx, raw.ny, raw.nz, sb, ctx->cancel);
        }
        if (zr != ZA_OK)
            goto step_failed;
        for (size_t i = 0; i < nv; i++)
            v[i] -= bg[i];
        za_free(bg);
        bg = NULL;
        tms[2] = za_now_ms() - t1;
    }
    ctx->progress(ctx, 60, "Thresholding");
    t1 = za_now_ms();
    bool integer =
        raw.dtype != ZA_F32 && sv[0] <= 0 && sv[1] <= 0 && sv[2] <= 0 && sp.bg_sigma <= 0;
    double sep = 0, thr = za_otsu(v, nv, integer, sp.bg_sigma > 0 ? NULL : range, &sep);
    if (sp.thr == SEG_LI)
        thr = za_li(v, nv, integer, sp.bg_sigma > 0 ? NULL : range);
    else if (sp.thr == SEG_MANUAL)
        thr = sp.thr_value;
    if (isnan(thr)) {
        zr = ZA_ENOMEM;
        goto step_failed;
    }
    tms[3] = za_now_ms() - t1;
    ctx->progress(ctx, 63, "Labelling");
    t1 = za_now_ms();
    uint32_t count = 0, before_split = 0;
    size_t fg = 0;
    zr =
        za_label(v, raw.nx, raw.ny, raw.nz, thr, sp.connectivity, labels, &count, &fg, ctx->cancel);
    if (zr != ZA_OK)
        goto step_failed;
    tms[4] = za_now_ms() - t1;
    double spacing[3] = {raw.dx, raw.dy, raw.dz};
    double depth = sp.split_depth > 0 ? sp.split_depth : 0.1 * fmin(raw.dx, fmin(raw.dy, raw.dz));
    before_split = count;
    if (sp.split) {
        ctx->progress(ctx, 70, "Splitting touching objects");
        t1 = za_now_ms();
        zr = za_split(labels, raw.nx, raw.ny, raw.nz, spacing, depth, sp.connectivity, &count,
                      ctx->cancel);
        if (zr != ZA_OK)
            goto step_failed;
        tms[5] = za_now_ms() - t1;
    }
    ctx->progress(ctx, 80, "Measuring");
    t1 = za_now_ms();
    objs = calloc(count ? count : 1, sizeof(*objs));
    if (!objs || za_measure(&raw, labels, count, objs) != ZA_OK) {
        zr = ZA_ENOMEM;
        goto step_failed;
    }
    uint32_t all = count;
    count = za_filter_volume(labels, nv, objs, count, sp.min_vol, sp.max_vol);
    tms[6] = za_now_ms() - t1;
    double parts[4];
    seg_confidence(objs, count, fg, nv, sep, parts, res);

    ctx->progress(ctx, 92, "Writing results");
    t1 = za_now_ms();
    struct pr_value *arts = pr_value_new_array(), *sum = pr_value_new_object();
    if (write_artifacts(ctx, res, &raw, labels, objs, count, sum, arts, err, sizeof(err)) != 0) {
        pr_value_free(arts);
        pr_value_free(sum);
        za_algo_fail(res, "RESULT_WRITE_FAILED", err, true);
        goto out;
    }
    tms[7] = za_now_ms() - t1;
    struct pr_value *vs = pr_value_new_object(), *cp = pr_value_new_object(),
                    *tm = pr_value_new_object();
    static const char *const methods[] = {"otsu", "li", "manual"};
    pr_value_set(sum, "algorithm", pr_value_str("segmentation_3d"));
    pr_value_set(sum, "object_count", pr_value_int(count));
    pr_value_set(sum, "objects_before_volume_filter", pr_value_int(all));
    if (sp.split) {
        pr_value_set(sum, "objects_before_split", pr_value_int(before_split));
        pr_value_set(sum, "split_depth", pr_value_double(depth));
    }
    pr_value_set(sum, "threshold", pr_value_double(thr));
    pr_value_set(sum, "threshold_method", pr_value_str(methods[sp.thr]));
    pr_value_set(sum, "connectivity", pr_value_int(sp.connectivity));
    pr_value_set(sum, "foreground_fraction", pr_value_double((double)fg / (double)nv));
    za_set_obj(sum, "image", za_image_summary(&raw));
    double *vols = malloc(sizeof(double) * (count ? count : 1)), vv = raw.dx * raw.dy * raw.dz;
    double total = 0, vmin = 0, vmax = 0;
    for (uint32_t k = 0; k < count && vols; k++) {
        vols[k] = (double)objs[k].voxels, total += vols[k];
        vmin = k == 0 || vols[k] < vmin ? vols[k] : vmin;
        vmax = vols[k] > vmax ? vols[k] : vmax;
    }
    pr_value_set(vs, "min_voxels", pr_value_double(vmin));
    pr_value_set(vs, "median_voxels", pr_value_double(vols ? za_median(vols, count) : 0));
    pr_value_set(vs, "mean_voxels", pr_value_double(count ? total / count : 0));
    pr_value_set(vs, "max_voxels", pr_value_double(vmax));
    pr_value_set(vs, "mean_volume", pr_value_double(count ? total / count * vv : 0));
    pr_value_set(vs, "unit", pr_value_str(raw.unit));
    free(vols);
    za_set_obj(sum, "volume", vs);
    pr_value_set(cp, "separability", pr_value_double(parts[0]));
    pr_value_set(cp, "kept_fraction", pr_value_double(parts[1]));
    pr_value_set(cp, "not_merged", pr_value_double(parts[2]));
    pr_value_set(cp, "foreground_plausible", pr_value_double(parts[3]));
    pr_value_set(cp, "raw_otsu_separability", pr_value_double(sep));
    za_set_obj(sum, "confidence_parts", cp);
    for (int i = 0; i < SEG_STEPS; i++)
        pr_value_set(tm, seg_steps[i], pr_value_double(round(tms[i] * 10) / 10));
    za_set_obj(sum, "time_ms", tm);
    pr_value_set(sum, "threads", pr_value_int(za_threads()));
    za_set_obj(sum, "artifacts", arts);
    res->summary = sum;
    ctx->progress(ctx, 100, "Complete");
    rc = 0;
    goto out;
step_failed:
    if (zr == ZA_ECANCEL)
        za_algo_fail(res, "CANCELLED", "cancelled", true);
    else
        za_algo_fail(res, "IMAGE_TOO_LARGE", "no memory for the working volumes", true);
out:
    za_free(v);
    za_free(bg);
    za_free(labels);
    free(objs);
    za_stack_free(&raw);
    return rc;
}

const struct za_algo za_algo_segmentation_3d = {
    .name = "segmentation_3d",
    .input_doc = "a multi-page TIFF z-stack (8/16/32-bit integer or 32-bit float, one sample per "
                 "pixel; strips or tiles; BigTIFF; any compression libtiff decodes; ImageJ "
                 "hyperstack or OME-XML metadata)",
    .params = seg_param_table,
    .nparams = P__COUNT,
    .needs_file = true,
    .default_seconds = 10,
    .check = seg_check,
    .estimate = NULL, /* the measured throughput */
    .run = seg_run,
};
