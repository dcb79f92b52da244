/* Tests analysis/tiff_io.c: round trips through our writer, files written here with
 * libtiff in every layout the loader claims (tiles, 8/16/32-bit, float, signed, BigTIFF,
 * compression, ImageJ hyperstacks, OME-XML), each malformed-file case with its error code, and
 * a fuzz run over corrupted variants of a valid file (no crash; ASan catches leaks). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#include "analysis/stack.h"
#include "analysis/synth.h"

static char dir[] = "/tmp/zsa-tiff-XXXXXX";

static void setup(void)
{
    strcpy(dir, "/tmp/zsa-tiff-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(tiff, .init = setup, .fini = teardown);

static const char *path(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

/* Writes n pages of w x h with libtiff directly; sample value of (page, x, y) from val. */
struct wopts {
    int w, h, n;
    uint16_t bps, fmt, spp;
    bool tiled, bigtiff;
    uint16_t compression;
    const char *desc; /* ImageDescription of page 1, or NULL */
    int odd_page;     /* 1-based page written with w + 1 columns (0: none) */
};

static double val(int page, int x, int y)
{
    return page * 1000 + y * 10 + x % 10;
}

static void put(unsigned char *p, const struct wopts *o, double v)
{
    if (o->fmt == SAMPLEFORMAT_IEEEFP && o->bps == 32) {
        float f = (float)v;
        memcpy(p, &f, 4);
    } else if (o->fmt == SAMPLEFORMAT_IEEEFP && o->bps == 64) {
        memcpy(p, &v, 8);
    } else if (o->bps == 8) {
        *p = (uint8_t)((long)v & 0xff);
    } else if (o->bps == 16) {
        uint16_t u = (uint16_t)((long)v & 0xffff);
        memcpy(p, &u, 2);
    } else {
        uint32_t u = (uint32_t)(long)v;
        memcpy(p, &u, 4);
    }
}

static void write_raw(const char *file, const struct wopts *o)
{
    TIFF *t = TIFFOpen(file, o->bigtiff ? "w8" : "w");
    cr_assert_not_null(t);
    size_t bpp = o->bps / 8 * (o->spp ? o->spp : 1);
    for (int pg = 0; pg < o->n; pg++) {
        int w = o->odd_page == pg + 1 ? o->w + 1 : o->w;
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)o->h);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, o->bps);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, o->spp ? o->spp : (uint16_t)1);
        TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, o->fmt ? o->fmt : (uint16_t)SAMPLEFORMAT_UINT);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC,
                     o->spp == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_COMPRESSION, o->compression ? o->compression : COMPRESSION_NONE);
        if (pg == 0 && o->desc)
            TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, o->desc);
        if (o->tiled) {
            TIFFSetField(t, TIFFTAG_TILEWIDTH, 16);
            TIFFSetField(t, TIFFTAG_TILELENGTH, 16);
            unsigned char *tile = calloc(16 * 16, bpp);
            for (int ty = 0; ty < o->h; ty += 16)
                for (int tx = 0; tx < w; tx += 16) {
                    memset(tile, 0, 16 * 16 * bpp);
                    for (int y = ty; y < ty + 16 && y < o->h; y++)
                        for (int x = tx; x < tx + 16 && x < w; x++)
                            put(tile + ((size_t)(y - ty) * 16 + (size_t)(x - tx)) * bpp, o,
                                val(pg, x, y));
                    cr_assert_geq(TIFFWriteTile(t, tile, (uint32_t)tx, (uint32_t)ty, 0, 0), 0);
                }
            free(tile);
        } else {
            TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 3);
            unsigned char *row = calloc((size_t)w, bpp);
            for (int y = 0; y < o->h; y++) {
                for (int x = 0; x < w; x++)
                    put(row + (size_t)x * bpp, o, val(pg, x, y));
                cr_assert_eq(TIFFWriteScanline(t, row, (uint32_t)y, 0), 1);
            }
            free(row);
        }
        cr_assert(TIFFWriteDirectory(t));
    }
    TIFFClose(t);
}

/* Rewrites the value of a SHORT or LONG tag of the first IFD of a little-endian classic TIFF in
 * place (the header says what libtiff would never write itself). */
