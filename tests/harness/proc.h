/* Test harness: run one of our binaries as a real process with a deadline and capture its
 * output. Binaries come from $ZSA_BIN_DIR (set by make test), else build/bin. */
#ifndef TH_PROC_H
#define TH_PROC_H

#include <stddef.h>

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
