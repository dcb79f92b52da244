/* Previews (preview.h): display planes, label colours, the three kinds of preview image, a 5x7
 * font for their captions, and PNG output with libpng's simplified API. Compute thread. */
#include "analysis/preview.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int za_rgb_alloc(struct za_rgb *im, int w, int h)
{
    im->w = w, im->h = h;
    im->px = calloc((size_t)w * (size_t)h, 3);
    return im->px ? 0 : -1;
}

void za_rgb_free(struct za_rgb *im)
{
    free(im->px);
    im->px = NULL;
}

static void put(struct za_rgb *im, int x, int y, const uint8_t c[3])
{
    if (x < 0 || y < 0 || x >= im->w || y >= im->h)
        return;
    memcpy(im->px + ((size_t)y * im->w + x) * 3, c, 3);
}

/* ---- display planes ----------------------------------------------------------------------- */

static void swap_d(double *a, double *b)
{
    double t = *a;
    *a = *b, *b = t;
}

/* The value of rank k of v[0..n) (reorders v): quickselect with a median-of-three pivot. */
static double select_rank(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < v[lo])
            swap_d(&v[mid], &v[lo]);
        if (v[hi] < v[lo])
            swap_d(&v[hi], &v[lo]);
        if (v[hi] < v[mid])
            swap_d(&v[hi], &v[mid]);
        double p = v[mid];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < p)
                i++;
            while (v[j] > p)
                j--;
            if (i <= j) {
                swap_d(&v[i], &v[j]);
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

int za_display_make(const double *plane, int nx, int ny, struct za_display *d)
{
    int big = nx > ny ? nx : ny;
    memset(d, 0, sizeof(*d));
    d->scale = (big + ZA_PREVIEW_MAX - 1) / ZA_PREVIEW_MAX;
    d->w = (nx + d->scale - 1) / d->scale, d->h = (ny + d->scale - 1) / d->scale;
    size_t n = (size_t)d->w * (size_t)d->h;
    d->v = malloc(n * sizeof(double));
    double *tmp = malloc(n * sizeof(double));
    if (!d->v || !tmp) {
        free(tmp);
        za_display_free(d);
        return -1;
    }
    int f = d->scale;
    for (int by = 0; by < d->h; by++) {
        for (int bx = 0; bx < d->w; bx++) {
            double s = 0;
            int cnt = 0;
            for (int y = by * f; y < (by + 1) * f && y < ny; y++)
                for (int x = bx * f; x < (bx + 1) * f && x < nx; x++)
                    s += plane[(size_t)y * nx + x], cnt++;
            d->v[(size_t)by * d->w + bx] = s / cnt;
        }
    }
    memcpy(tmp, d->v, n * sizeof(double));
    d->lo = select_rank(tmp, n, (size_t)floor(ZA_PREVIEW_CLIP * (double)(n - 1)));
    d->hi = select_rank(tmp, n, (size_t)ceil((1 - ZA_PREVIEW_CLIP) * (double)(n - 1)));
    free(tmp);
    return 0;
}

void za_display_free(struct za_display *d)
{
    free(d->v);
    d->v = NULL;
}

uint8_t za_display_gray(const struct za_display *d, size_t i)
{
    if (!(d->hi > d->lo))
        return 0;
    double g = round(255 * (d->v[i] - d->lo) / (d->hi - d->lo));
    return (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
}

void za_label_colour(uint32_t label, uint8_t rgb[3])
{
    double h = fmod((double)label * 0.618033988749895, 1.0), s = 0.7, v = 1.0;
    double i = floor(h * 6), f = h * 6 - i;
    double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f)), c[3];
    switch ((int)i % 6) {
    case 0: c[0] = v, c[1] = t, c[2] = p; break;
    case 1: c[0] = q, c[1] = v, c[2] = p; break;
    case 2: c[0] = p, c[1] = v, c[2] = t; break;
    case 3: c[0] = p, c[1] = q, c[2] = v; break;
    case 4: c[0] = t, c[1] = p, c[2] = v; break;
    default: c[0] = v, c[1] = p, c[2] = q; break;
    }
    for (int k = 0; k < 3; k++)
        rgb[k] = (uint8_t)round(255 * c[k]);
}