static int set_first_ifd_value(const char *file, uint16_t tag, uint32_t value)
{
    FILE *fp = fopen(file, "r+b");
    unsigned char b[12];
    if (!fp || fread(b, 1, 8, fp) != 8 || b[0] != 'I') {
        if (fp)
            fclose(fp);
        return -1;
    }
    long ifd = (long)(b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24);
    int rc = -1;
    if (fseek(fp, ifd, SEEK_SET) == 0 && fread(b, 1, 2, fp) == 2)
        for (int i = 0, n = b[0] | b[1] << 8; i < n && fread(b, 1, 12, fp) == 12; i++) {
            if ((b[0] | b[1] << 8) != tag)
                continue;
            int type = b[2] | b[3] << 8;
            for (int k = 0; k < 4; k++)
                b[8 + k] = type == 3 && k >= 2 ? 0 : (unsigned char)(value >> (8 * k));
            rc = fseek(fp, -12, SEEK_CUR) == 0 && fwrite(b, 1, 12, fp) == 12 ? 0 : -1;
            break;
        }
    fclose(fp);
    return rc;
}

static struct za_load_opts defaults(void)
{
    return (struct za_load_opts){.channel = 0, .frame = 0, .max_voxels = 0};
}

static int load(const char *file, struct za_load_opts o, struct za_stack *s, struct za_err *e)
{
    return za_tiff_load(file, &o, s, e);
}

/* Every sample of s equals val(page_of(z), x, y) truncated to the type. */
static void check_values(const struct za_stack *s, const struct wopts *o, int (*page_of)(int))
{
    for (int z = 0; z < s->nz; z++)
        for (int y = 0; y < s->ny; y++)
            for (int x = 0; x < s->nx; x++) {
                unsigned char want[8];
                put(want, o, val(page_of ? page_of(z) : z, x, y));
                size_t i = ((size_t)z * s->ny + (size_t)y) * s->nx + (size_t)x;
                size_t sz = za_dtype_size(s->dtype);
                cr_assert_eq(memcmp((const unsigned char *)s->data + i * sz, want, sz), 0,
                             "z %d y %d x %d", z, y, x);
            }
}

Test(tiff, synthetic_stack_round_trips_with_its_voxel_size)
{
    struct za_synth_opts so;
    za_synth_defaults(&so);
    so.nx = 40, so.ny = 30, so.nz = 16, so.max_spheres = 2;
    struct za_stack s, back;
    struct za_sphere *sp;
    int n;
    struct za_err e;
    cr_assert_eq(za_synth(&so, &s, &sp, &n, &e), 0, "%s", e.message);
    cr_assert_eq(n, 2);
    cr_expect_eq(sp[0].voxels, sp[1].voxels);
    free(sp);
    for (int variant = 0; variant < 2; variant++) {
        const char *f = path(variant ? "big.tif" : "plain.tif");
        cr_assert_eq(za_tiff_write(f, &s, variant == 1, variant == 1, &e), 0, "%s", e.message);
        cr_assert_eq(load(f, defaults(), &back, &e), 0, "%s: %s", e.code, e.message);
        cr_expect_eq(back.nx, 40);
        cr_expect_eq(back.ny, 30);
        cr_expect_eq(back.nz, 16);
        cr_expect_eq(back.dtype, ZA_U16);
        cr_expect_float_eq(back.dx, 0.5, 1e-6);
        cr_expect_float_eq(back.dy, 0.5, 1e-6);
        cr_expect_float_eq(back.dz, 1.0, 1e-9);
        cr_expect_str_eq(back.unit, "micron");
        cr_expect_eq(memcmp(back.data, s.data, za_voxels(&s) * 2), 0);
        za_stack_free(&back);
    }
    za_stack_free(&s);
}

