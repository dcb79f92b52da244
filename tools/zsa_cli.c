/* zsa: the command line client. Talks to a gateway over REST and WebSocket only (no Redis):
 * submits jobs and watches them live (progress bar on a terminal, one JSON event per line
 * otherwise), shows the system status, cancels, retries, fetches results, handles dead letters.
 *
 * Exit status: 0 done (job complete), 1 the job failed, 2 the gateway (or its Redis) is
 * unreachable or the connection was lost for good, 3 the job was cancelled, 4 the gateway
 * refused the request (the error is printed), 64 bad usage, 130 interrupted (the job keeps
 * running). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <time.h>

#include "common/buf.h"
#include "common/text.h"
#include "common/time.h"
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

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted++;
}

/* ---- gateway access ----------------------------------------------------------------------- */

/* "http[s]://host:port[/]", "ws[s]://...", "host:port" or "host". */
static int parse_url(const char *url, struct cli *c)
{
    const char *p = url;
    int def = 8080;
    c->tls = strncmp(p, "https://", 8) == 0 || strncmp(p, "wss://", 6) == 0;
    if (c->tls)
        def = 443;
    if (strncmp(p, "http://", 7) == 0 || strncmp(p, "ws://", 5) == 0 || c->tls)
        p = strchr(p, '/') + 2;
    else if (strstr(p, "://"))
        return -1;
    size_t n = strcspn(p, "/");
    char hp[300];
    if (n == 0 || n >= sizeof(hp))
        return -1;
    memcpy(hp, p, n);
    hp[n] = 0;
    char *colon = strrchr(hp, ':');
    c->port = def;
    if (colon && !strchr(colon, ']')) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 1 || port > 65535)
            return -1;
        c->port = (int)port;
        *colon = 0;
    }
    if (hp[0] == '[') { /* [v6] */
        size_t l = strlen(hp);
        if (l < 3 || hp[l - 1] != ']')
            return -1;
        hp[l - 1] = 0;
        memmove(hp, hp + 1, l - 1);
    }
    snprintf(c->host, sizeof(c->host), "%s", hp);
    snprintf(c->url, sizeof(c->url), strchr(hp, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
             c->tls ? "https" : "http", hp, c->port);
    return c->host[0] ? 0 : -1;
}

static void unreachable(const struct cli *c)
{
    const char *tls = cm_wsclient_tls_error();
    fprintf(stderr,
            "zsa: cannot reach the gateway at %s: %s\n"
            "     (is zsa-gateway running there? set --url or ZSA_URL)\n",
            c->url,
            tls[0]  ? tls
            : errno ? strerror(errno)
                    : "no answer");
}

/* One request; the answer body (a JSON text) in *out (free it). Returns the HTTP status, or -1
 * when nothing answered (the reason printed). */
static int http(const struct cli *c, const char *method, const char *path, const char *body,
                char **out)
{
    char *buf = malloc(RESP_MAX);
    if (!buf) {
        fprintf(stderr, "zsa: out of memory\n");
        exit(EX_FAILED);
    }
    errno = 0;
    int st =
        cm_http_auth(c->host, c->port, method, path, c->token, body, body != NULL, buf, RESP_MAX);
    if (st < 0) {
        unreachable(c);
        free(buf);
        *out = NULL;
        return -1;
    }
    *out = buf;
    return st;
}

/* Opens a WebSocket (JSON); with a token, its first message is auth (never in the URL, where a
 * proxy's log would keep it). 0 or -1 (w->http_status says what the gateway answered). */
static int ws_open(const struct cli *c, struct cm_ws *w, const char *target)
{
    if (cm_ws_connect(w, c->host, c->port, target, "zsa.v1.json", false) != 0)
        return -1;
    if (!c->token)
        return 0;
    struct cm_buf m = CM_BUF_INIT;
    cm_buf_puts(&m, "{\"type\":\"auth\",\"token\":");
    cm_buf_append_json_str(&m, c->token, strlen(c->token));
    cm_buf_puts(&m, "}");
    int rc = cm_ws_send_text(w, m.data);
    cm_buf_deinit(&m);
    return rc;
}

/* Prints the gateway's {"error": {code, message, field}} answer. */
static void print_error(const char *what, int status, const char *body)
{
    struct pr_value v;
    struct pr_err e;
    const struct pr_value *err = NULL, *code = NULL, *msg = NULL, *field = NULL;
    if (body && pr_value_parse_json(body, strlen(body), &v, &e) == 0) {
        err = pr_value_get(&v, "error");
        code = err ? pr_value_get(err, "code") : NULL;
        msg = err ? pr_value_get(err, "message") : NULL;
        field = err ? pr_value_get(err, "field") : NULL;
        fprintf(stderr, "zsa: %s: %s%s%s (HTTP %d)%s%s\n", what,
                code && code->type == PR_V_STR ? code->u.s.p : "error",
                msg && msg->type == PR_V_STR ? ": " : "",
                msg && msg->type == PR_V_STR ? msg->u.s.p : "", status,
                field && field->type == PR_V_STR ? "; field: " : "",
                field && field->type == PR_V_STR ? field->u.s.p : "");
        pr_value_deinit(&v);
        return;
    }
    fprintf(stderr, "zsa: %s: HTTP %d: %.300s\n", what, status, body ? body : "");
}

/* The exit status for an HTTP error answer: 5xx (the gateway cannot reach Redis, or is shutting
 * down) is "unavailable", like an unreachable gateway; 4xx is a refusal. */
static int status_exit(int st)
{
    return st >= 500 ? EX_UNREACHABLE : EX_REFUSED;
}

/* ---- printing ------------------------------------------------------------------------------ */

static const char *str_of(const struct pr_value *o, const char *key)
{
    const struct pr_value *v = o ? pr_value_get(o, key) : NULL;
    return v && v->type == PR_V_STR ? v->u.s.p : NULL;
}

static bool num_of(const struct pr_value *o, const char *key, double *out)
{
    const struct pr_value *v = o ? pr_value_get(o, key) : NULL;
    if (!v)
        return false;
    switch (v->type) {
    case PR_V_INT: *out = (double)v->u.i; return true;
    case PR_V_UINT: *out = (double)v->u.u; return true;
    case PR_V_DOUBLE: *out = v->u.d; return true;
    default: return false;
    }
}

static void print_value(const struct pr_value *v)
{
    struct cm_buf b = CM_BUF_INIT;
    pr_value_write_json(v, &b);
    fwrite(b.data, 1, b.len, stdout);
    cm_buf_deinit(&b);
}

/* A value for people: numbers with 6 significant digits, strings bare, a flat object as
 * "k=v k=v", anything deeper as JSON. */