/* ---- the three previews ------------------------------------------------------------------- */

int za_preview_gray(const struct za_display *d, struct za_rgb *out)
{
    if (za_rgb_alloc(out, d->w, d->h) != 0)
        return -1;
    for (size_t i = 0; i < (size_t)d->w * d->h; i++)
        memset(out->px + i * 3, za_display_gray(d, i), 3);
    return 0;
}

static void strip(struct za_rgb *im, int top, const char *text)
{
    static const uint8_t bg[3] = {32, 32, 32}, fg[3] = {255, 255, 255};
    for (int y = top; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            put(im, x, y, bg);
    za_draw_text(im, 3, top + 3, text, fg);
}

int za_preview_overlay(const struct za_display *d, const uint32_t *lab, uint32_t count,
                       struct za_rgb *out)
{
    if (za_rgb_alloc(out, d->w, d->h + ZA_PREVIEW_STRIP) != 0)
        return -1;
    uint32_t last = 0; /* the colour of the last label seen (runs of one label are the rule) */
    uint8_t c[3] = {0, 0, 0};
    for (int y = 0; y < d->h; y++) {
        for (int x = 0; x < d->w; x++) {
            size_t i = (size_t)y * d->w + x;
            uint8_t g = za_display_gray(d, i), px[3] = {g, g, g};
            uint32_t l = lab[i];
            if (l) {
                bool edge = (x > 0 && lab[i - 1] != l) || (x + 1 < d->w && lab[i + 1] != l) ||
                            (y > 0 && lab[i - d->w] != l) || (y + 1 < d->h && lab[i + d->w] != l);
                if (l != last)
                    za_label_colour(l, c), last = l;
                for (int k = 0; k < 3; k++)
                    px[k] = edge ? c[k] : (uint8_t)round(0.55 * g + 0.45 * c[k]);
            }
            put(out, x, y, px);
        }
    }
    char text[48];
    snprintf(text, sizeof(text), "%u object%s", count, count == 1 ? "" : "s");
    strip(out, d->h, text);
    return 0;
}

int za_preview_histogram(const uint64_t *counts, int bins, double lo, double hi, struct za_rgb *out)
{
    int g = (bins + ZA_PREVIEW_MAX - 1) / ZA_PREVIEW_MAX, cols = (bins + g - 1) / g;
    int bw = 512 / cols > 1 ? 512 / cols : 1;
    uint64_t *col = calloc((size_t)cols, sizeof(uint64_t)), top = 0;
    if (!col || za_rgb_alloc(out, cols * bw, ZA_PREVIEW_PLOT_H + ZA_PREVIEW_STRIP) != 0) {
        free(col);
        return -1;
    }
    for (int b = 0; b < bins; b++)
        col[b / g] += counts[b];
    for (int c = 0; c < cols; c++)
        top = col[c] > top ? col[c] : top;
    memset(out->px, 255, (size_t)out->w * ZA_PREVIEW_PLOT_H * 3);
    const uint8_t bar[3] = {(ZA_PREVIEW_BAR_RGB >> 16) & 255, (ZA_PREVIEW_BAR_RGB >> 8) & 255,
                            ZA_PREVIEW_BAR_RGB & 255};
    for (int c = 0; c < cols; c++) {
        int hgt =
            top ? (int)round(ZA_PREVIEW_PLOT_H * log1p((double)col[c]) / log1p((double)top)) : 0;
        for (int y = ZA_PREVIEW_PLOT_H - hgt; y < ZA_PREVIEW_PLOT_H; y++)
            for (int x = c * bw; x < (c + 1) * bw; x++)
                put(out, x, y, bar);
    }
    free(col);
    char text[64];
    snprintf(text, sizeof(text), "%.6g - %.6g", lo, hi);
    strip(out, ZA_PREVIEW_PLOT_H, text);
    return 0;
}

/* ---- captions ----------------------------------------------------------------------------- */

/* 5x7 glyphs, one byte per row (bit 4 is the leftmost column). */
static const struct {
    char c;
    uint8_t rows[7];
} glyphs[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}},
    {'c', {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}},
    {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},
    {'j', {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}},
    {'o', {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}},
    {'s', {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}},
    {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
};

