/* Z-stacks from and to TIFF with libtiff. Any thread (libtiff's errors go to a handler per open
 * file, never to its global handlers). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tiffio.h>
#include <zlib.h>

#include "analysis/stack.h"

#include "analysis/par.h"

#define ZA_MAX_ALLOC                                                                               \
    ((tmsize_t)1 << 30) /* libtiff's largest single allocation (a strip, a tile)                   \
                         */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {[ZA_U8] = {"uint8", 1},   [ZA_U16] = {"uint16", 2}, [ZA_U32] = {"uint32", 4},
              [ZA_I8] = {"int8", 1},    [ZA_I16] = {"int16", 2},  [ZA_I32] = {"int32", 4},
              [ZA_F32] = {"float32", 4}};

size_t za_dtype_size(enum za_dtype t)
{
    return dtypes[t].size;
}

const char *za_dtype_name(enum za_dtype t)
{
    return dtypes[t].name;
}

int za_stack_alloc(struct za_stack *s, int nx, int ny, int nz, enum za_dtype t)
{
    memset(s, 0, sizeof(*s));
    if (nx <= 0 || ny <= 0 || nz <= 0)
        return -1;
    size_t n = (size_t)nx * (size_t)ny;
    if (n / (size_t)nx != (size_t)ny || n * (size_t)nz / (size_t)nz != n ||
        n * (size_t)nz > SIZE_MAX / 8)
        return -1;
    s->data = calloc(n * (size_t)nz, dtypes[t].size);
    if (!s->data)
        return -1;
    s->nx = nx, s->ny = ny, s->nz = nz, s->dtype = t;
    s->dx = s->dy = s->dz = 1;
    snprintf(s->unit, sizeof(s->unit), "pixel");
    s->channels = s->frames = 1;
    return 0;
}

void za_stack_free(struct za_stack *s)
{
    za_free(s->data);
    memset(s, 0, sizeof(*s));
}

double za_get(const struct za_stack *s, size_t i)
{
    switch (s->dtype) {
    case ZA_U8: return ((const uint8_t *)s->data)[i];
    case ZA_U16: return ((const uint16_t *)s->data)[i];
    case ZA_U32: return ((const uint32_t *)s->data)[i];
    case ZA_I8: return ((const int8_t *)s->data)[i];
    case ZA_I16: return ((const int16_t *)s->data)[i];
    case ZA_I32: return ((const int32_t *)s->data)[i];
    case ZA_F32: return ((const float *)s->data)[i];
    }
    return 0;
}

#define ZA_CONVERT(T)                                                                              \
    do {                                                                                           \
        const T *p = (const T *)s->data + begin;                                                   \
        for (size_t i = 0; i < n; i++)                                                             \
            out[i] = p[i];                                                                         \
    } while (0)
#define ZA_CONVERT_ALL()                                                                           \
    do {                                                                                           \
        switch (s->dtype) {                                                                        \
        case ZA_U8: ZA_CONVERT(uint8_t); break;                                                    \
        case ZA_U16: ZA_CONVERT(uint16_t); break;                                                  \
        case ZA_U32: ZA_CONVERT(uint32_t); break;                                                  \
        case ZA_I8: ZA_CONVERT(int8_t); break;                                                     \
        case ZA_I16: ZA_CONVERT(int16_t); break;                                                   \
        case ZA_I32: ZA_CONVERT(int32_t); break;                                                   \
        case ZA_F32: ZA_CONVERT(float); break;                                                     \
        }                                                                                          \
    } while (0)

void za_to_float_range(const struct za_stack *s, size_t begin, size_t n, float *out)
{
    ZA_CONVERT_ALL();
}

void za_to_double_range(const struct za_stack *s, size_t begin, size_t n, double *out)
{
    ZA_CONVERT_ALL();
}

struct to_float {
    const struct za_stack *s;
    float *out;
    size_t row;
};

