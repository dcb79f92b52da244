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
        const char *args[64] = { path };
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
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
    }
    slurp(fileno(fo), res->out, sizeof(res->out));
    slurp(fileno(fe), res->err, sizeof(res->err));
    fclose(fo);
    fclose(fe);
    return 0;
}
