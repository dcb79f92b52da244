/* Separable filters on float volumes (x fastest). Any thread. */
#ifndef ZA_FILTER_H
#define ZA_FILTER_H

#include <stddef.h>

/* scipy.ndimage's Gaussian: kernel radius int(4 * sigma + 0.5), weights exp(-x^2 / (2 sigma^2))
 * normalized to sum 1; borders extended by mirroring without repeating the edge sample
 * (scipy's mode="mirror": d c b | a b c d). sigma[3] in voxels along x, y, z; an axis with
 * sigma <= 0 is left alone. Works in place on n = nx * ny * nz floats. Returns 0, or -1 when
 * memory is short. */
int za_gaussian3d(float *v, int nx, int ny, int nz, const double sigma[3]);

/* The kernel's radius for sigma (scipy's truncate = 4). */
int za_gaussian_radius(double sigma);

#endif