Test(tiff, every_supported_layout_and_sample_type_reads_back_exactly)
{
    const struct {
        uint16_t bps, fmt;
        enum za_dtype t;
        bool tiled, big;
        uint16_t comp;
    } v[] = {
        {8, SAMPLEFORMAT_UINT, ZA_U8, false, false, 0},
        {16, SAMPLEFORMAT_UINT, ZA_U16, true, false, COMPRESSION_LZW},
        {32, SAMPLEFORMAT_UINT, ZA_U32, false, true, COMPRESSION_ADOBE_DEFLATE},
        {8, SAMPLEFORMAT_INT, ZA_I8, true, true, 0},
        {16, SAMPLEFORMAT_INT, ZA_I16, false, false, COMPRESSION_PACKBITS},
        {32, SAMPLEFORMAT_INT, ZA_I32, true, false, 0},
        {32, SAMPLEFORMAT_IEEEFP, ZA_F32, true, true, COMPRESSION_ADOBE_DEFLATE},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct wopts o = {.w = 37,
                          .h = 21,
                          .n = 4,
                          .bps = v[i].bps,
                          .fmt = v[i].fmt,
                          .tiled = v[i].tiled,
                          .bigtiff = v[i].big,
                          .compression = v[i].comp};
        const char *f = path("layout.tif");
        write_raw(f, &o);
        struct za_stack s;
        struct za_err e;
        cr_assert_eq(load(f, defaults(), &s, &e), 0, "variant %zu: %s", i, e.message);
        cr_expect_eq(s.dtype, v[i].t, "variant %zu", i);
        cr_expect(s.nx == 37 && s.ny == 21 && s.nz == 4, "variant %zu: %dx%dx%d", i, s.nx, s.ny,
                  s.nz);
        check_values(&s, &o, NULL);
        za_stack_free(&s);
    }
}

static int hyper_page(int z) /* channel 1, frame 1 of channels=2 slices=3 frames=2 (XYCZT) */
{
    return 1 + 2 * (z + 3 * 1);
}

static int ome_page(int z) /* XYZCT, SizeZ 3, SizeC 2, SizeT 2: channel 1, frame 1 */
{
    return z + 3 * (1 + 2 * 1);
}

Test(tiff, imagej_hyperstacks_and_ome_pick_the_channel_and_frame_asked_for)
{
    struct wopts o = {.w = 8,
                      .h = 5,
                      .n = 12,
                      .bps = 16,
                      .fmt = SAMPLEFORMAT_UINT,
                      .desc = "ImageJ=1.54f\nimages=12\nchannels=2\nslices=3\nframes=2\n"
                              "hyperstack=true\nunit=micron\nspacing=2.5\n"};
    const char *f = path("hyper.tif");
    write_raw(f, &o);
    struct za_stack s;
    struct za_err e;
    struct za_load_opts lo = defaults();
    lo.channel = 1, lo.frame = 1;
    cr_assert_eq(load(f, lo, &s, &e), 0, "%s", e.message);
    cr_expect_eq(s.nz, 3);
    cr_expect_eq(s.channels, 2);
    cr_expect_eq(s.frames, 2);
    cr_expect_float_eq(s.dz, 2.5, 1e-9);
    check_values(&s, &o, hyper_page);
    za_stack_free(&s);
    lo.channel = 2;
    cr_expect_eq(load(f, lo, &s, &e), -1);
    cr_expect_str_eq(e.code, "INVALID_PARAMETERS");

    o.desc = "<?xml version=\"1.0\"?><OME><Image><Pixels ID=\"Pixels:0\" DimensionOrder=\"XYZCT\" "
             "SizeX=\"8\" SizeY=\"5\" SizeZ=\"3\" SizeC=\"2\" SizeT=\"2\" Type=\"uint16\" "
             "PhysicalSizeX=\"0.2\" PhysicalSizeY=\"0.3\" PhysicalSizeZ=\"1.5\"/></Image></OME>";
    f = path("ome.tif");
    write_raw(f, &o);
    lo.channel = 1;
    cr_assert_eq(load(f, lo, &s, &e), 0, "%s", e.message);
    cr_expect_eq(s.nz, 3);
    cr_expect_float_eq(s.dx, 0.2, 1e-9);
    cr_expect_float_eq(s.dy, 0.3, 1e-9);
    cr_expect_float_eq(s.dz, 1.5, 1e-9);
    check_values(&s, &o, ome_page);
    za_stack_free(&s);
}

static void expect_error(const char *file, struct za_load_opts lo, const char *code,
                         const char *words)
{
    struct za_stack s;
    struct za_err e;
    cr_assert_eq(za_tiff_load(file, &lo, &s, &e), -1, "%s loaded", file);
    cr_expect_str_eq(e.code, code, "%s: %s", file, e.message);
    cr_expect(strstr(e.message, words), "%s: \"%s\" does not say \"%s\"", file, e.message, words);
    cr_expect_null(s.data);
}

