/* Time helpers: wall clock in ms, monotonic clock, RFC 3339 format and parse. Any thread. */
#ifndef CM_TIME_H
#define CM_TIME_H

#include <stddef.h>
#include <stdint.h>

#define CM_RFC3339_LEN 25 /* "2026-11-25T18:32:52.123Z" plus NUL */

int64_t cm_time_now_ms(void);  /* wall clock, ms since the Unix epoch */
int64_t cm_time_mono_ns(void); /* monotonic clock, ns; for durations and deadlines */
int64_t cm_time_mono_ms(void);

/* Writes ms as UTC "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least CM_RFC3339_LEN bytes).
 * Returns buf. */
char *cm_time_rfc3339(int64_t ms, char *buf);

/* Parses an RFC 3339 date-time ("2026-11-25T18:32:52Z", optional fraction, 'Z' or +hh:mm).
 * Stores ms since the epoch in *ms. Returns 0, or -EINVAL when s is not one. */
int cm_time_parse_rfc3339(const char *s, size_t n, int64_t *ms);

#endif
