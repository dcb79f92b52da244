/* Logger. Any thread: each line is built in its own buffer and written with one write(2). */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/time.h"

int cm_log__level = CM_LOG_INFO;

static char log_component[48] = "zsa";
static bool log_json;
static int log_fd = 2;

static const char *const level_names[] = {
#define CM__LOG_NAME(e, name) name,
    CM_LOG_LEVELS(CM__LOG_NAME)
#undef CM__LOG_NAME
};

void cm_log_init(const char *component, enum cm_log_level level, bool json)
{
    snprintf(log_component, sizeof(log_component), "%s", component);
    cm_log__level = (int)level;
    log_json = json;
}

int cm_log_set_fd(int fd)
{
    int old = log_fd;
    log_fd = fd;
    return old;
}

const char *cm_log_level_name(int level)
{
    if (level < 0 || (size_t)level >= sizeof(level_names) / sizeof(level_names[0]))
        return NULL;
    return level_names[level];
}

void cm__log_write(enum cm_log_level lvl, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t mlen = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;

    char ts[CM_RFC3339_LEN];
    cm_time_rfc3339(cm_time_now_ms(), ts);
    const char *lname = cm_log_level_name((int)lvl);

    struct cm_buf line = CM_BUF_INIT;
    if (log_json) {
        cm_buf_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts, lname);
        cm_buf_append_json_str(&line, log_component, strlen(log_component));
        cm_buf_printf(&line, ",\"pid\":%d,\"msg\":", (int)getpid());
        cm_buf_append_json_str(&line, msg, mlen);
        cm_buf_puts(&line, "}\n");
    } else {
        cm_buf_printf(&line, "%s %-5s %s[%d]: ", ts, lname, log_component, (int)getpid());
        cm_buf_append(&line, msg, mlen);
        cm_buf_putc(&line, '\n');
    }
    ssize_t w = write(log_fd, line.data, line.len);
    (void)w; /* a failed log write has nowhere else to go */
    cm_buf_deinit(&line);
}