Test(tiff, malformed_files_end_with_their_error_code_and_say_why)
{
    expect_error(path("missing.tif"), defaults(), "FILE_NOT_FOUND", "No such file");
    const char *f = path("text.tif");
    FILE *fp = fopen(f, "w");
    fputs("this is not a TIFF file at all\n", fp);
    fclose(fp);
    expect_error(f, defaults(), "INVALID_IMAGE", "not a readable TIFF");

    struct wopts o = {.w = 16, .h = 16, .n = 3, .bps = 16, .fmt = SAMPLEFORMAT_UINT, .odd_page = 2};
    f = path("odd.tif");
    write_raw(f, &o);
    expect_error(f, defaults(), "INVALID_IMAGE", "page 2 is 17 x 16");

    o = (struct wopts){.w = 8, .h = 8, .n = 1, .bps = 8, .spp = 3};
    f = path("rgb.tif");
    write_raw(f, &o);
    expect_error(f, defaults(), "INVALID_IMAGE", "3 samples per pixel");

    o = (struct wopts){.w = 8, .h = 8, .n = 2, .bps = 64, .fmt = SAMPLEFORMAT_IEEEFP};
    f = path("f64.tif");
    write_raw(f, &o);
    expect_error(f, defaults(), "INVALID_IMAGE", "64-bit float samples are not supported");

    o = (struct wopts){.w = 64, .h = 64, .n = 8, .bps = 16, .fmt = SAMPLEFORMAT_UINT};
    f = path("big.tif");
    write_raw(f, &o);
    struct za_load_opts lo = defaults();
    lo.max_voxels = 64 * 64 * 5;
    expect_error(f, lo, "IMAGE_TOO_LARGE",
                 "more than 5 pages of 64 x 64 voxels is above the budget of 20480");

    o = (struct wopts){.w = 8,
                       .h = 8,
                       .n = 4,
                       .bps = 16,
                       .fmt = SAMPLEFORMAT_UINT,
                       .desc = "ImageJ=1.54f\nimages=6\nslices=6\n"};
    f = path("short.tif");
    write_raw(f, &o);
    expect_error(f, defaults(), "INVALID_IMAGE", "the file ends after 4");

    o.desc = "ImageJ=1.54f\nimages=5\nchannels=2\nslices=3\n";
    f = path("inconsistent.tif");
    write_raw(f, &o);
    expect_error(f, defaults(), "INVALID_IMAGE", "do not make images=5");

    /* a 16 x 16 page whose header claims tiles of 65520 x 65520: refused before anything is
     * allocated for a tile (fuzz_tiff found the loader allocating 68 GB for such a file) */
    o = (struct wopts){
        .w = 16, .h = 16, .n = 1, .bps = 16, .fmt = SAMPLEFORMAT_UINT, .tiled = true};
    f = path("hugetile.tif");
    write_raw(f, &o);
    cr_assert_eq(set_first_ifd_value(f, TIFFTAG_TILEWIDTH, 65520), 0);
    cr_assert_eq(set_first_ifd_value(f, TIFFTAG_TILELENGTH, 65520), 0);
    expect_error(f, defaults(), "INVALID_IMAGE", "far larger than its 16x16 page");

    /* cut in the middle of the pixel data */
    o = (struct wopts){.w = 64, .h = 64, .n = 4, .bps = 16, .fmt = SAMPLEFORMAT_UINT};
    f = path("cut.tif");
    write_raw(f, &o);
    cr_assert_eq(truncate(f, 64 * 64 * 2 * 2 + 100), 0);
    struct za_stack s;
    struct za_err e;
    cr_expect_eq(za_tiff_load(f, &lo, &s, &e), -1);
    cr_expect_str_eq(e.code, "INVALID_IMAGE", "%s", e.message);
}

static bool count_and_stop(void *arg, double fraction)
{
    int *calls = arg;
    cr_expect(fraction > 0 && fraction <= 1, "fraction %g", fraction);
    return ++*calls < 3;
}

Test(tiff, progress_is_reported_per_page_and_can_cancel)
{
    struct wopts o = {.w = 16,
                      .h = 16,
                      .n = 6,
                      .bps = 16,
                      .fmt = SAMPLEFORMAT_UINT,
                      .desc = "ImageJ=1.54f\nimages=6\nslices=6\n"};
    const char *f = path("progress.tif");
    write_raw(f, &o);
    int calls = 0;
    struct za_load_opts lo = defaults();
    lo.progress = count_and_stop, lo.arg = &calls;
    struct za_stack s;
    struct za_err e;
    cr_assert_eq(za_tiff_load(f, &lo, &s, &e), -1);
    cr_expect_str_eq(e.code, "CANCELLED");
    cr_expect_eq(calls, 3);
}

