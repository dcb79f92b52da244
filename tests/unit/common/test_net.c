/* Tests common/net.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "common/net.h"

Test(common_net, parses_host_port_forms)
{
    char host[64], err[128];
    int port;
    cr_assert_eq(cm_hostport_parse("127.0.0.1:8080", host, sizeof(host), &port, err, sizeof(err)),
                 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 8080);
    cr_assert_eq(cm_hostport_parse(":9000", host, sizeof(host), &port, err, sizeof(err)), 0);
    cr_assert_str_eq(host, "");
    cr_assert_eq(port, 9000);
    cr_assert_eq(cm_hostport_parse("[::1]:443", host, sizeof(host), &port, err, sizeof(err)), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(cm_hostport_parse("127.0.0.1:0", host, sizeof(host), &port, err, sizeof(err)), 0);
    cr_assert_eq(port, 0, "port 0 asks for any free port");
}

Test(common_net, rejects_bad_addresses_with_a_reason)
{
    const char *bad[] = {"8080", "host:", "host:-1", "host:65536", "host:80x", "::1:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char host[64], err[128] = "";
        int port;
        cr_assert_eq(cm_hostport_parse(bad[i], host, sizeof(host), &port, err, sizeof(err)),
                     -EINVAL, "accepted %s", bad[i]);
        cr_assert_neq(err[0], '\0');
    }
}