static void print_human(const struct pr_value *v, bool nested)
{
    switch (v->type) {
    case PR_V_DOUBLE: printf("%.6g", v->u.d); return;
    case PR_V_STR: printf("%s", v->u.s.p); return;
    case PR_V_OBJECT:
        if (!nested) {
            for (size_t i = 0; i < v->u.o.n; i++) {
                printf("%s%s=", i ? " " : "", v->u.o.m[i].key);
                print_human(&v->u.o.m[i].val, true);
            }
            return;
        }
        print_value(v);
        return;
    default: print_value(v); return;
    }
}

/* A summary for people: one line per field. */
static void print_summary(const struct pr_value *sum, const char *indent)
{
    if (!sum || sum->type != PR_V_OBJECT)
        return;
    for (size_t i = 0; i < sum->u.o.n; i++) {
        const struct pr_member *m = &sum->u.o.m[i];
        printf("%s%-28s ", indent, m->key);
        print_human(&m->val, false);
        putchar('\n');
    }
}

static void fmt_eta(double s, char *out, size_t n)
{
    if (s < 0 || !isfinite(s))
        snprintf(out, n, "--:--");
    else if (s < 3600)
        snprintf(out, n, "%d:%02d", (int)s / 60, (int)s % 60);
    else
        snprintf(out, n, "%dh%02d", (int)s / 3600, (int)s / 60 % 60);
}

/* ---- watching ------------------------------------------------------------------------------ */

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

/* Opens the session's WebSocket (resuming after last_id) and waits for "connected". */
static int watch_open(struct watch *w)
{
    char target[512];
    snprintf(target, sizeof(target), "/ws?session_id=%s%s%s", w->session,
             w->last_id[0] ? "&last_event_id=" : "", w->last_id);
    memset(&w->ws, 0, sizeof(w->ws));
    errno = 0;
    if (ws_open(w->c, &w->ws, target) != 0) {
        int st = w->ws.http_status;
        cm_ws_close(&w->ws);
        if (st > 0)
            fprintf(stderr, "zsa: the gateway refused the WebSocket (HTTP %d)\n", st);
        return st > 0 ? EX_REFUSED : EX_UNREACHABLE;
    }
    w->open = true;
    return 0;
}

static void clear_bar(struct watch *w)
{
    if (w->bar_shown)
        fputs("\r\033[K", stderr);
    w->bar_shown = false;
}

static void draw_bar(struct watch *w)
{
    if (!w->c->tty || w->c->json)
        return;
    int width = 30, filled = (int)(w->progress / 100 * width + 0.5);
    char eta[16], gpu[48] = "";
    fmt_eta(w->eta, eta, sizeof(eta));
    if (w->have_gpu && w->gpu_total > 0)
        snprintf(gpu, sizeof(gpu), "  GPU %3.0f%% %4.1f/%.1f GB", w->gpu_util, w->gpu_mem / 1024,
                 w->gpu_total / 1024);
    else if (w->have_gpu)
        snprintf(gpu, sizeof(gpu), "  CPU workers");
    fprintf(stderr, "\r\033[K[");
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %5.1f%%  %-28.28s ETA %s%s", w->progress, w->step[0] ? w->step : "queued",
            eta, gpu);
    fflush(stderr);
    w->bar_shown = true;
}

/* Handles one message; sets w->rc when the watched job ended. */
static void handle(struct watch *w, const char *text, size_t len)
{
    struct pr_value v;
    struct pr_err e;
    if (pr_value_parse_json(text, len, &v, &e) != 0)
        return;
    const char *type = str_of(&v, "event_type"), *id = str_of(&v, "event_id");
    const char *job = str_of(&v, "job_id");
    if (!type)
        goto out;
    if (id)
        snprintf(w->last_id, sizeof(w->last_id), "%s", id);
    bool mine = !w->job_id || (job && strcmp(job, w->job_id) == 0);
    if (strcmp(type, "system_status") == 0) {
        w->have_gpu = true;
        num_of(&v, "gpu_utilization", &w->gpu_util);
        num_of(&v, "gpu_memory_used_mb", &w->gpu_mem);
        num_of(&v, "gpu_memory_total_mb", &w->gpu_total);
    }
    if (strcmp(type, "heartbeat") == 0 || strcmp(type, "pong") == 0)
        goto out;
    if (strcmp(type, "replay_complete") == 0) {
        const struct pr_value *t = pr_value_get(&v, "truncated");
        if (t && t->type == PR_V_BOOL && t->u.b && !w->c->json)
            fprintf(stderr, "\nzsa: some events of the session expired; the job state is read "
                            "over REST\n");
        if (t && t->type == PR_V_BOOL && t->u.b)
            w->last_id[0] = 0;
        goto out;
    }
    if (w->c->json) { /* scripts: the events as they come (in a job watch, the job's) */
        bool control = strcmp(type, "connected") == 0 || strcmp(type, "authenticated") == 0;
        if (!control && (mine || (!w->job_id && strcmp(type, "system_status") == 0)) &&
            !(w->job_id && strcmp(type, "system_status") == 0)) {
            fwrite(text, 1, len, stdout);
            putchar('\n');
            fflush(stdout);
        }
    }
    if (!w->job_id && !w->c->json) { /* a session watch, for people: one line per event */
        if (strcmp(type, "connected") == 0 || strcmp(type, "system_status") == 0 ||
            strcmp(type, "authenticated") == 0)
            goto out;
        double p = 0;
        num_of(&v, "progress", &p);
        printf("%s  %-20s %-24s", id ? id : "-", type, job ? job : "");
        if (strcmp(type, "processing_progress") == 0)
            printf(" %5.1f%% %s", p, str_of(&v, "current_step") ? str_of(&v, "current_step") : "");
        else if (strcmp(type, "processing_failed") == 0)
            printf(" %s: %s", str_of(&v, "error_code"), str_of(&v, "error"));
        else if (strcmp(type, "processing_complete") == 0 && num_of(&v, "confidence_score", &p))
            printf(" confidence %.2f", p);
        else if (strcmp(type, "processing_started") == 0)
            printf(" %s", str_of(&v, "algorithm") ? str_of(&v, "algorithm") : "");
        putchar('\n');
        fflush(stdout);
        goto out;
    }
    if (!mine || !w->job_id)
        goto out;
    if (strcmp(type, "processing_started") == 0) {
        w->progress = 0;
        snprintf(w->step, sizeof(w->step), "started");
        double est;
        w->eta = num_of(&v, "estimated_time_seconds", &est) ? est : -1;
    } else if (strcmp(type, "processing_progress") == 0) {
        num_of(&v, "progress", &w->progress);
        if (!num_of(&v, "eta_seconds", &w->eta))
            w->eta = -1;
        snprintf(w->step, sizeof(w->step), "%s",
                 str_of(&v, "current_step") ? str_of(&v, "current_step") : "");
    } else if (strcmp(type, "processing_complete") == 0) {
        w->progress = 100, w->eta = 0;
        snprintf(w->step, sizeof(w->step), "Complete");
        if (!w->c->json) {
            draw_bar(w);
            clear_bar(w);
            double conf = 0, secs = 0;
            num_of(&v, "confidence_score", &conf);
            num_of(&v, "processing_time_seconds", &secs);
            printf("Job %s complete in %.1f s, confidence %.2f\n", w->job_id, secs, conf);
            print_summary(pr_value_get(&v, "summary"), "  ");
            printf("Full result: zsa result %s\n", str_of(&v, "result_id"));
            fflush(stdout);
        }
        w->rc = EX_DONE;
        w->linger_ms = cm_time_mono_ms() + 1500; /* a validation request may follow */
    } else if (strcmp(type, "validation_required") == 0) {
        if (!w->c->json) {
            clear_bar(w);
            double conf = 0;
            num_of(&v, "confidence", &conf);
            printf("Needs review (confidence %.2f): %s\n", conf,
                   str_of(&v, "reason") ? str_of(&v, "reason") : "");
            const struct pr_value *sa = pr_value_get(&v, "suggested_actions");
            for (size_t i = 0; sa && sa->type == PR_V_ARRAY && i < sa->u.a.n; i++)
                if (sa->u.a.items[i].type == PR_V_STR)
                    printf("  - %s\n", sa->u.a.items[i].u.s.p);
            fflush(stdout);
        }
        w->linger_ms = 0;
    } else if (strcmp(type, "processing_failed") == 0) {
        const char *code = str_of(&v, "error_code");
        bool cancelled = code && strcmp(code, "CANCELLED") == 0;
        if (!w->c->json) {
            clear_bar(w);
            fprintf(stderr, "Job %s %s: %s: %s\n", w->job_id, cancelled ? "cancelled" : "failed",
                    code ? code : "?", str_of(&v, "error") ? str_of(&v, "error") : "");
            const struct pr_value *r = pr_value_get(&v, "retry_available");
            if (r && r->type == PR_V_BOOL && r->u.b && !cancelled)
                fprintf(stderr, "It may work again: zsa retry %s\n", w->job_id);
        }
        w->rc = cancelled ? EX_CANCELLED : EX_FAILED;
        w->linger_ms = 0;
    }
    if (w->rc < 0)
        draw_bar(w);
out:
    pr_value_deinit(&v);
}

