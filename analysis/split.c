/* Distance transform and watershed split. */
#include "analysis/split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/par.h"

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

/* out[q] = min_p (s (q - p))^2 + f[p] for q, p in [from, to) (f may hold INFINITY): the
 * lower envelope of the parabolas; v and z are scratch. */
static void envelope(const double *f, double *out, long from, long to, double s, long *v, double *z)
{
    long k = -1;
    for (long q = from; q < to; q++) {
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
            x = f[q] == f[v[k]] ? 0.5 * (aq + ap) /* equal heights: the midpoint */
                                : ((f[q] + aq * aq) - (f[v[k]] + ap * ap)) / (2 * (aq - ap));
            if (x > z[k])
                break;
            k--;
        }
        k++, v[k] = q, z[k] = x, z[k + 1] = INFINITY;
    }
    if (k < 0) {
        for (long q = from; q < to; q++)
            out[q] = INFINITY;
        return;
    }
    k = 0;
    for (long q = from; q < to; q++) {
        double aq = s * (double)q;
        while (z[k + 1] < aq)
            k++;
        double dd = aq - s * (double)v[k];
        out[q] = dd * dd + f[v[k]];
    }
}

/* One line of a pass after the first: background (f = 0) stays 0, and each run of foreground
 * needs only its own parabolas and the background voxel at each end (any site beyond one of
 * those is farther than it, and that one adds nothing). So the work follows the foreground. */
static void edt_line(const double *f, double *out, long n, double s, long *v, double *z)
{
    for (long q = 0; q < n;) {
        if (f[q] == 0) {
            out[q++] = 0;
            continue;
        }
        long r0 = q;
        while (q < n && f[q] != 0)
            q++;
        long from = r0 > 0 ? r0 - 1 : r0, to = q < n ? q + 1 : q;
        envelope(f, out, from, to, s, v, z);
        /* envelope wrote the end voxels too: they are background, 0 either way */
    }
}

/* The first pass on the binary input needs no parabolas: the distance to the nearest background
 * voxel of the row, from a scan each way. */
