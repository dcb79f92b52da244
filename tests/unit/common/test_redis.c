/* Tests the parts of common/redis.c that need no server (the rest is in
 * tests/integration/test_redis_harness.c): reconnect backoff and reply names. */
#include <criterion/criterion.h>

#include "common/redis.h"

Test(common_redis, backoff_doubles_with_jitter_up_to_the_cap)
{
    struct cm_backoff b;
    cm_backoff_init(&b, 100, 2000, 42);
    int bounds[] = {100, 200, 400, 800, 1600, 2000, 2000, 2000};
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        int d = cm_backoff_next(&b);
        cr_assert(d >= bounds[i] / 2 && d <= bounds[i], "step %zu: %d not in [%d, %d]", i, d,
                  bounds[i] / 2, bounds[i]);
    }
    cm_backoff_reset(&b);
    int d = cm_backoff_next(&b);
    cr_assert(d >= 50 && d <= 100, "after reset: %d", d);
}

Test(common_redis, backoff_jitter_spreads_clients)
{
    struct cm_backoff a, b;
    cm_backoff_init(&a, 1000, 30000, 1);
    cm_backoff_init(&b, 1000, 30000, 2);
    int same = 0;
    for (int i = 0; i < 20; i++)
        same += cm_backoff_next(&a) == cm_backoff_next(&b);
    cr_assert_lt(same, 5, "two clients with different seeds retried in lock step");
}

Test(common_redis, reply_type_names)
{
    cr_assert_str_eq(cm_redis_reply_type_name(REDIS_REPLY_STRING), "string");
    cr_assert_str_eq(cm_redis_reply_type_name(REDIS_REPLY_ERROR), "error");
    cr_assert_str_eq(cm_redis_reply_type_name(999), "unknown");
}
