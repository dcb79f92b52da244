/* What the analysis algorithms share: loading the job's stack with progress and cancel, the
 * result directory, timing, error results and summary building. Compute thread. */
#ifndef ZA_ALGO_COMMON_H
#define ZA_ALGO_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/algo.h"
#include "analysis/stack.h"

#define ZA_ALGO_MAX_VOXELS ((uint64_t)1 << 31) /* budget: 2 G voxels (8 GB as float) */

/* Milliseconds on the monotonic clock. */
double za_now_ms(void);

/* Fills res with an error. */
void za_algo_fail(struct za_algo_result *res, const char *code, const char *msg, bool retry);

/* The parameters channel and frame, checked (0-based integers; absent: 0). */
int za_algo_channel_frame(const struct pr_value *p, int *channel, int *frame, char *err,
                          size_t errlen);

/* Loads the job's stack (channel and frame from the parameters), reporting progress from 0 to
 * upto percent as "Loading data" and stopping when the job is cancelled. Returns 0, or -1 with
 * res filled (FILE_NOT_FOUND, INVALID_IMAGE, IMAGE_TOO_LARGE, INVALID_PARAMETERS, CANCELLED). */
int za_algo_load(struct za_algo_ctx *ctx, double upto, struct za_stack *out,
                 struct za_algo_result *res);

/* Creates <results_dir>/<result_id>/ and writes its path into dir. Returns 0, or -1 with the reason
 * in err. */
int za_algo_result_dir(struct za_algo_ctx *ctx, char *dir, size_t dirlen, char *err, size_t errlen);

/* Appends {name, type, size} of the file <dir>/<name> to the array arts (the summary's
 * "artifacts": names only, never paths, so that no server path leaves the worker). */
void za_artifact_add(struct pr_value *arts, const char *dir, const char *name, const char *type);

struct za_rgb;
struct za_display;
/* Saves im as <dir>/preview.png (analysis/preview.h): its bytes go to res->preview, its
 * description to summary["preview"] (with d's scale and contrast when d is not NULL), its entry
 * to arts. Returns 0, or -1 with the reason in err. */
int za_algo_preview(struct za_algo_result *res, const struct za_rgb *im, const struct za_display *d,
                    const char *dir, struct pr_value *summary, struct pr_value *arts, char *err,
                    size_t errlen);

/* summary[key] = child (an object made with pr_value_new_object; consumed). */
void za_set_obj(struct pr_value *parent, const char *key, struct pr_value *child);

/* The image block of a summary: nx, ny, nz, dtype, voxel_size. */
struct pr_value *za_image_summary(const struct za_stack *s);

#endif