void za_draw_text(struct za_rgb *im, int x, int y, const char *text, const uint8_t rgb[3])
{
    for (; *text; text++, x += 6) {
        for (size_t g = 0; g < sizeof(glyphs) / sizeof(glyphs[0]); g++) {
            if (glyphs[g].c != *text)
                continue;
            for (int r = 0; r < 7; r++)
                for (int c = 0; c < 5; c++)
                    if (glyphs[g].rows[r] & (0x10 >> c))
                        put(im, x + c, y + r, rgb);
        }
    }
}

/* ---- output ------------------------------------------------------------------------------- */

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* libpng's output into a growing buffer. */
struct png_out {
    unsigned char *p;
    size_t n, cap;
    bool failed;
};

static void png_out_write(png_structp png, png_bytep data, size_t len)
{
    struct png_out *o = png_get_io_ptr(png);
    if (o->failed)
        return;
    if (o->n + len > o->cap) {
        size_t cap = (o->n + len) * 2;
        unsigned char *q = realloc(o->p, cap);
        if (!q) {
            o->failed = true;
            return;
        }
        o->p = q, o->cap = cap;
    }
    memcpy(o->p + o->n, data, len);
    o->n += len;
}

static void png_out_flush(png_structp png)
{
    (void)png;
}

/* im as PNG in one pass: zlib level 3 and the Sub filter, the fast end of libpng's choices (a
 * preview is small; the default level and adaptive filters took 10x longer for 5 % less). */
static int png_encode(const struct za_rgb *im, struct png_out *o, char *err, size_t errlen)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(err, errlen, "preview: no memory for the PNG encoder");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        snprintf(err, errlen, "preview: PNG encoding failed");
        return -1;
    }
    png_set_write_fn(png, o, png_out_write, png_out_flush);
    png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 3);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_write_info(png, info);
    for (int y = 0; y < im->h; y++)
        png_write_row(png, im->px + (size_t)y * im->w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (o->failed) {
        snprintf(err, errlen, "preview: no memory for the PNG");
        return -1;
    }
    return 0;
}

int za_preview_save(const struct za_rgb *im, const char *dir, unsigned char **png, size_t *len,
                    char *err, size_t errlen)
{
    struct png_out o = {0};
    *png = NULL, *len = 0;
    if (png_encode(im, &o, err, errlen) != 0) {
        free(o.p);
        return -1;
    }
    unsigned char *buf = o.p;
    size_t n = o.n;
    char tmp[1100], path[1100];
    snprintf(tmp, sizeof(tmp), "%s/.preview.png.tmp", dir);
    snprintf(path, sizeof(path), "%s/preview.png", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    bool ok = fd >= 0 && write_all(fd, buf, n) == 0;
    ok = fd >= 0 && close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "preview.png: %s", strerror(errno));
        if (fd >= 0)
            unlink(tmp);
        free(buf);
        return -1;
    }
    *png = buf, *len = n;
    return 0;
}

struct pr_value *za_preview_summary(const struct za_rgb *im, const struct za_display *d)
{
    struct pr_value *p = pr_value_new_object();
    pr_value_set(p, "name", pr_value_str("preview.png"));
    pr_value_set(p, "width", pr_value_int(im->w));
    pr_value_set(p, "height", pr_value_int(im->h));
    if (d) {
        pr_value_set(p, "scale", pr_value_int(d->scale));
        pr_value_set(p, "display_min", pr_value_double(d->lo));
        pr_value_set(p, "display_max", pr_value_double(d->hi));
    }
    return p;
}
