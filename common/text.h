/* Small text checks shared by config, proto and key naming. Pure functions, any thread. */
#ifndef CM_TEXT_H
#define CM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
 * When it is not, *bad_at (if not NULL) gets the offset of the first bad byte. */
bool cm_utf8_valid(const char *s, size_t n, size_t *bad_at);

/* True when s is a usable identifier inside a Redis key name: 1..max bytes of
 * [A-Za-z0-9_.:-]. Session, job, worker, image and result ids all follow this rule. */
bool cm_id_valid(const char *s, size_t n, size_t max);

#endif
