/* Process runner for integration tests. Main thread of a test process. */
#define _GNU_SOURCE
#include "tests/harness/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
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

/* Forks and execs $ZSA_BIN_DIR/<name> with stdout/stderr on out_fd/err_fd; -1 on failure. The
 * child dies with the test process. */
static pid_t spawn(const char *name, const char *const *argv, const char *const *env, int out_fd,
                   int err_fd)
{
    char path[512];
    th_bin_path(name, path, sizeof(path));
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* a child starts with the default signal dispositions, whatever this process inherited: a
     * test suite run in the background (`make test &`, nohup) has SIGINT and SIGQUIT ignored,
     * and a shell script cannot trap a signal that was ignored when it started (the demo's
     * Ctrl-C test then waited in vain) */
    static const int sigs[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    for (const char *const *e = env; e && *e; e++)
        putenv((char *)*e);
    const char *args[64] = {path};
    for (int i = 0; argv && argv[i] && i < 62; i++)
        args[i + 1] = argv[i];
    execv(path, (char *const *)args);
    fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
    _exit(127);
}

int th_proc_run(const char *name, const char *const *argv, const char *const *env, int timeout_ms,
                struct th_proc_result *res)
{
    FILE *fo = tmpfile(), *fe = tmpfile();
    struct th_proc p = {.pid = fo && fe ? spawn(name, argv, env, fileno(fo), fileno(fe)) : -1};
    if (p.pid < 0) {
        if (fo)
            fclose(fo);
        if (fe)
            fclose(fe);
        return -1;
    }
    res->status = -1;
    if (th_proc_wait(&p, timeout_ms)) {
        res->status = p.status;
    } else {
        kill(p.pid, SIGKILL);
        waitpid(p.pid, NULL, 0);
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
    memset(p, 0, sizeof(*p));
    snprintf(p->log, sizeof(p->log), "%s/zsa-proc-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(p->log);
    if (fd < 0)
        return -1;
    p->pid = spawn(name, argv, env, fd, fd);
    close(fd);
    if (p->pid < 0) {
        p->pid = 0;
        return -1;
    }
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

/* CPU seconds of one process (user + system), 0 when it cannot be read. */
static double proc_cpu_one(pid_t pid, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    int pp = 0;
    if (!p ||
        sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &pp, &ut, &st) != 3)
        return 0;
    if (ppid)
        *ppid = pp;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double th_proc_cpu(pid_t pid)
{
    return proc_cpu_one(pid, NULL);
}

double th_proc_cpu_tree(pid_t pid)
{
    double sum = proc_cpu_one(pid, NULL);
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        pid_t child = (pid_t)atoi(e->d_name), pp = 0;
        if (child <= 0 || child == pid)
            continue;
        double c = proc_cpu_one(child, &pp);
        if (pp == pid)
            sum += c;
    }
    if (d)
        closedir(d);
    return sum;
}

long th_proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

bool th_proc_log_clean(const struct th_proc *p, const char *who, char *buf, size_t n)
{
    th_proc_log(p, buf, n);
    if (getenv("ZSA_TEST_VERBOSE"))
        fprintf(stderr, "--- %s log ---\n%s\n", who, buf);
    return !strstr(buf, "Sanitizer") && !strstr(buf, "runtime error");
}

int th_keys_file(const char *path, const char *kid)
{
    const char *argv[] = {"keygen", kid ? "--kid" : NULL, kid, NULL};
    static struct th_proc_result r;
    if (th_proc_run("zsa", argv, NULL, 10000, &r) != 0 || r.status != 0)
        return -1;
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(r.out, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc == 0 && chmod(path, 0600) == 0 ? 0 : -1;
}
