/* Small text checks shared by config, proto and key naming. Pure functions, any thread. */
#ifndef CM_TEXT_H
#define CM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
 * When it is not, *bad_at (if not NULL) gets the offset of the first bad byte. */
bool cm_utf8_valid(const char *s, size_t n, size_t *bad_at);

/* v as decimal text in buf (n bytes; 24 hold any long long); returns buf. */
char *cm_fmt_ll(char *buf, size_t n, long long v);

/* 64-bit FNV-1a of n bytes (hash tables keyed by ids). */
uint64_t cm_hash_fnv1a(const void *p, size_t n);

/* True when s is a usable identifier inside a Redis key name and a file name: 1..max bytes of
 * [A-Za-z0-9_.:-], not starting with a dot (so never "." or ".."). Session, job, worker, image
 * and result ids all follow this rule. */
bool cm_id_valid(const char *s, size_t n, size_t max);

/* True when c may appear in an identifier (see cm_id_valid). */
bool cm_id_char(char c);

/* Writes prefix followed by 22 characters of base64url: 128 bits from the kernel's CSPRNG
 * (getrandom), never derived from a pid, a counter or the clock, so ids handed out by processes
 * in different containers or before and after a restart do not collide. out must hold
 * strlen(prefix) + 23 bytes (CM_RANDOM_ID_LEN + the prefix). Any thread. */
#define CM_RANDOM_ID_LEN 23 /* 22 characters and the NUL */
void cm_random_id(char *out, size_t n, const char *prefix);

/* base64url (RFC 4648 section 5) without padding. encode writes CM_B64URL_LEN(n) characters and a
 * NUL (outn must hold them; returns the length, 0 when it does not fit); decode refuses
 * characters outside the alphabet, padding, and non-zero bits past the last byte, so each byte
 * string has exactly one text: returns the bytes written, or -1. */
#define CM_B64URL_LEN(n) (((n)*4 + 2) / 3)
size_t cm_b64url_encode(const void *data, size_t n, char *out, size_t outn);
long cm_b64url_decode(const char *s, size_t n, void *out, size_t outn);

/* An HTTP Range header's value v for a body of size bytes (RFC 9110: one range of the unit
 * "bytes", as "a-b", "a-" or "-n"): 1 with [*off, *off + *len) for a satisfiable range, 0 when the
 * header is to be ignored and the whole body sent (NULL, malformed, several ranges, another
 * unit), -1 when no byte of it exists (a 416). */
int cm_http_range(const char *v, uint64_t size, uint64_t *off, uint64_t *len);

#endif