/* ---- fuzz -------------------------------------------------------------------------------------
 */

static unsigned char *slurp(const char *file, size_t *n)
{
    FILE *f = fopen(file, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void spit(const char *file, const unsigned char *b, size_t n)
{
    FILE *f = fopen(file, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* Loads a variant: it must either load (and then be sane) or fail with a known code. */
static int try_variant(const char *file, int k)
{
    struct za_stack s;
    struct za_err e;
    struct za_load_opts lo = defaults();
    lo.max_voxels = 1 << 24;
    int rc = za_tiff_load(file, &lo, &s, &e);
    if (rc == 0) {
        cr_expect(s.nx > 0 && s.ny > 0 && s.nz > 0, "variant %d", k);
        cr_expect((uint64_t)za_voxels(&s) <= lo.max_voxels, "variant %d", k);
        za_stack_free(&s);
        return 0;
    }
    cr_expect(strcmp(e.code, "INVALID_IMAGE") == 0 || strcmp(e.code, "IMAGE_TOO_LARGE") == 0,
              "variant %d: %s: %s", k, e.code, e.message);
    cr_expect(e.message[0], "variant %d: no message", k);
    return 1;
}

Test(tiff, corrupted_variants_of_a_valid_file_never_crash)
{
    struct wopts o = {.w = 24,
                      .h = 20,
                      .n = 5,
                      .bps = 16,
                      .fmt = SAMPLEFORMAT_UINT,
                      .compression = COMPRESSION_LZW,
                      .desc = "ImageJ=1.54f\nimages=5\nslices=5\nspacing=2\n"};
    const char *good = path("good.tif");
    write_raw(good, &o);
    size_t n;
    unsigned char *orig = slurp(good, &n);
    unsigned char *b = malloc(n);
    const char *f = path("fuzz.tif");
    int variants = 0, refused = 0;
    /* truncations */
    for (int k = 0; k < 20; k++) {
        size_t len = (size_t)((double)n * k / 20.0);
        spit(f, orig, len);
        refused += try_variant(f, variants++);
    }
    /* flipped bytes: the header, the first IFD and everywhere else, deterministic */
    unsigned seed = 7;
    uint32_t ifd;
    memcpy(&ifd, orig + 4, 4);
    for (int k = 0; k < 60; k++) {
        memcpy(b, orig, n);
        size_t at = k < 8    ? (size_t)k
                    : k < 30 ? (ifd + (size_t)(rand_r(&seed) % 200)) % n
                             : (size_t)rand_r(&seed) % n;
        b[at] ^= (unsigned char)(1u << (rand_r(&seed) % 8));
        if (k % 3 == 0) /* and a second one */
            b[(size_t)rand_r(&seed) % n] ^= 0xff;
        spit(f, b, n);
        refused += try_variant(f, variants++);
    }
    /* absurd dimensions: patch the width and height entries of the first IFD */
    uint16_t entries;
    memcpy(&entries, orig + ifd, 2);
    const uint32_t absurd[] = {0, 1, 0x7fffffff, 0xffffffff, 65536, 3};
    for (size_t a = 0; a < sizeof(absurd) / sizeof(absurd[0]); a++)
        for (uint16_t tag = 256; tag <= 257; tag++) {
            memcpy(b, orig, n);
            for (uint16_t i = 0; i < entries; i++) {
                unsigned char *ent = b + ifd + 2 + 12 * (size_t)i;
                uint16_t t, type;
                memcpy(&t, ent, 2);
                memcpy(&type, ent + 2, 2);
                if (t == tag && type == 4)
                    memcpy(ent + 8, &absurd[a], 4);
                else if (t == tag && type == 3) {
                    uint16_t v16 = (uint16_t)absurd[a];
                    memcpy(ent + 8, &v16, 2);
                }
            }
            spit(f, b, n);
            refused += try_variant(f, variants++);
        }
    cr_expect_geq(variants, 50);
    cr_expect_geq(refused, 20, "only %d of %d variants were refused", refused, variants);
    free(b);
    free(orig);
}