static void to_float_rows(void *arg, long begin, long end, int thread)
{
    (void)thread;
    struct to_float *t = arg;
    za_to_float_range(t->s, (size_t)begin * t->row, (size_t)(end - begin) * t->row,
                      t->out + (size_t)begin * t->row);
}

void za_to_float(const struct za_stack *s, float *out)
{
    struct to_float t = {s, out, (size_t)s->nx};
    za_par_for((long)s->ny * s->nz, 64, to_float_rows, &t, NULL);
}

static void fail(struct za_err *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct za_err *err, const char *code, const char *fmt, ...)
{
    snprintf(err->code, sizeof(err->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/* libtiff's errors for one open file: the first is kept, for the message. */
struct tiff_errs {
    char first[200];
};

static int on_tiff_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    struct tiff_errs *e = user;
    if (e && !e->first[0]) {
        char msg[160];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        snprintf(e->first, sizeof(e->first), "%s%s%s", module ? module : "", module ? ": " : "",
                 msg);
    }
    return 1; /* handled: not passed to the global handler */
}

static int on_tiff_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1; /* unknown tags (ImageJ's private ones) and the like: not our concern */
}

/* Opens path, or fd when fd >= 0 (path then only names it in messages). */
static TIFF *open_tiff(const char *path, int fd, const char *mode, struct tiff_errs *e)
{
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, ZA_MAX_ALLOC);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_tiff_error, e);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_tiff_warning, e);
    TIFF *tif = fd >= 0 ? TIFFFdOpenExt(fd, path, mode, opts) : TIFFOpenExt(path, mode, opts);
    TIFFOpenOptionsFree(opts);
    return tif;
}

/* libtiff's reason a file does not open, without what it read: "bad magic number 8224
 * (0x2020)" shows the file's first bytes, which a job must not learn of a file it names. */
static const char *open_reason(const struct tiff_errs *te)
{
    if (!te->first[0])
        return "unknown error";
    if (strstr(te->first, "magic number") || strstr(te->first, "Cannot read TIFF header"))
        return "not a TIFF file";
    return te->first;
}

/* ---- metadata ----------------------------------------------------------------------------------
 */

/* The layout of the pages: how many of each dimension and the page index of (c, z, t). */
struct layout {
    int c, z, t;   /* sizes; z may be 0 (unknown: as many pages as there are) */
    int order[3];  /* dimension indices (0 c, 1 z, 2 t) from fastest to slowest */
    double dz;     /* spacing between slices, 0 when unknown */
    double dx, dy; /* OME's pixel size, 0 when unknown */
    char unit[32];
};

static long page_index(const struct layout *l, int c, int z, int t)
{
    int size[3] = {l->c, l->z, l->t}, pos[3] = {c, z, t};
    long idx = 0, stride = 1;
    for (int i = 0; i < 3; i++) {
        idx += pos[l->order[i]] * stride;
        stride *= size[l->order[i]];
    }
    return idx;
}

/* "key=value" lines of an ImageJ description: the value after "\nkey=" (or at the start). */
static const char *ij_value(const char *desc, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = desc; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, kl) == 0 && p[kl] == '=')
            return p + kl + 1;
    return NULL;
}

/* An XML attribute value (name="...") after the element start at el, into out. */
static bool xml_attr(const char *el, const char *name, char *out, size_t n)
{
    const char *end = strchr(el, '>');
    char pat[64];
    snprintf(pat, sizeof(pat), " %s=\"", name);
    const char *p = strstr(el, pat);
    if (!p || (end && p > end))
        return false;
    p += strlen(pat);
    const char *q = strchr(p, '"');
    if (!q)
        return false;
    snprintf(out, n, "%.*s", (int)(q - p), p);
    return true;
}

