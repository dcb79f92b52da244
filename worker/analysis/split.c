/* Distance transform and watershed split. */
#include "worker/analysis/split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "worker/analysis/par.h"

#define ZA_COLS 16 /* columns gathered together by the y and z passes (one cache line) */

/* ---- distance transform ------------------------------------------------------------------- */

struct edt_job {
    const uint32_t *labels;
    float *d2;
    long nx, ny, nz;
    double s; /* spacing along the pass's axis */
    long len, stride, outer_stride, nblocks;
    double **buf; /* per thread: the gathered block, f, out and z for one line */
    long **vbuf;  /* per thread: v for one line */
};

/* One line: out[q] = min_p (s (q - p))^2 + f[p] (f may hold INFINITY). Lower envelope of
 * parabolas; v and z are scratch of n and n + 1. */
static void edt_line(const double *f, double *out, long n, double s, long *v, double *z)
{
    long k = -1;
    for (long q = 0; q < n; q++) {
        if (isinf(f[q]))
            continue;
        double aq = s * (double)q;
        if (k < 0) {
            k = 0, v[0] = q, z[0] = -INFINITY, z[1] = INFINITY;
            continue;
        }
        double x;
        for (;;) { /* z[0] is -inf: stops at k = 0 at the latest */
            double ap = s * (double)v[k];
            x = ((f[q] + aq * aq) - (f[v[k]] + ap * ap)) / (2 * (aq - ap));
            if (x > z[k])
                break;
            k--;
        }
        k++, v[k] = q, z[k] = x, z[k + 1] = INFINITY;
    }
    if (k < 0) {
        for (long q = 0; q < n; q++)
            out[q] = INFINITY;
        return;
    }
    k = 0;
    for (long q = 0; q < n; q++) {
        double aq = s * (double)q;
        while (z[k + 1] < aq)
            k++;
        double dd = aq - s * (double)v[k];
        out[q] = dd * dd + f[v[k]];
    }
}

static void edt_x(void *arg, long begin, long end, int thread)
{
    struct edt_job *j = arg;
    long n = j->nx;
    double *f = j->buf[thread], *out = f + n, *z = out + n;
    long *v = j->vbuf[thread];
    for (long row = begin; row < end; row++) {
        const uint32_t *l = j->labels + row * n;
        for (long x = 0; x < n; x++)
            f[x] = l[x] ? INFINITY : 0;
        edt_line(f, out, n, j->s, v, z);
        float *d = j->d2 + row * n;
        for (long x = 0; x < n; x++)
            d[x] = (float)out[x];
    }
}

static void edt_cols(void *arg, long begin, long end, int thread)
{
    struct edt_job *j = arg;
    long n = j->len;
    double *g = j->buf[thread], *f = g + n * ZA_COLS, *out = f + n, *z = out + n;
    long *v = j->vbuf[thread];
    for (long c = begin; c < end; c++) {
        long x0 = (c % j->nblocks) * ZA_COLS;
        long w = j->nx - x0 < ZA_COLS ? j->nx - x0 : ZA_COLS;
        float *base = j->d2 + (c / j->nblocks) * j->outer_stride + x0;
        for (long k = 0; k < n; k++)
            for (long x = 0; x < w; x++)
                g[k * ZA_COLS + x] = base[k * j->stride + x];
        for (long x = 0; x < w; x++) {
            for (long k = 0; k < n; k++)
                f[k] = g[k * ZA_COLS + x];
            edt_line(f, out, n, j->s, v, z);
            for (long k = 0; k < n; k++)
                base[k * j->stride + x] = (float)out[k];
        }
    }
}

