/* zsa, the command line client: what its files (zsa_cli.c and tools/cli/) share. */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/wsclient.h"
#include "proto/proto.h"
#include "proto/token.h"

enum { EX_DONE = 0, EX_FAILED = 1, EX_UNREACHABLE = 2, EX_CANCELLED = 3, EX_REFUSED = 4 };
#define EX_USAGE_ 64
#define EX_INTERRUPTED 130
#define RESP_MAX (4 << 20) /* largest REST answer read */

struct cli {
    char host[300];
    int port;
    char url[340];
    bool tls;                /* https:// or wss:// */
    bool json;               /* one JSON object per line (also when stdout is not a terminal) */
    bool tty;                /* stderr is a terminal: progress bar and prompts */
    char *token;             /* the access token ($ZSA_TOKEN or --token-file), or NULL */
    char token_session[160]; /* the token's only session, if it names exactly one */
};

/* Ctrl-C presses since the start (the SIGINT handler counts them). */
extern volatile sig_atomic_t cli_interrupted;

struct watch {
    const struct cli *c;
    char session[160];
    char last_id[64];   /* the last event id seen: a reconnect resumes after it */
    const char *job_id; /* NULL: every event of the session until Ctrl-C */
    struct cm_ws ws;
    bool open;
    /* the job's state */
    double progress, eta;
    char step[128];
    bool have_gpu;
    double gpu_util, gpu_mem, gpu_total;
    int rc;            /* outcome exit status, -1 while running */
    int64_t linger_ms; /* after processing_complete: wait this long for validation_required */
    bool bar_shown;
};

struct opts {
    const char *algorithm, *session, *job_id, *image_id, *from, *watch_job, *download;
    const char *kid, *scope, *ttl, *subject, *keys_file; /* zsa token, zsa keygen */
    const char *sessions[PR_TOKEN_MAX_SESSIONS];         /* zsa token: every --session */
    size_t nsessions;
    bool watch, csv, help;
    long limit;
    struct pr_value *params;
    char *args[8];
    int nargs;
};

/* "http[s]://host:port[/]", "ws[s]://...", "host:port" or "host". */
int cli__parse_url(const char *url, struct cli *c);

void cli__unreachable(const struct cli *c);

/* One request; the answer body (a JSON text) in *out (free it). Returns the HTTP status, or -1
 * when nothing answered (the reason printed). */
int cli__http(const struct cli *c, const char *method, const char *path, const char *body,
              char **out);

/* GET path into the open file to (any size, streamed; d as for cm_http_download); prints what
 * failed. Returns the HTTP status, or -1 when nothing (or not all of it) came. */
int cli__download(const struct cli *c, const char *path, FILE *to, struct cm_download *d);

/* zsa result ID --download DIR: every artifact of result rid into dir (made if missing), each
 * through <name>.<rid>.part (continued when a cut run left one), a progress bar on a terminal.
 * Returns the exit status. */
int cli__download_all(const struct cli *c, const char *rid, const char *dir);

/* Opens a WebSocket (JSON); with a token, its first message is auth (never in the URL, where a
 * proxy's log would keep it). 0 or -1 (w->http_status says what the gateway answered). */
int cli__ws_open(const struct cli *c, struct cm_ws *w, const char *target);

/* Prints the gateway's {"error": {code, message, field}} answer. */
void cli__print_error(const char *what, int status, const char *body);

/* The exit status for an HTTP error answer: 5xx (the gateway cannot reach Redis, or is shutting
 * down) is "unavailable", like an unreachable gateway; 4xx is a refusal. */
int cli__status_exit(int st);

bool cli__num_of(const struct pr_value *o, const char *key, double *out);

void cli__print_value(const struct pr_value *v);

/* A summary for people: one line per field. */
void cli__print_summary(const struct pr_value *sum, const char *indent);

void cli__fmt_eta(double s, char *out, size_t n);

/* Opens the session's WebSocket (resuming after last_id) and waits for "connected". */
int cli__watch_open(struct watch *w);

void cli__draw_bar(struct watch *w);

/* The job's state over REST (when events were lost): sets w->rc when it has ended. */
void cli__check_job(struct watch *w);

/* Reads events until the watched job ends (or forever without a job); reconnects after a lost
 * connection, resuming after the last event id. Returns the exit status. */
int cli__watch_run(struct watch *w);

int cli__add_param(struct pr_value *params, const char *kv);

int cli__cmd_submit(const struct cli *c, struct opts *o);

int cli__cmd_watch(const struct cli *c, struct opts *o);

int cli__cmd_status(const struct cli *c, struct opts *o);

int cli__cmd_cancel_retry(const struct cli *c, struct opts *o, bool cancel);

int cli__cmd_result(const struct cli *c, struct opts *o);

int cli__cmd_dead(const struct cli *c, struct opts *o);

/* zsa keygen [--kid K]: a key line for the gateway's --auth-keys-file. */
int cli__cmd_keygen(const struct opts *o);

/* zsa token --session S [...] --scope read,submit --ttl 12h [--subject NAME] [--kid K]
 * [--keys-file F]: mints a token with a key of the gateway's keys file (the last one unless
 * --kid names another: add a new key at the end to rotate). */
int cli__cmd_token(const struct opts *o);

/* The token from --token-file or $ZSA_TOKEN (first line, trimmed); -1 when the file fails. */
int cli__load_token(struct cli *c, const char *file);

/* The string at key of object o, or NULL. */
const char *cli__str_of(const struct pr_value *o, const char *key);

#endif
