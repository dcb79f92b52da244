/* zsa (the CLI): the commands that talk to a gateway: submit, watch, status, cancel, retry,
 * result, dead. */
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/text.h"
#include "common/time.h"
#include "common/wsclient.h"
#include "proto/proto.h"
#include "proto/token.h"
#include "tools/cli/cli.h"

/* ---- commands ------------------------------------------------------------------------------ */

int cli__add_param(struct pr_value *params, const char *kv)
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

int cli__cmd_submit(const struct cli *c, struct opts *o)
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
        int r = cli__watch_open(&w);
        if (r != 0) {
            if (r == EX_UNREACHABLE)
                cli__unreachable(c);
            cm_buf_deinit(&body);
            return r;
        }
    }
    char *resp = NULL;
    int st = cli__http(c, "POST", "/api/jobs", body.data, &resp);
    cm_buf_deinit(&body);
    if (st < 0) {
        if (w.open)
            cm_ws_close(&w.ws);
        return EX_UNREACHABLE;
    }
    if (st != 202) {
        cli__print_error("submit", st, resp);
        free(resp);
        if (w.open)
            cm_ws_close(&w.ws);
        return cli__status_exit(st);
    }
    struct pr_value v;
    struct pr_err e;
    char job_id[160] = "";
    if (pr_value_parse_json(resp, strlen(resp), &v, &e) == 0) {
        snprintf(job_id, sizeof(job_id), "%s",
                 cli__str_of(&v, "job_id") ? cli__str_of(&v, "job_id") : "");
        double pos = 0;
        cli__num_of(&v, "queue_position", &pos);
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
    cli__draw_bar(&w);
    return cli__watch_run(&w);
}

int cli__cmd_watch(const struct cli *c, struct opts *o)
{
    struct watch w = {.c = c, .rc = -1, .eta = -1, .job_id = o->watch_job};
    if (!o->session && !c->token_session[0] && o->watch_job) {
        fprintf(stderr, "zsa: watch --job needs the job's --session\n");
        return EX_USAGE_;
    }
    default_session(c, o, w.session, sizeof(w.session)); /* a new one: broadcasts only */
    if (o->from)
        snprintf(w.last_id, sizeof(w.last_id), "%s", o->from);
    int r = cli__watch_open(&w);
    if (r != 0) {
        if (r == EX_UNREACHABLE)
            cli__unreachable(c);
        return r;
    }
    if (!c->json && !o->watch_job)
        fprintf(stderr, "Watching %s%s on %s (Ctrl-C to stop)\n",
                o->session ? "session " : "broadcasts (no --session)", o->session ? w.session : "",
                c->url);
    if (o->watch_job) {
        cli__check_job(&w); /* it may have ended already */
        if (w.rc >= 0) {
            cm_ws_close(&w.ws);
            return w.rc;
        }
    }
    r = cli__watch_run(&w);
    return r == EX_INTERRUPTED && !o->watch_job ? EX_DONE : r;
}

