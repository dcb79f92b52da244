/* Daemon start-up: configuration, logging, --check. Main thread, before any loop runs. */
#include "common/daemon.h"

#include "common/alloc.h"
#include "common/net.h"
#include "common/text.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "common/redis.h"

int cm_daemon_init(const struct cm_config_spec *spec, void *cfg, struct cm_common_cfg *common,
                   int argc, char **argv)
{
    char err[512];
    int rc = cm_config_load(spec, cfg, argc, argv, stdout, err, sizeof(err));
    if (rc == CM_CONFIG_HELP)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", spec->prog, err);
        return 2;
    }
    if (cm_redis_url_parse(common->redis_url, &common->url, err, sizeof(err)) != 0) {
        /* unreachable after the row's check, kept so that a bad default cannot slip through */
        fprintf(stderr, "%s: --redis-url: %s\n", spec->prog, err);
        return 2;
    }
    if (common->redis_password_file && *common->redis_password_file) {
        FILE *f = fopen(common->redis_password_file, "r");
        char pw[1024] = "";
        bool ok = f && fgets(pw, sizeof(pw), f);
        if (f)
            fclose(f);
        pw[strcspn(pw, "\r\n")] = '\0';
        if (!ok || !pw[0]) {
            fprintf(stderr, "%s: --redis-password-file %s: %s\n", spec->prog,
                    common->redis_password_file, f ? "empty" : strerror(errno));
            return 2;
        }
        free(common->url.password);
        common->url.password = cm_xstrdup(pw);
        memset(pw, 0, sizeof(pw));
    }
    if (common->print_config) {
        cm_config_dump(spec, cfg, stdout);
        return 0;
    }
    cm_log_init(spec->prog, (enum cm_log_level)common->log_level,
                common->log_format == CM_LOG_FORMAT_JSON);
    signal(SIGPIPE, SIG_IGN); /* a peer that hangs up must not kill the daemon */
    return CM_DAEMON_CONTINUE;
}

void cm_daemon_deinit(const struct cm_config_spec *spec, void *cfg, struct cm_common_cfg *common)
{
    cm_redis_url_deinit(&common->url);
    cm_config_deinit(spec, cfg);
}

int cm_daemon_check_redis(const struct cm_common_cfg *common)
{
    char err[512];
    redisContext *c = cm_redis_connect(&common->url, common->redis_timeout_ms, err, sizeof(err));
    if (!c) {
        cm_log(CM_LOG_ERROR, "check failed: redis %s", err);
        return 1;
    }
    char version[32] = "unknown";
    redisReply *r = cm_redis_cmd(c, REDIS_REPLY_STRING, err, sizeof(err), "INFO server");
    if (r) {
        const char *v = strstr(r->str, "redis_version:");
        if (v)
            sscanf(v + 14, "%31[^\r\n]", version);
        freeReplyObject(r);
    }
    char *where = cm_redis_url_describe(&common->url);
    cm_log(CM_LOG_INFO, "check ok: redis %s answered, version %s, prefix \"%s\"", where, version,
           common->prefix);
    free(where);
    redisFree(c);
    return 0;
}

int cm_opt_check_id_or_empty(const char *v, char *err, size_t errlen)
{
    if (!v[0] || cm_id_valid(v, strlen(v), 64))
        return 0;
    snprintf(err, errlen,
             "must be 1..64 characters of [A-Za-z0-9_.:-], not starting with a dot, got \"%s\"", v);
    return -1;
}

int cm_opt_check_listen_or_empty(const char *v, char *err, size_t errlen)
{
    return v[0] ? cm_hostport_check(v, err, errlen) : 0;
}

void cm_daemon_id(const char *configured, char *id, size_t n, char *host, size_t hostlen)
{
    char h[128];
    if (gethostname(h, sizeof(h)) != 0)
        snprintf(h, sizeof(h), "unknown");
    h[sizeof(h) - 1] = '\0';
    if (host)
        snprintf(host, hostlen, "%s", h);
    if (configured && configured[0])
        snprintf(id, n, "%s", configured);
    else
        snprintf(id, n, "%.64s-%d", h, (int)getpid());
    for (char *p = id; *p; p++) /* host names may hold characters keys do not */
        if (!cm_id_char(*p))
            *p = '_';
}

bool cm_stop_signal(int signum, int64_t *first_ms, int64_t now_ms, const char *left_behind)
{
    if (*first_ms == 0) {
        *first_ms = now_ms > 0 ? now_ms : 1;
        return true;
    }
    if (now_ms - *first_ms < 1000)
        return false;
    cm_log(CM_LOG_WARN, "second %s: exiting now%s%s", strsignal(signum), *left_behind ? " " : "",
           left_behind);
    _exit(1);
}
