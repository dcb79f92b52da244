/* Threshold, connected components and measurements. */
#include "analysis/segment.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/par.h"

/* ---- histograms ------------------------------------------------------------------------------ */

#define ZA_MAX_INT_BINS ((size_t)1 << 24) /* integer ranges above it use nbins equal bins */

struct hist {
    double lo, hi;  /* value range */
    size_t nb;      /* bins */
    bool exact;     /* one bin per integer value */
    double *count;  /* nb */
    double *centre; /* nb */
};

struct hist_job {
    const float *v;
    size_t n;
    struct hist *h;
    uint64_t **count; /* per thread */
};

static void hist_chunk(void *arg, long begin, long end, int thread)
{
    struct hist_job *j = arg;
    uint64_t *c = j->count[thread];
    double lo = j->h->lo, norm = (double)j->h->nb / (j->h->hi - j->h->lo);
    size_t last = j->h->nb - 1;
    if (j->h->exact) {
        for (size_t i = (size_t)begin; i < (size_t)end; i++)
            c[(size_t)((double)j->v[i] - lo)]++;
    } else { /* numpy.histogram: the last bin includes hi */
        for (size_t i = (size_t)begin; i < (size_t)end; i++) {
            size_t b = (size_t)(((double)j->v[i] - lo) * norm);
            c[b > last ? last : b]++;
        }
    }
}

#define ZA_GRAIN 65536

/* The histogram of v (n > 0): exact integer bins when integer and the range allows, else nbins
 * equal bins from min to max. h->nb = 0 when all values are equal (h->lo). Returns ZA_OK or
 * ZA_ENOMEM. */
static int histogram(const float *v, size_t n, bool integer, size_t nbins, const float *range,
                     struct hist *h)
{
    memset(h, 0, sizeof(*h));
    int nt = za_threads(), rc = ZA_ENOMEM;
    uint64_t **count = calloc((size_t)nt, sizeof(uint64_t *));
    if (!count)
        return ZA_ENOMEM;
    struct hist_job j = {v, n, h, count};
    float mm[2];
    if (range)
        mm[0] = range[0], mm[1] = range[1];
    else
        za_minmax(v, n, mm);
    h->lo = mm[0], h->hi = mm[1];
    if (h->lo == h->hi) {
        rc = ZA_OK;
        goto out;
    }
    h->exact = integer && h->hi - h->lo < (double)ZA_MAX_INT_BINS;
    h->nb = h->exact ? (size_t)(h->hi - h->lo) + 1 : nbins;
    /* one table per thread, unless that takes much memory */
    int used = h->nb * (size_t)nt <= ((size_t)1 << 22) ? nt : 1;
    for (int t = 0; t < used; t++)
        if (!(count[t] = calloc(h->nb, sizeof(uint64_t))))
            goto out;
    h->count = calloc(h->nb, sizeof(double));
    h->centre = malloc(h->nb * sizeof(double));
    if (!h->count || !h->centre)
        goto out;
    if (used == nt)
        za_par_for((long)n, ZA_GRAIN, hist_chunk, &j, NULL);
    else
        hist_chunk(&j, 0, (long)n, 0);
    double width = (h->hi - h->lo) / (double)h->nb;
    for (size_t b = 0; b < h->nb; b++) {
        h->centre[b] = h->exact ? h->lo + (double)b : h->lo + width * ((double)b + 0.5);
        for (int t = 0; t < used; t++)
            h->count[b] += (double)count[t][b];
    }
    rc = ZA_OK;
out:
    for (int t = 0; t < nt; t++)
        free(count[t]);
    free(count);
    if (rc != ZA_OK) {
        free(h->count);
        free(h->centre);
        h->count = h->centre = NULL;
    }
    return rc;
}

static void hist_free(struct hist *h)
{
    free(h->count);
    free(h->centre);
}

/* ---- Otsu ------------------------------------------------------------------------------------ */

