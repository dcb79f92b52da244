/* Tests analysis/segment.c: Otsu's threshold against hand-computed cases, 6- and
 * 26-connectivity, and the whole chain on synthetic spheres with a known answer (count exact,
 * centroids within half a voxel). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/filter.h"
#include "analysis/par.h"
#include "analysis/segment.h"
#include "analysis/split.h"
#include "analysis/synth.h"

Test(segment, otsu_splits_two_levels_and_matches_skimage_semantics)
{
    float v[200];
    for (int i = 0; i < 200; i++)
        v[i] = i < 100 ? 0.0f : 10.0f;
    double sep;
    /* integer histogram: class 1 = bins up to the threshold, foreground strictly above */
    cr_expect_float_eq(za_otsu(v, 200, true, NULL, &sep), 0.0, 1e-12);
    cr_expect_float_eq(sep, 1.0, 1e-9, "two spikes separate perfectly");
    /* 256 float bins over [0, 10]: the threshold is the first bin's centre */
    cr_expect_float_eq(za_otsu(v, 200, false, NULL, &sep), 10.0 / 512, 1e-9);
    /* three levels 1, 2, 9 (equal counts): the split falls between 2 and 9 */
    float w[300];
    for (int i = 0; i < 300; i++)
        w[i] = i < 100 ? 1.0f : i < 200 ? 2.0f : 9.0f;
    cr_expect_float_eq(za_otsu(w, 300, true, NULL, &sep), 2.0, 1e-12);
    cr_expect(sep > 0.8 && sep < 1.0, "%g", sep);
    float flat[10] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
    cr_expect_float_eq(za_otsu(flat, 10, true, NULL, &sep), 5.0, 1e-12);
    cr_expect_float_eq(sep, 0.0, 1e-12);
}

Test(segment, connectivity_6_and_26_differ_on_diagonals)
{
    float v[27] = {0};
    v[0] = 1;  /* (0,0,0) */
    v[13] = 1; /* (1,1,1): a corner neighbour */
    v[26] = 1; /* (2,2,2) */
    uint32_t labels[27], n;
    size_t fg;
    cr_assert_eq(za_label(v, 3, 3, 3, 0.5, 26, labels, &n, &fg, NULL), 0);
    cr_expect_eq(n, 1);
    cr_assert_eq(za_label(v, 3, 3, 3, 0.5, 6, labels, &n, &fg, NULL), 0);
    cr_expect_eq(n, 3);
    cr_expect(labels[0] == 1 && labels[13] == 2 && labels[26] == 3, "raster order numbering");
}

Test(segment, labels_a_u_shape_as_one_object)
{
    /* a U in one slice: its arms meet only at the bottom row (union of two provisional labels) */
    int nx = 5, ny = 4;
    float v[20] = {1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1};
    uint32_t labels[20], n;
    size_t fg;
    cr_assert_eq(za_label(v, nx, ny, 1, 0.5, 6, labels, &n, &fg, NULL), 0);
    cr_expect_eq(n, 1);
    for (int i = 0; i < 20; i++)
        cr_expect_eq(labels[i], v[i] > 0.5f ? 1u : 0u, "voxel %d", i);
}

