/* Table-driven configuration loader. Start-up, main thread only. */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/redis_url.h"

#ifndef ZSA_VERSION
#define ZSA_VERSION "dev"
#endif

void cm_config_env_name(const struct cm_opt *opt, char *buf, size_t n)
{
    size_t i = 0;
    const char *p = "ZSA_";
    for (; *p && i + 1 < n; p++)
        buf[i++] = *p;
    for (p = opt->name; *p && i + 1 < n; p++)
        buf[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[i] = '\0';
}

static void *field(void *cfg, const struct cm_opt *o)
{
    return (char *)cfg + o->offset;
}

/* Index of value in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *value)
{
    size_t vlen = strlen(value);
    int idx = 0;
    for (const char *p = choices; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncmp(p, value, len) == 0)
            return idx;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* Parses value into the option's field. On error writes the reason (without the option's name)
 * into why. */
static int set_value(void *cfg, const struct cm_opt *o, const char *v, char *why, size_t n)
{
    char *end;
    switch (o->type) {
    case CM_OPT_STR:
        if (o->check && o->check(v, why, n) != 0)
            return -EINVAL;
        free(*(char **)field(cfg, o));
        *(char **)field(cfg, o) = cm_xstrdup(v);
        return 0;
    case CM_OPT_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < o->min || x > o->max) {
            snprintf(why, n, "must be an integer from %.0f to %.0f, got \"%s\"", o->min, o->max, v);
            return -EINVAL;
        }
        *(int *)field(cfg, o) = (int)x;
        return 0;
    }
    case CM_OPT_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x) || x < o->min || x > o->max) {
            snprintf(why, n, "must be a number from %g to %g, got \"%s\"", o->min, o->max, v);
            return -EINVAL;
        }
        *(double *)field(cfg, o) = x;
        return 0;
    }
    case CM_OPT_BOOL:
        if (parse_bool(v, (bool *)field(cfg, o)) != 0) {
            snprintf(why, n, "must be true or false, got \"%s\"", v);
            return -EINVAL;
        }
        return 0;
    case CM_OPT_ENUM: {
        int idx = choice_index(o->choices, v);
        if (idx < 0) {
            snprintf(why, n, "must be one of %s, got \"%s\"", o->choices, v);
            return -EINVAL;
        }
        *(int *)field(cfg, o) = idx;
        return 0;
    }
    }
    snprintf(why, n, "unsupported option type");
    return -EINVAL;
}

static const struct cm_opt *find_opt(const struct cm_config_spec *spec, const char *name,
                                     size_t len)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct cm_opt *o = &spec->opts[i];
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    }
    return NULL;
}

static int load_defaults_and_env(const struct cm_config_spec *spec, void *cfg, char *err,
                                 size_t errlen)
{
    char why[256], env[96];
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct cm_opt *o = &spec->opts[i];
        if (o->def && set_value(cfg, o, o->def, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "default of --%s: %s", o->name, why);
            return -EINVAL;
        }
        cm_config_env_name(o, env, sizeof(env));
        const char *v = getenv(env);
        if (v && set_value(cfg, o, v, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s (--%s): %s", env, o->name, why);
            return -EINVAL;
        }
    }
    return 0;
}

/* Handles argv[*i], an argument starting with "--"; may consume argv[*i + 1]. */
static int load_flag(const struct cm_config_spec *spec, void *cfg, int argc, char **argv, int *i,
                     char *err, size_t errlen)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    const struct cm_opt *o = find_opt(spec, arg, nlen);
    const char *value = eq ? eq + 1 : NULL;
    char why[256];

    if (!o && nlen > 3 && strncmp(arg, "no-", 3) == 0) {
        o = find_opt(spec, arg + 3, nlen - 3);
        if (o && o->type == CM_OPT_BOOL && !value) {
            *(bool *)field(cfg, o) = false;
            return 0;
        }
        o = NULL;
    }
    if (!o) {
        snprintf(err, errlen, "unknown option --%.*s (see --help)", (int)nlen, arg);
        return -EINVAL;
    }
    if (!value && o->type == CM_OPT_BOOL) {
        *(bool *)field(cfg, o) = true;
        return 0;
    }
    if (!value) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "--%s: missing value", o->name);
            return -EINVAL;
        }
        value = argv[++*i];
    }
    if (set_value(cfg, o, value, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--%s: %s", o->name, why);
        return -EINVAL;
    }
    return 0;
}