/* The job's state over REST (when events were lost): sets w->rc when it has ended. */
static void check_job(struct watch *w)
{
    char path[300], *body = NULL;
    snprintf(path, sizeof(path), "/api/jobs/%s", w->job_id);
    int st = http(w->c, "GET", path, NULL, &body);
    struct pr_value v;
    struct pr_err e;
    if (st == 200 && pr_value_parse_json(body, strlen(body), &v, &e) == 0) {
        const char *s = str_of(&v, "status");
        if (s && strcmp(s, "complete") == 0)
            w->rc = EX_DONE;
        else if (s && (strcmp(s, "failed") == 0 || strcmp(s, "dead") == 0))
            w->rc = EX_FAILED;
        else if (s && strcmp(s, "cancelled") == 0)
            w->rc = EX_CANCELLED;
        if (w->rc >= 0 && !w->c->json)
            fprintf(stderr, "Job %s is %s%s%s\n", w->job_id, s, str_of(&v, "error") ? ": " : "",
                    str_of(&v, "error") ? str_of(&v, "error") : "");
        else if (w->rc >= 0)
            printf("%s\n", body);
        pr_value_deinit(&v);
    }
    free(body);
}

/* Ctrl-C while watching a job on a terminal: cancel, keep watching, or leave it running. */
static int offer_cancel(struct watch *w)
{
    if (!w->c->tty || !w->job_id || w->c->json)
        return EX_INTERRUPTED;
    clear_bar(w);
    FILE *tty = fopen("/dev/tty", "r");
    fprintf(stderr,
            "\nCancel job %s? [y]es, [n]o (keep watching), [d]etach (it keeps "
            "running): ",
            w->job_id);
    char line[16] = "";
    interrupted = 0;
    if (!tty || !fgets(line, sizeof(line), tty) || interrupted) {
        if (tty)
            fclose(tty);
        return EX_INTERRUPTED;
    }
    fclose(tty);
    if (line[0] == 'y' || line[0] == 'Y') {
        char path[300], *body = NULL;
        snprintf(path, sizeof(path), "/api/jobs/%s/cancel", w->job_id);
        int st = http(w->c, "POST", path, "{}", &body);
        if (st == 202)
            fprintf(stderr, "Cancelling %s...\n", w->job_id);
        else if (st > 0)
            print_error("cancel", st, body);
        free(body);
        return -1;
    }
    if (line[0] == 'd' || line[0] == 'D') {
        fprintf(stderr, "Detached; %s keeps running. Follow it: zsa watch --session %s --job %s\n",
                w->job_id, w->session, w->job_id);
        return EX_INTERRUPTED;
    }
    return -1;
}

/* Reads events until the watched job ends (or forever without a job); reconnects after a lost
 * connection, resuming after the last event id. Returns the exit status. */
static int watch_run(struct watch *w)
{
    int64_t lost_since = 0;
    while (w->rc < 0 || (w->linger_ms && cm_time_mono_ms() < w->linger_ms)) {
        if (interrupted) {
            int r = offer_cancel(w);
            if (r >= 0)
                return r;
        }
        if (!w->open) {
            if (watch_open(w) == 0) {
                lost_since = 0;
                if (w->job_id)
                    check_job(w);
                continue;
            }
            if (cm_time_mono_ms() - lost_since > 30000) {
                fprintf(stderr, "zsa: lost the gateway at %s for 30 s; giving up\n", w->c->url);
                return EX_UNREACHABLE;
            }
            usleep(500 * 1000);
            continue;
        }
        struct cm_ws_msg m;
        int r = cm_ws_recv(&w->ws, 200, &m);
        if (r == 1) {
            handle(w, m.data, m.len);
            free(m.data);
        } else if (r < 0) {
            int code = w->ws.close_code;
            cm_ws_close(&w->ws);
            w->open = false;
            lost_since = cm_time_mono_ms();
            if (code == 4001 || code == 4003) { /* the same token cannot do better next time */
                clear_bar(w);
                fprintf(stderr, "zsa: the gateway closed the connection: %s (%d); %s\n",
                        code == 4001 ? "the access token is missing, expired or withdrawn"
                                     : "the access token does not allow this session",
                        code, "set ZSA_TOKEN to a valid token (zsa token --help)");
                return EX_REFUSED;
            }
            if (!w->c->json) {
                clear_bar(w);
                fprintf(stderr, "zsa: connection closed (%d); reconnecting%s\n", code,
                        w->last_id[0] ? " from the last event" : "");
            }
        }
    }
    if (w->open)
        cm_ws_close(&w->ws);
    if (w->rc == EX_DONE && w->linger_ms == 0 && !w->c->json)
        fflush(stdout);
    return w->rc < 0 ? EX_DONE : w->rc;
}

