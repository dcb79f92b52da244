/* Integration: the Redis test harness (tests/harness/redis_server.c) and the Redis-client helper
 * layer (common/redis.c) against a real redis-server. */
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/redis.h"
#include "common/time.h"
#include "tests/harness/redis_server.h"

static bool dir_exists(const char *d)
{
    struct stat st;
    return stat(d, &st) == 0 && S_ISDIR(st.st_mode);
}

/* True once pid is gone or a zombie nobody has reaped yet. */
static bool pid_dead(pid_t pid)
{
    char path[64], state = '?';
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    int ok = fscanf(f, "%*d %*s %c", &state);
    fclose(f);
    return ok == 1 && (state == 'Z' || state == 'X');
}

static bool wait_dead(pid_t pid, int ms)
{
    int64_t deadline = cm_time_mono_ms() + ms;
    while (cm_time_mono_ms() < deadline) {
        if (pid_dead(pid))
            return true;
        usleep(5000);
    }
    return pid_dead(pid);
}

Test(harness_redis, starts_a_private_server_and_removes_it_on_stop)
{
    struct th_redis r = {0};
    cr_assert_eq(th_redis_start(&r), 0);
    cr_assert_gt(r.pid, 0);
    cr_assert(dir_exists(r.dir));
    redisContext *c = th_redis_connect(&r);
    cr_assert_not_null(c);
    freeReplyObject(th_cmd(c, "SET k v"));
    redisReply *rep = th_cmd(c, "GET k");
    cr_assert_str_eq(rep->str, "v");
    freeReplyObject(rep);
    rep = th_cmd(c, "CONFIG GET dir");
    cr_assert_eq(rep->elements, 2);
    char real[512];
    cr_assert_not_null(realpath(r.dir, real));
    cr_assert_str_eq(rep->element[1]->str, real, "the server must work in its private dir");
    freeReplyObject(rep);
    redisFree(c);
    pid_t pid = r.pid;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", r.dir);
    th_redis_stop(&r);
    cr_assert(pid_dead(pid));
    cr_assert(!dir_exists(dir));
    th_redis_stop(&r); /* twice is harmless */
}

Test(harness_redis, two_servers_are_independent)
{
    struct th_redis a = {0}, b = {0};
    cr_assert_eq(th_redis_start(&a), 0);
    cr_assert_eq(th_redis_start(&b), 0);
    cr_assert_neq(a.port, b.port);
    redisContext *ca = th_redis_connect(&a), *cb = th_redis_connect(&b);
    freeReplyObject(th_cmd(ca, "SET only-a 1"));
    redisReply *rep = th_cmd(cb, "EXISTS only-a");
    cr_assert_eq(rep->integer, 0);
    freeReplyObject(rep);
    redisFree(ca);
    redisFree(cb);
    th_redis_stop(&a);
    th_redis_stop(&b);
}

/* Runs how() in a child that starts a server and then ends without calling th_redis_stop. */
static void child_leaves(void (*how)(void), pid_t *server, char *dir, size_t dirlen)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t child = fork();
    if (child == 0) {
        static struct th_redis r;
        close(fds[0]);
        if (th_redis_start(&r) != 0)
            _exit(99);
        dprintf(fds[1], "%d %s\n", (int)r.pid, r.dir);
        close(fds[1]);
        how();
        _exit(98);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    int pid = 0;
    cr_assert_eq(fscanf(f, "%d %255s", &pid, dir), 2, "child did not start a server");
    (void)dirlen;
    fclose(f);
    *server = pid;
    int status;
    waitpid(child, &status, 0);
}

static void crash(void)
{
    signal(SIGABRT, SIG_DFL);
    abort();
}

static void fail_and_exit(void)
{
    exit(1); /* what a failed assertion outside Criterion's fini amounts to */
}

Test(harness_redis, server_dies_when_the_test_process_crashes)
{
    pid_t server;
    char dir[256];
    child_leaves(crash, &server, dir, sizeof(dir));
    cr_assert(wait_dead(server, 5000), "redis-server %d outlived its crashed test", (int)server);
    /* the next start sweeps the dir the crashed process could not remove */
    struct th_redis r = {0};
    cr_assert_eq(th_redis_start(&r), 0);
    cr_assert(!dir_exists(dir), "stale dir %s not swept", dir);
    th_redis_stop(&r);
}

Test(harness_redis, server_is_stopped_when_the_test_exits_without_cleanup)
{
    pid_t server;
    char dir[256];
    child_leaves(fail_and_exit, &server, dir, sizeof(dir));
    cr_assert(wait_dead(server, 5000));
    cr_assert(!dir_exists(dir), "atexit handler left %s", dir);
}

