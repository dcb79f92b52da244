/* Start-up shared by the three daemons: the configuration rows every daemon has, loading the
 * daemon's table, logging set-up, and the --check mode. Main thread, before any loop runs. */
#ifndef CM_DAEMON_H
#define CM_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/redis_url.h"

enum cm_log_format { CM_LOG_FORMAT_TEXT, CM_LOG_FORMAT_JSON };

/* Options every daemon has; embed as the member `common` of the daemon's config struct. */
struct cm_common_cfg {
    char *redis_url;           /* redis:// or unix:// */
    char *redis_password_file; /* the password (first line), instead of one in the URL */
    char *prefix;              /* key prefix, "zsa" */
    int log_level;             /* enum cm_log_level */
    int log_format;            /* enum cm_log_format */
    int redis_timeout_ms;      /* connect and command timeout */
    bool check;                /* --check: verify the configuration and Redis, then exit */
    bool print_config;         /* --print-config: print the effective configuration, then exit */
    struct cm_redis_url url;   /* parsed redis_url, filled by cm_daemon_init */
};

/* The rows of struct cm_common_cfg, for the daemon's table (type is the daemon's config struct,
 * which has a member `common`). */
#define CM_COMMON_OPTS(type)                                                                       \
    {"redis-url",                                                                                  \
     CM_OPT_STR,                                                                                   \
     offsetof(type, common.redis_url),                                                             \
     "redis://127.0.0.1:6379/0",                                                                   \
     0,                                                                                            \
     0,                                                                                            \
     NULL,                                                                                         \
     cm_redis_url_check,                                                                           \
     "Redis server: redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N]"},           \
        {"redis-password-file",                                                                    \
         CM_OPT_STR,                                                                               \
         offsetof(type, common.redis_password_file),                                               \
         "",                                                                                       \
         0,                                                                                        \
         0,                                                                                        \
         NULL,                                                                                     \
         NULL,                                                                                     \
         "file whose first line is the Redis password (a Docker secret), overriding one in the "   \
         "URL: keeps it out of the environment and argv"},                                         \
        {"prefix", CM_OPT_STR,          offsetof(type, common.prefix),          "zsa", 0, 0,       \
         NULL,     cm_key_prefix_check, "prefix of every Redis key and channel"},                  \
        {"redis-timeout-ms",                                                                       \
         CM_OPT_INT,                                                                               \
         offsetof(type, common.redis_timeout_ms),                                                  \
         "2000",                                                                                   \
         10,                                                                                       \
         600000,                                                                                   \
         NULL,                                                                                     \
         NULL,                                                                                     \
         "Redis connect and command timeout in milliseconds"},                                     \
        {"log-level",          CM_OPT_ENUM, offsetof(type, common.log_level),   "info", 0, 0,      \
         CM_LOG_LEVEL_CHOICES, NULL,        "least severe level that is logged"},                  \
        {"log-format", CM_OPT_ENUM, offsetof(type, common.log_format),     "text", 0, 0,           \
         "text|json",  NULL,        "log lines as text or as JSON objects"},                       \
        {"check", CM_OPT_BOOL, offsetof(type, common.check),                                       \
         "false", 0,           0,                                                                  \
         NULL,    NULL,        "check the configuration and the Redis connection, then exit"},     \
    {                                                                                              \
        "print-config", CM_OPT_BOOL, offsetof(type, common.print_config), "false", 0, 0, NULL,     \
            NULL, "print the effective configuration, then exit"                                   \
    }

#define CM_DAEMON_CONTINUE (-1) /* cm_daemon_init: run the daemon */

/* Loads the configuration (defaults < env < flags), sets up logging, parses the Redis URL.
 * Returns CM_DAEMON_CONTINUE, or an exit status the caller returns from main: 0 after --help,
 * --version or --print-config; 2 after a configuration error (printed on stderr, naming the
 * option). cfg must start zeroed; release it with cm_daemon_deinit() in all cases. */
int cm_daemon_init(const struct cm_config_spec *spec, void *cfg, struct cm_common_cfg *common,
                   int argc, char **argv);
void cm_daemon_deinit(const struct cm_config_spec *spec, void *cfg, struct cm_common_cfg *common);

/* --check: connects to Redis with the configured URL and timeout, logs the server version.
 * Returns 0 when Redis answered, 1 otherwise (with the reason logged). */
int cm_daemon_check_redis(const struct cm_common_cfg *common);

/* Option checks shared by the daemons: a process id option ("" = default, else 1..64 characters
 * of [A-Za-z0-9_.:-]) and an optional listen address ("" = off, else host:port). */
int cm_opt_check_id_or_empty(const char *v, char *err, size_t errlen);
int cm_opt_check_listen_or_empty(const char *v, char *err, size_t errlen);

/* The daemon's id: configured when not empty, else "<hostname>-<pid>" with characters that keys
 * do not allow replaced by '_'. host (may be NULL) gets the host name. */
void cm_daemon_id(const char *configured, char *id, size_t n, char *host, size_t hostlen);

#endif
