/* UTF-8 and identifier checks, random identifiers. Any thread. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/text.h"

bool cm_utf8_valid(const char *s, size_t n, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            goto bad;
        }
        if (n - i < len)
            goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += len;
    }
    return true;
bad:
    if (bad_at)
        *bad_at = i;
    return false;
}

bool cm_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

bool cm_id_valid(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!cm_id_char(s[i]))
            return false;
    return true;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t cm_b64url_encode(const void *data, size_t n, char *out, size_t outn)
{
    const unsigned char *p = data;
    size_t need = CM_B64URL_LEN(n);
    if (outn < need + 1)
        return 0;
    size_t j = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[j++] = b64url[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[j++] = b64url[(acc << (6 - bits)) & 63];
    out[j] = '\0';
    return j;
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

long cm_b64url_decode(const char *s, size_t n, void *out, size_t outn)
{
    unsigned char *o = out;
    if (n % 4 == 1)
        return -1; /* no length leaves one sextet over */
    size_t j = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value(s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (j >= outn)
                return -1;
            o[j++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1))
        return -1; /* bits past the last byte must be zero: one text per byte string */
    return (long)j;
}

void cm_random_id(char *out, size_t n, const char *prefix)
{
    unsigned char r[16]; /* 128 bits: 22 characters */
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t k = getrandom(r + got, sizeof(r) - got, 0);
        if (k < 0 && errno != EINTR)
            abort(); /* ENOSYS only: no kernel since 3.17 lacks it */
        if (k > 0)
            got += (size_t)k;
    }
    char id[CM_RANDOM_ID_LEN];
    cm_b64url_encode(r, sizeof(r), id, sizeof(id));
    snprintf(out, n, "%s%s", prefix, id);
}

uint64_t cm_hash_fnv1a(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 14695981039346656037ULL; /* the FNV offset basis */
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

char *cm_fmt_ll(char *buf, size_t n, long long v)
{
    snprintf(buf, n, "%lld", v);
    return buf;
}

/* Digits at *p as a number (advancing *p): true when there was at least one and no overflow. */
static bool range_num(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (s == *p)
        return false;
    *p = s, *out = v;
    return true;
}

int cm_http_range(const char *v, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!v || strncasecmp(v, "bytes=", 6) != 0 || strchr(v, ','))
        return 0;
    const char *p = v + 6;
    while (*p == ' ')
        p++;
    uint64_t a = 0, b = 0;
    if (*p == '-') { /* the last b bytes */
        p++;
        if (!range_num(&p, &b) || *p)
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *off = b >= size ? 0 : size - b, *len = size - *off;
        return 1;
    }
    if (!range_num(&p, &a) || *p++ != '-')
        return 0;
    bool open = *p == '\0';
    if (!open && (!range_num(&p, &b) || *p || b < a))
        return 0;
    if (a >= size)
        return -1;
    if (open || b >= size)
        b = size - 1;
    *off = a, *len = b - a + 1;
    return 1;
}
