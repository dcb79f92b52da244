/* Threshold, connected components and measurements. */
#include "worker/analysis/segment.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Otsu ------------------------------------------------------------------------------------ */

double za_otsu(const float *v, size_t n, bool integer, double *separability)
{
    *separability = 0;
    if (n == 0)
        return 0;
    float lo = v[0], hi = v[0];
    for (size_t i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    if (lo == hi)
        return lo;
    size_t nb;
    double width;
    if (integer) {
        nb = (size_t)((double)hi - (double)lo) + 1;
        width = 1;
    } else {
        nb = 256;
        width = ((double)hi - (double)lo) / 256.0;
    }
    double *count = calloc(nb, sizeof(double)), *centre = malloc(nb * sizeof(double));
    if (!count || !centre) {
        free(count);
        free(centre);
        return NAN;
    }
    for (size_t b = 0; b < nb; b++)
        centre[b] = integer ? (double)lo + (double)b : (double)lo + width * ((double)b + 0.5);
    for (size_t i = 0; i < n; i++) {
        size_t b;
        if (integer) {
            b = (size_t)((double)v[i] - (double)lo);
        } else { /* numpy.histogram: the last bin includes hi */
            double f = ((double)v[i] - (double)lo) / ((double)hi - (double)lo) * 256.0;
            b = f >= 256 ? 255 : (size_t)f;
        }
        count[b] += 1;
    }
    /* between-class variance w1 w2 (m1 - m2)^2 for a split after bin b, as skimage: class 1 is
     * bins 0..b, class 2 bins b+1.. */
    double total = (double)n, sum_all = 0, sumsq = 0;
    for (size_t b = 0; b < nb; b++) {
        sum_all += count[b] * centre[b];
        sumsq += count[b] * centre[b] * centre[b];
    }
    double w1 = 0, s1 = 0, best = -1;
    size_t best_b = 0;
    for (size_t b = 0; b + 1 < nb; b++) {
        w1 += count[b];
        s1 += count[b] * centre[b];
        double w2 = total - w1;
        if (w1 <= 0 || w2 <= 0)
            continue;
        double m1 = s1 / w1, m2 = (sum_all - s1) / w2;
        double var = w1 * w2 * (m1 - m2) * (m1 - m2);
        if (var > best) {
            best = var;
            best_b = b;
        }
    }
    double mean = sum_all / total, var_total = sumsq / total - mean * mean;
    *separability = var_total > 0 && best > 0 ? best / (total * total) / var_total : 0;
    double thr = centre[best_b];
    free(count);
    free(centre);
    return thr;
}

/* ---- connected components ---------------------------------------------------------------------
 */

static uint32_t find(uint32_t *parent, uint32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static void unite(uint32_t *parent, uint32_t a, uint32_t b)
{
    a = find(parent, a), b = find(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

int za_label(const float *v, int nx, int ny, int nz, double thr, int connectivity, uint32_t *labels,
             uint32_t *count)
{
    size_t n = (size_t)nx * ny * nz, cap = 1024;
    uint32_t *parent = malloc(cap * sizeof(uint32_t)), next = 1;
    if (!parent)
        return -1;
    parent[0] = 0;
    /* the neighbours already visited in raster order: 3 (6-connectivity) or 13 (26) */
    int off[13][3], no = 0;
    for (int dz = -1; dz <= 0; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                if (dz == 0 && (dy > 0 || (dy == 0 && dx >= 0)))
                    continue;
                int manhattan = abs(dx) + abs(dy) + abs(dz);
                if (connectivity == 6 && manhattan != 1)
                    continue;
                off[no][0] = dx, off[no][1] = dy, off[no][2] = dz;
                no++;
            }
    size_t sy = (size_t)nx, sz = (size_t)nx * ny;
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                size_t i = z * sz + y * sy + (size_t)x;
                if (!(v[i] > thr)) {
                    labels[i] = 0;
                    continue;
                }
                uint32_t l = 0;
                for (int k = 0; k < no; k++) {
                    int xx = x + off[k][0], yy = y + off[k][1], zz = z + off[k][2];
                    if (xx < 0 || xx >= nx || yy < 0 || zz < 0)
                        continue;
                    uint32_t m = labels[(size_t)zz * sz + (size_t)yy * sy + (size_t)xx];
                    if (!m)
                        continue;
                    if (!l)
                        l = m;
                    else if (m != l)
                        unite(parent, l, m);
                }
                if (!l) {
                    if (next == cap) {
                        uint32_t *more = cap < UINT32_MAX / 2
                                             ? realloc(parent, 2 * cap * sizeof(uint32_t))
                                             : NULL;
                        if (!more) {
                            free(parent);
                            return -1;
                        }
                        parent = more, cap *= 2;
                    }
                    parent[next] = next;
                    l = next++;
                }
                labels[i] = l;
            }
    /* final labels: roots numbered in the order of their first voxel */
    uint32_t *final = calloc(next, sizeof(uint32_t)), k = 0;
    if (!final) {
        free(parent);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!labels[i])
            continue;
        uint32_t r = find(parent, labels[i]);
        if (!final[r])
            final[r] = ++k;
        labels[i] = final[r];
    }
    free(final);
    free(parent);
    *count = k;
    return 0;
}

/* ---- measurements -----------------------------------------------------------------------------
 */

int za_measure(const struct za_stack *raw, const uint32_t *labels, uint32_t count,
               struct za_object *objs)
{
    int nx = raw->nx, ny = raw->ny, nz = raw->nz;
    for (uint32_t k = 0; k < count; k++) {
        struct za_object *o = &objs[k];
        memset(o, 0, sizeof(*o));
        o->label = k + 1;
        o->x0 = nx, o->y0 = ny, o->z0 = nz, o->x1 = o->y1 = o->z1 = -1;
        o->min = DBL_MAX, o->max = -DBL_MAX;
    }
    double ax = raw->dy * raw->dz, ay = raw->dx * raw->dz, az = raw->dx * raw->dy;
    size_t sy = (size_t)nx, sz = (size_t)nx * ny;
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                size_t i = z * sz + y * sy + (size_t)x;
                uint32_t l = labels[i];
                if (!l)
                    continue;
                struct za_object *o = &objs[l - 1];
                double w = za_get(raw, i);
                o->voxels++;
                o->cx += x, o->cy += y, o->cz += z;
                o->wcx += w * x, o->wcy += w * y, o->wcz += w * z;
                o->sum += w;
                o->min = w < o->min ? w : o->min;
                o->max = w > o->max ? w : o->max;
                o->x0 = x < o->x0 ? x : o->x0, o->x1 = x > o->x1 ? x : o->x1;
                o->y0 = y < o->y0 ? y : o->y0, o->y1 = y > o->y1 ? y : o->y1;
                o->z0 = z < o->z0 ? z : o->z0, o->z1 = z > o->z1 ? z : o->z1;
                if (x == 0 || y == 0 || z == 0 || x == nx - 1 || y == ny - 1 || z == nz - 1)
                    o->touches_border = true;
                /* faces towards a voxel of another label or the outside */
                o->surface += (x == 0 || labels[i - 1] != l) * ax;
                o->surface += (x == nx - 1 || labels[i + 1] != l) * ax;
                o->surface += (y == 0 || labels[i - sy] != l) * ay;
                o->surface += (y == ny - 1 || labels[i + sy] != l) * ay;
                o->surface += (z == 0 || labels[i - sz] != l) * az;
                o->surface += (z == nz - 1 || labels[i + sz] != l) * az;
            }
    for (uint32_t k = 0; k < count; k++) {
        struct za_object *o = &objs[k];
        if (o->voxels) {
            o->cx /= (double)o->voxels, o->cy /= (double)o->voxels, o->cz /= (double)o->voxels;
        }
        if (o->sum != 0) {
            o->wcx /= o->sum, o->wcy /= o->sum, o->wcz /= o->sum;
        } else {
            o->wcx = o->cx, o->wcy = o->cy, o->wcz = o->cz;
        }
    }
    return 0;
}

uint32_t za_filter_volume(uint32_t *labels, size_t n, struct za_object *objs, uint32_t count,
                          long min_voxels, long max_voxels)
{
    uint32_t *map = calloc((size_t)count + 1, sizeof(uint32_t)), kept = 0;
    if (!map)
        return count;
    for (uint32_t k = 0; k < count; k++) {
        if (objs[k].voxels >= min_voxels && (max_voxels <= 0 || objs[k].voxels <= max_voxels)) {
            map[k + 1] = ++kept;
            objs[kept - 1] = objs[k];
            objs[kept - 1].label = kept;
        }
    }
    if (kept != count)
        for (size_t i = 0; i < n; i++)
            labels[i] = map[labels[i]];
    free(map);
    return kept;
}
