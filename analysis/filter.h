/* Separable filters on float volumes (x fastest). Any thread; they use za_threads() threads. */
#ifndef ZA_FILTER_H
#define ZA_FILTER_H

#include <stdatomic.h>
#include <stddef.h>

#include "analysis/stack.h"

/* scipy.ndimage's Gaussian: kernel radius int(4 * sigma + 0.5), weights exp(-x^2 / (2 sigma^2))
 * normalized to sum 1; borders extended by mirroring without repeating the edge sample
 * (scipy's mode="mirror": d c b | a b c d); sums in double, each pass stored as float (as scipy
 * does for a float32 array). sigma[3] in voxels along x, y, z; an axis with sigma <= 0 is left
 * alone. Works in place on n = nx * ny * nz floats. Returns ZA_OK, ZA_ENOMEM or ZA_ECANCEL
 * (cancel may be NULL; the volume is then partly filtered). */
int za_gaussian3d(float *v, int nx, int ny, int nz, const double sigma[3],
                  const atomic_bool *cancel);

/* The same filter from a stack of any sample type into out (za_voxels(src) floats): the first
 * pass reads the samples directly (no separate conversion pass). range (may be NULL) gets the
 * output's minimum and maximum, found by the last pass. */
int za_gaussian3d_from(const struct za_stack *src, float *out, const double sigma[3], float *range,
                       const atomic_bool *cancel);

/* The kernel's radius for sigma (scipy's truncate = 4). */
int za_gaussian_radius(double sigma);

#endif
