/* Shared parts of the analysis algorithms. */
#include "analysis/algo_common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "analysis/input.h"
#include "analysis/preview.h"

double za_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void za_algo_fail(struct za_algo_result *res, const char *code, const char *msg, bool retry)
{
    snprintf(res->error_code, sizeof(res->error_code), "%s", code);
    snprintf(res->error, sizeof(res->error), "%s", msg);
    res->retry_available = retry;
}

int za_algo_channel_frame(const struct pr_value *p, int *channel, int *frame, char *err,
                          size_t errlen)
{
    bool bad = false;
    double ch = za_param_num(p, "channel", 0, &bad), fr = za_param_num(p, "frame", 0, &bad);
    if (bad || ch < 0 || fr < 0 || ch != floor(ch) || fr != floor(fr) || ch > 1e6 || fr > 1e9) {
        snprintf(err, errlen, "channel, frame: 0-based integers");
        return -1;
    }
    *channel = (int)ch, *frame = (int)fr;
    return 0;
}

struct load_arg {
    struct za_algo_ctx *ctx;
    double upto;
};

static bool load_progress(void *arg, double fraction)
{
    struct load_arg *a = arg;
    a->ctx->progress(a->ctx, a->upto * fraction, "Loading data");
    return !atomic_load(a->ctx->cancel);
}

int za_algo_load(struct za_algo_ctx *ctx, double upto, struct za_stack *out,
                 struct za_algo_result *res)
{
    struct load_arg a = {ctx, upto};
    struct za_load_opts lo = {
        .max_voxels = ZA_ALGO_MAX_VOXELS, .progress = load_progress, .arg = &a};
    char err[128];
    memset(out, 0, sizeof(*out));
    if (za_algo_channel_frame(ctx->params, &lo.channel, &lo.frame, err, sizeof(err)) != 0) {
        za_algo_fail(res, "INVALID_PARAMETERS", err, false);
        return -1;
    }
    struct za_err ze;
    ctx->progress(ctx, 0, "Loading data");
    int fd = -1;
    if (ctx->roots) { /* a job's file: only inside the data directories (analysis/input.h) */
        const char *code;
        char msg[400];
        fd = za_file_open(ctx->roots, ctx->input_path, &code, msg, sizeof(msg));
        if (fd < 0) {
            za_algo_fail(res, code, msg, false);
            return -1;
        }
    }
    if ((fd >= 0 ? za_tiff_load_fd(fd, ctx->input_path, &lo, out, &ze)
                 : za_tiff_load(ctx->input_path, &lo, out, &ze)) != 0) {
        za_algo_fail(res, ze.code, ze.message, strcmp(ze.code, "CANCELLED") == 0);
        return -1;
    }
    return 0;
}

int za_algo_result_dir(struct za_algo_ctx *ctx, char *dir, size_t dirlen, char *err, size_t errlen)
{
    snprintf(dir, dirlen, "%s/%s", ctx->results_dir, ctx->result_id);
    if ((mkdir(ctx->results_dir, 0775) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0775) != 0 && errno != EEXIST)) {
        snprintf(err, errlen, "%.200s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

void za_artifact_add(struct pr_value *arts, const char *dir, const char *name, const char *type)
{
    char path[1100];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct pr_value *a = pr_value_new_object();
    pr_value_set(a, "name", pr_value_str(name));
    pr_value_set(a, "type", pr_value_str(type));
    pr_value_set(a, "size", pr_value_int(stat(path, &st) == 0 ? (int64_t)st.st_size : 0));
    pr_value_push(arts, *a);
    free(a);
}

int za_algo_preview(struct za_algo_result *res, const struct za_rgb *im, const struct za_display *d,
                    const char *dir, struct pr_value *summary, struct pr_value *arts, char *err,
                    size_t errlen)
{
    free(res->preview);
    res->preview = NULL;
    if (za_preview_save(im, dir, &res->preview, &res->preview_len, err, errlen) != 0)
        return -1;
    za_set_obj(summary, "preview", za_preview_summary(im, d));
    za_artifact_add(arts, dir, "preview.png", "image/png");
    return 0;
}

void za_set_obj(struct pr_value *parent, const char *key, struct pr_value *child)
{
    pr_value_set(parent, key, *child);
    free(child);
}

struct pr_value *za_image_summary(const struct za_stack *s)
{
    struct pr_value *img = pr_value_new_object();
    pr_value_set(img, "nx", pr_value_int(s->nx));
    pr_value_set(img, "ny", pr_value_int(s->ny));
    pr_value_set(img, "nz", pr_value_int(s->nz));
    pr_value_set(img, "dtype", pr_value_str(za_dtype_name(s->dtype)));
    char vsz[96];
    snprintf(vsz, sizeof(vsz), "%g x %g x %g %s", s->dx, s->dy, s->dz, s->unit);
    pr_value_set(img, "voxel_size", pr_value_str(vsz));
    return img;
}