static void edt_x(void *arg, long begin, long end, int thread)
{
    (void)thread;
    struct edt_job *j = arg;
    long n = j->nx;
    for (long row = begin; row < end; row++) {
        const uint32_t *l = j->labels + row * n;
        float *d = j->d2 + row * n;
        long last = -1; /* the last background voxel seen */
        for (long x = 0; x < n; x++) {
            if (!l[x])
                last = x;
            d[x] = last < 0 ? INFINITY : (float)(x - last);
        }
        last = -1;
        for (long x = n - 1; x >= 0; x--) {
            if (!l[x])
                last = x;
            if (last >= 0 && (float)(last - x) < d[x])
                d[x] = (float)(last - x);
            double dd = (double)d[x] * j->s;
            d[x] = isinf(d[x]) ? INFINITY : (float)(dd * dd);
        }
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
            for (long k = 0; k < n; k++) /* back into the block, written out by rows below */
                g[k * ZA_COLS + x] = out[k];
        }
        for (long k = 0; k < n; k++)
            for (long x = 0; x < w; x++)
                base[k * j->stride + x] = (float)g[k * ZA_COLS + x];
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

/* ---- watershed ------------------------------------------------------------------------------
 * Each object is split on its own, in the box that bounds it (local arrays that stay in cache;
 * objects in parallel). Within an object: its voxels sorted by decreasing distance; a union-find
 * flood finds the basins and merges the shallow ones; markers are the voxels within depth of
 * their basin's maximum; a heap-ordered flood from the markers assigns every voxel. */

/* Sorts v (n) ascending: 16-bit LSD radix (stable) for large arrays, qsort for small ones. */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int sort_u64(uint64_t *v, size_t n)
{
    if (n < 4096) {
        qsort(v, n, sizeof(uint64_t), cmp_u64);
        return ZA_OK;
    }
    uint64_t *tmp = malloc(n * sizeof(uint64_t));
    size_t *cnt = malloc(65536 * sizeof(size_t));
    if (!tmp || !cnt) {
        free(tmp), free(cnt);
        return ZA_ENOMEM;
    }
    for (int shift = 0; shift < 64; shift += 16) {
        memset(cnt, 0, 65536 * sizeof(size_t));
        for (size_t i = 0; i < n; i++)
            cnt[(v[i] >> shift) & 0xffff]++;
        size_t sum = 0;
        for (size_t b = 0; b < 65536; b++) {
            size_t c = cnt[b];
            cnt[b] = sum, sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[cnt[(v[i] >> shift) & 0xffff]++] = v[i];
        memcpy(v, tmp, n * sizeof(uint64_t));
    }
    free(tmp), free(cnt);
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

/* A new basin (its id), or 0 when memory is short (id 0 is made first and means none). */
static uint32_t basin_new(struct basins *b, float peak)
{
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? 2 * b->cap : 64;
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

struct box {
    int x0, y0, z0, x1, y1, z1; /* inclusive */
};

struct split_job {
    uint32_t *labels; /* the objects (read) */
    uint32_t *local;  /* out: each voxel's basin number within its object, 1.. */
    const float *d2;
    int nx, ny, nz, no;
    int (*off)[3];
    double depth;
    const size_t *first;   /* count + 1: object k's voxels are vox[first[k - 1] .. first[k]) */
    const uint32_t *vox;   /* voxel indices grouped by object, raster order within */
    const struct box *box; /* per object */
    uint32_t *parts;       /* out: basins kept per object */
    atomic_bool failed;
};

/* Splits object k (label k + 1). Returns ZA_OK or ZA_ENOMEM. */
/* Long: one watershed over one object's bounding box; its buffers and their release belong
 * together */
static int split_object(struct split_job *j, uint32_t k)
{
    const uint32_t *vox = j->vox + j->first[k];
    size_t n = j->first[k + 1] - j->first[k];
    const struct box *bx = &j->box[k];
    long bw = bx->x1 - bx->x0 + 1, bh = bx->y1 - bx->y0 + 1, bd = bx->z1 - bx->z0 + 1;
    size_t sy = (size_t)j->nx, sz = (size_t)j->nx * j->ny;
    uint32_t label = k + 1;
    uint32_t *lb = calloc((size_t)(bw * bh * bd), sizeof(uint32_t)); /* basin per box voxel */
    uint64_t *order = malloc(n * sizeof(uint64_t));
    struct hnode *h = malloc(n * sizeof(struct hnode));
    uint32_t *ids = NULL;
    struct basins b = {0};
    int rc = ZA_ENOMEM;
    if (!lb || !order || !h || (basin_new(&b, 0), b.n != 1))
        goto out;
/* box-local index of global voxel g, and back */
#define LOCAL(g)                                                                                   \
    ((size_t)((long)((g) / sz) - bx->z0) * (size_t)(bw * bh) +                                     \
     (size_t)((long)((g) / sy % (size_t)j->ny) - bx->y0) * (size_t)bw +                            \
     (size_t)((long)((g) % sy) - bx->x0))
    /* decreasing distance, then raster order: sort (~d2 bits, position in vox) ascending */
    for (size_t i = 0; i < n; i++) {
        uint32_t key;
        memcpy(&key, &j->d2[vox[i]], sizeof(key)); /* non-negative floats sort as integers */
        order[i] = (uint64_t)(~key) << 32 | (uint64_t)i;
    }
    if (sort_u64(order, n) != ZA_OK)
        goto out;
    for (size_t r = 0; r < n; r++) {
        size_t g = vox[(uint32_t)order[r]], p = LOCAL(g);
        int x = (int)(g % sy), y = (int)(g / sy % (size_t)j->ny), z = (int)(g / sz);
        float dp = sqrtf(j->d2[g]);
        uint32_t best = 0, roots[26];
        int nr = 0;
        for (int t = 0; t < j->no; t++) {
            int xx = x + j->off[t][0], yy = y + j->off[t][1], zz = z + j->off[t][2];
            if (xx < bx->x0 || yy < bx->y0 || zz < bx->z0 || xx > bx->x1 || yy > bx->y1 ||
                zz > bx->z1)
                continue;
            uint32_t q = lb[(size_t)(zz - bx->z0) * (size_t)(bw * bh) +
                            (size_t)(yy - bx->y0) * (size_t)bw + (size_t)(xx - bx->x0)];
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
        if (!best && !(best = basin_new(&b, dp)))
            goto out;
        for (int i = 0; i < nr; i++) /* shallow basins join the highest one */
            if (roots[i] != best && b.peak[roots[i]] - dp < j->depth)
                b.parent[roots[i]] = best;
        lb[p] = best;
    }
    /* markers: the voxels within depth of their basin's maximum (the h-maxima); any saddle
     * between basins that stayed apart lies lower, so these are all assigned right */
    size_t hn = 0;
    uint64_t age = 0;
    for (size_t r = 0; r < n; r++) {
        size_t g = vox[(uint32_t)order[r]], p = LOCAL(g);
        uint32_t root = bfind(b.parent, lb[p]);
        float d = sqrtf(j->d2[g]);
        lb[p] = isinf(d) || d > b.peak[root] - j->depth ? root : 0;
        if (lb[p])
            heap_push(h, &hn, (struct hnode){j->d2[g], (uint32_t)g, age++});
    }
    /* the watershed proper: flood from the markers, highest distance first, first come first
     * served among equals (each voxel takes the basin of the voxel that reached it) */
    long loff[26], goff[26]; /* neighbour steps in the box and in the volume */
    for (int u = 0; u < j->no; u++) {
        loff[u] = (long)j->off[u][2] * bw * bh + (long)j->off[u][1] * bw + j->off[u][0];
        goff[u] = (long)j->off[u][2] * (long)sz + (long)j->off[u][1] * (long)sy + j->off[u][0];
    }
    while (hn) {
        struct hnode t = heap_pop(h, &hn);
        size_t g = t.i, p = LOCAL(g);
        int x = (int)(g % sy), y = (int)(g / sy % (size_t)j->ny), z = (int)(g / sz);
        for (int u = 0; u < j->no; u++) {
            int xx = x + j->off[u][0], yy = y + j->off[u][1], zz = z + j->off[u][2];
            if (xx < bx->x0 || yy < bx->y0 || zz < bx->z0 || xx > bx->x1 || yy > bx->y1 ||
                zz > bx->z1)
                continue;
            size_t q = (size_t)((long)g + goff[u]), lq = (size_t)((long)p + loff[u]);
            if (j->labels[q] != label || lb[lq])
                continue;
            lb[lq] = lb[p];
            heap_push(h, &hn, (struct hnode){j->d2[q], (uint32_t)q, age++});
        }
    }
    /* numbers within the object in raster order of first voxel */
    ids = calloc(b.n, sizeof(uint32_t));
    if (!ids)
        goto out;
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t r = bfind(b.parent, lb[LOCAL(vox[i])]);
        if (!ids[r])
            ids[r] = ++m;
        j->local[vox[i]] = ids[r];
    }
#undef LOCAL
    j->parts[k] = m;
    rc = ZA_OK;
out:
    free(lb);
    free(order);
    free(h);
    free(ids);
    free(b.parent);
    free(b.peak);
    return rc;
}

static void split_objects(void *arg, long begin, long end, int thread)
{
    (void)thread;
    struct split_job *j = arg;
    for (long k = begin; k < end; k++)
        if (split_object(j, (uint32_t)k) != ZA_OK)
            atomic_store(&j->failed, true);
}

/* Long: the per-object loop, its scheduling across threads and the relabelling after it */
int za_split(uint32_t *labels, int nx, int ny, int nz, const double spacing[3], double depth,
             int connectivity, uint32_t *count, const atomic_bool *cancel)
{
    size_t nv = (size_t)nx * ny * nz;
    uint32_t nobj = 0;
    if (nv >= UINT32_MAX)
        return ZA_ENOMEM;
    for (size_t i = 0; i < nv; i++)
        nobj = labels[i] > nobj ? labels[i] : nobj;
    float *d2 = za_alloc(nv * sizeof(float));
    uint32_t *local = za_alloc(nv * sizeof(uint32_t)), *vox = NULL, *parts = NULL, *map = NULL;
    size_t *first = calloc((size_t)nobj + 2, sizeof(size_t));
    struct box *box = malloc(((size_t)nobj + 1) * sizeof(struct box));
    int rc = ZA_ENOMEM;
    if (!d2 || !local || !first || !box)
        goto out;
    if ((rc = za_edt(labels, nx, ny, nz, spacing, d2, cancel)) != ZA_OK)
        goto out;
    rc = ZA_ENOMEM;
    /* the voxels of each object, in raster order, and its bounding box */
    for (uint32_t k = 0; k < nobj; k++)
        box[k] = (struct box){nx, ny, nz, -1, -1, -1};
    for (size_t i = 0; i < nv; i++)
        first[labels[i]]++; /* first[l] counts label l - 1's voxels, shifted below */
    size_t total = 0;
    for (uint32_t l = 1; l <= nobj; l++) {
        size_t c = first[l];
        first[l - 1] = total, total += c;
    }
    first[nobj] = total;
    vox = malloc((total ? total : 1) * sizeof(uint32_t));
    parts = calloc((size_t)nobj + 1, sizeof(uint32_t));
    size_t *fill = malloc(((size_t)nobj + 1) * sizeof(size_t));
    if (!vox || !parts || !fill) {
        free(fill);
        goto out;
    }
    memcpy(fill, first, ((size_t)nobj + 1) * sizeof(size_t));
    for (size_t i = 0; i < nv; i++) {
        uint32_t l = labels[i];
        if (!l)
            continue;
        vox[fill[l - 1]++] = (uint32_t)i;
        struct box *b = &box[l - 1];
        int x = (int)(i % (size_t)nx), y = (int)(i / (size_t)nx % (size_t)ny);
        int z = (int)(i / ((size_t)nx * ny));
        b->x0 = x < b->x0 ? x : b->x0, b->x1 = x > b->x1 ? x : b->x1;
        b->y0 = y < b->y0 ? y : b->y0, b->y1 = y > b->y1 ? y : b->y1;
        b->z0 = z < b->z0 ? z : b->z0, b->z1 = z > b->z1 ? z : b->z1;
    }
    free(fill);
    int off[26][3], no = 0;
    for (int dz = -1; dz <= 1; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int m = abs(dx) + abs(dy) + abs(dz);
                if (m == 0 || (connectivity == 6 && m != 1))
                    continue;
                off[no][0] = dx, off[no][1] = dy, off[no][2] = dz, no++;
            }
    struct split_job j = {.labels = labels,
                          .local = local,
                          .d2 = d2,
                          .nx = nx,
                          .ny = ny,
                          .nz = nz,
                          .no = no,
                          .off = off,
                          .depth = depth,
                          .first = first,
                          .vox = vox,
                          .box = box,
                          .parts = parts};
    atomic_init(&j.failed, false);
    if ((rc = za_par_for(nobj, 1, split_objects, &j, cancel)) != ZA_OK)
        goto out;
    rc = ZA_ENOMEM;
    if (atomic_load(&j.failed))
        goto out;
    /* global numbers: object k's parts are base[k] + 1.., renumbered in raster order */
    size_t nparts = 0;
    for (uint32_t k = 0; k < nobj; k++) {
        uint32_t c = parts[k];
        parts[k] = (uint32_t)nparts, nparts += c;
    }
    if (nparts >= UINT32_MAX || !(map = calloc(nparts + 1, sizeof(uint32_t))))
        goto out;
    uint32_t next = 0;
    for (size_t i = 0; i < nv; i++) {
        if (!labels[i])
            continue;
        uint32_t p = parts[labels[i] - 1] + local[i];
        if (!map[p])
            map[p] = ++next;
        labels[i] = map[p];
    }
    *count = next;
    rc = ZA_OK;
out:
    za_free(d2);
    za_free(local);
    free(first);
    free(box);
    free(vox);
    free(parts);
    free(map);
    return rc;
}
