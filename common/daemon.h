/* Start-up shared by the three daemons: the configuration rows every daemon has, loading the
 * daemon's table, logging set-up, and the --check mode. Main thread, before any loop runs. */
#ifndef CM_DAEMON_H
#define CM_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* One row of a daemon's option table, for a field of CM_OPT_STRUCT (the daemon's config struct:
 * its main.c defines CM_OPT_STRUCT before the table). */
#define CM_OPT(name, type, field, def, lo, hi, choices, check, help)                               \
    {                                                                                              \
        name, type, offsetof(CM_OPT_STRUCT, field), def, lo, hi, choices, check, help              \
    }

/* Options that mean the same in every daemon that has them, declared once (the config struct has
 * the field of the same name). */
#define CM_OPT_MAX_ATTEMPTS                                                                        \
    CM_OPT("max-attempts", CM_OPT_INT, max_attempts, "3", 1, 100, NULL, NULL,                      \
           "attempts per job, retries included (give every daemon the same: workers count them, "  \
           "schedulers dead-letter a job lost on its last, gateways stop retries at it)")
#define CM_OPT_STREAM_MAXLEN                                                                       \
    CM_OPT("stream-maxlen", CM_OPT_INT, stream_maxlen, "1000", 10, 10000000, NULL, NULL,           \
           "events kept per session stream (approximate, MAXLEN ~; the same for workers and "      \
           "schedulers)")
#define CM_OPT_STREAM_TTL_S                                                                        \
    CM_OPT("stream-ttl-s", CM_OPT_INT, stream_ttl_s, "86400", 60, 31536000, NULL, NULL,            \
           "a session stream expires this long after its last event (the same for workers and "    \
           "schedulers)")
#define CM_OPT_METRICS_LISTEN                                                                      \
    CM_OPT("metrics-listen", CM_OPT_STR, metrics_listen, "127.0.0.1:0", 0, 0, NULL,                \
           cm_opt_check_listen_or_empty,                                                           \
           "address of /metrics and /healthz (port 0: any free port; \"\": off)")

/* The stop signals' policy, the same in every daemon: the first SIGTERM or SIGINT starts a
 * graceful stop (returns true); the same signal delivered twice at once (systemd or pkill signal
 * every process, and a parent passes it on) is ignored (false); a later one means "now": logged
 * (with what an immediate exit leaves behind, may be "") and _exit(1). first_ms: 0 until the
 * first signal (the caller's, monotonic ms). */
bool cm_stop_signal(int signum, int64_t *first_ms, int64_t now_ms, const char *left_behind);

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
