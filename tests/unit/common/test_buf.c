/* Tests common/buf.c: growth, JSON string escaping, shortest round-trip doubles. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
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
    static const double vals[] = {0.0,    45.5,    0.1,     1.0 / 3.0,           78.5,
                                  1e-300, DBL_MAX, -2.5e17, 123456789.123456789, 5e-324};
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

Test(common_buf, every_double_reads_back_exactly_with_at_most_17_digits)
{
    unsigned seed = 12345;
    struct cm_buf b = CM_BUF_INIT;
    for (int i = 0; i < 200000; i++) {
        double v;
        switch (i % 4) {
        case 0: v = (double)(rand_r(&seed) % 2000001 - 1000000) / 100.0; break; /* 2 decimals */
        case 1: v = (double)rand_r(&seed) / (double)(rand_r(&seed) | 1); break; /* anything */
        case 2: v = ldexp((double)rand_r(&seed), rand_r(&seed) % 200 - 100); break;
        default: v = (double)(rand_r(&seed) % 100000) * 1e-7; break; /* small decimals */
        }
        for (int keep = 0; keep <= 1; keep++) {
            cm_buf_reset(&b);
            cm_buf_append_double(&b, v, keep);
            char *end;
            cr_assert_eq(strtod(b.data, &end), v, "%.17g printed as %s", v, b.data);
            cr_assert_eq(*end, '\0');
            int digits = 0; /* significant digits: from the first non-zero one */
            bool started = false;
            for (const char *p = b.data; *p && *p != 'e'; p++) {
                started = started || (*p >= '1' && *p <= '9');
                digits += started && *p >= '0' && *p <= '9';
            }
            cr_assert_leq(digits, 17 + (keep ? 1 : 0), "%s has more than 17 digits", b.data);
            if (keep)
                cr_assert(strpbrk(b.data, ".e"), "%s would read back as an integer", b.data);
        }
    }
    cm_buf_reset(&b);
    cm_buf_append_double(&b, -0.0731, false);
    cr_assert_str_eq(b.data, "-0.0731");
    cm_buf_reset(&b);
    cm_buf_append_double(&b, 311.25, false);
    cr_assert_str_eq(b.data, "311.25");
    cm_buf_deinit(&b);
}

Test(buf, sig_digits_match_printf_g_to_the_last_digit)
{
    unsigned seed = 5;
    for (int i = 0; i < 200000; i++) {
        seed = seed * 1103515245u + 12345u;
        double mant = (double)(seed >> 8) / (double)(1u << 24) * 10;
        int ex = (int)(seed % 24) - 6, sig = 1 + (int)(seed % 12);
        double v = mant * pow(10, ex) * ((seed >> 5) & 1 ? -1 : 1);
        if (i % 7 == 0)
            v = round(v); /* integers */
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_append_sig(&b, v, sig);
        char ref[64];
        snprintf(ref, sizeof(ref), "%.*g", sig, v);
        double got = strtod(b.data, NULL), want = strtod(ref, NULL);
        cr_assert(strchr(b.data, 'e') == NULL || fabs(v) < 1e-4 || fabs(v) >= 1e15, "%s", b.data);
        cr_assert_leq(fabs(got - want), fabs(want) * pow(10, 1 - sig) * 1.0000001 + 1e-300,
                      "%.17g with %d digits: %s, printf %s", v, sig, b.data, ref);
        cm_buf_deinit(&b);
    }
}

/* Doubles beyond long long's range print without an out-of-range conversion (undefined; UBSan
 * aborts this test on a regression), found by tests/fuzz/fuzz_json. */
Test(common_buf, huge_doubles_print_without_undefined_conversions)
{
    static const double vals[] = {7.77111e+32, -7.77111e+32, 1e300, 9.3e18, -9.3e18, 1.8e19};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_append_double(&b, vals[i], false);
        cr_assert_eq(strtod(b.data, NULL), vals[i], "%s", b.data);
        cm_buf_deinit(&b);
    }
}