/* ---- commands ------------------------------------------------------------------------------ */

struct opts {
    const char *algorithm, *session, *job_id, *image_id, *from, *watch_job;
    const char *kid, *scope, *ttl, *subject, *keys_file; /* zsa token, zsa keygen */
    const char *sessions[PR_TOKEN_MAX_SESSIONS];         /* zsa token: every --session */
    size_t nsessions;
    bool watch, csv, help;
    long limit;
    struct pr_value *params;
    char *args[8];
    int nargs;
};

static int add_param(struct pr_value *params, const char *kv)
{
    if (pr_value_set_param(params, kv) == 0)
        return 0;
    fprintf(stderr, "%s: --param: expected KEY=VALUE, got \"%s\"\n", "zsa", kv);
    return -1;
}

/* A valid id from a file name: its base name without the extension, other bytes as '_'. */
static void image_id_of(const char *path, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strcspn(b, ".");
    if (len == 0)
        len = strlen(b);
    if (len > 120)
        len = 120;
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < n; i++) {
        char ch = b[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.' || ch == ':';
        out[k++] = ok ? ch : '_';
    }
    out[k] = 0;
    if (!k)
        snprintf(out, n, "image");
}

/* The session to use: --session, else the token's only session, else a new one of our own
 * (its events reach its watchers, not every client). */
static void default_session(const struct cli *c, const struct opts *o, char *out, size_t n)
{
    if (o->session)
        snprintf(out, n, "%s", o->session);
    else if (c->token_session[0])
        snprintf(out, n, "%s", c->token_session);
    else
        cm_random_id(out, n, "cli-");
}

static int cmd_submit(const struct cli *c, struct opts *o)
{
    if (o->nargs != 1 || !o->algorithm) {
        fprintf(stderr, "usage: zsa submit FILE --algorithm A [--param K=V ...] [--session S] "
                        "[--job-id ID] [--watch]\n");
        return EX_USAGE_;
    }
    const char *file = o->args[0];
    char abs[PATH_MAX], image[128], session[160] = "";
    if (!realpath(file, abs)) { /* it may exist only where the workers run: sent as given */
        if (!c->json)
            fprintf(stderr, "zsa: note: %s is not readable here; the workers will look for it\n",
                    file);
        snprintf(abs, sizeof(abs), "%s", file);
    }
    image_id_of(o->image_id ? o->image_id : abs, image, sizeof(image));
    default_session(c, o, session, sizeof(session));
    struct pr_value *job = pr_value_new_object();
    if (o->job_id)
        pr_value_set(job, "job_id", pr_value_str(o->job_id));
    pr_value_set(job, "image_id", pr_value_str(image));
    pr_value_set(job, "file_path", pr_value_str(abs));
    pr_value_set(job, "algorithm", pr_value_str(o->algorithm));
    pr_value_set(job, "parameters", *o->params);
    free(o->params);
    o->params = NULL;
    if (session[0])
        pr_value_set(job, "session_id", pr_value_str(session));
    struct cm_buf body = CM_BUF_INIT;
    pr_value_write_json(job, &body);
    pr_value_free(job);

    struct watch w = {.c = c, .rc = -1, .eta = -1};
    snprintf(w.session, sizeof(w.session), "%s", session);
    if (o->watch) { /* subscribe first: nothing the job emits can be missed */
        int r = watch_open(&w);
        if (r != 0) {
            if (r == EX_UNREACHABLE)
                unreachable(c);
            cm_buf_deinit(&body);
            return r;
        }
    }
    char *resp = NULL;
    int st = http(c, "POST", "/api/jobs", body.data, &resp);
    cm_buf_deinit(&body);
    if (st < 0) {
        if (w.open)
            cm_ws_close(&w.ws);
        return EX_UNREACHABLE;
    }
    if (st != 202) {
        print_error("submit", st, resp);
        free(resp);
        if (w.open)
            cm_ws_close(&w.ws);
        return status_exit(st);
    }
    struct pr_value v;
    struct pr_err e;
    char job_id[160] = "";
    if (pr_value_parse_json(resp, strlen(resp), &v, &e) == 0) {
        snprintf(job_id, sizeof(job_id), "%s", str_of(&v, "job_id") ? str_of(&v, "job_id") : "");
        double pos = 0;
        num_of(&v, "queue_position", &pos);
        if (c->json && !o->watch)
            printf("%s", resp);
        else if (!c->json && o->watch)
            fprintf(stderr, "Submitted job %s (queue position %.0f), session %s\n", job_id, pos,
                    session);
        else if (!c->json)
            printf("Submitted job %s (queue position %.0f)\nFollow it: zsa watch --session %s "
                   "--job %s\n",
                   job_id, pos, session, job_id);
        pr_value_deinit(&v);
    }
    free(resp);
    if (!o->watch)
        return EX_DONE;
    w.job_id = job_id;
    draw_bar(&w);
    return watch_run(&w);
}

static int cmd_watch(const struct cli *c, struct opts *o)
{
    struct watch w = {.c = c, .rc = -1, .eta = -1, .job_id = o->watch_job};
    if (!o->session && !c->token_session[0] && o->watch_job) {
        fprintf(stderr, "zsa: watch --job needs the job's --session\n");
        return EX_USAGE_;
    }
    default_session(c, o, w.session, sizeof(w.session)); /* a new one: broadcasts only */
    if (o->from)
        snprintf(w.last_id, sizeof(w.last_id), "%s", o->from);
    int r = watch_open(&w);
    if (r != 0) {
        if (r == EX_UNREACHABLE)
            unreachable(c);
        return r;
    }
    if (!c->json && !o->watch_job)
        fprintf(stderr, "Watching %s%s on %s (Ctrl-C to stop)\n",
                o->session ? "session " : "broadcasts (no --session)", o->session ? w.session : "",
                c->url);
    if (o->watch_job) {
        check_job(&w); /* it may have ended already */
        if (w.rc >= 0) {
            cm_ws_close(&w.ws);
            return w.rc;
        }
    }
    r = watch_run(&w);
    return r == EX_INTERRUPTED && !o->watch_job ? EX_DONE : r;
}

