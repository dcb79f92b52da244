/* Separable Gaussian filtering along each axis, one line at a time through a padded line buffer
 * (so the mirror border costs nothing inside the loop). */
#include "worker/analysis/filter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int za_gaussian_radius(double sigma)
{
    return (int)(4.0 * sigma + 0.5);
}

/* Mirror index (scipy "mirror": reflection about the edge sample, which is not repeated). */
static long mirror(long i, long n)
{
    if (n == 1)
        return 0;
    long period = 2 * (n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
}

/* Filters n lines of length len, sample k of line j at base + j * jstride + k * stride. */
static void filter_lines(float *v, long len, long stride, long nlines, long jstride_inner,
                         long ninner, long jstride_outer, const double *w, int r, double *line)
{
    for (long o = 0; o < nlines; o++)
        for (long in = 0; in < ninner; in++) {
            float *base = v + o * jstride_outer + in * jstride_inner;
            for (long k = -r; k < len + r; k++)
                line[k + r] = base[mirror(k, len) * stride];
            for (long k = 0; k < len; k++) {
                const double *p = line + k + r;
                double acc = w[0] * p[0];
                for (int t = 1; t <= r; t++)
                    acc += w[t] * (p[t] + p[-t]);
                base[k * stride] = (float)acc;
            }
        }
}

int za_gaussian3d(float *v, int nx, int ny, int nz, const double sigma[3])
{
    long n[3] = {nx, ny, nz};
    for (int axis = 0; axis < 3; axis++) {
        if (!(sigma[axis] > 0) || n[axis] < 1)
            continue;
        int r = za_gaussian_radius(sigma[axis]);
        double *w = malloc(sizeof(double) * (size_t)(r + 1));
        double *line = malloc(sizeof(double) * (size_t)(n[axis] + 2 * r));
        if (!w || !line) {
            free(w);
            free(line);
            return -1;
        }
        double sum = 0;
        for (int t = 0; t <= r; t++) {
            w[t] = exp(-0.5 * (double)t * t / (sigma[axis] * sigma[axis]));
            sum += t ? 2 * w[t] : w[t];
        }
        for (int t = 0; t <= r; t++)
            w[t] /= sum;
        long sx = 1, sy = nx, sz = (long)nx * ny;
        if (axis == 0)
            filter_lines(v, nx, sx, nz, sy, ny, sz, w, r, line);
        else if (axis == 1)
            filter_lines(v, ny, sy, nz, sx, nx, sz, w, r, line);
        else
            filter_lines(v, nz, sz, ny, sx, nx, sy, w, r, line);
        free(w);
        free(line);
    }
    return 0;
}