static int parse_positive(const char *v, int max)
{
    if (!v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    return end != v && n > 0 && n <= max ? (int)n : -1;
}

/* Reads the layout from the first page's ImageDescription (ImageJ or OME-XML). */
static int read_layout(TIFF *tif, struct layout *l, struct za_err *err)
{
    memset(l, 0, sizeof(*l));
    l->c = l->t = 1;
    l->order[0] = 0, l->order[1] = 1, l->order[2] = 2; /* ImageJ: XYCZT */
    char *desc = NULL;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc) || !desc)
        return 0;
    if (strncmp(desc, "ImageJ=", 7) == 0) {
        int c = parse_positive(ij_value(desc, "channels"), 1 << 20);
        int z = parse_positive(ij_value(desc, "slices"), 1 << 24);
        int t = parse_positive(ij_value(desc, "frames"), 1 << 24);
        int images = parse_positive(ij_value(desc, "images"), 1 << 30);
        if (c < 0 || z < 0 || t < 0 || images < 0) {
            fail(err, "INVALID_IMAGE",
                 "ImageJ metadata: channels, slices, frames or images is not "
                 "a positive number");
            return -1;
        }
        l->c = c ? c : 1, l->t = t ? t : 1;
        l->z = z ? z : images / (l->c * l->t);
        if (images && (long)l->c * l->z * l->t != images) {
            fail(err, "INVALID_IMAGE",
                 "ImageJ metadata: channels=%d slices=%d frames=%d do not make images=%d", l->c,
                 l->z, l->t, images);
            return -1;
        }
        const char *sp = ij_value(desc, "spacing"), *unit = ij_value(desc, "unit");
        if (sp)
            l->dz = strtod(sp, NULL);
        if (unit)
            snprintf(l->unit, sizeof(l->unit), "%.*s", (int)strcspn(unit, "\n"), unit);
        return 0;
    }
    const char *px = strstr(desc, "<Pixels ");
    if (!px)
        px = strstr(desc, ":Pixels ");
    if (px) { /* OME-XML */
        char v[64];
        int sz[3] = {1, 0, 1};
        const char *names[3] = {"SizeC", "SizeZ", "SizeT"};
        for (int i = 0; i < 3; i++)
            if (xml_attr(px, names[i], v, sizeof(v)) && (sz[i] = parse_positive(v, 1 << 24)) <= 0) {
                fail(err, "INVALID_IMAGE", "OME-XML: %s=\"%s\" is not a positive number", names[i],
                     v);
                return -1;
            }
        l->c = sz[0], l->z = sz[1], l->t = sz[2];
        if (xml_attr(px, "DimensionOrder", v, sizeof(v))) {
            if (strlen(v) != 5 || strncmp(v, "XY", 2) != 0) {
                fail(err, "INVALID_IMAGE",
                     "OME-XML: DimensionOrder \"%s\" is not XY followed by "
                     "Z, C and T",
                     v);
                return -1;
            }
            for (int i = 0; i < 3; i++)
                l->order[i] = v[2 + i] == 'C' ? 0 : v[2 + i] == 'Z' ? 1 : v[2 + i] == 'T' ? 2 : -1;
            if (l->order[0] < 0 || l->order[1] < 0 || l->order[2] < 0 ||
                l->order[0] == l->order[1] || l->order[1] == l->order[2] ||
                l->order[0] == l->order[2]) {
                fail(err, "INVALID_IMAGE",
                     "OME-XML: DimensionOrder \"%s\" is not XY followed by "
                     "Z, C and T",
                     v);
                return -1;
            }
        }
        if (xml_attr(px, "PhysicalSizeX", v, sizeof(v)))
            l->dx = strtod(v, NULL);
        if (xml_attr(px, "PhysicalSizeY", v, sizeof(v)))
            l->dy = strtod(v, NULL);
        if (xml_attr(px, "PhysicalSizeZ", v, sizeof(v)))
            l->dz = strtod(v, NULL);
        if (xml_attr(px, "PhysicalSizeXUnit", v, sizeof(v)))
            snprintf(l->unit, sizeof(l->unit), "%.31s", v);
        else if (l->dx > 0)
            snprintf(l->unit, sizeof(l->unit), "micron"); /* OME's default unit */
    }
    return 0;
}

