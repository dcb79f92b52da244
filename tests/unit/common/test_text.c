/* Tests common/text.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/text.h"

Test(common_text, accepts_valid_utf8)
{
    const char *ok[] = {
        "", "ascii", "Zellkern ü", "日本語", "\xf0\x9f\x94\xac microscope", "\xef\xbf\xbf"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert(cm_utf8_valid(ok[i], strlen(ok[i]), NULL), "rejected #%zu", i);
}

Test(common_text, rejects_invalid_utf8_and_reports_the_offset)
{
    static const struct {
        const char *s;
        size_t bad;
    } cases[] = {
        {"ab\xff", 2},
        {"\xc3", 0},
        {"x\xc0\xaf", 1},        /* overlong '/' */
        {"\xed\xa0\x80", 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 0}, /* > U+10FFFF */
        {"ok\xe2\x82", 2},       /* truncated */
        {"\x80", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t at = 999;
        cr_assert(!cm_utf8_valid(cases[i].s, strlen(cases[i].s), &at), "accepted #%zu", i);
        cr_assert_eq(at, cases[i].bad, "#%zu: offset %zu", i, at);
    }
}

Test(common_text, ids_are_limited_to_key_safe_characters)
{
    cr_assert(cm_id_valid("job-1.a_b:c", 11, 128));
    cr_assert(!cm_id_valid("", 0, 128));
    cr_assert(!cm_id_valid("a b", 3, 128));
    cr_assert(!cm_id_valid("a*", 2, 128));
    cr_assert(!cm_id_valid("abc", 3, 2));
    cr_assert(!cm_id_valid("\xc3\xbc", 2, 128));
}
