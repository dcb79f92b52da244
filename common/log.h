/* Logging: levels, UTC timestamp, component, optional JSON lines. Each line is formatted in
 * one buffer and written with one write(2), so lines from threads never interleave. */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <stdbool.h>

/* One row per level: enum value, name used in flags and output. */
#define CM_LOG_LEVELS(X)                                                                           \
    X(ERROR, "error")                                                                              \
    X(WARN, "warn")                                                                                \
    X(INFO, "info")                                                                                \
    X(DEBUG, "debug")

enum cm_log_level {
#define CM__LOG_ENUM(e, name) CM_LOG_##e,
    CM_LOG_LEVELS(CM__LOG_ENUM)
#undef CM__LOG_ENUM
};

/* "error|warn|info|debug": the choices string for a configuration option. */
#define CM_LOG_LEVEL_CHOICES "error|warn|info|debug"

extern int cm_log__level; /* read by the macro; set it with cm_log_init() */

/* Logs when lvl is enabled. The level is checked before the arguments are evaluated. */
#define cm_log(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((int)(lvl) <= cm_log__level)                                                           \
            cm__log_write((lvl), __VA_ARGS__);                                                     \
    } while (0)

/* Sets the component name (copied, e.g. "zsa-worker"), the threshold and the output format
 * (JSON lines when json is true). Call once at start-up, before other threads exist. */
void cm_log_init(const char *component, enum cm_log_level level, bool json);

/* Redirects output (default: fd 2). For tests. Returns the previous fd. */
int cm_log_set_fd(int fd);

/* Name of a level ("info"); NULL when out of range. */
const char *cm_log_level_name(int level);

void cm__log_write(enum cm_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
