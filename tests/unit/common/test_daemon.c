/* The daemons' shared stop-signal policy (common/daemon.c). */
#include <criterion/criterion.h>
#include <signal.h>

#include "common/daemon.h"

Test(daemon, the_first_stop_signal_starts_a_stop_and_a_duplicate_at_once_is_ignored)
{
    int64_t first = 0;
    cr_expect(cm_stop_signal(SIGTERM, &first, 5000, ""));
    cr_expect_eq(first, 5000);
    cr_expect_not(cm_stop_signal(SIGTERM, &first, 5999, "")); /* the same signal, passed on */
    cr_expect_eq(first, 5000);
}

Test(daemon, a_later_stop_signal_exits_at_once, .exit_code = 1)
{
    int64_t first = 0;
    cr_assert(cm_stop_signal(SIGINT, &first, 1000, ""));
    cm_stop_signal(SIGINT, &first, 2500, "(held jobs stay in zsa:active:w1)");
    cr_assert_fail("still running after a second signal");
}