Test(segment, separated_spheres_are_found_exactly_with_their_centroids)
{
    struct za_synth_opts so;
    za_synth_defaults(&so);
    so.nx = 96, so.ny = 80, so.nz = 24;
    so.radius[0] = 2.5, so.radius[1] = 3.5;
    struct za_stack s;
    struct za_sphere *sp;
    int n;
    struct za_err e;
    cr_assert_eq(za_synth(&so, &s, &sp, &n, &e), 0, "%s", e.message);
    cr_assert_geq(n, 10);
    size_t nv = za_voxels(&s);
    float *v = malloc(nv * sizeof(float));
    uint32_t *labels = malloc(nv * sizeof(uint32_t)), count;
    size_t fg;
    za_to_float(&s, v);
    for (size_t i = 0; i < nv; i += 997)
        cr_assert_eq(v[i], (float)za_get(&s, i));
    double sigma[3] = {1, 1, 0.5}, sep;
    cr_assert_eq(za_gaussian3d(v, s.nx, s.ny, s.nz, sigma, NULL), 0);
    double thr = za_otsu(v, nv, false, NULL, &sep);
    cr_expect(thr > so.background && thr < so.foreground, "threshold %g", thr);
    cr_assert_eq(za_label(v, s.nx, s.ny, s.nz, thr, 26, labels, &count, &fg, NULL), 0);
    struct za_object *o = calloc(count, sizeof(*o));
    cr_assert_eq(za_measure(&s, labels, count, o), 0);
    cr_expect_eq(count, (uint32_t)n, "%u objects for %d spheres", count, n);
    for (uint32_t k = 0; k < count; k++) {
        double best = 1e9;
        for (int j = 0; j < n; j++) {
            double d = hypot(hypot(o[k].cx - sp[j].cx, o[k].cy - sp[j].cy), o[k].cz - sp[j].cz);
            best = fmin(best, d);
        }
        cr_expect_leq(best, 0.5, "object %u centroid %.2f,%.2f,%.2f is %.2f voxels off", k + 1,
                      o[k].cx, o[k].cy, o[k].cz, best);
        cr_expect(!o[k].touches_border);
        cr_expect(o[k].surface > 0 && o[k].min >= thr * 0.5 && o[k].max >= o[k].min);
    }
    /* the volume filter drops what is outside [min, max] and renumbers */
    long small = o[0].voxels < o[1].voxels ? o[0].voxels : o[1].voxels;
    uint32_t kept = za_filter_volume(labels, nv, o, count, small + 1, 0);
    cr_expect(kept > 0 && kept < count, "kept %u of %u", kept, count);
    for (size_t i = 0; i < nv; i++)
        cr_assert_leq(labels[i], kept);
    free(o);
    free(labels);
    free(v);
    free(sp);
    za_stack_free(&s);
}

/* ---- the fast paths against plain references, on 1 to 4 threads ------------------------------ */

static unsigned rng(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

/* Reference labelling: flood fill from each unlabelled voxel in raster order. */
static uint32_t ref_label(const float *v, int nx, int ny, int nz, double thr, int conn,
                          uint32_t *lab)
{
    size_t n = (size_t)nx * ny * nz;
    size_t *stack = malloc(n * sizeof(size_t));
    uint32_t k = 0;
    memset(lab, 0, n * sizeof(uint32_t));
    for (size_t s = 0; s < n; s++) {
        if (!(v[s] > thr) || lab[s])
            continue;
        size_t top = 0;
        stack[top++] = s;
        lab[s] = ++k;
        while (top) {
            size_t i = stack[--top];
            int x = (int)(i % nx), y = (int)(i / nx % ny), z = (int)(i / ((size_t)nx * ny));
            for (int dz = -1; dz <= 1; dz++)
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int m = abs(dx) + abs(dy) + abs(dz);
                        if (!m || (conn == 6 && m != 1))
                            continue;
                        int xx = x + dx, yy = y + dy, zz = z + dz;
                        if (xx < 0 || yy < 0 || zz < 0 || xx >= nx || yy >= ny || zz >= nz)
                            continue;
                        size_t j = ((size_t)zz * ny + yy) * nx + xx;
                        if (v[j] > thr && !lab[j]) {
                            lab[j] = k;
                            stack[top++] = j;
                        }
                    }
        }
    }
    free(stack);
    return k;
}