static int cmd_status(const struct cli *c, struct opts *o)
{
    char *stats = NULL;
    int st = http(c, "GET", "/ws/stats", NULL, &stats);
    if (st < 0)
        return EX_UNREACHABLE;
    /* the gateway sends its latest system_status right after "connected" */
    struct cm_ws ws = {0};
    struct pr_value status = {0};
    bool have = false;
    char target[300];
    char session[160];
    default_session(c, o, session, sizeof(session));
    snprintf(target, sizeof(target), "/ws?session_id=%s", session);
    if (ws_open(c, &ws, target) == 0) {
        int64_t until = cm_time_mono_ms() + 6000; /* the scheduler sends one every 5 s */
        while (!have && cm_time_mono_ms() < until && !interrupted) {
            struct cm_ws_msg m;
            int r = cm_ws_recv(&ws, 200, &m);
            if (r < 0)
                break;
            if (r == 0)
                continue;
            struct pr_err e;
            if (pr_value_parse_json(m.data, m.len, &status, &e) == 0) {
                const char *t = str_of(&status, "event_type");
                have = t && strcmp(t, "system_status") == 0;
                if (!have)
                    pr_value_deinit(&status);
            }
            free(m.data);
        }
        cm_ws_close(&ws);
    }
    if (c->json) {
        printf("{\"system_status\":");
        if (have)
            print_value(&status);
        else
            printf("null");
        printf(",\"gateway\":%s}\n", st == 200 ? stats : "null");
    } else {
        printf("Gateway %s\n", c->url);
        if (have) {
            double q = 0, a = 0, wk = 0, gu = 0, gm = 0, gt = 0;
            num_of(&status, "queue_length", &q);
            num_of(&status, "active_processing_count", &a);
            num_of(&status, "workers_online", &wk);
            num_of(&status, "gpu_utilization", &gu);
            num_of(&status, "gpu_memory_used_mb", &gm);
            num_of(&status, "gpu_memory_total_mb", &gt);
            printf("  queue %.0f, running %.0f, workers online %.0f\n", q, a, wk);
            if (gt > 0)
                printf("  GPU %.0f%%, memory %.1f of %.1f GB\n", gu, gm / 1024, gt / 1024);
            else
                printf("  GPU: none (CPU workers)\n");
            printf("  as of %s\n", str_of(&status, "timestamp"));
        } else {
            printf("  no system_status within 6 s: is a zsa-scheduler running?\n");
        }
        struct pr_value g;
        struct pr_err e;
        if (st == 200 && pr_value_parse_json(stats, strlen(stats), &g, &e) == 0) {
            double n = 0, s = 0, sent = 0;
            num_of(&g, "connections", &n);
            num_of(&g, "sessions", &s);
            num_of(&g, "messages_sent", &sent);
            printf("  this gateway process: %.0f clients in %.0f sessions, %.0f messages sent, "
                   "Redis %s\n",
                   n, s, sent, str_of(&g, "redis") ? str_of(&g, "redis") : "?");
            pr_value_deinit(&g);
        }
    }
    if (have)
        pr_value_deinit(&status);
    free(stats);
    return have || st == 200 ? EX_DONE : EX_FAILED;
}

/* POST path; prints what happened. */
static int simple_post(const struct cli *c, const char *what, const char *path, const char *done)
{
    char *resp = NULL;
    int st = http(c, "POST", path, "{}", &resp);
    if (st < 0)
        return EX_UNREACHABLE;
    int rc = EX_DONE;
    if (st >= 200 && st < 300) {
        if (c->json)
            printf("%s", resp);
        else
            printf("%s\n", done);
    } else {
        print_error(what, st, resp);
        rc = status_exit(st);
    }
    free(resp);
    return rc;
}

static int cmd_cancel_retry(const struct cli *c, struct opts *o, bool cancel)
{
    if (o->nargs != 1) {
        fprintf(stderr, "usage: zsa %s JOB_ID\n", cancel ? "cancel" : "retry");
        return EX_USAGE_;
    }
    char path[300], done[300];
    snprintf(path, sizeof(path), "/api/jobs/%s/%s", o->args[0], cancel ? "cancel" : "retry");
    snprintf(done, sizeof(done), cancel ? "Cancelling %s" : "Job %s is queued again", o->args[0]);
    return simple_post(c, cancel ? "cancel" : "retry", path, done);
}

static int cmd_result(const struct cli *c, struct opts *o)
{
    if (o->nargs != 1) {
        fprintf(stderr, "usage: zsa result RESULT_OR_JOB_ID [--csv]\n");
        return EX_USAGE_;
    }
    char path[300], *resp = NULL;
    snprintf(path, sizeof(path), "/api/results/%s", o->args[0]);
    int st = http(c, "GET", path, NULL, &resp);
    if (st == 404) { /* a job id: its result_id */
        free(resp);
        snprintf(path, sizeof(path), "/api/jobs/%s", o->args[0]);
        st = http(c, "GET", path, NULL, &resp);
        struct pr_value j;
        struct pr_err e;
        const char *rid = NULL;
        if (st == 200 && pr_value_parse_json(resp, strlen(resp), &j, &e) == 0) {
            rid = str_of(&j, "result_id");
            if (rid)
                snprintf(path, sizeof(path), "/api/results/%s", rid);
            pr_value_deinit(&j);
        }
        free(resp);
        resp = NULL;
        if (!rid) {
            fprintf(stderr, "zsa: no result %s, and no finished job of that id\n", o->args[0]);
            return st < 0 ? EX_UNREACHABLE : EX_REFUSED;
        }
        st = http(c, "GET", path, NULL, &resp);
    }
    if (st < 0)
        return EX_UNREACHABLE;
    if (st != 200) {
        print_error("result", st, resp);
        free(resp);
        return status_exit(st);
    }
    struct pr_value v;
    struct pr_err e;
    int rc = EX_DONE;
    if (pr_value_parse_json(resp, strlen(resp), &v, &e) != 0) {
        fprintf(stderr, "zsa: the result is not JSON\n");
        free(resp);
        return EX_FAILED;
    }
    const struct pr_value *sum = pr_value_get(&v, "summary");
    if (o->csv) {
        const struct pr_value *arts = sum ? pr_value_get(sum, "artifacts") : NULL;
        const char *csv = str_of(arts, "objects_csv");
        FILE *f = csv ? fopen(csv, "r") : NULL;
        if (!f) {
            fprintf(stderr, "zsa: %s%s%s\n", csv ? "cannot read " : "this result has no CSV table",
                    csv ? csv : "",
                    csv ? " here (it lives in the workers' results directory)" : "");
            rc = EX_FAILED;
        } else {
            char buf[65536];
            for (size_t n; (n = fread(buf, 1, sizeof(buf), f)) > 0;)
                fwrite(buf, 1, n, stdout);
            fclose(f);
        }
    } else if (c->json) {
        printf("%s", resp);
        if (resp[0] && resp[strlen(resp) - 1] != '\n')
            putchar('\n');
    } else {
        double conf = 0;
        num_of(&v, "confidence_score", &conf);
        printf("Result %s of job %s: %s, confidence %.2f\n", path + strlen("/api/results/"),
               str_of(&v, "job_id") ? str_of(&v, "job_id") : "?",
               str_of(&v, "status") ? str_of(&v, "status") : "complete", conf);
        print_summary(sum, "  ");
    }
    pr_value_deinit(&v);
    free(resp);
    return rc;
}

