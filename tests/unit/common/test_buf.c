/* Tests common/buf.c: growth, JSON string escaping, shortest round-trip doubles. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

Test(common_buf, grows_and_stays_nul_terminated)
{
    struct cm_buf b = CM_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        cm_buf_printf(&b, "%d,", i);
    cr_assert_eq(b.len, strlen(b.data));
    cr_assert(strncmp(b.data, "0,1,2,", 6) == 0);
    cm_buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(b.data, "");
    char *s = cm_buf_steal(&b);
    cr_assert_str_eq(s, "");
    cr_assert_null(b.data);
    free(s);
}

Test(common_buf, json_strings_escape_quotes_backslashes_and_controls)
{
    struct cm_buf b = CM_BUF_INIT;
    const char in[] = "a\"b\\c\n\t\x01\x1f\0z\xc3\xbc/";
    cm_buf_append_json_str(&b, in, sizeof(in) - 1);
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\\u0000z\xc3\xbc/\"");
    cm_buf_deinit(&b);
}

Test(common_buf, doubles_are_shortest_and_read_back_exactly)
{
    static const double vals[] = {0.0, 45.5, 0.1, 1.0 / 3.0, 78.5, 1e-300, DBL_MAX, -2.5e17,
                                  123456789.123456789, 5e-324};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_append_double(&b, vals[i], false);
        cr_assert_eq(strtod(b.data, NULL), vals[i], "%s", b.data);
        cm_buf_deinit(&b);
    }
    struct cm_buf b = CM_BUF_INIT;
    cm_buf_append_double(&b, 45.5, false);
    cr_assert_str_eq(b.data, "45.5");
    cm_buf_reset(&b);
    cm_buf_append_double(&b, 5.0, false);
    cr_assert_str_eq(b.data, "5");
    cm_buf_reset(&b);
    cm_buf_append_double(&b, 5.0, true);
    cr_assert_str_eq(b.data, "5.0", "a float must read back as a float");
    cm_buf_reset(&b);
    cm_buf_append_double(&b, 1e300, true);
    cr_assert_str_eq(b.data, "1e+300");
    cm_buf_deinit(&b);
}