/* ---- reading -----------------------------------------------------------------------------------
 */

struct page_fmt {
    uint32_t w, h;
    uint16_t bps, spp, fmt;
    enum za_dtype dtype;
};

static int page_format(TIFF *tif, long page, struct page_fmt *f, struct za_err *err)
{
    uint16_t photo = 0;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &f->w) ||
        !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &f->h) || f->w == 0 || f->h == 0) {
        fail(err, "INVALID_IMAGE", "page %ld: no image width or height", page + 1);
        return -1;
    }
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &f->bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &f->spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &f->fmt);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PHOTOMETRIC, &photo);
    if (f->spp != 1 || photo == PHOTOMETRIC_PALETTE) {
        fail(err, "INVALID_IMAGE",
             "page %ld: %u samples per pixel%s; only single-channel (grayscale) pages are "
             "supported (save each channel as its own page)",
             page + 1, f->spp, photo == PHOTOMETRIC_PALETTE ? " (a palette image)" : "");
        return -1;
    }
    static const struct {
        uint16_t fmt, bps;
        enum za_dtype t;
    } ok[] = {{SAMPLEFORMAT_UINT, 8, ZA_U8},    {SAMPLEFORMAT_UINT, 16, ZA_U16},
              {SAMPLEFORMAT_UINT, 32, ZA_U32},  {SAMPLEFORMAT_INT, 8, ZA_I8},
              {SAMPLEFORMAT_INT, 16, ZA_I16},   {SAMPLEFORMAT_INT, 32, ZA_I32},
              {SAMPLEFORMAT_IEEEFP, 32, ZA_F32}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (ok[i].fmt == f->fmt && ok[i].bps == f->bps) {
            f->dtype = ok[i].t;
            return 0;
        }
    fail(err, "INVALID_IMAGE",
         "page %ld: %u-bit %s samples are not supported (8/16/32-bit integers or 32-bit floats)",
         page + 1, f->bps,
         f->fmt == SAMPLEFORMAT_IEEEFP ? "float"
         : f->fmt == SAMPLEFORMAT_INT  ? "signed"
         : f->fmt == SAMPLEFORMAT_UINT ? "unsigned"
                                       : "other");
    return -1;
}