static int cmd_dead(const struct cli *c, struct opts *o)
{
    const char *sub = o->nargs ? o->args[0] : "list";
    if (strcmp(sub, "list") == 0 && o->nargs <= 1) {
        char path[64], *resp = NULL;
        snprintf(path, sizeof(path), "/api/dead?limit=%ld", o->limit);
        int st = http(c, "GET", path, NULL, &resp);
        if (st < 0)
            return EX_UNREACHABLE;
        if (st != 200) {
            print_error("dead list", st, resp);
            free(resp);
            return status_exit(st);
        }
        struct pr_value v;
        struct pr_err e;
        if (c->json) {
            printf("%s", resp);
        } else if (pr_value_parse_json(resp, strlen(resp), &v, &e) == 0) {
            const struct pr_value *d = pr_value_get(&v, "dead");
            size_t n = d && d->type == PR_V_ARRAY ? d->u.a.n : 0;
            printf("%zu dead letter%s (newest first)\n", n, n == 1 ? "" : "s");
            for (size_t i = 0; i < n; i++) {
                const struct pr_value *x = &d->u.a.items[i];
                printf("  %-28s %-20s %s\n", str_of(x, "job_id") ? str_of(x, "job_id") : "?",
                       str_of(x, "error_code") ? str_of(x, "error_code") : "",
                       str_of(x, "reason")  ? str_of(x, "reason")
                       : str_of(x, "error") ? str_of(x, "error")
                                            : "");
            }
            if (n)
                printf("Requeue one: zsa dead requeue JOB_ID\n");
            pr_value_deinit(&v);
        }
        free(resp);
        return EX_DONE;
    }
    if ((strcmp(sub, "requeue") == 0 || strcmp(sub, "purge") == 0) && o->nargs == 2) {
        char path[300], done[300];
        bool requeue = strcmp(sub, "requeue") == 0;
        snprintf(path, sizeof(path), "/api/dead/%s/%s", o->args[1], sub);
        snprintf(done, sizeof(done),
                 requeue ? "Job %s is queued again" : "Dead letter of %s purged", o->args[1]);
        return simple_post(c, requeue ? "dead requeue" : "dead purge", path, done);
    }
    fprintf(stderr, "usage: zsa dead list [--limit N] | zsa dead requeue JOB_ID | "
                    "zsa dead purge JOB_ID\n");
    return EX_USAGE_;
}

/* ---- access tokens ------------------------------------------------------------------------- */

/* zsa keygen [--kid K]: a key line for the gateway's --auth-keys-file. */
static int cmd_keygen(const struct opts *o)
{
    char kid[PR_TOKEN_KID_MAX + 1];
    if (o->kid) {
        if (!cm_id_valid(o->kid, strlen(o->kid), PR_TOKEN_KID_MAX)) {
            fprintf(stderr, "zsa keygen: --kid: 1..%d of [A-Za-z0-9_.:-]\n", PR_TOKEN_KID_MAX);
            return EX_USAGE_;
        }
        snprintf(kid, sizeof(kid), "%s", o->kid);
    } else { /* k-<date>-<random>: sorts by age, never repeats */
        char r[CM_RANDOM_ID_LEN + 2], day[16];
        cm_random_id(r, sizeof(r), "");
        time_t now = time(NULL);
        strftime(day, sizeof(day), "%Y%m%d", gmtime(&now));
        snprintf(kid, sizeof(kid), "k-%s-%.6s", day, r);
    }
    unsigned char secret[32];
    if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret)) {
        fprintf(stderr, "zsa keygen: getrandom: %s\n", strerror(errno));
        return EX_FAILED;
    }
    char b64[64];
    cm_b64url_encode(secret, sizeof(secret), b64, sizeof(b64));
    printf("%s %s\n", kid, b64);
    return EX_DONE;
}

/* "12h", "30m", "7d", "3600" (seconds) into seconds; -1 when not one of those. */
static long long parse_ttl(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0)
        return -1;
    long long mul;
    switch (*end) {
    case '\0':
    case 's': mul = 1; break;
    case 'm': mul = 60; break;
    case 'h': mul = 3600; break;
    case 'd': mul = 86400; break;
    default: return -1;
    }
    if ((*end && end[1]) || v > 3650LL * 86400 / mul)
        return -1;
    return v * mul;
}

/* zsa token --session S [...] --scope read,submit --ttl 12h [--subject NAME] [--kid K]
 * [--keys-file F]: mints a token with a key of the gateway's keys file (the last one unless
 * --kid names another: add a new key at the end to rotate). */
