/* Test harness: run one of our binaries as a real process with a deadline and capture its
 * output. Binaries come from $ZSA_BIN_DIR (set by make test), else build/bin. */
#ifndef TH_PROC_H
#define TH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct th_proc_result {
    int status;     /* exit status, or 128 + signal, or -1 when it ran past the deadline */
    char out[8192]; /* stdout, NUL-terminated, truncated */
    char err[8192]; /* stderr, likewise */
};

/* Runs $ZSA_BIN_DIR/<name> (or name itself when it contains a '/') with argv (NULL-terminated,
 * argv[0] excluded) and extra environment assignments env ("K=V", NULL-terminated; may be NULL),
 * killing it after timeout_ms. Returns 0 when it ran (see res->status), -1 when it could not be
 * started. */
int th_proc_run(const char *name, const char *const *argv, const char *const *env, int timeout_ms,
                struct th_proc_result *res);

/* Full path of a binary in $ZSA_BIN_DIR into buf. */
void th_bin_path(const char *name, char *buf, size_t n);

#endif

/* A keys file for a gateway's --auth-keys-file at path (mode 600), made by `zsa keygen` (with
 * --kid kid when kid is not NULL). 0, or -1 when zsa or the file failed. */
int th_keys_file(const char *path, const char *kid);

/* A process running in the background (daemons in integration tests). */
struct th_proc {
    pid_t pid;     /* 0 once reaped */
    int status;    /* like th_proc_result.status, once reaped */
    char log[256]; /* file with its stdout and stderr */
};

/* Starts $ZSA_BIN_DIR/<name> with argv/env like th_proc_run, output to a temp file. 0 or -1. */
int th_proc_start(struct th_proc *p, const char *name, const char *const *argv,
                  const char *const *env);

/* Waits up to timeout_ms for it to exit; true when it did (p->status set). */
bool th_proc_wait(struct th_proc *p, int timeout_ms);

/* Sends sig (SIGTERM, SIGKILL, ...) if it still runs. */
void th_proc_signal(struct th_proc *p, int sig);

/* SIGKILL if running, reap, remove the log. Safe to call twice. */
void th_proc_stop(struct th_proc *p);

/* CPU seconds (user + system) process pid has used so far; 0 when it cannot be read. */
double th_proc_cpu(pid_t pid);
/* The same summed over pid and its direct children (a gateway with --processes). */
double th_proc_cpu_tree(pid_t pid);
/* Resident memory of process pid in KiB (VmRSS); 0 when it cannot be read. */
long th_proc_rss_kb(pid_t pid);

/* Reads the log into buf (NUL-terminated, truncated to n). */
void th_proc_log(const struct th_proc *p, char *buf, size_t n);

/* Reads p's log into buf and returns true when it holds no sanitizer report (AddressSanitizer,
 * LeakSanitizer, UBSan). With ZSA_TEST_VERBOSE set, also prints it to stderr under who. */
bool th_proc_log_clean(const struct th_proc *p, const char *who, char *buf, size_t n);