int cm_config_load(const struct cm_config_spec *spec, void *cfg, int argc, char **argv, FILE *out,
                   char *err, size_t errlen)
{
    /* --help and --version win over everything else, even over bad values. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cm_config_help(spec, out);
            return CM_CONFIG_HELP;
        }
        if (strcmp(argv[i], "--version") == 0) {
            fprintf(out, "%s %s\n", spec->prog, ZSA_VERSION);
            return CM_CONFIG_HELP;
        }
    }
    int rc = load_defaults_and_env(spec, cfg, err, errlen);
    for (int i = 1; rc == 0 && i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0 && argv[i][2]) {
            rc = load_flag(spec, cfg, argc, argv, &i, err, errlen);
        } else {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", argv[i]);
            rc = -EINVAL;
        }
    }
    return rc;
}

void cm_config_deinit(const struct cm_config_spec *spec, void *cfg)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct cm_opt *o = &spec->opts[i];
        if (o->type == CM_OPT_STR) {
            free(*(char **)field(cfg, o));
            *(char **)field(cfg, o) = NULL;
        }
    }
}

void cm_config_help(const struct cm_config_spec *spec, FILE *out)
{
    char env[96], flag[64];
    fprintf(out, "Usage: %s [OPTION]...\n%s\n\n", spec->prog, spec->summary);
    fprintf(out, "Each option can also be set with its environment variable; flags win over the\n"
                 "environment, which wins over the default.\n\n");
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct cm_opt *o = &spec->opts[i];
        cm_config_env_name(o, env, sizeof(env));
        static const char *const meta[] = {"TEXT", "N", "X", "", ""};
        const char *m = o->type == CM_OPT_ENUM ? o->choices : meta[o->type];
        snprintf(flag, sizeof(flag), "--%s%s%s", o->name, *m ? " " : "", m);
        fprintf(out, "  %-34s %s\n", flag, o->help);
        fprintf(out, "  %-34s env %s", "", env);
        if (o->def)
            fprintf(out, ", default %s", *o->def ? o->def : "\"\"");
        if (o->type == CM_OPT_INT)
            fprintf(out, ", %.0f..%.0f", o->min, o->max);
        else if (o->type == CM_OPT_DOUBLE)
            fprintf(out, ", %g..%g", o->min, o->max);
        fputc('\n', out);
    }
    fprintf(out, "  %-34s %s\n  %-34s %s\n", "-h, --help", "show this help and exit", "--version",
            "show the version and exit");
}

void cm_config_dump(const struct cm_config_spec *spec, const void *cfg, FILE *out)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct cm_opt *o = &spec->opts[i];
        const void *f = (const char *)cfg + o->offset;
        fprintf(out, "%s = ", o->name);
        switch (o->type) {
        case CM_OPT_STR: {
            const char *s = *(char *const *)f;
            char *red = s ? cm_redis_url_redact(s) : NULL;
            fprintf(out, "%s\n", red ? red : "");
            free(red);
            break;
        }
        case CM_OPT_INT: fprintf(out, "%d\n", *(const int *)f); break;
        case CM_OPT_DOUBLE: fprintf(out, "%g\n", *(const double *)f); break;
        case CM_OPT_BOOL: fprintf(out, "%s\n", *(const bool *)f ? "true" : "false"); break;
        case CM_OPT_ENUM: {
            int idx = *(const int *)f;
            const char *p = o->choices;
            for (int k = 0; k < idx && p; k++) {
                p = strchr(p, '|');
                p = p ? p + 1 : NULL;
            }
            fprintf(out, "%.*s\n", p ? (int)strcspn(p, "|") : 0, p ? p : "");
            break;
        }
        }
    }
}
