/* Test harness: a real redis-server on a free loopback port in its own temp dir, stopped and
 * removed when the test ends, however it ends: th_redis_stop() in the test's fini, an atexit
 * handler for exits, PR_SET_PDEATHSIG for crashes (the dir of a crashed test is swept by the
 * next start). No test needs a Redis already running. ZSA_REDIS_SERVER names another binary or a
 * wrapper to run instead of redis-server (a benchmark runs it under callgrind that way). */
#ifndef TH_REDIS_SERVER_H
#define TH_REDIS_SERVER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <sys/types.h>

struct th_redis {
    pid_t pid;     /* 0 when not running */
    int port;      /* loopback TCP port */
    char dir[256]; /* private working dir (RDB/AOF files, redis.log) */
    char url[300]; /* redis://127.0.0.1:<port>/0 */
    bool aof;      /* start with appendonly yes (for restart tests) */
};

/* Starts redis-server and waits (deadline 10 s) until it answers PING. Retries on another port
 * when the chosen one was taken meanwhile. Returns 0, or -1 with the reason on stderr. */
int th_redis_start(struct th_redis *r);

/* Stops it (SIGTERM, SIGKILL after 5 s) and removes its dir. Safe to call twice. */
void th_redis_stop(struct th_redis *r);

/* Stops the server but keeps its dir and port, then starts it again on them (AOF/RDB reload). */
int th_redis_restart(struct th_redis *r);

/* Stops the server, keeping dir and port, so a test can observe an outage. */
void th_redis_kill(struct th_redis *r);

/* A blocking client with a 2 s timeout; NULL on failure. Free with redisFree(). */
redisContext *th_redis_connect(const struct th_redis *r);

/* A field of job job_id's hash (<prefix> "zsa") into buf; "" when absent or on error. */
const char *th_job_field(redisContext *c, const char *job_id, const char *field, char *buf,
                         size_t n);

/* A command on c (redisCommand's format); aborts the test, saying why, when Redis gave no reply
 * (the connection failed). The caller frees the reply. */
redisReply *th_cmd(redisContext *c, const char *fmt, ...);

/* Polls th_job_field every 10 ms until it equals want; false after timeout_ms. */
bool th_wait_job_field(redisContext *c, const char *job_id, const char *field, const char *want,
                       int timeout_ms);

#endif