Test(segment, labelling_matches_a_flood_fill_on_random_volumes)
{
    static const int shapes[][3] = {{17, 13, 11}, {64, 9, 1}, {1, 30, 20}, {33, 1, 7}, {5, 5, 40}};
    unsigned seed = 7;
    for (int threads = 1; threads <= 4; threads++) {
        za_set_threads(threads);
        for (size_t sh = 0; sh < sizeof(shapes) / sizeof(shapes[0]); sh++)
            for (int density = 20; density <= 70; density += 25) {
                int nx = shapes[sh][0], ny = shapes[sh][1], nz = shapes[sh][2];
                size_t n = (size_t)nx * ny * nz, fg, ref_fg = 0;
                float *v = malloc(n * sizeof(float));
                uint32_t *a = malloc(n * sizeof(uint32_t)), *b = malloc(n * sizeof(uint32_t));
                for (size_t i = 0; i < n; i++) {
                    v[i] = (float)(rng(&seed) % 100);
                    ref_fg += v[i] > 100 - density;
                }
                for (int conn = 6; conn <= 26; conn += 20) {
                    uint32_t count;
                    uint32_t want = ref_label(v, nx, ny, nz, 100 - density, conn, b);
                    cr_assert_eq(za_label(v, nx, ny, nz, 100 - density, conn, a, &count, &fg, NULL),
                                 0);
                    cr_assert_eq(count, want, "%dx%dx%d density %d conn %d threads %d", nx, ny, nz,
                                 density, conn, threads);
                    cr_assert_eq(fg, ref_fg);
                    cr_assert_eq(memcmp(a, b, n * sizeof(uint32_t)), 0,
                                 "%dx%dx%d conn %d threads %d: labels differ", nx, ny, nz, conn,
                                 threads);
                }
                free(v);
                free(a);
                free(b);
            }
    }
    za_set_threads(0);
}

/* Reference Gaussian: each output voxel from the three 1D kernels applied in turn, straight
 * from scipy's definition (mirror border). */
static void ref_gauss_axis(float *v, const int n[3], int axis, double sigma)
{
    int r = za_gaussian_radius(sigma);
    double w[64] = {0}, sum = 0;
    for (int t = -r; t <= r; t++) {
        w[t + r] = exp(-0.5 * t * t / (sigma * sigma));
        sum += w[t + r];
    }
    size_t total = (size_t)n[0] * n[1] * n[2];
    float *out = malloc(total * sizeof(float));
    long stride = axis == 0 ? 1 : axis == 1 ? n[0] : (long)n[0] * n[1];
    for (size_t i = 0; i < total; i++) {
        long c[3] = {(long)(i % n[0]), (long)(i / n[0] % n[1]), (long)(i / ((size_t)n[0] * n[1]))};
        double acc = 0;
        for (int t = -r; t <= r; t++) {
            long k = c[axis] + t, len = n[axis];
            while (len > 1 && (k < 0 || k >= len))
                k = k < 0 ? -k : 2 * (len - 1) - k;
            if (len == 1)
                k = 0;
            acc += w[t + r] / sum * v[(long)i + (k - c[axis]) * stride];
        }
        out[i] = (float)acc;
    }
    memcpy(v, out, total * sizeof(float));
    free(out);
}

Test(segment, gaussian_matches_the_definition_on_1_to_4_threads)
{
    int n[3] = {70, 23, 9}; /* x spans two column blocks; z shorter than the kernel */
    size_t total = (size_t)n[0] * n[1] * n[2];
    float *v = malloc(total * sizeof(float)), *ref = malloc(total * sizeof(float));
    unsigned seed = 11;
    for (size_t i = 0; i < total; i++)
        ref[i] = (float)(rng(&seed) % 1000);
    double sigma[3] = {1.3, 0.8, 2.6};
    for (int axis = 2; axis >= 0; axis--)
        ref_gauss_axis(ref, n, axis, sigma[axis]);
    for (int threads = 1; threads <= 4; threads++) {
        za_set_threads(threads);
        seed = 11;
        for (size_t i = 0; i < total; i++)
            v[i] = (float)(rng(&seed) % 1000);
        cr_assert_eq(za_gaussian3d(v, n[0], n[1], n[2], sigma, NULL), 0);
        for (size_t i = 0; i < total; i++)
            cr_assert_float_eq(v[i], ref[i], 1e-3, "voxel %zu: %g vs %g (threads %d)", i, v[i],
                               ref[i], threads);
    }
    za_set_threads(0);
    free(v);
    free(ref);
}