/* Decodes the current page into out (w * h samples). */
static int read_page(TIFF *tif, const struct page_fmt *f, unsigned char *out, long page,
                     struct tiff_errs *te, struct za_err *err)
{
    size_t bpp = f->bps / 8, row = (size_t)f->w * bpp;
    if (TIFFIsTiled(tif)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
        tmsize_t tsize = TIFFTileSize(tif);
        if (tw == 0 || th == 0 || tsize <= 0 || (uint64_t)tw * th * bpp > (uint64_t)tsize) {
            fail(err, "INVALID_IMAGE", "page %ld: bad tile size %ux%u", page + 1, tw, th);
            return -1;
        }
        /* The tile size comes from the header: a 16x16 page may claim 65536x65536 tiles. A
         * tile may be larger than its page (writers pad to a multiple of 16 or use a fixed
         * size), but not larger than the page plus 16 MiB, so the header cannot make us
         * allocate gigabytes for a small image (found by fuzz_tiff). */
        uint64_t page_bytes = (uint64_t)f->w * f->h * bpp;
        if ((uint64_t)tsize > page_bytes + ((uint64_t)16 << 20) || tsize > ZA_MAX_ALLOC) {
            fail(err, "INVALID_IMAGE",
                 "page %ld: a tile of %ux%u is far larger than its %ux%u page", page + 1, tw, th,
                 f->w, f->h);
            return -1;
        }
        unsigned char *buf = malloc((size_t)tsize);
        if (!buf) {
            fail(err, "IMAGE_TOO_LARGE", "page %ld: no memory for a tile", page + 1);
            return -1;
        }
        for (uint32_t y = 0; y < f->h; y += th)
            for (uint32_t x = 0; x < f->w; x += tw) {
                if (TIFFReadTile(tif, buf, x, y, 0, 0) < 0) {
                    fail(err, "INVALID_IMAGE", "page %ld: tile at %u,%u does not decode: %s",
                         page + 1, x, y, te->first[0] ? te->first : "corrupt data");
                    free(buf);
                    return -1;
                }
                uint32_t cw = x + tw > f->w ? f->w - x : tw, ch = y + th > f->h ? f->h - y : th;
                for (uint32_t r = 0; r < ch; r++)
                    memcpy(out + (size_t)(y + r) * row + (size_t)x * bpp,
                           buf + (size_t)r * tw * bpp, (size_t)cw * bpp);
            }
        free(buf);
        return 0;
    }
    uint32_t rps = 0;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
    if (rps == 0 || rps > f->h)
        rps = f->h;
    uint32_t nstrips = TIFFNumberOfStrips(tif);
    if (nstrips < (f->h + rps - 1) / rps) {
        fail(err, "INVALID_IMAGE", "page %ld: %u strips for %u rows of %u", page + 1, nstrips, f->h,
             rps);
        return -1;
    }
    for (uint32_t s = 0; s * rps < f->h; s++) {
        uint32_t rows = (s + 1) * rps > f->h ? f->h - s * rps : rps;
        tmsize_t want = (tmsize_t)((size_t)rows * row);
        if (TIFFReadEncodedStrip(tif, s, out + (size_t)s * rps * row, want) != want) {
            fail(err, "INVALID_IMAGE", "page %ld: strip %u does not decode%s%s", page + 1, s,
                 te->first[0] ? ": " : " (truncated file?)", te->first);
            return -1;
        }
    }
    return 0;
}

int za_tiff_load(const char *path, const struct za_load_opts *o, struct za_stack *out,
                 struct za_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        memset(out, 0, sizeof(*out));
        memset(err, 0, sizeof(*err));
        fail(err, "FILE_NOT_FOUND", "%s: %s", path, strerror(errno));
        return -1;
    }
    return za_tiff_load_fd(fd, path, o, out, err);
}

/* Long: the directories in file order (one pass), each page checked against the first; the
 * checks are calls, the loop is the format's own order */
