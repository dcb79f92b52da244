/* Separable Gaussian filtering, one axis at a time. Every pass works on contiguous rows so that
 * the inner loops run along x and vectorize: the x pass filters one padded row at a time; the y
 * and z passes gather a block of ZA_BLOCK columns (all of the axis, mirrored at both ends) into
 * a per-thread scratch that stays in cache, and write each output row from it. */
#include "analysis/filter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/par.h"

#define ZA_BLOCK 64 /* columns per chunk of the y and z passes */

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

struct gpass {
    float *v;
    const struct za_stack *src; /* first pass: read from here instead of v */
    long nx, len, stride;       /* line length and sample stride along the filtered axis */
    long outer_stride, nblocks; /* chunk c: outer index c / nblocks, column block c % nblocks */
    const double *w;
    int r;
    double **scratch, **acc; /* per thread */
    float *lo, *hi;          /* per thread: the range of the output, on the last pass */
};

/* out[x] = sum_t w[|t|] * in[x + t] over rows of width n; in points at the centre row, rows are
 * rowstride apart. Sums in double, as scipy. */
/* One build for any x86-64, the vector width chosen at load time (glibc ifunc). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ZA_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ZA_VECTOR_CLONES
#endif

ZA_VECTOR_CLONES
static void convolve_rows(const double *restrict in, long rowstride, long n,
                          const double *restrict w, int r, double *restrict acc)
{
    for (long x = 0; x < n; x++)
        acc[x] = w[0] * in[x];
    for (int t = 1; t <= r; t++) {
        const double *a = in + t * rowstride, *b = in - t * rowstride;
        double wt = w[t];
        for (long x = 0; x < n; x++)
            acc[x] += wt * (a[x] + b[x]);
    }
}

static void row_range(const float *p, long n, float *lo, float *hi)
{
    float l = *lo, h = *hi;
    for (long x = 0; x < n; x++)
        l = p[x] < l ? p[x] : l, h = p[x] > h ? p[x] : h;
    *lo = l, *hi = h;
}

static void pass_x(void *arg, long begin, long end, int thread)
{
    struct gpass *g = arg;
    double *line = g->scratch[thread], *acc = g->acc[thread];
    long n = g->nx;
    for (long row = begin; row < end; row++) {
        float *p = g->v + row * n;
        if (g->src)
            za_to_double_range(g->src, (size_t)(row * n), (size_t)n, line + g->r);
        else
            for (long k = 0; k < n; k++)
                line[k + g->r] = p[k];
        for (long k = 1; k <= g->r; k++) { /* mirrored ends */
            line[g->r - k] = line[g->r + mirror(-k, n)];
            line[g->r + n - 1 + k] = line[g->r + mirror(n - 1 + k, n)];
        }
        convolve_rows(line + g->r, 1, n, g->w, g->r, acc);
        for (long x = 0; x < n; x++)
            p[x] = (float)acc[x];
        if (g->lo)
            row_range(p, n, &g->lo[thread], &g->hi[thread]);
    }
}

static void pass_cols(void *arg, long begin, long end, int thread)
{
    struct gpass *g = arg;
    double *s = g->scratch[thread], *acc = g->acc[thread];
    for (long c = begin; c < end; c++) {
        long x0 = (c % g->nblocks) * ZA_BLOCK;
        long w = g->nx - x0 < ZA_BLOCK ? g->nx - x0 : ZA_BLOCK;
        long off = (c / g->nblocks) * g->outer_stride + x0;
        float *base = g->v + off;
        for (long kk = 0; kk < g->len + 2 * g->r; kk++) { /* inner rows, then the ends */
            long k = kk < g->len ? kk : kk - g->len < g->r ? kk - g->len - g->r : kk - g->r;
            double *dst = s + (k + g->r) * ZA_BLOCK;
            if (k < 0 || k >= g->len) { /* mirrored: a copy of a row gathered already */
                memcpy(dst, s + (mirror(k, g->len) + g->r) * ZA_BLOCK, (size_t)w * sizeof(double));
            } else if (g->src) {
                za_to_double_range(g->src, (size_t)(off + k * g->stride), (size_t)w, dst);
            } else {
                const float *src = base + k * g->stride;
                for (long x = 0; x < w; x++)
                    dst[x] = src[x];
            }
        }
        for (long k = 0; k < g->len; k++) {
            convolve_rows(s + (k + g->r) * ZA_BLOCK, ZA_BLOCK, w, g->w, g->r, acc);
            float *dst = base + k * g->stride;
            for (long x = 0; x < w; x++)
                dst[x] = (float)acc[x];
            if (g->lo)
                row_range(dst, w, &g->lo[thread], &g->hi[thread]);
        }
    }
}

