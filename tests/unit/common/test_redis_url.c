/* Tests common/redis_url.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "common/redis_url.h"

Test(common_redis_url, parses_host_port_db_and_password)
{
    struct cm_redis_url u;
    char err[128];
    cr_assert_eq(cm_redis_url_parse("redis://:p%40ss@example.org:6380/3", &u, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_str_eq(u.host, "example.org");
    cr_assert_eq(u.port, 6380);
    cr_assert_eq(u.db, 3);
    cr_assert_str_eq(u.password, "p@ss");
    cr_assert_null(u.username);
    cr_assert_null(u.path);
    cm_redis_url_deinit(&u);
}

Test(common_redis_url, defaults_port_6379_and_db_0)
{
    struct cm_redis_url u;
    char err[128];
    cr_assert_eq(cm_redis_url_parse("redis://localhost", &u, err, sizeof(err)), 0);
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 0);
    cr_assert_null(u.password);
    cm_redis_url_deinit(&u);
}

Test(common_redis_url, parses_user_ipv6_and_unix_socket)
{
    struct cm_redis_url u;
    char err[128];
    cr_assert_eq(cm_redis_url_parse("redis://alice:pw@[::1]:7000/2", &u, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_str_eq(u.username, "alice");
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 7000);
    char *d = cm_redis_url_describe(&u);
    cr_assert_str_eq(d, "[::1]:7000/2");
    free(d);
    cm_redis_url_deinit(&u);

    cr_assert_eq(cm_redis_url_parse("unix:///run/redis.sock?db=5", &u, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_str_eq(u.path, "/run/redis.sock");
    cr_assert_null(u.host);
    cr_assert_eq(u.db, 5);
    cm_redis_url_deinit(&u);

    cr_assert_eq(cm_redis_url_parse("unix://:pw@/tmp/r.sock", &u, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(u.path, "/tmp/r.sock");
    cr_assert_str_eq(u.password, "pw");
    cm_redis_url_deinit(&u);
}

Test(common_redis_url, rejects_malformed_urls_with_a_reason)
{
    static const struct {
        const char *url, *reason;
    } cases[] = {
        {"http://localhost", "must start with"},
        {"redis://", "missing host"},
        {"redis://host:0", "port"},
        {"redis://host:70000", "port"},
        {"redis://host:12ab", "port"},
        {"redis://host/x", "database"},
        {"redis://host/-1", "database"},
        {"redis://pw@host", "credentials"},
        {"redis://:%zz@host", "escape"},
        {"redis://[::1", "unterminated"},
        {"unix://relative.sock", "absolute"},
        {"unix:///tmp/s?db=x", "db=N"},
        {"localhost:6379", "must start with"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cm_redis_url u;
        char err[128] = "";
        cr_assert_eq(cm_redis_url_parse(cases[i].url, &u, err, sizeof(err)), -EINVAL, "%s accepted",
                     cases[i].url);
        cr_assert(strstr(err, cases[i].reason), "%s: %s", cases[i].url, err);
        cm_redis_url_deinit(&u);
    }
}

Test(common_redis_url, redact_hides_only_the_password)
{
    char *r = cm_redis_url_redact("redis://bob:secret@h:1/0");
    cr_assert_str_eq(r, "redis://bob:***@h:1/0");
    free(r);
    r = cm_redis_url_redact("redis://h:1/0");
    cr_assert_str_eq(r, "redis://h:1/0");
    free(r);
    r = cm_redis_url_redact("/not/a/url");
    cr_assert_str_eq(r, "/not/a/url");
    free(r);
}
