/* 3D segmentation steps on a float volume: Otsu's threshold with scikit-image's semantics,
 * connected components, per-object measurements. Any thread. */
#ifndef ZA_SEGMENT_H
#define ZA_SEGMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/stack.h"

/* Otsu's threshold as skimage.filters.threshold_otsu computes it: on the exact histogram of the
 * integer values (one bin per value from min to max) when integer is true, else on 256 equal
 * bins from min to max (the threshold is a bin centre). Foreground is what lies strictly above
 * it. *separability gets the between-class variance over the total variance at the threshold
 * (0..1; about 2/pi for pure Gaussian noise). range: {min, max} of v when known (saves a pass;
 * NULL: computed). Returns the threshold (min when all are equal). */
double za_otsu(const float *v, size_t n, bool integer, const float *range, double *separability);

/* Li's minimum cross-entropy threshold as skimage.filters.threshold_li computes it (start at the
 * mean, iterate t = (m_b - m_f) / (ln m_b - ln m_f) on the values shifted to start at 0), on
 * the exact histogram of the integer values when integer is true (tolerance 0.5, as skimage),
 * else on a 65,536-bin histogram from min to max (so within (max - min) / 65,536 of the exact
 * iteration). range as for za_otsu. Returns the threshold (min when all are equal). */
double za_li(const float *v, size_t n, bool integer, const float *range);

/* Labels the voxels above thr in 3D with 6- or 26-connectivity: labels[i] = 0 for background,
 * 1..*count for objects numbered in the raster order of their first voxel (as
 * scipy.ndimage.label); *foreground gets the number of voxels above thr. Works on runs of
 * foreground along x, in slabs of rows on za_threads() threads. Returns ZA_OK, ZA_ENOMEM or
 * ZA_ECANCEL (cancel may be NULL). */
int za_label(const float *v, int nx, int ny, int nz, double thr, int connectivity, uint32_t *labels,
             uint32_t *count, size_t *foreground, const atomic_bool *cancel);

struct za_object {
    uint32_t label;
    long voxels;
    double cx, cy, cz;          /* centroid, voxel coordinates */
    double wcx, wcy, wcz;       /* intensity-weighted centroid (raw intensities) */
    int x0, y0, z0, x1, y1, z1; /* bounding box, inclusive */
    double min, max, sum;       /* raw intensities */
    double volume;              /* voxels times the voxel volume, in unit^3 */
    double surface;             /* area of the exposed voxel faces, in unit^2 */
    double sphericity;          /* pi^(1/3) (6 volume)^(2/3) / surface: 1 for a ball; the face
                                 * count overestimates a smooth surface, so digital balls score
                                 * about 0.6-0.7 */
    bool touches_border;
};

/* Measures every label 1..count over the raw stack (intensities) and the voxel size. objs gets
 * count entries (objs[k] for label k + 1). On za_threads() threads, each with its own table
 * (fewer threads when the tables would take much memory). Returns ZA_OK or ZA_ENOMEM. */
int za_measure(const struct za_stack *raw, const uint32_t *labels, uint32_t count,
               struct za_object *objs);

/* Keeps the objects whose voxel count lies in [min_voxels, max_voxels] (max 0: no upper bound),
 * renumbering labels (in order) and the objs array. Returns the new count. */
uint32_t za_filter_volume(uint32_t *labels, size_t n, struct za_object *objs, uint32_t count,
                          long min_voxels, long max_voxels);

/* The median of v (n values; sorted in place); 0 when n is 0. */
double za_median(double *v, size_t n);

#endif
