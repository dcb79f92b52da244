/* Tests common/time.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/time.h"

Test(common_time, formats_utc_with_milliseconds)
{
    char buf[CM_RFC3339_LEN];
    cr_assert_str_eq(cm_time_rfc3339(0, buf), "1970-01-01T00:00:00.000Z");
    cr_assert_str_eq(cm_time_rfc3339(1764090000123, buf), "2025-11-25T17:00:00.123Z");
    cr_assert_str_eq(cm_time_rfc3339(951782400999, buf), "2000-02-29T00:00:00.999Z");
}

Test(common_time, parse_inverts_format)
{
    char buf[CM_RFC3339_LEN];
    for (int64_t ms = 0; ms < 4102444800000; ms += 86399999LL * 37 + 1) {
        int64_t back = -1;
        cm_time_rfc3339(ms, buf);
        cr_assert_eq(cm_time_parse_rfc3339(buf, strlen(buf), &back), 0, "%s", buf);
        cr_assert_eq(back, ms, "%s", buf);
    }
}

Test(common_time, parse_accepts_offsets_and_short_fractions)
{
    int64_t ms;
    const char *s = "2025-11-25T18:00:00.5+01:00";
    cr_assert_eq(cm_time_parse_rfc3339(s, strlen(s), &ms), 0);
    cr_assert_eq(ms, 1764090000500);
    s = "2025-11-25T17:00:00Z";
    cr_assert_eq(cm_time_parse_rfc3339(s, strlen(s), &ms), 0);
    cr_assert_eq(ms, 1764090000000);
}

Test(common_time, parse_rejects_malformed_dates)
{
    static const char *const bad[] = {
        "",
        "2025-11-25",
        "2025-11-25T17:00:00",
        "2025-13-01T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2025-11-31T00:00:00Z",
        "2025-11-25T24:00:00Z",
        "2025-11-25T17:00:00.Z",
        "2025-11-25T17:00:00Zjunk",
        "2025-11-25T17:00:00+1:00",
        "yesterday",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms;
        cr_assert_neq(cm_time_parse_rfc3339(bad[i], strlen(bad[i]), &ms), 0, "accepted %s", bad[i]);
    }
}

Test(common_time, monotonic_clock_does_not_go_back)
{
    int64_t a = cm_time_mono_ns(), b = cm_time_mono_ns();
    cr_assert_geq(b, a);
    cr_assert_gt(cm_time_now_ms(), 1700000000000);
}
