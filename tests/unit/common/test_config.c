/* Tests common/config.c: defaults < environment < flags, validation naming the option, --help. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

struct t_cfg {
    char *name;
    int count;
    double ratio;
    bool flag;
    int level;
};

static const struct cm_opt t_opts[] = {
    {"name", CM_OPT_STR, offsetof(struct t_cfg, name), "default-name", 0, 0, NULL, NULL, "a name"},
    {"count", CM_OPT_INT, offsetof(struct t_cfg, count), "3", 1, 10, NULL, NULL, "a count"},
    {"ratio", CM_OPT_DOUBLE, offsetof(struct t_cfg, ratio), "0.5", 0, 1, NULL, NULL, "a ratio"},
    {"flag", CM_OPT_BOOL, offsetof(struct t_cfg, flag), "false", 0, 0, NULL, NULL, "a flag"},
    {"level", CM_OPT_ENUM, offsetof(struct t_cfg, level), "info", 0, 0, "error|warn|info|debug",
     NULL, "a level"},
};
static const struct cm_config_spec t_spec = {"zsa-test", "test program", t_opts, 5};

static int load(struct t_cfg *c, int argc, const char **argv, char *err)
{
    memset(c, 0, sizeof(*c));
    FILE *devnull = fopen("/dev/null", "w");
    int rc = cm_config_load(&t_spec, c, argc, (char **)argv, devnull, err, 256);
    fclose(devnull);
    return rc;
}

Test(common_config, defaults_apply_without_env_or_flags)
{
    struct t_cfg c;
    char err[256];
    const char *argv[] = {"p"};
    cr_assert_eq(load(&c, 1, argv, err), 0);
    cr_assert_str_eq(c.name, "default-name");
    cr_assert_eq(c.count, 3);
    cr_assert_float_eq(c.ratio, 0.5, 1e-12);
    cr_assert_eq(c.flag, false);
    cr_assert_eq(c.level, 2);
    cm_config_deinit(&t_spec, &c);
}

Test(common_config, env_overrides_default_and_flag_overrides_env)
{
    struct t_cfg c;
    char err[256];
    setenv("ZSA_NAME", "from-env", 1);
    setenv("ZSA_COUNT", "7", 1);
    setenv("ZSA_FLAG", "yes", 1);
    const char *argv1[] = {"p"};
    cr_assert_eq(load(&c, 1, argv1, err), 0, "%s", err);
    cr_assert_str_eq(c.name, "from-env");
    cr_assert_eq(c.count, 7);
    cr_assert_eq(c.flag, true);
    cm_config_deinit(&t_spec, &c);

    const char *argv2[] = {"p", "--name", "from-flag", "--count=9", "--no-flag"};
    cr_assert_eq(load(&c, 5, argv2, err), 0, "%s", err);
    cr_assert_str_eq(c.name, "from-flag");
    cr_assert_eq(c.count, 9);
    cr_assert_eq(c.flag, false);
    cm_config_deinit(&t_spec, &c);
}

Test(common_config, bad_flag_value_names_the_option_and_the_range)
{
    struct t_cfg c;
    char err[256];
    const char *argv[] = {"p", "--count", "11"};
    cr_assert_eq(load(&c, 3, argv, err), -EINVAL);
    cr_assert(strstr(err, "--count"), "%s", err);
    cr_assert(strstr(err, "1 to 10"), "%s", err);
    cr_assert(strstr(err, "\"11\""), "%s", err);
    cm_config_deinit(&t_spec, &c);
}

Test(common_config, bad_env_value_names_the_variable_and_the_option)
{
    struct t_cfg c;
    char err[256];
    setenv("ZSA_RATIO", "1.5", 1);
    const char *argv[] = {"p"};
    cr_assert_eq(load(&c, 1, argv, err), -EINVAL);
    cr_assert(strstr(err, "ZSA_RATIO"), "%s", err);
    cr_assert(strstr(err, "--ratio"), "%s", err);
    cm_config_deinit(&t_spec, &c);
}

Test(common_config, rejects_non_numbers_nan_and_unknown_choices)
{
    struct t_cfg c;
    char err[256];
    const char *cases[][3] = {
        {"p", "--count", "3x"},
        {"p", "--count", ""},
        {"p", "--ratio", "nan"},
        {"p", "--ratio", "inf"},
        {"p", "--level", "loud"},
        {"p", "--flag=maybe", NULL},
        {"p", "--count", "99999999999999999999"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int argc = cases[i][2] ? 3 : 2;
        cr_assert_eq(load(&c, argc, cases[i], err), -EINVAL, "case %zu accepted", i);
        cr_assert(strstr(err, "--"), "case %zu: error does not name the option: %s", i, err);
        cm_config_deinit(&t_spec, &c);
    }
}

Test(common_config, unknown_option_missing_value_and_stray_argument_are_errors)
{
    struct t_cfg c;
    char err[256];
    const char *a1[] = {"p", "--nope"};
    cr_assert_eq(load(&c, 2, a1, err), -EINVAL);
    cr_assert(strstr(err, "unknown option --nope"), "%s", err);
    cm_config_deinit(&t_spec, &c);
    const char *a2[] = {"p", "--count"};
    cr_assert_eq(load(&c, 2, a2, err), -EINVAL);
    cr_assert(strstr(err, "--count: missing value"), "%s", err);
    cm_config_deinit(&t_spec, &c);
    const char *a3[] = {"p", "stray"};
    cr_assert_eq(load(&c, 2, a3, err), -EINVAL);
    cr_assert(strstr(err, "stray"), "%s", err);
    cm_config_deinit(&t_spec, &c);
}

Test(common_config, help_lists_every_option_with_its_env_and_default)
{
    struct t_cfg c = {0};
    char err[256];
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    const char *argv[] = {"p", "--count", "bad", "--help"};
    cr_assert_eq(cm_config_load(&t_spec, &c, 4, (char **)argv, out, err, sizeof(err)),
                 CM_CONFIG_HELP, "--help must win over a bad value");
    fclose(out);
    for (size_t i = 0; i < t_spec.nopts; i++) {
        char env[64], flag[64];
        cm_config_env_name(&t_opts[i], env, sizeof(env));
        snprintf(flag, sizeof(flag), "--%s", t_opts[i].name);
        cr_assert(strstr(text, flag), "help lacks %s", flag);
        cr_assert(strstr(text, env), "help lacks %s", env);
        cr_assert(strstr(text, t_opts[i].def), "help lacks the default of %s", flag);
    }
    free(text);
    cm_config_deinit(&t_spec, &c);
}

Test(common_config, env_name_is_derived_from_the_flag)
{
    struct cm_opt o = {.name = "redis-timeout-ms"};
    char env[64];
    cm_config_env_name(&o, env, sizeof(env));
    cr_assert_str_eq(env, "ZSA_REDIS_TIMEOUT_MS");
}

Test(common_config, dump_redacts_passwords)
{
    struct t_cfg c;
    char err[256];
    const char *argv[] = {"p", "--name", "redis://:hunter2@db:6379/1"};
    cr_assert_eq(load(&c, 3, argv, err), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cm_config_dump(&t_spec, &c, out);
    fclose(out);
    cr_assert(!strstr(text, "hunter2"), "%s", text);
    cr_assert(strstr(text, "name = redis://:***@db:6379/1"), "%s", text);
    cr_assert(strstr(text, "level = info"), "%s", text);
    free(text);
    cm_config_deinit(&t_spec, &c);
}
