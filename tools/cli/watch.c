/* zsa (the CLI): watching jobs live over the WebSocket: a progress bar with ETA on a terminal,
 * one JSON event per line otherwise; reconnects with last_event_id; Ctrl-C offers to cancel. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/text.h"
#include "common/time.h"
#include "common/wsclient.h"
#include "proto/proto.h"
#include "proto/token.h"
#include "tools/cli/cli.h"

/* ---- watching ------------------------------------------------------------------------------ */

/* Opens the session's WebSocket (resuming after last_id) and waits for "connected". */
int cli__watch_open(struct watch *w)
{
    char target[512];
    snprintf(target, sizeof(target), "/ws?session_id=%s%s%s", w->session,
             w->last_id[0] ? "&last_event_id=" : "", w->last_id);
    memset(&w->ws, 0, sizeof(w->ws));
    errno = 0;
    if (cli__ws_open(w->c, &w->ws, target) != 0) {
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

void cli__draw_bar(struct watch *w)
{
    if (!w->c->tty || w->c->json)
        return;
    int width = 30, filled = (int)(w->progress / 100 * width + 0.5);
    char eta[16], gpu[48] = "";
    cli__fmt_eta(w->eta, eta, sizeof(eta));
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
/* Long: one switch over the event types the watcher prints */
static void handle(struct watch *w, const char *text, size_t len)
{
    struct pr_value v;
    struct pr_err e;
    if (pr_value_parse_json(text, len, &v, &e) != 0)
        return;
    const char *type = cli__str_of(&v, "event_type"), *id = cli__str_of(&v, "event_id");
    const char *job = cli__str_of(&v, "job_id");
    if (!type)
        goto out;
    if (id)
        snprintf(w->last_id, sizeof(w->last_id), "%s", id);
    bool mine = !w->job_id || (job && strcmp(job, w->job_id) == 0);
    if (strcmp(type, "system_status") == 0) {
        w->have_gpu = true;
        cli__num_of(&v, "gpu_utilization", &w->gpu_util);
        cli__num_of(&v, "gpu_memory_used_mb", &w->gpu_mem);
        cli__num_of(&v, "gpu_memory_total_mb", &w->gpu_total);
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
        cli__num_of(&v, "progress", &p);
        printf("%s  %-20s %-24s", id ? id : "-", type, job ? job : "");
        if (strcmp(type, "processing_progress") == 0)
            printf(" %5.1f%% %s", p,
                   cli__str_of(&v, "current_step") ? cli__str_of(&v, "current_step") : "");
        else if (strcmp(type, "processing_failed") == 0)
            printf(" %s: %s", cli__str_of(&v, "error_code"), cli__str_of(&v, "error"));
        else if (strcmp(type, "processing_complete") == 0 &&
                 cli__num_of(&v, "confidence_score", &p))
            printf(" confidence %.2f", p);
        else if (strcmp(type, "processing_started") == 0)
            printf(" %s", cli__str_of(&v, "algorithm") ? cli__str_of(&v, "algorithm") : "");
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
        w->eta = cli__num_of(&v, "estimated_time_seconds", &est) ? est : -1;
    } else if (strcmp(type, "processing_progress") == 0) {
        cli__num_of(&v, "progress", &w->progress);
        if (!cli__num_of(&v, "eta_seconds", &w->eta))
            w->eta = -1;
        snprintf(w->step, sizeof(w->step), "%s",
                 cli__str_of(&v, "current_step") ? cli__str_of(&v, "current_step") : "");
    } else if (strcmp(type, "processing_complete") == 0) {
        w->progress = 100, w->eta = 0;
        snprintf(w->step, sizeof(w->step), "Complete");
        if (!w->c->json) {
            cli__draw_bar(w);
            clear_bar(w);
            double conf = 0, secs = 0;
            cli__num_of(&v, "confidence_score", &conf);
            cli__num_of(&v, "processing_time_seconds", &secs);
            printf("Job %s complete in %.1f s, confidence %.2f\n", w->job_id, secs, conf);
            cli__print_summary(pr_value_get(&v, "summary"), "  ");
            const char *rid = cli__str_of(&v, "result_id");
            printf("Full result: zsa result %s\n", rid);
            if (pr_value_get(pr_value_get(&v, "summary"), "preview"))
                printf("Preview: %s/api/results/%s/artifacts/preview.png\n"
                       "Artifacts: zsa result %s --download DIR\n",
                       w->c->url, rid, rid);
            fflush(stdout);
        }
        w->rc = EX_DONE;
        w->linger_ms = cm_time_mono_ms() + 1500; /* a validation request may follow */
    } else if (strcmp(type, "validation_required") == 0) {
        if (!w->c->json) {
            clear_bar(w);
            double conf = 0;
            cli__num_of(&v, "confidence", &conf);
            printf("Needs review (confidence %.2f): %s\n", conf,
                   cli__str_of(&v, "reason") ? cli__str_of(&v, "reason") : "");
            const struct pr_value *sa = pr_value_get(&v, "suggested_actions");
            for (size_t i = 0; sa && sa->type == PR_V_ARRAY && i < sa->u.a.n; i++)
                if (sa->u.a.items[i].type == PR_V_STR)
                    printf("  - %s\n", sa->u.a.items[i].u.s.p);
            fflush(stdout);
        }
        w->linger_ms = 0;
    } else if (strcmp(type, "processing_failed") == 0) {
        const char *code = cli__str_of(&v, "error_code");
        bool cancelled = code && strcmp(code, "CANCELLED") == 0;
        if (!w->c->json) {
            clear_bar(w);
            fprintf(stderr, "Job %s %s: %s: %s\n", w->job_id, cancelled ? "cancelled" : "failed",
                    code ? code : "?", cli__str_of(&v, "error") ? cli__str_of(&v, "error") : "");
            const struct pr_value *r = pr_value_get(&v, "retry_available");
            if (r && r->type == PR_V_BOOL && r->u.b && !cancelled)
                fprintf(stderr, "It may work again: zsa retry %s\n", w->job_id);
        }
        w->rc = cancelled ? EX_CANCELLED : EX_FAILED;
        w->linger_ms = 0;
    }
    if (w->rc < 0)
        cli__draw_bar(w);
out:
    pr_value_deinit(&v);
}

/* The job's state over REST (when events were lost): sets w->rc when it has ended. */
void cli__check_job(struct watch *w)
{
    char path[300], *body = NULL;
    snprintf(path, sizeof(path), "/api/jobs/%s", w->job_id);
    int st = cli__http(w->c, "GET", path, NULL, &body);
    struct pr_value v;
    struct pr_err e;
    if (st == 200 && pr_value_parse_json(body, strlen(body), &v, &e) == 0) {
        const char *s = cli__str_of(&v, "status");
        if (s && strcmp(s, "complete") == 0)
            w->rc = EX_DONE;
        else if (s && (strcmp(s, "failed") == 0 || strcmp(s, "dead") == 0))
            w->rc = EX_FAILED;
        else if (s && strcmp(s, "cancelled") == 0)
            w->rc = EX_CANCELLED;
        if (w->rc >= 0 && !w->c->json)
            fprintf(stderr, "Job %s is %s%s%s\n", w->job_id, s,
                    cli__str_of(&v, "error") ? ": " : "",
                    cli__str_of(&v, "error") ? cli__str_of(&v, "error") : "");
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
    cli_interrupted = 0;
    if (!tty || !fgets(line, sizeof(line), tty) || cli_interrupted) {
        if (tty)
            fclose(tty);
        return EX_INTERRUPTED;
    }
    fclose(tty);
    if (line[0] == 'y' || line[0] == 'Y') {
        char path[300], *body = NULL;
        snprintf(path, sizeof(path), "/api/jobs/%s/cancel", w->job_id);
        int st = cli__http(w->c, "POST", path, "{}", &body);
        if (st == 202)
            fprintf(stderr, "Cancelling %s...\n", w->job_id);
        else if (st > 0)
            cli__print_error("cancel", st, body);
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
int cli__watch_run(struct watch *w)
{
    int64_t lost_since = 0;
    while (w->rc < 0 || (w->linger_ms && cm_time_mono_ms() < w->linger_ms)) {
        if (cli_interrupted) {
            int r = offer_cancel(w);
            if (r >= 0)
                return r;
        }
        if (!w->open) {
            if (cli__watch_open(w) == 0) {
                lost_since = 0;
                if (w->job_id)
                    cli__check_job(w);
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