Test(segment, li_threshold_iterates_to_skimage_fixed_point)
{
    /* two levels 10 and 100 in equal numbers: the mean 55 already separates them, and the
     * iteration converges to (mb - mf) / (ln mb - ln mf) on the shifted values 0 and 90, whose
     * background mean is 0, so the iteration stops at the mean */
    float v[400];
    for (int i = 0; i < 400; i++)
        v[i] = i < 200 ? 10.0f : 100.0f;
    cr_expect_float_eq(za_li(v, 400, true, NULL), 55.0, 1e-9);
    /* three levels: shifted 0 (x100), 40 (x100), 100 (x200) */
    float w[400];
    for (int i = 0; i < 400; i++)
        w[i] = i < 100 ? 5.0f : i < 200 ? 45.0f : 105.0f;
    /* start at the mean 60: fore = {100}, back mean 20 -> t = (20 - 100) / ln(20 / 100) */
    double t = (20.0 - 100.0) / (log(20.0) - log(100.0));
    cr_expect_float_eq(za_li(w, 400, true, NULL), t + 5.0, 1e-9, "%g", za_li(w, 400, true, NULL));
    float flat[4] = {3, 3, 3, 3};
    cr_expect_float_eq(za_li(flat, 4, true, NULL), 3.0, 1e-12);
}

/* ---- distance transform and watershed split ---------------------------------------------------
 */

Test(segment, distance_transform_matches_brute_force_with_anisotropic_spacing)
{
    int nx = 23, ny = 17, nz = 9;
    size_t n = (size_t)nx * ny * nz;
    uint32_t *lab = malloc(n * sizeof(uint32_t));
    float *d2 = malloc(n * sizeof(float));
    double sp[3] = {0.5, 0.7, 2.0};
    unsigned seed = 3;
    for (size_t i = 0; i < n; i++)
        lab[i] = rng(&seed) % 100 < 93; /* sparse background */
    for (int threads = 1; threads <= 3; threads += 2) {
        za_set_threads(threads);
        cr_assert_eq(za_edt(lab, nx, ny, nz, sp, d2, NULL), 0);
        for (size_t i = 0; i < n; i++) {
            double best = INFINITY;
            int x = (int)(i % nx), y = (int)(i / nx % ny), z = (int)(i / ((size_t)nx * ny));
            for (size_t j = 0; j < n; j++) {
                if (lab[j])
                    continue;
                double dx = (x - (int)(j % nx)) * sp[0], dy = (y - (int)(j / nx % ny)) * sp[1];
                double dz = (z - (int)(j / ((size_t)nx * ny))) * sp[2];
                best = fmin(best, dx * dx + dy * dy + dz * dz);
            }
            cr_assert_float_eq(d2[i], best, 1e-4 * (1 + best), "voxel %zu: %g vs %g", i, d2[i],
                               best);
        }
    }
    za_set_threads(0);
    for (size_t i = 0; i < n; i++)
        lab[i] = 1;
    cr_assert_eq(za_edt(lab, nx, ny, nz, sp, d2, NULL), 0);
    cr_expect(isinf(d2[0]) && isinf(d2[n - 1]), "no background: infinite distance");
    free(lab);
    free(d2);
}

/* Balls of radius r (voxels) at the given centres, as a mask in labels (1 inside). */
static void balls(uint32_t *lab, int nx, int ny, int nz, const double (*c)[3], int n, double r)
{
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                uint32_t in = 0;
                for (int k = 0; k < n; k++)
                    in |= hypot(hypot(x - c[k][0], y - c[k][1]), z - c[k][2]) <= r;
                lab[((size_t)z * ny + y) * nx + x] = in;
            }
}