int za_edt(const uint32_t *labels, int nx, int ny, int nz, const double spacing[3], float *d2,
           const atomic_bool *cancel)
{
    int nt = za_threads(), rc = ZA_ENOMEM;
    long longest = nx > ny ? nx : ny;
    longest = longest > nz ? longest : nz;
    /* per thread: the gathered block, f, out, z (n + 1); v (n) */
    size_t per = (size_t)longest * (ZA_COLS + 3) + 1;
    double **buf = calloc((size_t)nt, sizeof(double *));
    long **vbuf = calloc((size_t)nt, sizeof(long *));
    if (!buf || !vbuf) {
        free(buf);
        free(vbuf);
        return ZA_ENOMEM;
    }
    for (int t = 0; t < nt; t++)
        if (!(buf[t] = malloc(per * sizeof(double))) ||
            !(vbuf[t] = malloc((size_t)longest * sizeof(long))))
            goto out;
    struct edt_job j = {
        .labels = labels, .d2 = d2, .nx = nx, .ny = ny, .nz = nz, .buf = buf, .vbuf = vbuf};
    j.nblocks = (nx + ZA_COLS - 1) / ZA_COLS;
    j.s = spacing[0];
    if ((rc = za_par_for((long)ny * nz, 16, edt_x, &j, cancel)) != ZA_OK)
        goto out;
    if (ny > 1) {
        j.s = spacing[1], j.len = ny, j.stride = nx, j.outer_stride = (long)nx * ny;
        if ((rc = za_par_for(nz * j.nblocks, 4, edt_cols, &j, cancel)) != ZA_OK)
            goto out;
    }
    if (nz > 1) {
        j.s = spacing[2], j.len = nz, j.stride = (long)nx * ny, j.outer_stride = nx;
        rc = za_par_for(ny * j.nblocks, 4, edt_cols, &j, cancel);
    }
out:
    for (int t = 0; t < nt; t++) {
        free(buf[t]);
        free(vbuf[t]);
    }
    free(buf);
    free(vbuf);
    return rc;
}

/* ---- watershed ------------------------------------------------------------------------------ */

/* Sorts idx (n) by key ascending, stably: two passes of 16-bit LSD radix. tmp: n + n scratch. */
static int radix_sort(uint32_t *key, uint32_t *idx, size_t n)
{
    uint32_t *k2 = malloc(n * sizeof(uint32_t)), *i2 = malloc(n * sizeof(uint32_t));
    size_t *cnt = malloc(65536 * sizeof(size_t));
    if (!k2 || !i2 || !cnt) {
        free(k2), free(i2), free(cnt);
        return ZA_ENOMEM;
    }
    for (int shift = 0; shift < 32; shift += 16) {
        memset(cnt, 0, 65536 * sizeof(size_t));
        for (size_t i = 0; i < n; i++)
            cnt[(key[i] >> shift) & 0xffff]++;
        size_t sum = 0;
        for (size_t b = 0; b < 65536; b++) {
            size_t c = cnt[b];
            cnt[b] = sum, sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t o = cnt[(key[i] >> shift) & 0xffff]++;
            k2[o] = key[i], i2[o] = idx[i];
        }
        memcpy(key, k2, n * sizeof(uint32_t));
        memcpy(idx, i2, n * sizeof(uint32_t));
    }
    free(k2), free(i2), free(cnt);
    return ZA_OK;
}

struct basins {
    uint32_t *parent;
    float *peak;
    uint32_t n, cap;
};

static uint32_t bfind(uint32_t *parent, uint32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static uint32_t basin_new(struct basins *b, float peak)
{
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? 2 * b->cap : 1024;
        uint32_t *p = realloc(b->parent, cap * sizeof(uint32_t));
        if (!p)
            return 0;
        b->parent = p;
        float *k = realloc(b->peak, cap * sizeof(float));
        if (!k)
            return 0;
        b->peak = k, b->cap = cap;
    }
    b->parent[b->n] = b->n;
    b->peak[b->n] = peak;
    return b->n++;
}

/* A max-heap of voxels by distance, ties by arrival. */
struct hnode {
    float d;
    uint32_t i;
    uint64_t age;
};

