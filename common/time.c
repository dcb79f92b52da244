/* Clocks and RFC 3339 timestamps. Any thread. */
#include "common/time.h"

#include <errno.h>
#include <stdbool.h>
#include <time.h>

int64_t cm_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cm_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cm_time_mono_ms(void)
{
    return cm_time_mono_ns() / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static char *put_digits(char *p, unsigned v, int w)
{
    for (int i = w - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + w;
}

char *cm_time_rfc3339(int64_t ms, char *buf)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    char *p = buf;
    p = put_digits(p, (unsigned)(tm.tm_year + 1900) % 10000, 4);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)(ms - secs * 1000), 3);
    *p++ = 'Z';
    *p = '\0';
    return buf;
}

/* Reads exactly w digits at s[*i]. */
static bool digits(const char *s, size_t n, size_t *i, int w, int *out)
{
    int v = 0;
    for (int k = 0; k < w; k++, (*i)++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10 + (s[*i] - '0');
    }
    *out = v;
    return true;
}

static bool expect(const char *s, size_t n, size_t *i, const char *any)
{
    if (*i >= n)
        return false;
    for (; *any; any++) {
        if (s[*i] == *any) {
            (*i)++;
            return true;
        }
    }
    return false;
}

int cm_time_parse_rfc3339(const char *s, size_t n, int64_t *ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t i = 0;
    int y, mo, d, h, mi, se, frac = 0;
    if (!digits(s, n, &i, 4, &y) || !expect(s, n, &i, "-") || !digits(s, n, &i, 2, &mo) ||
        !expect(s, n, &i, "-") || !digits(s, n, &i, 2, &d) || !expect(s, n, &i, "Tt ") ||
        !digits(s, n, &i, 2, &h) || !expect(s, n, &i, ":") || !digits(s, n, &i, 2, &mi) ||
        !expect(s, n, &i, ":") || !digits(s, n, &i, 2, &se))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return -EINVAL;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -EINVAL;
    if (i < n && s[i] == '.') {
        i++;
        int nd = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
            if (nd < 3)
                frac = frac * 10 + (s[i] - '0');
        }
        if (nd == 0)
            return -EINVAL;
        for (; nd < 3; nd++)
            frac *= 10;
    }
    int offset_min = 0;
    if (expect(s, n, &i, "Zz")) {
        /* UTC */
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1, oh, om;
        if (!digits(s, n, &i, 2, &oh) || !expect(s, n, &i, ":") || !digits(s, n, &i, 2, &om) ||
            oh > 23 || om > 59)
            return -EINVAL;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -EINVAL;
    }
    if (i != n)
        return -EINVAL;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se -
                   offset_min * 60;
    *ms = secs * 1000 + frac;
    return 0;
}
