/* Redis URL parsing: redis://[[user]:password@]host[:port][/db] and
 * unix://[[user]:password@]/path[?db=N]. Pure functions, any thread. */
#ifndef CM_REDIS_URL_H
#define CM_REDIS_URL_H

#include <stddef.h>

struct cm_redis_url {
    char *host;     /* TCP host (IPv6 without brackets); NULL for unix sockets */
    int port;       /* TCP port, default 6379 */
    char *path;     /* unix socket path; NULL for TCP */
    char *username; /* ACL user or NULL */
    char *password; /* or NULL; percent-decoded */
    int db;         /* SELECT index, 0..15 by default config but any non-negative int allowed */
};

/* Parses url into out (which the caller releases with cm_redis_url_deinit, also on failure).
 * Returns 0, or -EINVAL with the reason in err ("redis url: port must be 1..65535"). */
int cm_redis_url_parse(const char *url, struct cm_redis_url *out, char *err, size_t errlen);
void cm_redis_url_deinit(struct cm_redis_url *u);

/* A copy of s with any password replaced by "***", for logs. Caller frees. */
char *cm_redis_url_redact(const char *s);

/* "127.0.0.1:6379/0" or "unix:/path/0": where it points, for logs. Caller frees. */
char *cm_redis_url_describe(const struct cm_redis_url *u);

/* cm_opt_check_cb for configuration rows holding a Redis URL. */
int cm_redis_url_check(const char *value, char *err, size_t errlen);

#endif