static bool above(const struct hnode *a, const struct hnode *b)
{
    return a->d > b->d || (a->d == b->d && a->age < b->age);
}

static void heap_push(struct hnode *h, size_t *n, struct hnode x)
{
    size_t k = (*n)++;
    while (k > 0 && above(&x, &h[(k - 1) / 2])) {
        h[k] = h[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    h[k] = x;
}

static struct hnode heap_pop(struct hnode *h, size_t *n)
{
    struct hnode top = h[0], x = h[--*n];
    size_t k = 0;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && above(&h[c + 1], &h[c]))
            c++;
        if (!above(&h[c], &x))
            break;
        h[k] = h[c];
        k = c;
    }
    if (*n)
        h[k] = x;
    return top;
}

/* Floods basin (marker voxels set, the rest of the mask 0) over the mask labels != 0. Every
 * voxel enters the heap once (when it gets its basin), so nfg nodes suffice. */
static int flood(uint32_t *basin, const uint32_t *mask, const float *d2, int nx, int ny, int nz,
                 int (*off)[3], int no, size_t nfg)
{
    struct hnode *h = malloc((nfg ? nfg : 1) * sizeof(struct hnode));
    if (!h)
        return ZA_ENOMEM;
    size_t n = 0, nv = (size_t)nx * ny * nz, sy = (size_t)nx, sz = (size_t)nx * ny;
    uint64_t age = 0;
    for (size_t i = 0; i < nv; i++)
        if (basin[i])
            heap_push(h, &n, (struct hnode){d2[i], (uint32_t)i, age++});
    while (n) {
        struct hnode t = heap_pop(h, &n);
        size_t p = t.i;
        int x = (int)(p % sy), y = (int)(p / sy % (size_t)ny), z = (int)(p / sz);
        for (int k = 0; k < no; k++) {
            int xx = x + off[k][0], yy = y + off[k][1], zz = z + off[k][2];
            if (xx < 0 || yy < 0 || zz < 0 || xx >= nx || yy >= ny || zz >= nz)
                continue;
            size_t q = (size_t)zz * sz + (size_t)yy * sy + (size_t)xx;
            if (!mask[q] || basin[q])
                continue;
            basin[q] = basin[p];
            heap_push(h, &n, (struct hnode){d2[q], (uint32_t)q, age++});
        }
    }
    free(h);
    return ZA_OK;
}

