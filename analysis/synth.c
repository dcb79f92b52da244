/* Synthetic z-stacks with a known answer. */
#include "analysis/synth.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/filter.h"

void za_synth_defaults(struct za_synth_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->nx = o->ny = 128, o->nz = 32;
    o->dx = o->dy = 0.5, o->dz = 1.0;
    o->radius[0] = 3.0;
    o->gap = 2.0;
    o->sigma[0] = o->sigma[1] = 1.0, o->sigma[2] = 0.7;
    o->background = 100, o->foreground = 1000;
    o->noise = true;
    o->seed = 1;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *s = x;
}

static double rng_unit(uint64_t *s) /* (0, 1] */
{
    return ((double)(rng_next(s) >> 11) + 1.0) / 9007199254740992.0;
}

static double poisson(uint64_t *s, double mean)
{
    if (mean <= 0)
        return 0;
    if (mean < 30) { /* Knuth */
        double l = exp(-mean), p = 1;
        int k = 0;
        do {
            k++;
            p *= rng_unit(s);
        } while (p > l);
        return k - 1;
    }
    double u1 = rng_unit(s), u2 = rng_unit(s); /* normal approximation, Box-Muller */
    double g = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
    double v = floor(mean + sqrt(mean) * g + 0.5);
    return v < 0 ? 0 : v;
}

/* Long: draws one synthetic stack; the objects' geometry inline reads as the specification of
 * the test data */
int za_synth(const struct za_synth_opts *o, struct za_stack *out, struct za_sphere **spheres,
             int *n, struct za_err *err)
{
    *spheres = NULL, *n = 0;
    memset(err, 0, sizeof(*err));
    double rmax = 0;
    int nr = 0;
    while (nr < 8 && o->radius[nr] > 0)
        rmax = fmax(rmax, o->radius[nr++]);
    if (nr == 0 || o->dx <= 0 || o->dy <= 0 || o->dz <= 0 ||
        za_stack_alloc(out, o->nx, o->ny, o->nz, ZA_U16) != 0) {
        snprintf(err->code, sizeof(err->code), "INVALID_PARAMETERS");
        snprintf(err->message, sizeof(err->message),
                 "need a radius, a positive voxel size and a size that fits in memory");
        return -1;
    }
    out->dx = o->dx, out->dy = o->dy, out->dz = o->dz;
    snprintf(out->unit, sizeof(out->unit), "micron");
    /* lattice: pitch 2 rmax + gap along y and z; along x too when the gap is positive, else
     * pairs (2 rmax + gap apart inside a pair, 2.5 rmax between pairs and rows) */
    double d[3] = {o->dx, o->dy, o->dz}, sig[3] = {o->sigma[0], o->sigma[1], o->sigma[2]};
    int size[3] = {o->nx, o->ny, o->nz};
    double pitch = 2 * rmax + fmax(o->gap, rmax * 0.5), inner = 2 * rmax + o->gap;
    bool pairs = o->gap < 0;
    double lo[3], hi[3];
    for (int a = 0; a < 3; a++) { /* centres keep the sphere and its blur off the border */
        double m = rmax / d[a] + 3 * sig[a] + 1;
        lo[a] = ceil(m), hi[a] = floor(size[a] - 1 - m);
    }
    int cap = 64;
    struct za_sphere *sp = malloc(sizeof(*sp) * (size_t)cap);
    int count = 0;
    if (!sp)
        goto placed;
    for (double z = lo[2]; z <= hi[2]; z += round((pairs ? pitch : inner) / d[2]))
        for (double y = lo[1]; y <= hi[1]; y += round((pairs ? pitch : inner) / d[1]))
            for (double x = lo[0], k = 0; x <= hi[0]; k++) {
                if (o->max_spheres && count == o->max_spheres)
                    goto placed;
                if (count == cap) {
                    struct za_sphere *more = realloc(sp, sizeof(*sp) * (size_t)cap * 2);
                    if (!more)
                        goto placed; /* out of memory: the spheres placed so far */
                    sp = more, cap *= 2;
                }
                sp[count] = (struct za_sphere){x, y, z, o->radius[count % nr], 0};
                count++;
                /* in pairs: the partner follows at the (overlapping) inner distance */
                x += round((pairs && (long)k % 2 == 1 ? pitch : inner) / d[0]);
            }
placed:
    if (count == 0) {
        free(sp);
        za_stack_free(out);
        snprintf(err->code, sizeof(err->code), "INVALID_PARAMETERS");
        snprintf(err->message, sizeof(err->message), "no sphere of radius %g fits in %dx%dx%d",
                 rmax, o->nx, o->ny, o->nz);
        return -1;
    }
    size_t nv = za_voxels(out);
    float *v = malloc(sizeof(float) * nv);
    if (!v) {
        free(sp);
        za_stack_free(out);
        snprintf(err->code, sizeof(err->code), "IMAGE_TOO_LARGE");
        snprintf(err->message, sizeof(err->message), "no memory");
        return -1;
    }
    for (size_t i = 0; i < nv; i++)
        v[i] = (float)o->background;
    for (int s = 0; s < count; s++) {
        double r = sp[s].r;
        int r0[3], r1[3];
        double c[3] = {sp[s].cx, sp[s].cy, sp[s].cz};
        for (int a = 0; a < 3; a++) {
            r0[a] = (int)fmax(0, floor(c[a] - r / d[a]));
            r1[a] = (int)fmin(size[a] - 1, ceil(c[a] + r / d[a]));
        }
        for (int z = r0[2]; z <= r1[2]; z++)
            for (int y = r0[1]; y <= r1[1]; y++)
                for (int x = r0[0]; x <= r1[0]; x++) {
                    double ex = (x - c[0]) * d[0], ey = (y - c[1]) * d[1], ez = (z - c[2]) * d[2];
                    if (ex * ex + ey * ey + ez * ez <= r * r) {
                        v[((size_t)z * o->ny + (size_t)y) * o->nx + (size_t)x] =
                            (float)o->foreground;
                        sp[s].voxels++;
                    }
                }
    }
    if (za_gaussian3d(v, o->nx, o->ny, o->nz, sig, NULL) != 0) {
        free(v);
        free(sp);
        za_stack_free(out);
        snprintf(err->code, sizeof(err->code), "IMAGE_TOO_LARGE");
        snprintf(err->message, sizeof(err->message), "no memory");
        return -1;
    }
    uint64_t state = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)o->seed * 0xBF58476D1CE4E5B9ULL);
    if (!state)
        state = 1;
    uint16_t *u = out->data;
    for (size_t i = 0; i < nv; i++) {
        double x = o->noise ? poisson(&state, v[i]) : floor(v[i] + 0.5);
        u[i] = (uint16_t)(x < 0 ? 0 : x > 65535 ? 65535 : x);
    }
    free(v);
    *spheres = sp, *n = count;
    return 0;
}

void za_synth_write_truth(FILE *f, const struct za_sphere *s, int n)
{
    fprintf(f, "id,cx,cy,cz,radius,voxels\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%d,%.3f,%.3f,%.3f,%.4g,%ld\n", i + 1, s[i].cx, s[i].cy, s[i].cz, s[i].r,
                s[i].voxels);
}
