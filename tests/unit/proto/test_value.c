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
