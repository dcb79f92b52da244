/* Algorithm parameter tables (analysis/params.h): the reader's types, ranges and defaults, and
 * every registered algorithm refusing a bad value of each parameter its table declares, by
 * name. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analysis/algo.h"
#include "analysis/params.h"
#include "proto/proto.h"

static struct pr_value obj(const char *json)
{
    struct pr_value v;
    struct pr_err e;
    cr_assert_eq(pr_value_parse_json(json, strlen(json), &v, &e), 0, "%s", json);
    return v;
}

static const struct za_param table[] = {
    {"n", ZA_P_NUM, 0, 10, NULL, 0, 2.5, "2.5", "a number"},
    {"i", ZA_P_INT, 2, 8, NULL, 0, 4, "4", "an integer"},
    {"c", ZA_P_INT, 6, 26, "6|26", 0, 26, "26", "choices"},
    {"b", ZA_P_BOOL, 0, 0, NULL, 0, 0, "false", "a flag"},
    {"m", ZA_P_CHOICE, 0, 0, "max|min", 0, 0, "\"max\"", "a method"},
    {"s", ZA_P_XYZ, 0, 100, NULL, 0, 1, "1", "a size"},
    {"l", ZA_P_NUMS, 0, 100, NULL, 3, NAN, "none", "a list"},
    {"t", ZA_P_CHOICE_OR_NUM, 0, 0, "otsu|li", 0, 0, "\"otsu\"", "a threshold"},
};
#define N ((int)(sizeof(table) / sizeof(table[0])))

Test(params, absent_parameters_take_their_defaults_and_present_ones_their_values)
{
    struct za_pval v[N];
    char err[200] = "";
    struct pr_value p = obj("{}");
    cr_assert_eq(za_params_read(table, N, &p, v, err, sizeof(err)), 0, "%s", err);
    cr_expect(!v[0].set && v[0].num == 2.5 && v[1].num == 4 && v[2].num == 26);
    cr_expect(!v[3].b && v[4].choice == 0 && v[5].xyz[2] == 1 && v[7].choice == 0);
    pr_value_deinit(&p);
    p = obj("{\"n\": 10, \"i\": 2, \"c\": 6, \"b\": true, \"m\": \"min\", \"s\": [1, 2, 3], "
            "\"l\": [0, 50.5, 100], \"t\": 12.5, \"note\": \"ignored\"}");
    cr_assert_eq(za_params_read(table, N, &p, v, err, sizeof(err)), 0, "%s", err);
    cr_expect(v[0].set && v[0].num == 10 && v[1].num == 2 && v[2].num == 6 && v[3].b);
    cr_expect(v[4].choice == 1 && v[5].xyz[0] == 1 && v[5].xyz[2] == 3);
    cr_expect(v[6].raw && v[6].raw->u.a.n == 3 && v[7].choice == -1 && v[7].num == 12.5);
    pr_value_deinit(&p);
    p = obj("{\"s\": 4, \"t\": \"li\"}");
    cr_assert_eq(za_params_read(table, N, &p, v, err, sizeof(err)), 0, "%s", err);
    cr_expect(v[5].xyz[0] == 4 && v[5].xyz[1] == 4 && v[5].xyz[2] == 4 && v[7].choice == 1);
    pr_value_deinit(&p);
}

Test(params, each_type_refuses_what_it_does_not_accept_and_says_what_it_does)
{
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"n\": 10.5}", "n: a number from 0 to 10"},
        {"{\"n\": \"3\"}", "n: a number from 0 to 10"},
        {"{\"n\": null}", "n: a number from 0 to 10"},
        {"{\"i\": 3.5}", "i: an integer from 2 to 8"},
        {"{\"i\": 9}", "i: an integer from 2 to 8"},
        {"{\"c\": 8}", "c: 6 or 26"},
        {"{\"b\": 1}", "b: true or false"},
        {"{\"m\": \"mean\"}", "m: \"max\" or \"min\""},
        {"{\"s\": [1, 2]}", "s: a number or [x, y, z] from 0 to 100"},
        {"{\"s\": [1, 2, 300]}", "s: a number or [x, y, z] from 0 to 100"},
        {"{\"l\": [1, 2, 3, 4]}", "l: up to 3 numbers from 0 to 100"},
        {"{\"l\": [1, \"2\"]}", "l: up to 3 numbers from 0 to 100"},
        {"{\"t\": \"median\"}", "t: \"otsu\", \"li\" or a number"},
        {"{\"t\": true}", "t: \"otsu\", \"li\" or a number"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        struct pr_value p = obj(bad[k].json);
        struct za_pval v[N];
        char err[200] = "";
        cr_expect_eq(za_params_read(table, N, &p, v, err, sizeof(err)), -1, "%s", bad[k].json);
        cr_expect_str_eq(err, bad[k].msg, "%s", bad[k].json);
        pr_value_deinit(&p);
    }
}

/* A value the parameter does not accept: a string for numbers, a number for the rest. */
static const char *wrong_value(const struct za_param *ps)
{
    switch (ps->type) {
    case ZA_P_CHOICE:
    case ZA_P_BOOL: return "12345";
    case ZA_P_CHOICE_OR_NUM: return "\"no-such-choice\"";
    default: return "\"not a number\"";
    }
}