static int cmd_token(const struct opts *o)
{
    const char *path = o->keys_file ? o->keys_file : getenv("ZSA_AUTH_KEYS_FILE");
    if (!path || !*path) {
        fprintf(stderr, "zsa token: --keys-file F (or ZSA_AUTH_KEYS_FILE) names the gateway's "
                        "keys file\n");
        return EX_USAGE_;
    }
    unsigned scopes = 0;
    if (!o->scope || pr_scopes_parse(o->scope, &scopes) != 0) {
        fprintf(stderr, "zsa token: --scope: a comma list of read, submit, control, admin\n");
        return EX_USAGE_;
    }
    long long ttl = parse_ttl(o->ttl ? o->ttl : "12h");
    if (ttl < 0) {
        fprintf(stderr, "zsa token: --ttl: a duration such as 3600, 30m, 12h or 7d (<= 10 "
                        "years)\n");
        return EX_USAGE_;
    }
    if (o->nsessions == 0 && !(scopes == PR_SCOPE_ADMIN)) {
        fprintf(stderr, "zsa token: --session S (repeatable; 'lab1:*' a prefix, '*' every "
                        "session) is needed unless the token is admin-only\n");
        return EX_USAGE_;
    }
    struct pr_token_keys *ks = calloc(1, sizeof(*ks));
    char err[512];
    if (!ks || pr_token_keys_load(path, ks, err, sizeof(err)) != 0) {
        fprintf(stderr, "zsa token: %s\n", ks ? err : "out of memory");
        free(ks);
        return EX_FAILED;
    }
    const struct pr_token_key *k = o->kid ? pr_token_key_find(ks, o->kid) : &ks->keys[ks->n - 1];
    int rc = EX_DONE;
    if (!k) {
        fprintf(stderr, "zsa token: no key %s in %s\n", o->kid, path);
        rc = EX_USAGE_;
    } else {
        struct pr_token t = {.scopes = scopes, .nsessions = o->nsessions};
        t.sessions = (char **)o->sessions;
        t.iat = (int64_t)time(NULL);
        t.exp = t.iat + ttl;
        snprintf(t.sub, sizeof(t.sub), "%s", o->subject ? o->subject : "zsa-cli");
        char out[PR_TOKEN_MAX_LEN + 1];
        if (pr_token_sign(k, &t, out, sizeof(out)) == 0) {
            fprintf(stderr,
                    "zsa token: a --session is not a valid id or prefix (1..128 of "
                    "[A-Za-z0-9_.:-], a prefix ending in '*'), or --subject is over %d "
                    "characters\n",
                    PR_TOKEN_SUB_MAX);
            rc = EX_USAGE_;
        } else {
            printf("%s\n", out);
        }
    }
    memset(ks, 0, sizeof(*ks));
    free(ks);
    return rc;
}

/* The token's only session (read from its payload, not verified: the gateway does that). */
static void token_session_of(const char *tok, char *out, size_t n)
{
    out[0] = '\0';
    const char *a = strchr(tok, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    if (!b || (size_t)(b - a - 1) > PR_TOKEN_MAX_LEN)
        return;
    char json[PR_TOKEN_MAX_LEN];
    long jl = cm_b64url_decode(a + 1, (size_t)(b - a - 1), json, sizeof(json));
    struct pr_value v;
    struct pr_err e;
    if (jl < 0 || pr_value_parse_json(json, (size_t)jl, &v, &e) != 0)
        return;
    const struct pr_value *ss = v.type == PR_V_OBJECT ? pr_value_get(&v, "sessions") : NULL;
    if (ss && ss->type == PR_V_ARRAY && ss->u.a.n == 1 && ss->u.a.items[0].type == PR_V_STR &&
        !strchr(ss->u.a.items[0].u.s.p, '*'))
        snprintf(out, n, "%s", ss->u.a.items[0].u.s.p);
    pr_value_deinit(&v);
}

/* The token from --token-file or $ZSA_TOKEN (first line, trimmed); -1 when the file fails. */
static int load_token(struct cli *c, const char *file)
{
    char buf[PR_TOKEN_MAX_LEN + 2] = "";
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f || !fgets(buf, sizeof(buf), f)) {
            fprintf(stderr, "zsa: --token-file %s: %s\n", file, f ? "empty" : strerror(errno));
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
    } else if (getenv("ZSA_TOKEN")) {
        snprintf(buf, sizeof(buf), "%s", getenv("ZSA_TOKEN"));
    }
    buf[strcspn(buf, "\r\n ")] = '\0';
    if (!buf[0])
        return 0;
    c->token = strdup(buf);
    token_session_of(buf, c->token_session, sizeof(c->token_session));
    return 0;
}

/* ---- main ---------------------------------------------------------------------------------- */

static const char *const usage_text =
    "usage: zsa [--url URL] [--json] COMMAND [options]\n"
    "The zsa command line: submit z-stack analyses to a gateway and watch them live.\n"
    "\n"
    "Commands:\n"
    "  submit FILE --algorithm A [--param K=V ...] [--session S] [--job-id ID]\n"
    "         [--image-id ID] [--watch]     submit a job; --watch follows it to its end\n"
    "  watch [--session S] [--from EVENT_ID] [--job ID]\n"
    "                                       events of a session as they happen (--job: until\n"
    "                                       that job ends, with its exit status)\n"
    "  status                               queue, workers, GPU load, this gateway's figures\n"
    "  cancel JOB_ID | retry JOB_ID         stop a job / run a failed one again\n"
    "  result ID [--csv]                    a result (or a job's), or its object table\n"
    "  dead list [--limit N] | dead requeue JOB_ID | dead purge JOB_ID\n"
    "  token --session S --scope LIST [--ttl 12h] [--subject NAME] [--keys-file F]\n"
    "                                       mint an access token (needs the gateway's keys)\n"
    "  keygen [--kid K]                     a new key line for the gateway's keys file\n"
    "\n"
    "Options:\n"
    "  --url URL     the gateway (default $ZSA_URL, else http://127.0.0.1:8080)\n"
    "  --token-file F  the access token (default $ZSA_TOKEN)\n"
    "  --cacert F    CA certificates (PEM) an https:// gateway's certificate must chain to\n"
    "                (default $ZSA_CA_FILE, else the system's)\n"
    "  --json        one JSON object per line (the default when stdout is not a terminal)\n"
    "  -h, --help    this text; zsa COMMAND --help for one command\n"
    "\n"
    "Parameters: --param K=V takes V as JSON when it parses (--param sigma=[1,1,2],\n"
    "--param split=true), else as a string (--param threshold=otsu). Algorithms and their\n"
    "parameters: docs/PROTOCOL.md. Ctrl-C while a job is watched on a terminal offers to cancel "
    "it.\n"
    "\n"
    "Exit status: 0 done, 1 the job failed, 2 the gateway (or its Redis) is unreachable, 3 the\n"
    "job was cancelled, 4 the gateway refused the request, 64 bad usage, 130 interrupted.\n";