static int run_pass(float *v, const struct za_stack *src, const long n[3], int axis, double sigma,
                    float *range, const atomic_bool *cancel)
{
    int r = za_gaussian_radius(sigma), nt = za_threads(), rc = ZA_ENOMEM;
    long len = n[axis];
    double *w = malloc(sizeof(double) * (size_t)(r + 1));
    double **scratch = calloc((size_t)nt, sizeof(double *));
    double **acc = calloc((size_t)nt, sizeof(double *));
    float *lo = malloc(2 * (size_t)nt * sizeof(float)), *hi = lo ? lo + nt : NULL;
    if (!w || !scratch || !acc || !lo)
        goto out;
    for (int t = 0; t < nt; t++)
        lo[t] = INFINITY, hi[t] = -INFINITY;
    size_t scratch_n = axis == 0 ? (size_t)(len + 2 * r) : (size_t)(len + 2 * r) * ZA_BLOCK;
    size_t acc_n = axis == 0 ? (size_t)n[0] : ZA_BLOCK;
    for (int t = 0; t < nt; t++) {
        scratch[t] = malloc(scratch_n * sizeof(double));
        acc[t] = malloc(acc_n * sizeof(double));
        if (!scratch[t] || !acc[t])
            goto out;
    }
    double sum = 0;
    for (int t = 0; t <= r; t++) {
        w[t] = exp(-0.5 * (double)t * t / (sigma * sigma));
        sum += t ? 2 * w[t] : w[t];
    }
    for (int t = 0; t <= r; t++)
        w[t] /= sum;
    struct gpass g = {.v = v,
                      .src = src,
                      .nx = n[0],
                      .len = len,
                      .w = w,
                      .r = r,
                      .scratch = scratch,
                      .acc = acc,
                      .lo = range ? lo : NULL,
                      .hi = range ? hi : NULL,
                      .nblocks = (n[0] + ZA_BLOCK - 1) / ZA_BLOCK};
    if (axis == 0) {
        rc = za_par_for(n[1] * n[2], 16, pass_x, &g, cancel);
    } else if (axis == 1) { /* chunks: (z, column block) */
        g.stride = n[0], g.outer_stride = n[0] * n[1];
        rc = za_par_for(n[2] * g.nblocks, 1, pass_cols, &g, cancel);
    } else { /* chunks: (y, column block) */
        g.stride = n[0] * n[1], g.outer_stride = n[0];
        rc = za_par_for(n[1] * g.nblocks, 1, pass_cols, &g, cancel);
    }
    for (int t = 0; range && rc == ZA_OK && t < nt; t++) {
        range[0] = t == 0 || lo[t] < range[0] ? lo[t] : range[0];
        range[1] = t == 0 || hi[t] > range[1] ? hi[t] : range[1];
    }
out:
    for (int t = 0; t < nt && scratch && acc; t++) {
        free(scratch[t]);
        free(acc[t]);
    }
    free(scratch);
    free(acc);
    free(lo);
    free(w);
    return rc;
}

static int gaussian(float *v, const struct za_stack *src, const long n[3], const double sigma[3],
                    float *range, const atomic_bool *cancel)
{
    int last = -1;
    for (int axis = 2; axis >= 0; axis--)
        if (sigma[axis] > 0 && n[axis] >= 1)
            last = axis;
    for (int axis = 2; axis >= 0; axis--) { /* scipy's order for a (z, y, x) array */
        if (!(sigma[axis] > 0) || n[axis] < 1)
            continue;
        int rc = run_pass(v, src, n, axis, sigma[axis], axis == last ? range : NULL, cancel);
        if (rc != ZA_OK)
            return rc;
        src = NULL; /* the next passes work on v */
    }
    if (src)
        za_to_float(src, v);
    if (range && last < 0 && n[0] * n[1] * n[2] > 0)
        za_minmax(v, (size_t)(n[0] * n[1] * n[2]), range);
    return ZA_OK;
}

int za_gaussian3d(float *v, int nx, int ny, int nz, const double sigma[3],
                  const atomic_bool *cancel)
{
    long n[3] = {nx, ny, nz};
    return gaussian(v, NULL, n, sigma, NULL, cancel);
}

int za_gaussian3d_from(const struct za_stack *src, float *out, const double sigma[3], float *range,
                       const atomic_bool *cancel)
{
    long n[3] = {src->nx, src->ny, src->nz};
    return gaussian(out, src, n, sigma, range, cancel);
}
