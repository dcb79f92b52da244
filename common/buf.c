/* Growable byte buffer and JSON string escaping. Any thread, one buffer per thread. */
#include "common/buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

void cm_buf_init(struct cm_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void cm_buf_deinit(struct cm_buf *b)
{
    free(b->data);
    cm_buf_init(b);
}

void cm_buf_reset(struct cm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cm_buf_reserve(struct cm_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = cm_xrealloc(b->data, cap);
    b->cap = cap;
}

void cm_buf_append(struct cm_buf *b, const void *p, size_t n)
{
    cm_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cm_buf_puts(struct cm_buf *b, const char *s)
{
    cm_buf_append(b, s, strlen(s));
}

void cm_buf_putc(struct cm_buf *b, char c)
{
    cm_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void cm_buf_printf(struct cm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    cm_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *cm_buf_steal(struct cm_buf *b)
{
    cm_buf_reserve(b, 0);
    char *s = b->data;
    cm_buf_init(b);
    return s;
}

void cm_buf_append_json_str(struct cm_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    cm_buf_reserve(b, n + 2);
    cm_buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        cm_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': cm_buf_append(b, "\\\"", 2); break;
        case '\\': cm_buf_append(b, "\\\\", 2); break;
        case '\n': cm_buf_append(b, "\\n", 2); break;
        case '\r': cm_buf_append(b, "\\r", 2); break;
        case '\t': cm_buf_append(b, "\\t", 2); break;
        case '\b': cm_buf_append(b, "\\b", 2); break;
        case '\f': cm_buf_append(b, "\\f", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            cm_buf_append(b, u, sizeof(u));
        }
        }
    }
    cm_buf_append(b, s + run, n - run);
    cm_buf_putc(b, '"');
}

void cm_buf_append_uint(struct cm_buf *b, unsigned long long v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    cm_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

void cm_buf_append_int(struct cm_buf *b, long long v)
{
    if (v < 0) {
        cm_buf_putc(b, '-');
        cm_buf_append_uint(b, 0ull - (unsigned long long)v);
    } else {
        cm_buf_append_uint(b, (unsigned long long)v);
    }
}

/* Fast path for values with at most 9 decimals (progress, seconds, scores, volumes): finds the
 * smallest k with v == r / 10^k for an integer r below 2^53. Both sides are correctly rounded
 * values of the same rational, so the decimal r * 10^-k reads back as exactly v. */
static bool append_short_decimal(struct cm_buf *b, double v)
{
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    if (!(fabs(v) < 1e6 && fabs(v) >= 1e-4)) /* outside: %g's exponent form is shorter */
        return false;
    for (int k = 1; k <= 9; k++) {
        double scaled = v * p10[k];
        if (fabs(scaled) >= 9007199254740992.0)
            return false;
        long long r = llround(scaled);
        if ((double)r / p10[k] != v)
            continue;
        unsigned long long a = r < 0 ? 0ull - (unsigned long long)r : (unsigned long long)r;
        unsigned long long div = (unsigned long long)p10[k];
        char frac[16];
        for (int i = k - 1; i >= 0; i--, a /= 10)
            frac[i] = (char)('0' + (int)((a % 10)));
        if (r < 0)
            cm_buf_putc(b, '-');
        cm_buf_append_uint(b, (r < 0 ? 0ull - (unsigned long long)r : (unsigned long long)r) / div);
        cm_buf_putc(b, '.');
        cm_buf_append(b, frac, (size_t)k);
        return true;
    }
    return false;
}

void cm_buf_append_double(struct cm_buf *b, double v, bool keep_float)
{
    char tmp[40];
    int n = 0;
    /* integral values below 2^53 print exactly as integers: skip printf and strtod */
    /* the range first: converting a double outside long long's range is undefined (UBSan found
     * it through tests/fuzz/fuzz_json with 7.8e32) */
    if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(long long)v &&
        !(v == 0 && signbit(v))) {
        cm_buf_append_int(b, (long long)v);
        if (keep_float)
            cm_buf_append(b, ".0", 2);
        return;
    }
    if (append_short_decimal(b, v))
        return;
    /* %.15g is exact for most decimal inputs; widen only when it does not read back. */
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    cm_buf_append(b, tmp, (size_t)n);
    if (keep_float && isfinite(v) && !strpbrk(tmp, ".eEn"))
        cm_buf_append(b, ".0", 2);
}

void cm_buf_append_sig(struct cm_buf *b, double v, int sig)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        cm_buf_append_int(b, (long long)v);
        return;
    }
    double a = fabs(v);
    if (!isfinite(v) || a < 1e-4 || a >= 1e15) {
        cm_buf_printf(b, "%.*g", sig, v);
        return;
    }
    int e = (int)floor(log10(a));
    long long m = llround(a * pow(10, sig - 1 - e));
    if (m >= (long long)pow(10, sig)) /* rounded up to one more digit */
        m /= 10, e++;
    char digits[24];
    int nd = snprintf(digits, sizeof(digits), "%lld", m); /* sig digits */
    int point = e + 1;                                    /* digits before the point */
    int last = nd;
    while (last > point && last > 1 && digits[last - 1] == '0')
        last--;
    if (v < 0)
        cm_buf_putc(b, '-');
    if (point <= 0) {
        cm_buf_puts(b, "0.");
        for (int i = point; i < 0; i++)
            cm_buf_putc(b, '0');
        cm_buf_append(b, digits, (size_t)last);
    } else {
        cm_buf_append(b, digits, (size_t)(point < last ? point : last));
        for (int i = last; i < point; i++)
            cm_buf_putc(b, '0');
        if (last > point) {
            cm_buf_putc(b, '.');
            cm_buf_append(b, digits + point, (size_t)(last - point));
        }
    }
}