Test(harness_redis, restart_with_aof_keeps_the_data)
{
    struct th_redis r = {.aof = true};
    cr_assert_eq(th_redis_start(&r), 0);
    redisContext *c = th_redis_connect(&r);
    freeReplyObject(th_cmd(c, "RPUSH zsa:jobs a b"));
    redisFree(c);
    int port = r.port;
    cr_assert_eq(th_redis_restart(&r), 0);
    cr_assert_eq(r.port, port);
    c = th_redis_connect(&r);
    redisReply *rep = th_cmd(c, "LLEN zsa:jobs");
    cr_assert_eq(rep->integer, 2);
    freeReplyObject(rep);
    redisFree(c);
    th_redis_stop(&r);
}

Test(common_redis, connect_authenticates_and_selects_the_database)
{
    struct th_redis r = {0};
    cr_assert_eq(th_redis_start(&r), 0);
    redisContext *admin = th_redis_connect(&r);
    freeReplyObject(th_cmd(admin, "CONFIG SET requirepass s3cret"));

    char url[128], err[256];
    struct cm_redis_url u;
    snprintf(url, sizeof(url), "redis://:s3cret@127.0.0.1:%d/3", r.port);
    cr_assert_eq(cm_redis_url_parse(url, &u, err, sizeof(err)), 0);
    redisContext *c = cm_redis_connect(&u, 2000, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    redisReply *rep = cm_redis_cmd(c, REDIS_REPLY_STATUS, err, sizeof(err), "SET in-db-3 x");
    cr_assert_not_null(rep, "%s", err);
    freeReplyObject(rep);
    cr_assert_null(cm_redis_cmd(c, REDIS_REPLY_INTEGER, err, sizeof(err), "GET in-db-3"));
    cr_assert(strstr(err, "expected a reply of type integer, got string"), "%s", err);
    redisFree(c);
    cm_redis_url_deinit(&u);

    freeReplyObject(th_cmd(admin, "AUTH s3cret"));
    freeReplyObject(th_cmd(admin, "SELECT 3"));
    rep = th_cmd(admin, "EXISTS in-db-3");
    cr_assert_eq(rep->integer, 1, "SELECT 3 was not applied");
    freeReplyObject(rep);

    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d/0", r.port);
    cm_redis_url_parse(url, &u, err, sizeof(err));
    cr_assert_null(cm_redis_connect(&u, 2000, err, sizeof(err)));
    cr_assert(strstr(err, "AUTH"), "%s", err);
    cm_redis_url_deinit(&u);
    redisFree(admin);
    th_redis_stop(&r);
}

Test(common_redis, connect_to_a_closed_port_says_refused)
{
    struct th_redis r = {0};
    cr_assert_eq(th_redis_start(&r), 0);
    int port = r.port;
    th_redis_stop(&r); /* the port is now closed */
    char url[128], err[256];
    struct cm_redis_url u;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    cm_redis_url_parse(url, &u, err, sizeof(err));
    cr_assert_null(cm_redis_connect(&u, 500, err, sizeof(err)));
    cr_assert(strstr(err, "Connection refused"), "%s", err);
    cr_assert(strstr(err, "127.0.0.1"), "the error must say where: %s", err);
    cm_redis_url_deinit(&u);
}

struct async_state {
    struct event_base *base;
    int replies;
    char last[64];
};

static void handshake_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct async_state *st = priv;
    redisReply *r = reply;
    st->replies++;
    snprintf(st->last, sizeof(st->last), "%s", r ? (r->str ? r->str : "?") : "null");
    redisAsyncDisconnect(ac);
}

Test(common_redis, async_handshake_on_a_libevent_loop)
{
    struct th_redis r = {0};
    cr_assert_eq(th_redis_start(&r), 0);
    redisContext *admin = th_redis_connect(&r);
    freeReplyObject(th_cmd(admin, "CONFIG SET requirepass pw"));
    redisFree(admin);

    const char *expect[] = {"OK", "WRONGPASS"};
    for (int i = 0; i < 2; i++) {
        char url[128], err[256];
        struct cm_redis_url u;
        snprintf(url, sizeof(url), "redis://:%s@127.0.0.1:%d/%d", i == 0 ? "pw" : "bad", r.port,
                 i == 0 ? 2 : 0);
        cm_redis_url_parse(url, &u, err, sizeof(err));
        struct async_state st = {.base = event_base_new()};
        redisAsyncContext *ac = cm_redis_async_connect(&u, err, sizeof(err));
        cr_assert_not_null(ac, "%s", err);
        redisLibeventAttach(ac, st.base);
        cr_assert_eq(cm_redis_async_handshake(ac, &u, handshake_cb, &st), 0);
        event_base_dispatch(st.base); /* returns once the disconnect removed every event */
        cr_assert_eq(st.replies, 1);
        cr_assert(strstr(st.last, expect[i]), "%s: %s", url, st.last);
        event_base_free(st.base);
        cm_redis_url_deinit(&u);
    }
    th_redis_stop(&r);
}
