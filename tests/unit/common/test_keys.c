/* Tests common/keys.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "common/keys.h"

Test(common_keys, names_follow_the_design_table)
{
    char buf[128];
    cr_assert_eq(cm_key_fmt(buf, sizeof(buf), "zsa", CM_KEY_JOBS, NULL), 8);
    cr_assert_str_eq(buf, "zsa:jobs");
    cm_key_fmt(buf, sizeof(buf), "zsa", CM_KEY_ACTIVE, "w1");
    cr_assert_str_eq(buf, "zsa:active:w1");
    cm_key_fmt(buf, sizeof(buf), "lab2", CM_KEY_EVENTS, "s1");
    cr_assert_str_eq(buf, "lab2:events:s1");
    cm_key_fmt(buf, sizeof(buf), "zsa", CM_KEY_CHANNEL, "s1");
    cr_assert_str_eq(buf, "zsa:ch:s1");
    cm_key_fmt(buf, sizeof(buf), "zsa", CM_KEY_LEADER, NULL);
    cr_assert_str_eq(buf, "zsa:scheduler:leader");
    char *k = cm_key_new("zsa", CM_KEY_RESULT, "r9");
    cr_assert_str_eq(k, "zsa:result:r9");
    free(k);
}

Test(common_keys, id_presence_must_match_the_table)
{
    char buf[64];
    for (int kind = 0; kind < CM_KEY__COUNT; kind++) {
        const char *wrong = cm_key_has_id(kind) ? NULL : "x";
        cr_assert_eq(cm_key_fmt(buf, sizeof(buf), "zsa", kind, wrong), -EINVAL, "%s",
                     cm_key_name(kind));
    }
    cr_assert_eq(cm_key_fmt(buf, sizeof(buf), "zsa", CM_KEY__COUNT, NULL), -EINVAL);
}

Test(common_keys, too_small_buffer_is_an_error)
{
    char buf[8];
    cr_assert_eq(cm_key_fmt(buf, sizeof(buf), "zsa", CM_KEY_EVENTS, "session"), -ENAMETOOLONG);
}

Test(common_keys, prefix_check_names_the_rule)
{
    char err[128];
    cr_assert_eq(cm_key_prefix_check("zsa-prod", err, sizeof(err)), 0);
    cr_assert_eq(cm_key_prefix_check("bad prefix", err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "A-Za-z0-9"), "%s", err);
}
