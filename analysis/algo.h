/* Algorithm registry: what a worker can run. An algorithm gets its input path, parameters, a
 * progress callback and a cancel flag, and fills a result (summary object, confidence, or an
 * error code). Algorithms run on a compute thread; everything they touch is theirs alone. */
#ifndef ZA_ALGO_H
#define ZA_ALGO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "proto/value.h"

struct za_algo_ctx;

/* Reports progress (0..100) and the current step name (copied). Cheap; rate-limited by the
 * caller. Compute thread. */
typedef void (*za_progress_cb)(struct za_algo_ctx *ctx, double progress, const char *step);

struct za_roots;

struct za_algo_ctx {
    const char *input_path;        /* the job's file path, or NULL when the job has none */
    const struct za_roots *roots;  /* open input_path inside these (NULL: as it is, for tools) */
    const struct pr_value *params; /* the job's parameters object (never NULL) */
    const char *results_dir;       /* artifacts go to <results_dir>/<result_id>/ */
    const char *result_id;
    atomic_bool *cancel; /* set by the loop: stop at the next check */
    za_progress_cb progress;
    void *priv; /* the caller's */
};

struct za_algo_result {
    struct pr_value *summary;       /* owned; an object, set on success */
    double confidence;              /* 0..1 on success */
    char error_code[64];            /* set on failure, e.g. INVALID_IMAGE, CANCELLED */
    char error[512];                /* human-readable, on failure */
    bool retry_available;           /* on failure: whether a retry may succeed */
    char suggested_actions[4][128]; /* optional hints for validation_required ("" = none) */
    unsigned char *preview;         /* owned; the PNG preview.png holds, or NULL */
    size_t preview_len;
};

struct za_param;

struct za_algo {
    const char *name;
    const char *input_doc;         /* what it reads, for the docs */
    const struct za_param *params; /* its parameters (analysis/params.h) */
    int nparams;
    bool needs_file;        /* the job must name an existing file_path */
    double default_seconds; /* duration estimate before any measurement */
    /* Checks parameters before the job starts; writes the reason (naming the parameter) into
     * err and returns non-zero to refuse the job with INVALID_PARAMETERS. May be NULL. */
    int (*check)(const struct pr_value *params, char *err, size_t errlen);
    /* Estimated duration for these parameters, or <= 0 to use the measured throughput. */
    double (*estimate)(const struct pr_value *params);
    /* Runs the job: 0 with summary and confidence set, or non-zero with error_code set. */
    int (*run)(struct za_algo_ctx *ctx, struct za_algo_result *res);
};

/* The algorithm called name, or NULL. */
const struct za_algo *za_algo_find(const char *name);

/* The i-th algorithm of the registry, or NULL past the last. */
const struct za_algo *za_algo_at(size_t i);

/* Names of all algorithms, comma-separated, for error messages. */
const char *za_algo_names(void);

/* A number value (int, uint or double) as a double: true, or false for any other type. */
bool za_value_num(const struct pr_value *v, double *out);

/* Parameter helpers: the number at key (ints and floats), or def when absent. *bad is set when
 * the key is present but not a number. */
double za_param_num(const struct pr_value *params, const char *key, double def, bool *bad);

/* Releases what a result owns. */
void za_algo_result_deinit(struct za_algo_result *res);

extern const struct za_algo za_algo_simulate;
/* The longest duration_seconds a simulate job may ask for (--max-simulate-s; default 3600).
 * Set once at start, before any job. */
void za_simulate_set_max(double seconds);
extern const struct za_algo za_algo_segmentation_3d; /* analysis/algo_segment.c */
extern const struct za_algo za_algo_max_projection;  /* analysis/algo_project.c */
extern const struct za_algo za_algo_intensity_stats; /* analysis/algo_stats.c */

#endif