static const char *const command_help[][2] = {
    {"submit",
     "usage: zsa submit FILE --algorithm A [--param K=V ...] [--session S] [--job-id ID]\n"
     "                  [--image-id ID] [--watch]\n"
     "Submits FILE (its absolute path, as the workers see it) for analysis, in session S (a\n"
     "new one when not given; printed). --watch\n"
     "subscribes first, then shows a progress bar with step, ETA and GPU load (or JSON\n"
     "events without a terminal) and the result; the exit status is the job's.\n"},
    {"watch", "usage: zsa watch [--session S] [--from EVENT_ID] [--job ID]\n"
              "Prints the session's events as they come (replaying those after EVENT_ID). With\n"
              "--job, stops when that job ends and exits with its status. Reconnects by itself,\n"
              "resuming after the last event it saw.\n"},
    {"status", "usage: zsa status\nThe latest system_status (queue length, running jobs, workers, "
               "GPU) and this\ngateway process's figures.\n"},
    {"cancel", "usage: zsa cancel JOB_ID\nAsks the job to stop; its processing_failed CANCELLED "
               "follows.\n"},
    {"retry", "usage: zsa retry JOB_ID\nRuns a failed, cancelled or dead job again (same "
              "job_id).\n"},
    {"result", "usage: zsa result ID [--csv]\nThe stored result (ID: a result id or a job id); "
               "--csv prints the object table\n(readable where the workers' results directory "
               "is).\n"},
    {"token",
     "usage: zsa token --session S [--session S2 ...] --scope read,submit,control,admin\n"
     "                 [--ttl 12h] [--subject NAME] [--kid K] [--keys-file F]\n"
     "Mints an access token signed with a key of the gateway's keys file (--keys-file, else\n"
     "$ZSA_AUTH_KEYS_FILE; the last key unless --kid). --session: an id, a prefix ending in\n"
     "'*', or '*' for every session. --ttl: seconds, or with s/m/h/d. Prints the token.\n"},
    {"keygen", "usage: zsa keygen [--kid K]\n"
               "Prints a new key line ('<kid> <32 random bytes, base64url>') to append to the\n"
               "gateway's --auth-keys-file; then send the gateway SIGHUP.\n"},
    {"dead", "usage: zsa dead list [--limit N] | zsa dead requeue JOB_ID | zsa dead purge JOB_ID\n"
             "Jobs that used up their attempts or were malformed: list them (newest first),\n"
             "queue one again with its attempts reset, or drop its entry.\n"},
};

int main(int argc, char **argv)
{
    struct cli c = {.json = !isatty(1), .tty = isatty(2)};
    const char *url = getenv("ZSA_URL"), *token_file = NULL, *ca_file = getenv("ZSA_CA_FILE");
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) { /* global options */
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strncmp(argv[i], "--url=", 6) == 0)
            url = argv[i] + 6;
        else if (strcmp(argv[i], "--json") == 0)
            c.json = true;
        else if (strcmp(argv[i], "--token-file") == 0 && i + 1 < argc)
            token_file = argv[++i];
        else if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc)
            ca_file = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return EX_DONE;
        } else {
            fprintf(stderr, "zsa: unknown option %s\n%s", argv[i], usage_text);
            return EX_USAGE_;
        }
    }
    if (i >= argc) {
        fputs(usage_text, stderr);
        return EX_USAGE_;
    }
    const char *cmd = argv[i++];
    struct opts o = {.params = pr_value_new_object(), .limit = 100};
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define OPTV(name, field)                                                                          \
    if (strcmp(a, name) == 0) {                                                                    \
        if (!val) {                                                                                \
            fprintf(stderr, "zsa: %s needs a value\n", name);                                      \
            goto usage;                                                                            \
        }                                                                                          \
        field = val;                                                                               \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        OPTV("--algorithm", o.algorithm)
        OPTV("-a", o.algorithm)
        if (strcmp(a, "--session") == 0 && val && o.nsessions < PR_TOKEN_MAX_SESSIONS)
            o.sessions[o.nsessions++] = val;
        OPTV("--session", o.session)
        OPTV("--job-id", o.job_id)
        OPTV("--image-id", o.image_id)
        OPTV("--from", o.from)
        OPTV("--job", o.watch_job)
        OPTV("--url", url)
        OPTV("--kid", o.kid)
        OPTV("--scope", o.scope)
        OPTV("--ttl", o.ttl)
        OPTV("--subject", o.subject)
        OPTV("--keys-file", o.keys_file)
        OPTV("--token-file", token_file)
        OPTV("--cacert", ca_file)
#undef OPTV
        if ((strcmp(a, "--param") == 0 || strcmp(a, "-p") == 0) && val) {
            if (add_param(o.params, val) != 0)
                goto usage;
            i++;
        } else if (strcmp(a, "--limit") == 0 && val) {
            o.limit = atol(val);
            i++;
        } else if (strcmp(a, "--watch") == 0 || strcmp(a, "-w") == 0) {
            o.watch = true;
        } else if (strcmp(a, "--csv") == 0) {
            o.csv = true;
        } else if (strcmp(a, "--json") == 0) {
            c.json = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o.help = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "zsa %s: unknown option %s (zsa %s --help)\n", cmd, a, cmd);
            goto usage;
        } else if (o.nargs < 8) {
            o.args[o.nargs++] = argv[i];
        }
    }
    if (o.help) {
        for (size_t k = 0; k < sizeof(command_help) / sizeof(command_help[0]); k++)
            if (strcmp(cmd, command_help[k][0]) == 0) {
                fputs(command_help[k][1], stdout);
                pr_value_free(o.params);
                return EX_DONE;
            }
    }
    if (parse_url(url ? url : "http://127.0.0.1:8080", &c) != 0) {
        fprintf(stderr, "zsa: bad gateway URL \"%s\" (expected http[s]://host:port)\n", url);
        goto usage;
    }
    if (c.tls && cm_wsclient_tls(true, ca_file) != 0) {
        fprintf(stderr, "zsa: %s\n", cm_wsclient_tls_error());
        pr_value_free(o.params);
        return EX_USAGE_;
    }
    if (strcmp(cmd, "keygen") == 0 || strcmp(cmd, "token") == 0) {
        int r = strcmp(cmd, "keygen") == 0 ? cmd_keygen(&o) : cmd_token(&o);
        pr_value_free(o.params);
        return r;
    }
    if (load_token(&c, token_file) != 0) {
        pr_value_free(o.params);
        return EX_USAGE_;
    }
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc;
    if (strcmp(cmd, "submit") == 0)
        rc = cmd_submit(&c, &o);
    else if (strcmp(cmd, "watch") == 0)
        rc = cmd_watch(&c, &o);
    else if (strcmp(cmd, "status") == 0)
        rc = cmd_status(&c, &o);
    else if (strcmp(cmd, "cancel") == 0 || strcmp(cmd, "retry") == 0)
        rc = cmd_cancel_retry(&c, &o, strcmp(cmd, "cancel") == 0);
    else if (strcmp(cmd, "result") == 0)
        rc = cmd_result(&c, &o);
    else if (strcmp(cmd, "dead") == 0)
        rc = cmd_dead(&c, &o);
    else {
        fprintf(stderr, "zsa: unknown command %s\n%s", cmd, usage_text);
        rc = EX_USAGE_;
    }
    pr_value_free(o.params);
    free(c.token);
    return rc;
usage:
    pr_value_free(o.params);
    return EX_USAGE_;
}
