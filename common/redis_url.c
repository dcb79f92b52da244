/* Redis URL parser. Pure functions, any thread. */
#include "common/redis_url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string, or NULL when an escape is malformed. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = cm_xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[j++] = s[i];
            continue;
        }
        int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[j] = '\0';
    return out;
}

static int parse_int(const char *s, size_t n, int lo, int hi, int *out)
{
    if (n == 0 || n > 9)
        return -EINVAL;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Parses "[user]:password@" at the start of *p (up to end); advances *p past it. */
static int parse_userinfo(struct cm_redis_url *u, const char **p, const char *end, char *err,
                          size_t errlen)
{
    const char *at = memchr(*p, '@', (size_t)(end - *p));
    if (!at)
        return 0;
    const char *colon = memchr(*p, ':', (size_t)(at - *p));
    if (!colon) {
        snprintf(err, errlen, "redis url: credentials must be [user]:password@");
        return -EINVAL;
    }
    if (colon > *p && !(u->username = pct_decode(*p, (size_t)(colon - *p))))
        goto bad_escape;
    if (!(u->password = pct_decode(colon + 1, (size_t)(at - colon - 1))))
        goto bad_escape;
    *p = at + 1;
    return 0;
bad_escape:
    snprintf(err, errlen, "redis url: bad %%-escape in credentials");
    return -EINVAL;
}

static int parse_tcp(struct cm_redis_url *u, const char *p, char *err, size_t errlen)
{
    const char *end = p + strlen(p);
    const char *slash = strchr(p, '/');
    const char *hostend = slash ? slash : end;
    if (parse_userinfo(u, &p, hostend, err, errlen) != 0)
        return -EINVAL;
    const char *portsep = NULL;
    const char *h = p, *he;
    if (*p == '[') { /* IPv6 literal */
        const char *rb = memchr(p, ']', (size_t)(hostend - p));
        if (!rb) {
            snprintf(err, errlen, "redis url: unterminated [ in host");
            return -EINVAL;
        }
        h = p + 1, he = rb;
        if (rb + 1 < hostend) {
            if (rb[1] != ':') {
                snprintf(err, errlen, "redis url: expected : after ]");
                return -EINVAL;
            }
            portsep = rb + 1;
        }
    } else {
        portsep = memchr(p, ':', (size_t)(hostend - p));
        he = portsep ? portsep : hostend;
    }
    if (he == h) {
        snprintf(err, errlen, "redis url: missing host");
        return -EINVAL;
    }
    u->host = cm_xmemdup0(h, (size_t)(he - h));
    u->port = 6379;
    if (portsep && parse_int(portsep + 1, (size_t)(hostend - portsep - 1), 1, 65535, &u->port)) {
        snprintf(err, errlen, "redis url: port must be 1..65535");
        return -EINVAL;
    }
    if (slash && slash[1] && parse_int(slash + 1, strlen(slash + 1), 0, 1 << 20, &u->db)) {
        snprintf(err, errlen, "redis url: database must be a non-negative integer");
        return -EINVAL;
    }
    return 0;
}

static int parse_unix(struct cm_redis_url *u, const char *p, char *err, size_t errlen)
{
    const char *q = strchr(p, '?');
    const char *end = q ? q : p + strlen(p);
    if (*p != '/' && parse_userinfo(u, &p, end, err, errlen) != 0)
        return -EINVAL;
    if (*p != '/' || end - p < 2) {
        snprintf(err, errlen, "redis url: unix socket path must be absolute (unix:///path)");
        return -EINVAL;
    }
    u->path = cm_xmemdup0(p, (size_t)(end - p));
    if (q) {
        if (strncmp(q, "?db=", 4) != 0 || parse_int(q + 4, strlen(q + 4), 0, 1 << 20, &u->db)) {
            snprintf(err, errlen, "redis url: the only query parameter is db=N");
            return -EINVAL;
        }
    }
    return 0;
}

int cm_redis_url_parse(const char *url, struct cm_redis_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(url, "redis://", 8) == 0)
        return parse_tcp(out, url + 8, err, errlen);
    if (strncmp(url, "unix://", 7) == 0)
        return parse_unix(out, url + 7, err, errlen);
    snprintf(err, errlen, "redis url: must start with redis:// or unix://");
    return -EINVAL;
}

void cm_redis_url_deinit(struct cm_redis_url *u)
{
    free(u->host);
    free(u->path);
    free(u->username);
    free(u->password);
    memset(u, 0, sizeof(*u));
}

char *cm_redis_url_redact(const char *s)
{
    const char *scheme = strstr(s, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!colon)
        return cm_xstrdup(s);
    return cm_xasprintf("%.*s:***%s", (int)(colon - s), s, at);
}

char *cm_redis_url_describe(const struct cm_redis_url *u)
{
    if (u->path)
        return cm_xasprintf("unix:%s/%d", u->path, u->db);
    if (strchr(u->host, ':'))
        return cm_xasprintf("[%s]:%d/%d", u->host, u->port, u->db);
    return cm_xasprintf("%s:%d/%d", u->host, u->port, u->db);
}

int cm_redis_url_check(const char *value, char *err, size_t errlen)
{
    struct cm_redis_url u;
    char why[160];
    int rc = cm_redis_url_parse(value, &u, why, sizeof(why));
    cm_redis_url_deinit(&u);
    if (rc != 0) {
        char *shown = cm_redis_url_redact(value);
        snprintf(err, errlen, "%s, got \"%s\"", why, shown);
        free(shown);
    }
    return rc;
}
