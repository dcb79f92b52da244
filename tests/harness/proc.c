/* Process runner for integration tests. Main thread of a test process. */
#define _GNU_SOURCE
#include "tests/harness/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/time.h"

void th_bin_path(const char *name, char *buf, size_t n)
{
    if (strchr(name, '/')) { /* a path, e.g. scripts/demo.sh */
        snprintf(buf, n, "%s", name);
        return;
    }
    const char *dir = getenv("ZSA_BIN_DIR");
    snprintf(buf, n, "%s/%s", dir && *dir ? dir : "build/bin", name);
}

/* Reads what a file holds into buf (NUL-terminated). */
static void slurp(int fd, char *buf, size_t n)
{
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, buf, n - 1);
    buf[got > 0 ? got : 0] = '\0';
}

int th_proc_run(const char *name, const char *const *argv, const char *const *env, int timeout_ms,
                struct th_proc_result *res)
{
    char path[512];
    th_bin_path(name, path, sizeof(path));
    FILE *fo = tmpfile(), *fe = tmpfile();
    pid_t pid = fo && fe ? fork() : -1;
    if (pid < 0) {
        if (fo)
            fclose(fo);
        if (fe)
            fclose(fe);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fileno(fo), 1);
        dup2(fileno(fe), 2);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        const char *args[64] = {path};
        for (int i = 0; argv && argv[i] && i < 62; i++)
            args[i + 1] = argv[i];
        execv(path, (char *const *)args);
        fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    int status = 0;
    int64_t deadline = cm_time_mono_ms() + timeout_ms;
    res->status = -1;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (cm_time_mono_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    slurp(fileno(fo), res->out, sizeof(res->out));
    slurp(fileno(fe), res->err, sizeof(res->err));
    fclose(fo);
    fclose(fe);
    return 0;
}

int th_proc_start(struct th_proc *p, const char *name, const char *const *argv,
                  const char *const *env)
{
    char path[512];
    th_bin_path(name, path, sizeof(path));
    memset(p, 0, sizeof(*p));
    snprintf(p->log, sizeof(p->log), "%s/zsa-proc-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(p->log);
    if (fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, 1);
        dup2(fd, 2);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        const char *args[64] = {path};
        for (int i = 0; argv && argv[i] && i < 62; i++)
            args[i + 1] = argv[i];
        execv(path, (char *const *)args);
        fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fd);
    p->pid = pid;
    return 0;
}

bool th_proc_wait(struct th_proc *p, int timeout_ms)
{
    if (p->pid <= 0)
        return true;
    int64_t deadline = cm_time_mono_ms() + timeout_ms;
    for (;;) {
        int status;
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            p->pid = 0;
            return true;
        }
        if (cm_time_mono_ms() > deadline)
            return false;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

void th_proc_signal(struct th_proc *p, int sig)
{
    if (p->pid > 0)
        kill(p->pid, sig);
}

void th_proc_stop(struct th_proc *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        th_proc_wait(p, 5000);
    }
    if (p->log[0])
        unlink(p->log);
    p->log[0] = '\0';
}

void th_proc_log(const struct th_proc *p, char *buf, size_t n)
{
    buf[0] = '\0';
    FILE *f = fopen(p->log, "r");
    if (!f)
        return;
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
}