int za_split(uint32_t *labels, int nx, int ny, int nz, const double spacing[3], double depth,
             int connectivity, uint32_t *count, const atomic_bool *cancel)
{
    size_t nv = (size_t)nx * ny * nz, nfg = 0;
    if (nv >= UINT32_MAX)
        return ZA_ENOMEM;
    float *d2 = za_alloc(nv * sizeof(float));
    uint32_t *key = NULL, *idx = NULL, *map = NULL;
    struct basins b = {0};
    int rc = ZA_ENOMEM;
    if (!d2)
        return ZA_ENOMEM;
    if ((rc = za_edt(labels, nx, ny, nz, spacing, d2, cancel)) != ZA_OK)
        goto out;
    rc = ZA_ENOMEM;
    for (size_t i = 0; i < nv; i++)
        nfg += labels[i] != 0;
    key = malloc((nfg ? nfg : 1) * sizeof(uint32_t));
    idx = malloc((nfg ? nfg : 1) * sizeof(uint32_t));
    if (!key || !idx)
        goto out;
    for (size_t i = 0, k = 0; i < nv; i++) {
        if (!labels[i])
            continue;
        memcpy(&key[k], &d2[i], sizeof(uint32_t)); /* non-negative floats sort as integers */
        idx[k++] = (uint32_t)i;
    }
    if (radix_sort(key, idx, nfg) != ZA_OK)
        goto out;
    if (cancel && atomic_load(cancel)) {
        rc = ZA_ECANCEL;
        goto out;
    }
    /* neighbours: offsets and coordinate steps */
    int off[26][3], no = 0;
    for (int dz = -1; dz <= 1; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int m = abs(dx) + abs(dy) + abs(dz);
                if (m == 0 || (connectivity == 6 && m != 1))
                    continue;
                off[no][0] = dx, off[no][1] = dy, off[no][2] = dz, no++;
            }
    /* the basin of each flooded voxel (0: not yet) */
    uint32_t *basin = za_alloc(nv * sizeof(uint32_t));
    if (!basin || (basin_new(&b, 0), b.n != 1)) { /* basin 0 stands for none */
        za_free(basin);
        goto out;
    }
    memset(basin, 0, nv * sizeof(uint32_t));
    size_t sy = (size_t)nx, sz = (size_t)nx * ny;
    for (size_t r = nfg; r-- > 0;) {
        if ((r & 0xfffff) == 0 && cancel && atomic_load(cancel)) {
            za_free(basin);
            rc = ZA_ECANCEL;
            goto out;
        }
        size_t p = idx[r];
        int x = (int)(p % sy), y = (int)(p / sy % (size_t)ny), z = (int)(p / sz);
        float dp = sqrtf(d2[p]);
        uint32_t best = 0, roots[26];
        int nr = 0;
        for (int k = 0; k < no; k++) {
            int xx = x + off[k][0], yy = y + off[k][1], zz = z + off[k][2];
            if (xx < 0 || yy < 0 || zz < 0 || xx >= nx || yy >= ny || zz >= nz)
                continue;
            uint32_t q = basin[(size_t)zz * sz + (size_t)yy * sy + (size_t)xx];
            if (!q)
                continue;
            q = bfind(b.parent, q);
            bool seen = false;
            for (int i = 0; i < nr && !seen; i++)
                seen = roots[i] == q;
            if (seen)
                continue;
            roots[nr++] = q;
            if (!best || b.peak[q] > b.peak[best] || (q < best && b.peak[q] == b.peak[best]))
                best = q;
        }
        if (!best) {
            best = basin_new(&b, isinf(dp) ? (float)INFINITY : dp);
            if (!best) {
                za_free(basin);
                goto out;
            }
        }
        for (int i = 0; i < nr; i++) /* shallow basins join the highest one */
            if (roots[i] != best && b.peak[roots[i]] - dp < depth)
                b.parent[roots[i]] = best;
        basin[p] = best;
    }
    /* markers: the voxels within depth of their basin's maximum (the h-maxima). Any saddle
     * between two basins that stayed apart lies lower, so these are all assigned right. */
    for (size_t r = 0; r < nfg; r++) {
        size_t p = idx[r];
        uint32_t root = bfind(b.parent, basin[p]);
        float d = sqrtf(d2[p]);
        basin[p] = isinf(d) || d > b.peak[root] - depth ? root : 0;
    }
    /* the watershed proper: flood from the markers, highest distance first, first come first
     * served among equals (each voxel takes the basin of the voxel that reached it) */
    if ((rc = flood(basin, labels, d2, nx, ny, nz, off, no, nfg)) != ZA_OK) {
        za_free(basin);
        goto out;
    }
    rc = ZA_ENOMEM;
    /* new labels in raster order of the first voxel */
    map = calloc(b.n, sizeof(uint32_t));
    if (!map) {
        za_free(basin);
        goto out;
    }
    uint32_t k = 0;
    for (size_t i = 0; i < nv; i++) {
        if (!basin[i]) {
            labels[i] = 0;
            continue;
        }
        uint32_t r = bfind(b.parent, basin[i]);
        if (!map[r])
            map[r] = ++k;
        labels[i] = map[r];
    }
    za_free(basin);
    *count = k;
    rc = ZA_OK;
out:
    za_free(d2);
    free(key);
    free(idx);
    free(map);
    free(b.parent);
    free(b.peak);
    return rc;
}
