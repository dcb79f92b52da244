/* Tests proto/value.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/value.h"
#include "tests/harness/proto_samples.h"

Test(proto_value, set_replaces_existing_keys_and_keeps_order)
{
    struct pr_value *o = pr_value_new_object();
    pr_value_set(o, "b", pr_value_int(1));
    pr_value_set(o, "a", pr_value_str("x"));
    pr_value_set(o, "b", pr_value_double(2.5));
    cr_assert_eq(o->u.o.n, 2);
    cr_assert_str_eq(o->u.o.m[0].key, "b");
    cr_assert_eq(pr_value_get(o, "b")->type, PR_V_DOUBLE);
    cr_assert_null(pr_value_get(o, "c"));
    pr_value_free(o);
}

Test(proto_value, clone_is_deep_and_equal)
{
    struct pr_value *o = th_sample_object();
    struct pr_value *c = pr_value_clone(o);
    cr_assert(pr_value_equal(o, c));
    pr_value_set(c, "count", pr_value_int(0));
    cr_assert(!pr_value_equal(o, c));
    cr_assert_eq(pr_value_get(o, "count")->u.i, -42);
    pr_value_free(o);
    pr_value_free(c);
    pr_value_free(NULL);
}

Test(proto_value, int_and_double_are_different_values)
{
    struct pr_value a = pr_value_int(2), b = pr_value_double(2.0);
    cr_assert(!pr_value_equal(&a, &b));
}

Test(value, command_line_parameters_are_json_when_they_parse)
{
    struct pr_value *o = pr_value_new_object();
    cr_assert_eq(pr_value_set_param(o, "sigma=[1,1,2]"), 0);
    cr_assert_eq(pr_value_set_param(o, "threshold=otsu"), 0);
    cr_assert_eq(pr_value_set_param(o, "split=true"), 0);
    cr_assert_eq(pr_value_set_param(o, "n=2"), 0);
    cr_assert_eq(pr_value_set_param(o, "empty="), 0);
    cr_expect_eq(pr_value_set_param(o, "=1"), -1);
    cr_expect_eq(pr_value_set_param(o, "novalue"), -1);
    const struct pr_value *v = pr_value_get(o, "sigma");
    cr_expect(v && v->type == PR_V_ARRAY && v->u.a.n == 3);
    v = pr_value_get(o, "threshold");
    cr_expect(v && v->type == PR_V_STR && strcmp(v->u.s.p, "otsu") == 0);
    v = pr_value_get(o, "split");
    cr_expect(v && v->type == PR_V_BOOL && v->u.b);
    v = pr_value_get(o, "n");
    cr_expect(v && v->type == PR_V_INT && v->u.i == 2);
    v = pr_value_get(o, "empty");
    cr_expect(v && v->type == PR_V_STR && v->u.s.len == 0);
    pr_value_free(o);
}