Test(segment, watershed_splits_overlapping_balls_and_nothing_else)
{
    int nx = 48, ny = 24, nz = 24;
    size_t n = (size_t)nx * ny * nz;
    uint32_t *lab = malloc(n * sizeof(uint32_t)), count;
    double sp[3] = {1, 1, 1};
    /* two balls of radius 7, centres 11 apart: a neck of radius 4.4, 2.6 below the peaks */
    const double two[2][3] = {{17, 12, 12}, {28, 12, 12}};
    balls(lab, nx, ny, nz, two, 2, 7);
    cr_assert_eq(za_split(lab, nx, ny, nz, sp, 0.5, 26, &count, NULL), 0);
    cr_expect_eq(count, 2u);
    /* each voxel goes to the ball whose centre is nearer (the neck plane between them) */
    for (int x = 11; x <= 34; x++) {
        uint32_t l = lab[((size_t)12 * ny + 12) * nx + x];
        if (x <= 21)
            cr_expect_eq(l, 1u, "x %d", x);
        if (x >= 24)
            cr_expect_eq(l, 2u, "x %d", x);
    }
    /* a depth above the neck's keeps them together */
    balls(lab, nx, ny, nz, two, 2, 7);
    cr_assert_eq(za_split(lab, nx, ny, nz, sp, 3.0, 26, &count, NULL), 0);
    cr_expect_eq(count, 1u);
    /* one ball, and two separate balls: never split, never merged */
    const double one[1][3] = {{20, 12, 12}};
    balls(lab, nx, ny, nz, one, 1, 8);
    cr_assert_eq(za_split(lab, nx, ny, nz, sp, 0.2, 26, &count, NULL), 0);
    cr_expect_eq(count, 1u);
    const double apart[2][3] = {{8, 12, 12}, {30, 12, 12}};
    balls(lab, nx, ny, nz, apart, 2, 5);
    uint32_t before;
    size_t fg;
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        v[i] = (float)lab[i];
    cr_assert_eq(za_label(v, nx, ny, nz, 0.5, 26, lab, &before, &fg, NULL), 0);
    cr_assert_eq(before, 2u);
    cr_assert_eq(za_split(lab, nx, ny, nz, sp, 0.2, 26, &count, NULL), 0);
    cr_expect_eq(count, 2u);
    cr_expect_eq(lab[((size_t)12 * ny + 12) * nx + 8], 1u, "raster order numbering");
    free(v);
    free(lab);
}

Test(segment, touching_synthetic_spheres_are_split_to_the_ground_truth)
{
    struct za_synth_opts so;
    za_synth_defaults(&so);
    so.nx = 96, so.ny = 64, so.nz = 40;
    so.dx = so.dy = so.dz = 0.5;
    so.sigma[2] = 1;
    so.gap = -1; /* pairs of spheres of radius 3 whose centres are 5 apart */
    struct za_stack s;
    struct za_sphere *sp;
    int n;
    struct za_err e;
    cr_assert_eq(za_synth(&so, &s, &sp, &n, &e), 0, "%s", e.message);
    size_t nv = za_voxels(&s), fg;
    float *v = malloc(nv * sizeof(float));
    uint32_t *labels = malloc(nv * sizeof(uint32_t)), count, merged;
    double sigma[3] = {1, 1, 1}, sep, spacing[3] = {s.dx, s.dy, s.dz};
    float range[2], mm[2];
    cr_assert_eq(za_gaussian3d_from(&s, v, sigma, range, NULL), 0);
    za_minmax(v, nv, mm);
    cr_expect(range[0] == mm[0] && range[1] == mm[1], "the last pass's range %g..%g vs %g..%g",
              range[0], range[1], mm[0], mm[1]);
    double thr = za_otsu(v, nv, false, NULL, &sep);
    cr_assert_eq(za_label(v, s.nx, s.ny, s.nz, thr, 26, labels, &merged, &fg, NULL), 0);
    cr_expect_lt(merged, (uint32_t)n, "the pairs touch: %u objects for %d spheres", merged, n);
    cr_assert_eq(za_split(labels, s.nx, s.ny, s.nz, spacing, 0.1, 26, &count, NULL), 0);
    cr_expect_eq(count, (uint32_t)n, "%u objects after the split for %d spheres", count, n);
    struct za_object *o = calloc(count, sizeof(*o));
    cr_assert_eq(za_measure(&s, labels, count, o), 0);
    for (uint32_t k = 0; k < count; k++) {
        double best = 1e9;
        for (int j = 0; j < n; j++)
            best = fmin(best,
                        hypot(hypot(o[k].cx - sp[j].cx, o[k].cy - sp[j].cy), o[k].cz - sp[j].cz));
        cr_expect_leq(best, 1.0, "object %u is %.2f voxels from any sphere centre", k + 1, best);
    }
    free(o);
    free(labels);
    free(v);
    free(sp);
    za_stack_free(&s);
}

