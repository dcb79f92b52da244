/* A growable byte buffer (always NUL-terminated) and the one JSON string escaper that the
 * logger and the proto JSON encoder share. Not thread-safe per buffer. */
#ifndef CM_BUF_H
#define CM_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct cm_buf {
    char *data; /* owned; NUL-terminated when len > 0 or after any append */
    size_t len; /* bytes used, not counting the terminating NUL */
    size_t cap; /* bytes allocated */
};

#define CM_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void cm_buf_init(struct cm_buf *b);
void cm_buf_deinit(struct cm_buf *b); /* frees the storage; the buffer may be reused after init */
void cm_buf_reset(struct cm_buf *b);  /* len = 0, keeps the storage */
void cm_buf_reserve(struct cm_buf *b, size_t extra); /* room for extra more bytes + NUL */
void cm_buf_append(struct cm_buf *b, const void *p, size_t n);
void cm_buf_puts(struct cm_buf *b, const char *s);
void cm_buf_putc(struct cm_buf *b, char c);
void cm_buf_printf(struct cm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the storage to the caller (free() it) and leaves b empty. Never NULL. */
char *cm_buf_steal(struct cm_buf *b);

/* Appends s[0..n) as a quoted JSON string: escapes '"', '\\' and control characters,
 * copies other bytes (callers pass valid UTF-8). */
void cm_buf_append_json_str(struct cm_buf *b, const char *s, size_t n);

/* Appends a decimal integer (no printf: this is on the event encoding path). */
void cm_buf_append_int(struct cm_buf *b, long long v);
void cm_buf_append_uint(struct cm_buf *b, unsigned long long v);

/* Appends a double in the shortest form (at most 17 digits) that parses back to the same value.
 * With keep_float, an integral value gets ".0" so that it reads back as a float. */
void cm_buf_append_double(struct cm_buf *b, double v, bool keep_float);

/* Appends v with sig (1..17) significant digits, like printf("%.<sig>g") to within one unit of
 * the last digit, but without printf's cost (a 10,000-object CSV took 30 ms): scaled to an
 * integer of sig digits, trailing zeros dropped, never an exponent between 1e-4 and 1e15.
 * Integers below 1e15 are written exactly; other magnitudes and non-finite values use printf. */
void cm_buf_append_sig(struct cm_buf *b, double v, int sig);

#endif