int za_tiff_load_fd(int fd, const char *name, const struct za_load_opts *o, struct za_stack *out,
                    struct za_err *err)
{
    const char *path = name;
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    struct tiff_errs te = {{0}};
    TIFF *tif = open_tiff(path, fd, "rm", &te); /* m: read, not memory-map (files may be on NFS) */
    if (!tif) {
        close(fd);
        fail(err, "INVALID_IMAGE", "%s: not a readable TIFF: %s", path, open_reason(&te));
        return -1;
    }
    struct layout l;
    struct page_fmt f0 = {0}, f;
    int rc = -1;
    if (read_layout(tif, &l, err) != 0 || page_format(tif, 0, &f0, err) != 0)
        goto out;
    if (o->channel < 0 || o->channel >= l.c || o->frame < 0 || o->frame >= l.t) {
        fail(err, "INVALID_PARAMETERS",
             "channel %d, frame %d: the file has %d channel%s and %d "
             "frame%s",
             o->channel, o->frame, l.c, l.c == 1 ? "" : "s", l.t, l.t == 1 ? "" : "s");
        goto out;
    }
    size_t page_voxels = (size_t)f0.w * f0.h;
    if (o->max_voxels && (uint64_t)page_voxels * (l.z ? (uint64_t)l.z : 1) > o->max_voxels) {
        fail(err, "IMAGE_TOO_LARGE", "%u x %u x %d voxels is above the budget of %llu", f0.w, f0.h,
             l.z ? l.z : 1, (unsigned long long)o->max_voxels);
        goto out;
    }
    /* pages wanted: those of (channel, frame), z = 0.. in order; with no metadata, all */
    int cap = l.z ? l.z : 16, nz = 0;
    size_t psize = page_voxels * za_dtype_size(f0.dtype);
    unsigned char *data = za_alloc(psize * (size_t)cap);
    if (!data) {
        fail(err, "IMAGE_TOO_LARGE", "no memory for %u x %u x %d voxels", f0.w, f0.h, cap);
        goto out;
    }
    long page = 0, total = l.z ? (long)l.c * l.z * l.t : 0;
    long first = page_index(&l, o->channel, 0, o->frame);
    for (;; page++) {
        int z = -1;
        if (l.z) { /* is this page one of ours, and which slice? */
            for (int zz = nz; zz < l.z && z < 0; zz++)
                if (page_index(&l, o->channel, zz, o->frame) == page)
                    z = zz;
        } else {
            z = (int)page;
        }
        if (z >= 0) {
            if (page > 0 && page_format(tif, page, &f, err) != 0)
                goto fail_data;
            if (page > 0 && (f.w != f0.w || f.h != f0.h || f.dtype != f0.dtype)) {
                fail(err, "INVALID_IMAGE", "page %ld is %u x %u %s, page 1 is %u x %u %s", page + 1,
                     f.w, f.h, za_dtype_name(f.dtype), f0.w, f0.h, za_dtype_name(f0.dtype));
                goto fail_data;
            }
            if (o->max_voxels && (uint64_t)page_voxels * (uint64_t)(nz + 1) > o->max_voxels) {
                fail(err, "IMAGE_TOO_LARGE",
                     "more than %d pages of %u x %u voxels is above the budget of %llu", nz, f0.w,
                     f0.h, (unsigned long long)o->max_voxels);
                goto fail_data;
            }
            if (nz == cap) {
                unsigned char *more = cap < (1 << 24) ? za_alloc(psize * (size_t)cap * 2) : NULL;
                if (!more) {
                    fail(err, "IMAGE_TOO_LARGE", "no memory for more than %d pages", cap);
                    goto fail_data;
                }
                memcpy(more, data, psize * (size_t)nz);
                za_free(data);
                data = more, cap *= 2;
            }
            if (read_page(tif, &f0, data + psize * (size_t)nz, page, &te, err) != 0)
                goto fail_data;
            nz++;
            if (o->progress &&
                !o->progress(o->arg,
                             total ? (double)(page - first + 1) / (double)(total - first) : 0.5)) {
                fail(err, "CANCELLED", "cancelled while loading");
                goto fail_data;
            }
            if (l.z && nz == l.z)
                break;
        }
        te.first[0] = '\0';
        if (!TIFFReadDirectory(tif)) {
            if (te.first[0]) {
                fail(err, "INVALID_IMAGE", "page %ld: %s", page + 2, te.first);
                goto fail_data;
            }
            break;
        }
    }
    if (l.z && nz < l.z) {
        fail(err, "INVALID_IMAGE",
             "the metadata promise %d slices of channel %d, frame %d; the "
             "file ends after %d (truncated?)",
             l.z, o->channel, o->frame, nz);
        goto fail_data;
    }
    out->data = data;
    out->nx = (int)f0.w, out->ny = (int)f0.h, out->nz = nz;
    out->dtype = f0.dtype;
    out->channels = l.c, out->frames = l.t, out->channel = o->channel, out->frame = o->frame;
    float xres = 0, yres = 0;
    uint16_t resunit = RESUNIT_NONE;
    TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres);
    TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yres);
    TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &resunit);
    out->dx = l.dx > 0 ? l.dx : xres > 0 && l.unit[0] ? 1.0 / xres : 1;
    out->dy = l.dy > 0 ? l.dy : yres > 0 && l.unit[0] ? 1.0 / yres : out->dx;
    out->dz = l.dz > 0 ? l.dz : 1;
    snprintf(out->unit, sizeof(out->unit), "%s", l.unit[0] ? l.unit : "pixel");
    if (!isfinite(out->dx) || !isfinite(out->dy) || !isfinite(out->dz) || out->dx <= 0 ||
        out->dy <= 0 || out->dz <= 0) {
        fail(err, "INVALID_IMAGE", "voxel size %g x %g x %g is not positive", out->dx, out->dy,
             out->dz);
        za_stack_free(out);
        goto out;
    }
    rc = 0;
    goto out;