Test(params, every_algorithm_refuses_a_bad_value_of_each_declared_parameter_by_name)
{
    int checked = 0;
    for (size_t i = 0; za_algo_at(i); i++) {
        const struct za_algo *a = za_algo_at(i);
        cr_assert(a->params && a->nparams > 0 && a->check && a->input_doc, "%s", a->name);
        for (int k = 0; k < a->nparams; k++) {
            const struct za_param *ps = &a->params[k];
            cr_expect(ps->doc[0] && ps->def_doc[0], "%s.%s: undocumented", a->name, ps->name);
            for (int j = 0; j < k; j++)
                cr_expect_str_neq(ps->name, a->params[j].name, "%s: %s twice", a->name, ps->name);
            char json[160], err[256] = "";
            snprintf(json, sizeof(json), "{\"%s\": %s}", ps->name, wrong_value(ps));
            struct pr_value p = obj(json);
            cr_expect_neq(a->check(&p, err, sizeof(err)), 0, "%s accepted %s", a->name, json);
            cr_expect_eq(strncmp(err, ps->name, strlen(ps->name)), 0, "%s %s: \"%s\"", a->name,
                         json, err);
            pr_value_deinit(&p);
            checked++;
        }
        struct pr_value none = obj("{}");
        char err[256] = "";
        cr_expect_eq(a->check(&none, err, sizeof(err)), 0, "%s: defaults refused: %s", a->name,
                     err);
        pr_value_deinit(&none);
    }
    cr_expect_geq(checked, 20);
}

Test(params, cross_parameter_checks_stay_with_the_algorithm)
{
    const struct za_algo *seg = za_algo_find("segmentation_3d");
    char err[256] = "";
    struct pr_value p = obj("{\"min_volume\": 10, \"max_volume\": 5}");
    cr_expect_neq(seg->check(&p, err, sizeof(err)), 0);
    cr_expect(strstr(err, "min <= max"), "%s", err);
    pr_value_deinit(&p);
    p = obj("{\"background_sigma\": [1, 2, 3]}");
    cr_expect_neq(seg->check(&p, err, sizeof(err)), 0);
    pr_value_deinit(&p);
    const struct za_algo *sim = za_algo_find("simulate");
    p = obj("{\"duration_seconds\": 100000}");
    cr_expect_neq(sim->check(&p, err, sizeof(err)), 0);
    cr_expect(strstr(err, "--max-simulate-s"), "%s", err);
    pr_value_deinit(&p);
}
