/* Z-stacks: a 3D image of one channel and one time point, x fastest, with its voxel size; read
 * from and written to TIFF with libtiff (tiff_io.c). Any thread; a stack belongs to one thread
 * at a time. */
#ifndef ZA_STACK_H
#define ZA_STACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum za_dtype { ZA_U8, ZA_U16, ZA_U32, ZA_I8, ZA_I16, ZA_I32, ZA_F32 };

struct za_stack {
    int nx, ny, nz;
    enum za_dtype dtype;
    void *data;         /* nz * ny * nx samples, native byte order; owned */
    double dx, dy, dz;  /* voxel size in unit (1 when the file does not say) */
    char unit[32];      /* "micron", "um", "pixel", ... */
    int channels;       /* what the file holds (1 when it does not say) */
    int frames;         /* time points in the file */
    int channel, frame; /* which ones this stack is */
};

/* An error: code is the job's error_code (INVALID_IMAGE, IMAGE_TOO_LARGE, FILE_NOT_FOUND,
 * INVALID_PARAMETERS, CANCELLED), message says what is wrong. */
struct za_err {
    char code[32];
    char message[320];
};

struct za_load_opts {
    int channel;         /* 0-based */
    int frame;           /* 0-based */
    uint64_t max_voxels; /* budget: IMAGE_TOO_LARGE above it (0: no limit) */
    /* called after each page read with the fraction done; returns false to stop (CANCELLED) */
    bool (*progress)(void *arg, double fraction);
    void *arg;
};

size_t za_dtype_size(enum za_dtype t);
const char *za_dtype_name(enum za_dtype t);
static inline size_t za_voxels(const struct za_stack *s)
{
    return (size_t)s->nx * (size_t)s->ny * (size_t)s->nz;
}

/* Allocates data for nx*ny*nz samples of type t (zeroed); other fields get defaults. Returns 0,
 * or -1 when the size overflows or memory is short. */
int za_stack_alloc(struct za_stack *s, int nx, int ny, int nz, enum za_dtype t);
void za_stack_free(struct za_stack *s);

/* Every sample as a float into out (za_voxels(s) of them), on za_threads() threads (the output
 * is first touched by the thread that fills it). */
void za_to_float(const struct za_stack *s, float *out);

/* Samples begin..begin+n-1 as floats or doubles: one typed loop per sample type. */
void za_to_float_range(const struct za_stack *s, size_t begin, size_t n, float *out);
void za_to_double_range(const struct za_stack *s, size_t begin, size_t n, double *out);

/* Sample i as a double, whatever the type. */
double za_get(const struct za_stack *s, size_t i);

/* Reads one channel and frame of a multi-page TIFF (classic or BigTIFF; 8/16/32-bit integer or
 * 32-bit float, one sample per pixel; strips or tiles; any compression libtiff decodes; ImageJ
 * hyperstack and OME-TIFF metadata for the layout and voxel size). Pages are read in file order
 * (TIFFReadDirectory), never by seeking to a directory. Returns 0, or -1 with err filled. */
int za_tiff_load(const char *path, const struct za_load_opts *o, struct za_stack *out,
                 struct za_err *err);
/* The same from an open file descriptor, which it takes over (closed in every case); name only
 * names the file in error messages. */
int za_tiff_load_fd(int fd, const char *name, const struct za_load_opts *o, struct za_stack *out,
                    struct za_err *err);

/* Writes s as a multi-page TIFF with ImageJ metadata (images, slices, spacing, unit) and the
 * voxel size in XResolution/YResolution; BigTIFF when asked or when the data need it; deflate
 * compression when compress. Returns 0, or -1 with err filled. */
int za_tiff_write(const char *path, const struct za_stack *s, bool bigtiff, bool compress,
                  struct za_err *err);

#endif
