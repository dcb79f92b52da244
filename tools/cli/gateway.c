/* zsa (the CLI): reaching the gateway (URL, REST over HTTP or HTTPS, WebSocket), its errors as
 * exit statuses, and printing what it answers. */
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

/* ---- gateway access ----------------------------------------------------------------------- */

/* "http[s]://host:port[/]", "ws[s]://...", "host:port" or "host". */
int cli__parse_url(const char *url, struct cli *c)
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

void cli__unreachable(const struct cli *c)
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
int cli__http(const struct cli *c, const char *method, const char *path, const char *body,
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
        cli__unreachable(c);
        free(buf);
        *out = NULL;
        return -1;
    }
    *out = buf;
    return st;
}

/* Opens a WebSocket (JSON); with a token, its first message is auth (never in the URL, where a
 * proxy's log would keep it). 0 or -1 (w->http_status says what the gateway answered). */
int cli__ws_open(const struct cli *c, struct cm_ws *w, const char *target)
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
void cli__print_error(const char *what, int status, const char *body)
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
int cli__status_exit(int st)
{
    return st >= 500 ? EX_UNREACHABLE : EX_REFUSED;
}

/* ---- printing ------------------------------------------------------------------------------ */

const char *cli__str_of(const struct pr_value *o, const char *key)
{
    const struct pr_value *v = o ? pr_value_get(o, key) : NULL;
    return v && v->type == PR_V_STR ? v->u.s.p : NULL;
}

bool cli__num_of(const struct pr_value *o, const char *key, double *out)
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

void cli__print_value(const struct pr_value *v)
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
        cli__print_value(v);
        return;
    default: cli__print_value(v); return;
    }
}

/* A summary for people: one line per field. */
void cli__print_summary(const struct pr_value *sum, const char *indent)
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

void cli__fmt_eta(double s, char *out, size_t n)
{
    if (s < 0 || !isfinite(s))
        snprintf(out, n, "--:--");
    else if (s < 3600)
        snprintf(out, n, "%d:%02d", (int)s / 60, (int)s % 60);
    else
        snprintf(out, n, "%dh%02d", (int)s / 3600, (int)s / 60 % 60);
}