double za_otsu(const float *v, size_t n, bool integer, const float *range, double *separability)
{
    *separability = 0;
    if (n == 0)
        return 0;
    struct hist h;
    if (histogram(v, n, integer, 256, range, &h) != ZA_OK)
        return NAN;
    if (h.nb == 0)
        return h.lo;
    /* between-class variance w1 w2 (m1 - m2)^2 for a split after bin b, as skimage: class 1 is
     * bins 0..b, class 2 bins b+1.. */
    double total = (double)n, sum_all = 0, sumsq = 0;
    for (size_t b = 0; b < h.nb; b++) {
        sum_all += h.count[b] * h.centre[b];
        sumsq += h.count[b] * h.centre[b] * h.centre[b];
    }
    double w1 = 0, s1 = 0, best = -1;
    size_t best_b = 0;
    for (size_t b = 0; b + 1 < h.nb; b++) {
        w1 += h.count[b];
        s1 += h.count[b] * h.centre[b];
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
    double thr = h.centre[best_b];
    hist_free(&h);
    return thr;
}

/* ---- Li -------------------------------------------------------------------------------------- */

double za_li(const float *v, size_t n, bool integer, const float *range)
{
    if (n == 0)
        return 0;
    struct hist h;
    if (histogram(v, n, integer, 65536, range, &h) != ZA_OK)
        return NAN;
    if (h.nb == 0)
        return h.lo;
    /* values shifted so that the minimum is 0 (Li's iteration takes logarithms of means) */
    double total = 0, sum = 0;
    for (size_t b = 0; b < h.nb; b++) {
        h.centre[b] -= h.lo;
        total += h.count[b];
        sum += h.count[b] * h.centre[b];
    }
    double tol = h.exact ? 0.5 : (h.hi - h.lo) / (double)h.nb / 2;
    double t_next = sum / total, t_curr = -2 * tol;
    for (int iter = 0; iter < 1000 && fabs(t_next - t_curr) > tol; iter++) {
        t_curr = t_next;
        double cf = 0, sf = 0;
        for (size_t b = 0; b < h.nb; b++)
            if (h.centre[b] > t_curr)
                cf += h.count[b], sf += h.count[b] * h.centre[b];
        double cb = total - cf, sb = sum - sf;
        if (cf <= 0 || cb <= 0)
            break;
        double mf = sf / cf, mb = sb / cb;
        if (mb == 0)
            break;
        t_next = (mb - mf) / (log(mb) - log(mf));
    }
    double thr = t_next + h.lo;
    hist_free(&h);
    return thr;
}

/* ---- connected components ---------------------------------------------------------------------
 * Runs of foreground along x are the nodes of a union-find whose roots are the smallest run index
 * of their component, i.e. the component's first run in raster order: numbering the roots in
 * index order gives scipy's numbering. Threads count the runs of each row, then write them into
 * one array in raster order (so nothing grows or moves); threads join the touching runs of slabs
 * of rows, one thread joins across slab boundaries and numbers the roots. */

struct run {
    int x0, x1; /* [x0, x1) */
};

struct label_job {
    const float *v;
    long nx, ny, nz, nrows, nslabs;
    float tf; /* v > thr (in double) is v > tf: thr rounded down to a float */
    int conn;
    size_t *row_off; /* nrows + 1: first run of each row */
    size_t *fg;      /* per thread: foreground voxels */
    struct run *runs;
    uint32_t *parent, *final;
    uint32_t *labels;
};

static void count_runs(void *arg, long begin, long end, int thread)
{
    (void)thread;
    struct label_job *j = arg;
    for (long row = begin; row < end; row++) {
        const float *p = j->v + row * j->nx;
        float t = j->tf;
        long n = p[0] > t;
        for (long x = 1; x < j->nx; x++) /* run starts: no carried state, so it vectorizes */
            n += (p[x] > t) > (p[x - 1] > t);
        j->row_off[row + 1] = (size_t)n;
    }
}

static void find_runs(void *arg, long begin, long end, int thread)
{
    struct label_job *j = arg;
    for (long row = begin; row < end; row++) {
        const float *p = j->v + row * j->nx;
        float t = j->tf;
        size_t i = j->row_off[row];
        for (long x = 0; x < j->nx;) {
            if (!(p[x] > t)) {
                x++;
                continue;
            }
            long x0 = x;
            while (x < j->nx && p[x] > t)
                x++;
            j->runs[i] = (struct run){(int)x0, (int)x};
            j->parent[i] = (uint32_t)i;
            j->fg[thread] += (size_t)(x - x0);
            i++;
        }
    }
}

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

/* Joins the runs of row a with those of row b that touch them (e: 1 to count diagonal
 * contact). */
static void join_rows(struct label_job *j, long a, long b, int e)
{
    size_t i = j->row_off[a], ie = j->row_off[a + 1], k = j->row_off[b], ke = j->row_off[b + 1];
    while (i < ie && k < ke) {
        const struct run *ra = &j->runs[i], *rb = &j->runs[k];
        if (ra->x0 < rb->x1 + e && rb->x0 < ra->x1 + e)
            unite(j->parent, (uint32_t)i, (uint32_t)k);
        if (ra->x1 < rb->x1)
            i++;
        else
            k++;
    }
}

/* Joins row's runs with the rows before it that it may touch, from row min_row on. */
static void join_row(struct label_job *j, long row, long min_row)
{
    long y = row % j->ny, ny = j->ny;
    if (j->conn == 6) {
        if (y > 0 && row - 1 >= min_row)
            join_rows(j, row, row - 1, 0);
        if (row - ny >= min_row)
            join_rows(j, row, row - ny, 0);
        return;
    }
    if (y > 0 && row - 1 >= min_row)
        join_rows(j, row, row - 1, 1);
    for (long dy = -1; dy <= 1; dy++) {
        long q = row - ny + dy;
        if (y + dy >= 0 && y + dy < ny && q >= min_row)
            join_rows(j, row, q, 1);
    }
}

/* Slab s: rows [nrows * s / nslabs, nrows * (s + 1) / nslabs). */
static long slab_row(const struct label_job *j, long s)
{
    return j->nrows * s / j->nslabs;
}

static void join_slab(void *arg, long s, long s_end, int thread)
{
    (void)thread, (void)s_end;
    struct label_job *j = arg;
    for (long row = slab_row(j, s); row < slab_row(j, s + 1); row++)
        join_row(j, row, slab_row(j, s));
}

static void write_labels(void *arg, long begin, long end, int thread)
{
    (void)thread;
    struct label_job *j = arg;
    for (long row = begin; row < end; row++) {
        uint32_t *out = j->labels + row * j->nx;
        long x = 0;
        for (size_t i = j->row_off[row]; i < j->row_off[row + 1]; i++) {
            for (; x < j->runs[i].x0; x++)
                out[x] = 0;
            for (; x < j->runs[i].x1; x++)
                out[x] = j->final[i];
        }
        for (; x < j->nx; x++)
            out[x] = 0;
    }
}

int za_label(const float *v, int nx, int ny, int nz, double thr, int connectivity, uint32_t *labels,
             uint32_t *count, size_t *foreground, const atomic_bool *cancel)
{
    long nrows = (long)ny * nz;
    int nt = za_threads(), rc = ZA_ENOMEM;
    size_t fg[nt];
    memset(fg, 0, sizeof(fg));
    struct label_job j = {.v = v,
                          .nx = nx,
                          .ny = ny,
                          .nz = nz,
                          .nrows = nrows,
                          .tf = (float)thr,
                          .conn = connectivity,
                          .labels = labels,
                          .fg = fg};
    if ((double)j.tf > thr)
        j.tf = nextafterf(j.tf, -INFINITY);
    j.nslabs = nt * 4 < nrows ? nt * 4 : (nrows > 0 ? nrows : 1);
    j.row_off = malloc(((size_t)nrows + 1) * sizeof(size_t));
    *count = 0, *foreground = 0;
    if (!j.row_off)
        goto out;
    /* runs per row, then their places: one array in raster order, nothing to grow or move */
    j.row_off[0] = 0;
    if ((rc = za_par_for(nrows, 64, count_runs, &j, cancel)) != ZA_OK)
        goto out;
    rc = ZA_ENOMEM;
    for (long row = 0; row < nrows; row++)
        j.row_off[row + 1] += j.row_off[row];
    size_t total = j.row_off[nrows];
    if (total >= UINT32_MAX)
        goto out;
    j.runs = za_alloc((total ? total : 1) * sizeof(struct run));
    j.parent = za_alloc((total ? total : 1) * sizeof(uint32_t));
    j.final = za_alloc((total ? total : 1) * sizeof(uint32_t));
    if (!j.runs || !j.parent || !j.final)
        goto out;
    if ((rc = za_par_for(nrows, 64, find_runs, &j, cancel)) != ZA_OK)
        goto out;
    for (int t = 0; t < nt; t++)
        *foreground += fg[t];
    if ((rc = za_par_for(j.nslabs, 1, join_slab, &j, cancel)) != ZA_OK)
        goto out;
    /* the rows whose neighbours lie in the slab before */
    for (long s = 1; s < j.nslabs; s++)
        for (long row = slab_row(&j, s); row < slab_row(&j, s + 1) && row <= slab_row(&j, s) + ny;
             row++)
            join_row(&j, row, 0);
    uint32_t k = 0;
    for (size_t i = 0; i < total; i++) {
        uint32_t r = find(j.parent, (uint32_t)i);
        j.final[i] = r == i ? ++k : j.final[r];
    }
    *count = k;
    rc = za_par_for(nrows, 64, write_labels, &j, cancel);
out:
    free(j.row_off);
    za_free(j.runs);
    za_free(j.parent);
    za_free(j.final);
    return rc;
}

/* ---- measurements -----------------------------------------------------------------------------
 */

struct measure_job {
    const struct za_stack *raw;
    const uint32_t *labels;
    uint32_t count;
    struct za_object **objs; /* per thread */
    double **row;            /* per thread: the raw row as doubles */
};

static void objs_init(struct za_object *objs, uint32_t count, int nx, int ny, int nz)
{
    for (uint32_t k = 0; k < count; k++) {
        struct za_object *o = &objs[k];
        memset(o, 0, sizeof(*o));
        o->label = k + 1;
        o->x0 = nx, o->y0 = ny, o->z0 = nz, o->x1 = o->y1 = o->z1 = -1;
        o->min = DBL_MAX, o->max = -DBL_MAX;
    }
}

static void measure_rows(void *arg, long begin, long end, int thread)
{
    struct measure_job *j = arg;
    const struct za_stack *raw = j->raw;
    const uint32_t *labels = j->labels;
    struct za_object *objs = j->objs[thread];
    double *w = j->row[thread];
    int nx = raw->nx, ny = raw->ny, nz = raw->nz;
    double ax = raw->dy * raw->dz, ay = raw->dx * raw->dz, az = raw->dx * raw->dy;
    size_t sy = (size_t)nx, sz = (size_t)nx * ny;
    for (long row = begin; row < end; row++) {
        int y = (int)(row % ny), z = (int)(row / ny);
        size_t base = (size_t)row * sy;
        za_to_double_range(raw, base, sy, w);
        const uint32_t *lr = labels + base;
        for (int x = 0; x < nx;) {
            uint32_t l = lr[x];
            if (!l) {
                x++;
                continue;
            }
            int x0 = x;
            while (x < nx && lr[x] == l)
                x++;
            /* a run [x0, x) of one label: one update of its object */
            struct za_object *o = &objs[l - 1];
            long len = x - x0;
            double s = 0, sx = 0, lo = o->min, hi = o->max;
            long faces = 0; /* y and z faces towards another label or the outside */
            for (int k = x0; k < x; k++) {
                s += w[k], sx += w[k] * k;
                lo = w[k] < lo ? w[k] : lo, hi = w[k] > hi ? w[k] : hi;
            }
            const uint32_t *up = y > 0 ? lr - sy : NULL, *down = y + 1 < ny ? lr + sy : NULL;
            const uint32_t *front = z > 0 ? lr - sz : NULL, *back = z + 1 < nz ? lr + sz : NULL;
            for (int k = x0; k < x; k++) {
                faces += (!up || up[k] != l) + (!down || down[k] != l);
            }
            long zfaces = 0;
            for (int k = x0; k < x; k++)
                zfaces += (!front || front[k] != l) + (!back || back[k] != l);
            o->voxels += len;
            o->cx += 0.5 * (double)(x0 + x - 1) * (double)len;
            o->cy += (double)y * (double)len, o->cz += (double)z * (double)len;
            o->wcx += sx, o->wcy += s * y, o->wcz += s * z;
            o->sum += s;
            o->min = lo, o->max = hi;
            o->x0 = x0 < o->x0 ? x0 : o->x0, o->x1 = x - 1 > o->x1 ? x - 1 : o->x1;
            o->y0 = y < o->y0 ? y : o->y0, o->y1 = y > o->y1 ? y : o->y1;
            o->z0 = z < o->z0 ? z : o->z0, o->z1 = z > o->z1 ? z : o->z1;
            if (x0 == 0 || x == nx || y == 0 || z == 0 || y == ny - 1 || z == nz - 1)
                o->touches_border = true;
            /* the run's two x ends always face another label, the background or the outside */
            o->surface += 2 * ax + (double)faces * ay + (double)zfaces * az;
        }
    }
}

static void merge_object(struct za_object *o, const struct za_object *p)
{
    o->voxels += p->voxels;
    o->cx += p->cx, o->cy += p->cy, o->cz += p->cz;
    o->wcx += p->wcx, o->wcy += p->wcy, o->wcz += p->wcz;
    o->sum += p->sum, o->surface += p->surface;
    o->min = p->min < o->min ? p->min : o->min;
    o->max = p->max > o->max ? p->max : o->max;
    o->x0 = p->x0 < o->x0 ? p->x0 : o->x0, o->x1 = p->x1 > o->x1 ? p->x1 : o->x1;
    o->y0 = p->y0 < o->y0 ? p->y0 : o->y0, o->y1 = p->y1 > o->y1 ? p->y1 : o->y1;
    o->z0 = p->z0 < o->z0 ? p->z0 : o->z0, o->z1 = p->z1 > o->z1 ? p->z1 : o->z1;
    o->touches_border |= p->touches_border;
}

int za_measure(const struct za_stack *raw, const uint32_t *labels, uint32_t count,
               struct za_object *objs)
{
    int nx = raw->nx, ny = raw->ny, nz = raw->nz, nt = za_threads(), rc = ZA_ENOMEM;
    size_t table = (size_t)count * sizeof(struct za_object);
    if (table * (size_t)nt > ((size_t)64 << 20))
        nt = 1; /* many objects: one table */
    struct za_object *tables[nt];
    double *rows[nt];
    for (int t = 0; t < nt; t++) {
        tables[t] = t ? malloc(table ? table : 1) : objs;
        rows[t] = malloc((size_t)nx * sizeof(double));
    }
    for (int t = 0; t < nt; t++)
        if (!tables[t] || !rows[t])
            goto out;
    for (int t = 0; t < nt; t++)
        objs_init(tables[t], count, nx, ny, nz);
    struct measure_job j = {raw, labels, count, tables, rows};
    if (nt > 1)
        za_par_for((long)ny * nz, 16, measure_rows, &j, NULL);
    else
        measure_rows(&j, 0, (long)ny * nz, 0);
    for (int t = 1; t < nt; t++)
        for (uint32_t k = 0; k < count; k++)
            merge_object(&objs[k], &tables[t][k]);
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
        o->volume = (double)o->voxels * raw->dx * raw->dy * raw->dz;
        o->sphericity =
            o->surface > 0 ? cbrt(M_PI) * pow(6 * o->volume, 2.0 / 3.0) / o->surface : 0;
    }
    rc = ZA_OK;
out:
    for (int t = 0; t < nt; t++) {
        if (t)
            free(tables[t]);
        free(rows[t]);
    }
    return rc;
}

struct relabel_job {
    uint32_t *labels;
    const uint32_t *map;
};

static void relabel_chunk(void *arg, long begin, long end, int thread)
{
    (void)thread;
    struct relabel_job *j = arg;
    for (long i = begin; i < end; i++)
        j->labels[i] = j->map[j->labels[i]];
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
    if (kept != count) {
        struct relabel_job j = {labels, map};
        za_par_for((long)n, ZA_GRAIN, relabel_chunk, &j, NULL);
    }
    free(map);
    return kept;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double za_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