fail_data:
    za_free(data);
out:
    TIFFClose(tif);
    return rc;
}

/* ---- writing -----------------------------------------------------------------------------------
 */

/* Deflate of strips on all threads: libtiff compresses one strip after the other, which made
 * writing a label volume slower than the whole segmentation. Each strip becomes a zlib stream
 * (what TIFF's Adobe deflate holds) at zlib's fastest level; label volumes are mostly zeros. */
struct zstrips {
    const unsigned char *data; /* the first strip of the batch */
    size_t row, page;          /* bytes per row and per page */
    uint32_t rps, ny, spp;     /* rows per strip, rows per page, strips per page */
    unsigned char **buf;       /* per strip of the batch */
    size_t *len;
    z_stream *zs; /* per thread, made once: a deflate state is 256 KB that zlib clears */
    bool *ready;
    atomic_bool failed;
};

static void deflate_strips(void *arg, long begin, long end, int thread)
{
    (void)thread;
    struct zstrips *z = arg;
    for (long k = begin; k < end; k++) {
        uint32_t strip = (uint32_t)(k % z->spp), y = strip * z->rps;
        uint32_t rows = y + z->rps > z->ny ? z->ny - y : z->rps;
        const unsigned char *src = z->data + (size_t)(k / z->spp) * z->page + (size_t)y * z->row;
        uLong n = (uLong)rows * z->row, bound = compressBound(n);
        z_stream *st = &z->zs[thread];
        if (!z->ready[thread]) {
            memset(st, 0, sizeof(*st));
            z->ready[thread] = deflateInit(st, 1) == Z_OK;
        } else {
            deflateReset(st);
        }
        z->buf[k] = malloc(bound);
        if (!z->ready[thread] || !z->buf[k]) {
            atomic_store(&z->failed, true);
            continue;
        }
        st->next_in = (Bytef *)src, st->avail_in = (uInt)n;
        st->next_out = z->buf[k], st->avail_out = (uInt)bound;
        if (deflate(st, Z_FINISH) != Z_STREAM_END)
            atomic_store(&z->failed, true);
        z->len[k] = bound - st->avail_out;
    }
}

#define ZA_WRITE_BATCH 16 /* pages compressed at a time (bounds the memory) */

