/* Configuration: one table per daemon drives defaults < environment < command-line flags,
 * validation (errors name the option) and --help. Runs once at start-up, main thread. */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cm_opt_type {
    CM_OPT_STR,    /* char * (owned by the config; freed by cm_config_deinit) */
    CM_OPT_INT,    /* int, range [min, max] */
    CM_OPT_DOUBLE, /* double, finite, range [min, max] */
    CM_OPT_BOOL,   /* bool: true/false/1/0/yes/no/on/off; --flag and --no-flag */
    CM_OPT_ENUM,   /* int: index of the value in choices ("a|b|c") */
};

/* Extra check of a string value; writes the reason into err and returns non-zero to reject. */
typedef int (*cm_opt_check_cb)(const char *value, char *err, size_t errlen);

/* One row per option. The flag is --<name>; the environment variable is ZSA_<NAME> with '-'
 * turned into '_' (--redis-url <-> ZSA_REDIS_URL). */
struct cm_opt {
    const char *name; /* long flag without dashes */
    enum cm_opt_type type;
    size_t offset;         /* offsetof the field in the daemon's config struct */
    const char *def;       /* default as text, parsed like any other source; NULL: NULL/0 */
    double min, max;       /* INT and DOUBLE range, inclusive */
    const char *choices;   /* ENUM values separated by '|' */
    cm_opt_check_cb check; /* optional extra validation of STR values */
    const char *help;      /* one line */
};

struct cm_config_spec {
    const char *prog;          /* "zsa-worker" */
    const char *summary;       /* one line for --help */
    const struct cm_opt *opts; /* borrowed */
    size_t nopts;
};

#define CM_CONFIG_HELP 1 /* cm_config_load printed --help or --version: exit 0 */

/* Fills cfg: every option's default, then ZSA_* environment variables, then flags in argv
 * (--name=value, --name value, --flag, --no-flag, -h/--help, --version).
 * Returns 0; CM_CONFIG_HELP after printing help/version to out; or -EINVAL with a message naming
 * the option and the reason in err (e.g. "--slots: must be an integer from 1 to 64, got \"0\"").
 * cfg must start zeroed; release with cm_config_deinit() whatever the result. */
int cm_config_load(const struct cm_config_spec *spec, void *cfg, int argc, char **argv, FILE *out,
                   char *err, size_t errlen);

/* Frees the strings that cm_config_load stored in cfg. */
void cm_config_deinit(const struct cm_config_spec *spec, void *cfg);

/* Writes --help text generated from the table: flag, env variable, default, range, help. */
void cm_config_help(const struct cm_config_spec *spec, FILE *out);

/* Writes "name = value" lines of the effective configuration (passwords in URLs redacted). */
void cm_config_dump(const struct cm_config_spec *spec, const void *cfg, FILE *out);

/* The environment variable of an option ("ZSA_REDIS_URL") into buf. */
void cm_config_env_name(const struct cm_opt *opt, char *buf, size_t n);

#endif
