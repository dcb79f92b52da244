/* Splitting touching objects: the Euclidean distance transform of the objects, then a watershed
 * by flooding from its maxima (highest first) in which a maximum that rises less than a given
 * depth above the saddle where its basin meets a higher one joins that basin (h-maxima markers,
 * computed during the flood). Any thread. */
#ifndef ZA_SPLIT_H
#define ZA_SPLIT_H

#include <stdatomic.h>
#include <stdint.h>

/* Squared Euclidean distance from each voxel to the nearest voxel with labels == 0, in physical
 * units (spacing: voxel size along x, y, z), exact (separable lower envelopes of parabolas;
 * Felzenszwalb & Huttenlocher); 0 on the background, INFINITY everywhere when there is none.
 * Outside the volume counts as foreground (as scipy.ndimage.distance_transform_edt). On
 * za_threads() threads. Returns ZA_OK, ZA_ENOMEM or ZA_ECANCEL. */
int za_edt(const uint32_t *labels, int nx, int ny, int nz, const double spacing[3], float *d2,
           const atomic_bool *cancel);

/* Replaces the labelling in labels (0 = background) by its watershed split: voxels are flooded
 * in decreasing distance to the background, each joining the basin of its already-flooded
 * neighbours (6- or 26-connected; where several meet, the one with the highest maximum); a basin
 * whose maximum is less than depth (physical units) above the meeting point joins the other.
 * Objects never merge. Labels come out numbered in raster order of their first voxel; *count is
 * the new number. Returns ZA_OK, ZA_ENOMEM or ZA_ECANCEL (labels unchanged on error). */
int za_split(uint32_t *labels, int nx, int ny, int nz, const double spacing[3], double depth,
             int connectivity, uint32_t *count, const atomic_bool *cancel);

#endif