int za_tiff_write(const char *path, const struct za_stack *s, bool bigtiff, bool compress,
                  struct za_err *err)
{
    memset(err, 0, sizeof(*err));
    size_t bytes = za_voxels(s) * za_dtype_size(s->dtype);
    struct tiff_errs te = {{0}};
    TIFF *tif = open_tiff(path, -1, bigtiff || bytes > ((size_t)3 << 30) ? "w8" : "w", &te);
    if (!tif) {
        fail(err, "WRITE_FAILED", "%s: %s", path, te.first[0] ? te.first : strerror(errno));
        return -1;
    }
    static const uint16_t fmt[] = {
        [ZA_U8] = SAMPLEFORMAT_UINT,   [ZA_U16] = SAMPLEFORMAT_UINT, [ZA_U32] = SAMPLEFORMAT_UINT,
        [ZA_I8] = SAMPLEFORMAT_INT,    [ZA_I16] = SAMPLEFORMAT_INT,  [ZA_I32] = SAMPLEFORMAT_INT,
        [ZA_F32] = SAMPLEFORMAT_IEEEFP};
    char desc[256];
    snprintf(desc, sizeof(desc), "ImageJ=1.11a\nimages=%d\nslices=%d\nunit=%s\nspacing=%.10g\n",
             s->nz, s->nz, s->unit, s->dz);
    size_t row = (size_t)s->nx * za_dtype_size(s->dtype);
    uint32_t rps = (uint32_t)(65536 / row ? 65536 / row : 1);
    uint32_t spp = ((uint32_t)s->ny + rps - 1) / rps;
    struct zstrips zs = {
        .row = row, .page = row * (size_t)s->ny, .rps = rps, .ny = (uint32_t)s->ny, .spp = spp};
    zs.buf = calloc((size_t)spp * ZA_WRITE_BATCH, sizeof(unsigned char *));
    zs.len = calloc((size_t)spp * ZA_WRITE_BATCH, sizeof(size_t));
    int nt = za_threads();
    zs.zs = calloc((size_t)nt, sizeof(z_stream));
    zs.ready = calloc((size_t)nt, sizeof(bool));
    int rc = compress && (!zs.buf || !zs.len || !zs.zs || !zs.ready) ? -1 : 0;
    for (int z = 0; z < s->nz && rc == 0; z++) {
        int b = z % ZA_WRITE_BATCH; /* place in the batch */
        if (compress && b == 0) {
            for (size_t k = 0; k < (size_t)spp * ZA_WRITE_BATCH; k++)
                free(zs.buf[k]), zs.buf[k] = NULL;
            int pages = s->nz - z < ZA_WRITE_BATCH ? s->nz - z : ZA_WRITE_BATCH;
            zs.data = (const unsigned char *)s->data + (size_t)z * zs.page;
            atomic_init(&zs.failed, false);
            za_par_for((long)spp * pages, 1, deflate_strips, &zs, NULL);
            if (atomic_load(&zs.failed)) {
                rc = -1;
                break;
            }
        }
        TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)s->nx);
        TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)s->ny);
        TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)(za_dtype_size(s->dtype) * 8));
        TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)1);
        TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, fmt[s->dtype]);
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
        TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rps);
        TIFFSetField(tif, TIFFTAG_COMPRESSION,
                     compress ? COMPRESSION_ADOBE_DEFLATE : COMPRESSION_NONE);
        TIFFSetField(tif, TIFFTAG_XRESOLUTION, (float)(1.0 / s->dx));
        TIFFSetField(tif, TIFFTAG_YRESOLUTION, (float)(1.0 / s->dy));
        TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_NONE);
        if (z == 0)
            TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, desc);
        const unsigned char *page = (const unsigned char *)s->data + (size_t)z * s->ny * row;
        for (uint32_t y = 0, strip = 0; y < (uint32_t)s->ny; y += rps, strip++) {
            uint32_t rows = y + rps > (uint32_t)s->ny ? (uint32_t)s->ny - y : rps;
            size_t k = (size_t)b * spp + strip;
            if (compress ? TIFFWriteRawStrip(tif, strip, zs.buf[k], (tmsize_t)zs.len[k]) < 0
                         : TIFFWriteEncodedStrip(tif, strip, (void *)(page + (size_t)y * row),
                                                 (tmsize_t)(rows * row)) < 0) {
                rc = -1;
                break;
            }
        }
        if (rc == 0 && !TIFFWriteDirectory(tif))
            rc = -1;
    }
    TIFFClose(tif);
    for (size_t k = 0; zs.buf && k < (size_t)spp * ZA_WRITE_BATCH; k++)
        free(zs.buf[k]);
    free(zs.buf);
    free(zs.len);
    for (int t = 0; zs.ready && t < nt; t++)
        if (zs.ready[t])
            deflateEnd(&zs.zs[t]);
    free(zs.zs);
    free(zs.ready);
    if (rc != 0)
        fail(err, "WRITE_FAILED", "%s: %s", path, te.first[0] ? te.first : "write failed");
    return rc;
}
