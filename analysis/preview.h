/* Previews: the small PNG image a person looks at to judge a result (a projection, the objects
 * of a segmentation over it, a histogram), bounded to ZA_PREVIEW_MAX pixels on its long side and
 * written atomically as preview.png beside the result's other artifacts. The rules (scaling,
 * contrast, colours) are fixed and documented in docs/PROTOCOL.md so that a test can redraw
 * them from the data. Compute thread; every object belongs to one thread. */
#ifndef ZA_PREVIEW_H
#define ZA_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "proto/value.h"

#define ZA_PREVIEW_MAX 1024   /* pixels on the long side of the image part */
#define ZA_PREVIEW_STRIP 12   /* the caption strip under a segmentation or histogram preview */
#define ZA_PREVIEW_CLIP 0.001 /* the fraction of pixels clipped at each end of the contrast */
#define ZA_PREVIEW_PLOT_H 200 /* a histogram's plot height */

/* An 8-bit RGB image, rows top to bottom. */
struct za_rgb {
    int w, h;
    uint8_t *px; /* w * h * 3; owned */
};

int za_rgb_alloc(struct za_rgb *im, int w, int h); /* zeroed; 0, or -1 when memory is short */
void za_rgb_free(struct za_rgb *im);

/* A 2D plane made ready for display: reduced by an integer factor (block means, blocks at the
 * right and bottom edges may be partial) until its long side is at most ZA_PREVIEW_MAX, and its
 * contrast range: lo and hi are the values of rank floor(c * (n - 1)) and ceil((1 - c) * (n - 1))
 * of the n reduced values (c = ZA_PREVIEW_CLIP). */
struct za_display {
    int w, h, scale;
    double lo, hi;
    double *v; /* w * h reduced values; owned */
};

/* From plane (nx * ny values, x fastest; borrowed). 0, or -1 when memory is short. */
int za_display_make(const double *plane, int nx, int ny, struct za_display *d);
void za_display_free(struct za_display *d);
/* The gray level of reduced value i: round(255 * (v - lo) / (hi - lo)), clamped to 0..255 (0
 * everywhere when hi == lo). */
uint8_t za_display_gray(const struct za_display *d, size_t i);

/* The stable colour of a label: hue frac(label * 0.618033988749895), saturation 0.7, value 1,
 * each channel round(255 * c). */
void za_label_colour(uint32_t label, uint8_t rgb[3]);

/* The gray image of d. */
int za_preview_gray(const struct za_display *d, struct za_rgb *out);

/* The objects over d: lab holds d's w * h labels (each the largest label of its block of the
 * label volume's max projection; 0: background). A pixel whose label differs from a 4-neighbour's
 * inside the image is outline: the label's colour; the rest of an object blends
 * round(0.55 * gray + 0.45 * colour); background stays gray. A ZA_PREVIEW_STRIP-pixel strip
 * below says "<count> objects". */
int za_preview_overlay(const struct za_display *d, const uint32_t *lab, uint32_t count,
                       struct za_rgb *out);

/* A histogram as bars: bins grouped by g = ceil(bins / ZA_PREVIEW_MAX) (sums), each column
 * bw = max(1, 512 / columns) pixels wide, bar heights round(ZA_PREVIEW_PLOT_H * ln(1 + c) /
 * ln(1 + max c)) (a log scale: the background peak does not flatten the rest), on
 * white; the strip below gives the value range lo..hi. */
int za_preview_histogram(const uint64_t *counts, int bins, double lo, double hi,
                         struct za_rgb *out);
#define ZA_PREVIEW_BAR_RGB 0x2563eb /* the bars' colour */

/* Draws text (digits, space, . - + and the letters b c e j o s t; others are blank) with a 5x7
 * font at (x, y), clipped to the image. */
void za_draw_text(struct za_rgb *im, int x, int y, const char *text, const uint8_t rgb[3]);

/* Encodes im as PNG into *png (malloc'd, *len bytes; the caller frees) and writes it to
 * <dir>/preview.png through a temporary file and a rename, so a reader never sees half of it.
 * Returns 0, or -1 with the reason in err. */
int za_preview_save(const struct za_rgb *im, const char *dir, unsigned char **png, size_t *len,
                    char *err, size_t errlen);

/* The summary's "preview" member: {name, width, height, scale}; display_min and display_max
 * too when d is not NULL. */
struct pr_value *za_preview_summary(const struct za_rgb *im, const struct za_display *d);

#endif