int cli__cmd_status(const struct cli *c, struct opts *o)
{
    char *stats = NULL;
    int st = cli__http(c, "GET", "/ws/stats", NULL, &stats);
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
    if (cli__ws_open(c, &ws, target) == 0) {
        int64_t until = cm_time_mono_ms() + 6000; /* the scheduler sends one every 5 s */
        while (!have && cm_time_mono_ms() < until && !cli_interrupted) {
            struct cm_ws_msg m;
            int r = cm_ws_recv(&ws, 200, &m);
            if (r < 0)
                break;
            if (r == 0)
                continue;
            struct pr_err e;
            if (pr_value_parse_json(m.data, m.len, &status, &e) == 0) {
                const char *t = cli__str_of(&status, "event_type");
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
            cli__print_value(&status);
        else
            printf("null");
        printf(",\"gateway\":%s}\n", st == 200 ? stats : "null");
    } else {
        printf("Gateway %s\n", c->url);
        if (have) {
            double q = 0, a = 0, wk = 0, gu = 0, gm = 0, gt = 0;
            cli__num_of(&status, "queue_length", &q);
            cli__num_of(&status, "active_processing_count", &a);
            cli__num_of(&status, "workers_online", &wk);
            cli__num_of(&status, "gpu_utilization", &gu);
            cli__num_of(&status, "gpu_memory_used_mb", &gm);
            cli__num_of(&status, "gpu_memory_total_mb", &gt);
            printf("  queue %.0f, running %.0f, workers online %.0f\n", q, a, wk);
            if (gt > 0)
                printf("  GPU %.0f%%, memory %.1f of %.1f GB\n", gu, gm / 1024, gt / 1024);
            else
                printf("  GPU: none (CPU workers)\n");
            printf("  as of %s\n", cli__str_of(&status, "timestamp"));
        } else {
            printf("  no system_status within 6 s: is a zsa-scheduler running?\n");
        }
        struct pr_value g;
        struct pr_err e;
        if (st == 200 && pr_value_parse_json(stats, strlen(stats), &g, &e) == 0) {
            double n = 0, s = 0, sent = 0;
            cli__num_of(&g, "connections", &n);
            cli__num_of(&g, "sessions", &s);
            cli__num_of(&g, "messages_sent", &sent);
            printf("  this gateway process: %.0f clients in %.0f sessions, %.0f messages sent, "
                   "Redis %s\n",
                   n, s, sent, cli__str_of(&g, "redis") ? cli__str_of(&g, "redis") : "?");
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
    int st = cli__http(c, "POST", path, "{}", &resp);
    if (st < 0)
        return EX_UNREACHABLE;
    int rc = EX_DONE;
    if (st >= 200 && st < 300) {
        if (c->json)
            printf("%s", resp);
        else
            printf("%s\n", done);
    } else {
        cli__print_error(what, st, resp);
        rc = cli__status_exit(st);
    }
    free(resp);
    return rc;
}

int cli__cmd_cancel_retry(const struct cli *c, struct opts *o, bool cancel)
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

int cli__cmd_result(const struct cli *c, struct opts *o)
{
    if (o->nargs != 1) {
        fprintf(stderr, "usage: zsa result RESULT_OR_JOB_ID [--csv]\n");
        return EX_USAGE_;
    }
    char path[300], *resp = NULL;
    snprintf(path, sizeof(path), "/api/results/%s", o->args[0]);
    int st = cli__http(c, "GET", path, NULL, &resp);
    if (st == 404) { /* a job id: its result_id */
        free(resp);
        snprintf(path, sizeof(path), "/api/jobs/%s", o->args[0]);
        st = cli__http(c, "GET", path, NULL, &resp);
        struct pr_value j;
        struct pr_err e;
        const char *rid = NULL;
        if (st == 200 && pr_value_parse_json(resp, strlen(resp), &j, &e) == 0) {
            rid = cli__str_of(&j, "result_id");
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
        st = cli__http(c, "GET", path, NULL, &resp);
    }
    if (st < 0)
        return EX_UNREACHABLE;
    if (st != 200) {
        cli__print_error("result", st, resp);
        free(resp);
        return cli__status_exit(st);
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
    const char *rid = path + strlen("/api/results/");
    if (o->download) {
        rc = cli__download_all(c, rid, o->download);
    } else if (o->csv) {
        char url[400];
        struct cm_download d = {0};
        snprintf(url, sizeof(url), "/api/results/%s/artifacts/objects.csv", rid);
        int got = cli__download(c, url, stdout, &d);
        rc = got == 200 ? EX_DONE : got < 0 ? EX_UNREACHABLE : cli__status_exit(got);
    } else if (c->json) {
        printf("%s", resp);
        if (resp[0] && resp[strlen(resp) - 1] != '\n')
            putchar('\n');
    } else {
        double conf = 0;
        cli__num_of(&v, "confidence_score", &conf);
        printf("Result %s of job %s: %s, confidence %.2f\n", path + strlen("/api/results/"),
               cli__str_of(&v, "job_id") ? cli__str_of(&v, "job_id") : "?",
               cli__str_of(&v, "status") ? cli__str_of(&v, "status") : "complete", conf);
        cli__print_summary(sum, "  ");
    }
    pr_value_deinit(&v);
    free(resp);
    return rc;
}

int cli__cmd_dead(const struct cli *c, struct opts *o)
{
    const char *sub = o->nargs ? o->args[0] : "list";
    if (strcmp(sub, "list") == 0 && o->nargs <= 1) {
        char path[64], *resp = NULL;
        snprintf(path, sizeof(path), "/api/dead?limit=%ld", o->limit);
        int st = cli__http(c, "GET", path, NULL, &resp);
        if (st < 0)
            return EX_UNREACHABLE;
        if (st != 200) {
            cli__print_error("dead list", st, resp);
            free(resp);
            return cli__status_exit(st);
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
                printf("  %-28s %-20s %s\n",
                       cli__str_of(x, "job_id") ? cli__str_of(x, "job_id") : "?",
                       cli__str_of(x, "error_code") ? cli__str_of(x, "error_code") : "",
                       cli__str_of(x, "reason")  ? cli__str_of(x, "reason")
                       : cli__str_of(x, "error") ? cli__str_of(x, "error")
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