Test(segment, measurements_of_a_box_by_hand)
{
    /* a 2 x 2 x 2 box at (1..2, 1..2, 1..2) and a 1 x 3 x 1 bar on the border, voxel 1 x 2 x 3 */
    struct za_stack s;
    cr_assert_eq(za_stack_alloc(&s, 4, 4, 4, ZA_U16), 0);
    s.dx = 1, s.dy = 2, s.dz = 3;
    uint32_t lab[64] = {0};
    uint16_t *d = s.data;
    for (int z = 1; z <= 2; z++)
        for (int y = 1; y <= 2; y++)
            for (int x = 1; x <= 2; x++) {
                lab[(z * 4 + y) * 4 + x] = 1;
                d[(z * 4 + y) * 4 + x] = (uint16_t)(10 + x); /* 11 or 12 */
            }
    for (int y = 0; y < 3; y++) {
        lab[(3 * 4 + y) * 4 + 3] = 2;
        d[(3 * 4 + y) * 4 + 3] = 7;
    }
    struct za_object o[2];
    for (int threads = 1; threads <= 2; threads++) {
        za_set_threads(threads);
        cr_assert_eq(za_measure(&s, lab, 2, o), 0);
        cr_expect_eq(o[0].voxels, 8);
        cr_expect_float_eq(o[0].volume, 48.0, 1e-12);
        cr_expect_float_eq(o[0].surface, 8 * 6.0 + 8 * 3.0 + 8 * 2.0, 1e-12, "%g", o[0].surface);
        cr_expect_float_eq(o[0].cx, 1.5, 1e-12);
        cr_expect_float_eq(o[0].cz, 1.5, 1e-12);
        cr_expect_float_eq(o[0].wcx, (11.0 * 1 + 12.0 * 2) / 23.0, 1e-12);
        cr_expect(o[0].min == 11 && o[0].max == 12 && o[0].sum == 92);
        cr_expect(o[0].x0 == 1 && o[0].x1 == 2 && o[0].z0 == 1 && o[0].z1 == 2);
        cr_expect(!o[0].touches_border);
        cr_expect_eq(o[1].voxels, 3);
        cr_expect_float_eq(o[1].surface, 6 * 6.0 + 2 * 3.0 + 6 * 2.0, 1e-12, "%g", o[1].surface);
        cr_expect_float_eq(o[1].cy, 1.0, 1e-12);
        cr_expect(o[1].touches_border);
    }
    za_set_threads(0);
    za_stack_free(&s);
}

Test(segment, long_steps_stop_when_cancelled)
{
    int nx = 64, ny = 64, nz = 32;
    size_t n = (size_t)nx * ny * nz, fg;
    float *v = calloc(n, sizeof(float));
    uint32_t *lab = calloc(n, sizeof(uint32_t)), count;
    double sigma[3] = {1, 1, 1}, sp[3] = {1, 1, 1};
    atomic_bool cancel;
    atomic_init(&cancel, true);
    for (size_t i = 0; i < n; i += 3)
        v[i] = 1, lab[i] = 1;
    cr_expect_eq(za_gaussian3d(v, nx, ny, nz, sigma, &cancel), ZA_ECANCEL);
    cr_expect_eq(za_label(v, nx, ny, nz, 0.5, 26, lab, &count, &fg, &cancel), ZA_ECANCEL);
    cr_expect_eq(za_split(lab, nx, ny, nz, sp, 0.1, 26, &count, &cancel), ZA_ECANCEL);
    atomic_store(&cancel, false);
    cr_expect_eq(za_gaussian3d(v, nx, ny, nz, sigma, &cancel), ZA_OK);
    free(v);
    free(lab);
}
