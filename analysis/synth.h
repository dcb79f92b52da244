/* Synthetic z-stacks with a known answer, for tests, the demo and benchmarks: spheres on a
 * lattice (separated by a gap, or touching/overlapping pairs when it is negative), blurred
 * anisotropically, on a background, with Poisson noise. Any thread. */
#ifndef ZA_SYNTH_H
#define ZA_SYNTH_H

#include <stdio.h>

#include "analysis/stack.h"

struct za_synth_opts {
    int nx, ny, nz;
    double dx, dy, dz; /* voxel size (micron) */
    double radius[8];  /* sphere radii in micron, used in turn (0 ends the list) */
    double gap;        /* micron between neighbouring spheres; < 0 overlaps them */
    double sigma[3];   /* Gaussian blur in voxels along x, y, z (0: none) */
    double background; /* mean level outside the spheres */
    double foreground; /* mean level inside */
    bool noise;        /* Poisson noise on every voxel */
    unsigned seed;
    int max_spheres; /* 0: as many as fit */
};

/* A sphere of the ground truth. */
struct za_sphere {
    double cx, cy, cz; /* centre in voxel coordinates */
    double r;          /* radius in micron */
    long voxels;       /* voxels inside before blur and noise */
};

void za_synth_defaults(struct za_synth_opts *o);

/* Makes the stack (uint16) and the spheres (*spheres, *n; free()). Returns 0, or -1 with err
 * filled (sizes out of range, no sphere fits). */
int za_synth(const struct za_synth_opts *o, struct za_stack *out, struct za_sphere **spheres,
             int *n, struct za_err *err);

/* Writes the ground truth as CSV: id,cx,cy,cz,radius,voxels (voxel coordinates, x fastest). */
void za_synth_write_truth(FILE *f, const struct za_sphere *s, int n);

#endif
