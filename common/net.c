/* Listen-address parsing. Pure functions, any thread. */
#include "common/net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cm_hostport_parse(const char *s, char *host, size_t hostlen, int *port, char *err,
                      size_t errlen)
{
    const char *colon = strrchr(s, ':');
    if (!colon) {
        snprintf(err, errlen, "must be host:port, got \"%s\"", s);
        return -EINVAL;
    }
    const char *h = s, *he = colon;
    if (*s == '[') {
        if (colon == s || colon[-1] != ']') {
            snprintf(err, errlen, "IPv6 addresses must be [addr]:port, got \"%s\"", s);
            return -EINVAL;
        }
        h = s + 1, he = colon - 1;
    }
    if (*s != '[' && memchr(h, ':', (size_t)(he - h))) {
        snprintf(err, errlen, "IPv6 addresses must be [addr]:port, got \"%s\"", s);
        return -EINVAL;
    }
    if ((size_t)(he - h) >= hostlen) {
        snprintf(err, errlen, "host too long in \"%s\"", s);
        return -EINVAL;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p < 0 || p > 65535) {
        snprintf(err, errlen, "port must be 0..65535 (0: any free port), got \"%s\"", colon + 1);
        return -EINVAL;
    }
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    *port = (int)p;
    return 0;
}

int cm_hostport_check(const char *value, char *err, size_t errlen)
{
    char host[256];
    int port;
    return cm_hostport_parse(value, host, sizeof(host), &port, err, errlen);
}
