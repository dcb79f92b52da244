/* Real redis-server for tests: start on a free port, wait for PING, stop, clean up. Main thread
 * of a test process. */
#define _GNU_SOURCE
#include "tests/harness/redis_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/time.h"

#define TH_DIR_PREFIX "zsa-test-redis-"
#define TH_MAX_SERVERS 8

static struct th_redis *live[TH_MAX_SERVERS]; /* for the atexit safety net */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Removes dirs left by test processes that crashed (their owner pid is gone). */
static void sweep_stale_dirs(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, TH_DIR_PREFIX, strlen(TH_DIR_PREFIX)) != 0)
            continue;
        char path[512], pidfile[600];
        snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
        snprintf(pidfile, sizeof(pidfile), "%s/owner.pid", path);
        FILE *f = fopen(pidfile, "r");
        int owner = 0;
        if (f) {
            if (fscanf(f, "%d", &owner) != 1)
                owner = 0;
            fclose(f);
        }
        if (owner > 0 && kill(owner, 0) != 0 && errno == ESRCH)
            rm_tree(path);
    }
    closedir(d);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void track(struct th_redis *r, bool on)
{
    for (int i = 0; i < TH_MAX_SERVERS; i++) {
        if (on && !live[i]) {
            live[i] = r;
            return;
        }
        if (!on && live[i] == r) {
            live[i] = NULL;
            return;
        }
    }
}

static void stop_all_at_exit(void)
{
    for (int i = 0; i < TH_MAX_SERVERS; i++) {
        if (live[i])
            th_redis_stop(live[i]);
    }
}

static pid_t spawn(struct th_redis *r)
{
    char port[16], log[300];
    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(log, sizeof(log), "%s/redis.log", r->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* child: die with the test process, whatever kills it */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    /* ZSA_REDIS_SERVER: another binary or a wrapper (e.g. valgrind for benchmarks) */
    const char *server = getenv("ZSA_REDIS_SERVER") ? getenv("ZSA_REDIS_SERVER") : "redis-server";
    execlp(server, server, "--port", port, "--bind", "127.0.0.1", "--dir", r->dir, "--save", "",
           "--appendonly", r->aof ? "yes" : "no", "--appendfsync", "always", "--daemonize", "no",
           "--protected-mode", "no", "--loglevel", "warning", (char *)NULL);
    _exit(127);
}

/* Waits until the server answers PING or exits. 0: ready; -1: exited or timed out. */
static int wait_ready(struct th_redis *r)
{
    int64_t deadline = cm_time_mono_ms() + 10000;
    while (cm_time_mono_ms() < deadline) {
        int status;
        if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
            r->pid = 0;
            return -1;
        }
        redisContext *c = th_redis_connect(r);
        if (c) {
            redisReply *rep = redisCommand(c, "PING");
            bool ok = rep && rep->type == REDIS_REPLY_STATUS;
            freeReplyObject(rep);
            redisFree(c);
            if (ok)
                return 0;
        }
        sleep_ms(10);
    }
    return -1;
}

static int start_on_port(struct th_redis *r)
{
    snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d/0", r->port);
    r->pid = spawn(r);
    if (r->pid < 0) {
        r->pid = 0;
        return -1;
    }
    if (wait_ready(r) == 0)
        return 0;
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
    return -1;
}

int th_redis_start(struct th_redis *r)
{
    static bool registered;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    bool aof = r->aof;
    memset(r, 0, sizeof(*r));
    r->aof = aof;
    if (!registered) {
        atexit(stop_all_at_exit);
        registered = true;
    }
    sweep_stale_dirs(tmp);
    snprintf(r->dir, sizeof(r->dir), "%s/" TH_DIR_PREFIX "XXXXXX", tmp);
    if (!mkdtemp(r->dir)) {
        fprintf(stderr, "th_redis_start: mkdtemp %s: %s\n", r->dir, strerror(errno));
        return -1;
    }
    char pidfile[300];
    snprintf(pidfile, sizeof(pidfile), "%s/owner.pid", r->dir);
    FILE *f = fopen(pidfile, "w");
    if (f) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        r->port = free_port();
        if (r->port > 0 && start_on_port(r) == 0) {
            track(r, true);
            return 0;
        }
    }
    fprintf(stderr, "th_redis_start: redis-server did not start; see %s/redis.log\n", r->dir);
    return -1;
}

void th_redis_kill(struct th_redis *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGTERM);
    int64_t deadline = cm_time_mono_ms() + 5000;
    while (waitpid(r->pid, NULL, WNOHANG) == 0) {
        if (cm_time_mono_ms() > deadline) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, NULL, 0);
            break;
        }
        sleep_ms(5);
    }
    r->pid = 0;
}

int th_redis_restart(struct th_redis *r)
{
    th_redis_kill(r);
    return start_on_port(r);
}

void th_redis_stop(struct th_redis *r)
{
    th_redis_kill(r);
    if (r->dir[0]) {
        rm_tree(r->dir);
        r->dir[0] = '\0';
    }
    track(r, false);
}

redisContext *th_redis_connect(const struct th_redis *r)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

const char *th_job_field(redisContext *c, const char *job_id, const char *field, char *buf,
                         size_t n)
{
    redisReply *r = redisCommand(c, "HGET zsa:job:%s %s", job_id, field);
    snprintf(buf, n, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    if (r)
        freeReplyObject(r);
    return buf;
}

bool th_wait_job_field(redisContext *c, const char *job_id, const char *field, const char *want,
                       int timeout_ms)
{
    char buf[256];
    for (int64_t end = cm_time_mono_ms() + timeout_ms; cm_time_mono_ms() < end;) {
        if (strcmp(th_job_field(c, job_id, field, buf, sizeof(buf)), want) == 0)
            return true;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

redisReply *th_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "th_cmd: no reply from Redis (%s) to: %s\n", c->errstr, fmt);
        abort();
    }
    return r;
}
