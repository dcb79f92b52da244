/* Tests worker/analysis/segment.c: Otsu's threshold against hand-computed cases, 6- and
 * 26-connectivity, and the whole chain on synthetic spheres with a known answer (count exact,
 * centroids within half a voxel). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "worker/analysis/filter.h"
#include "worker/analysis/segment.h"
#include "worker/analysis/synth.h"

Test(segment, otsu_splits_two_levels_and_matches_skimage_semantics)
{
    float v[200];
    for (int i = 0; i < 200; i++)
        v[i] = i < 100 ? 0.0f : 10.0f;
    double sep;
    /* integer histogram: class 1 = bins up to the threshold, foreground strictly above */
    cr_expect_float_eq(za_otsu(v, 200, true, &sep), 0.0, 1e-12);
    cr_expect_float_eq(sep, 1.0, 1e-9, "two spikes separate perfectly");
    /* 256 float bins over [0, 10]: the threshold is the first bin's centre */
    cr_expect_float_eq(za_otsu(v, 200, false, &sep), 10.0 / 512, 1e-9);
    /* three levels 1, 2, 9 (equal counts): the split falls between 2 and 9 */
    float w[300];
    for (int i = 0; i < 300; i++)
        w[i] = i < 100 ? 1.0f : i < 200 ? 2.0f : 9.0f;
    cr_expect_float_eq(za_otsu(w, 300, true, &sep), 2.0, 1e-12);
    cr_expect(sep > 0.8 && sep < 1.0, "%g", sep);
    float flat[10] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
    cr_expect_float_eq(za_otsu(flat, 10, true, &sep), 5.0, 1e-12);
    cr_expect_float_eq(sep, 0.0, 1e-12);
}

Test(segment, connectivity_6_and_26_differ_on_diagonals)
{
    float v[27] = {0};
    v[0] = 1;  /* (0,0,0) */
    v[13] = 1; /* (1,1,1): a corner neighbour */
    v[26] = 1; /* (2,2,2) */
    uint32_t labels[27], n;
    cr_assert_eq(za_label(v, 3, 3, 3, 0.5, 26, labels, &n), 0);
    cr_expect_eq(n, 1);
    cr_assert_eq(za_label(v, 3, 3, 3, 0.5, 6, labels, &n), 0);
    cr_expect_eq(n, 3);
    cr_expect(labels[0] == 1 && labels[13] == 2 && labels[26] == 3, "raster order numbering");
}

Test(segment, labels_a_u_shape_as_one_object)
{
    /* a U in one slice: its arms meet only at the bottom row (union of two provisional labels) */
    int nx = 5, ny = 4;
    float v[20] = {1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1};
    uint32_t labels[20], n;
    cr_assert_eq(za_label(v, nx, ny, 1, 0.5, 6, labels, &n), 0);
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
    za_to_float(&s, v);
    for (size_t i = 0; i < nv; i += 997)
        cr_assert_eq(v[i], (float)za_get(&s, i));
    double sigma[3] = {1, 1, 0.5}, sep;
    cr_assert_eq(za_gaussian3d(v, s.nx, s.ny, s.nz, sigma), 0);
    double thr = za_otsu(v, nv, false, &sep);
    cr_expect(thr > so.background && thr < so.foreground, "threshold %g", thr);
    cr_assert_eq(za_label(v, s.nx, s.ny, s.nz, thr, 26, labels, &count), 0);
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
