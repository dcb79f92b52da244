/* zsa: the command line client. Talks to a gateway over REST and WebSocket only (no Redis):
 * submits jobs and watches them live (progress bar on a terminal, one JSON event per line
 * otherwise), shows the system status, cancels, retries, fetches results, handles dead letters.
 *
 * Exit status: 0 done (job complete), 1 the job failed, 2 the gateway (or its Redis) is
 * unreachable or the connection was lost for good, 3 the job was cancelled, 4 the gateway
 * refused the request (the error is printed), 64 bad usage, 130 cli_interrupted (the job keeps
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

volatile sig_atomic_t cli_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    cli_interrupted++;
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
    "  result ID [--csv] [--download DIR]   a result (or a job's), its object table, or every\n"
    "                                       artifact (preview.png, TIFFs, CSV) into DIR\n"
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
    "Exit status: 0 done, 1 the job failed, 2 the gateway (or its Redis) is unreachable, 3 "
    "the\n"
    "job was cancelled, 4 the gateway refused the request, 64 bad usage, 130 cli_interrupted.\n";

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
    {"result",
     "usage: zsa result ID [--csv] [--download DIR]\nThe stored result (ID: a result id or "
     "a job id); --csv prints the object table;\n--download saves every artifact of "
     "the result into DIR (made if missing), over REST,\neach through NAME.RESULT_ID.part "
     "(a progress bar on a terminal); a run that was cut\nkeeps its .part files, and the "
     "same command continues them.\n"},
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

/* Long: global options, then the dispatch of the commands, in the order --help lists them */
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
        OPTV("--download", o.download)
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
            if (cli__add_param(o.params, val) != 0)
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
    if (cli__parse_url(url ? url : "http://127.0.0.1:8080", &c) != 0) {
        fprintf(stderr, "zsa: bad gateway URL \"%s\" (expected http[s]://host:port)\n", url);
        goto usage;
    }
    if (c.tls && cm_wsclient_tls(true, ca_file) != 0) {
        fprintf(stderr, "zsa: %s\n", cm_wsclient_tls_error());
        pr_value_free(o.params);
        return EX_USAGE_;
    }
    if (strcmp(cmd, "keygen") == 0 || strcmp(cmd, "token") == 0) {
        int r = strcmp(cmd, "keygen") == 0 ? cli__cmd_keygen(&o) : cli__cmd_token(&o);
        pr_value_free(o.params);
        return r;
    }
    if (cli__load_token(&c, token_file) != 0) {
        pr_value_free(o.params);
        return EX_USAGE_;
    }
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc;
    if (strcmp(cmd, "submit") == 0)
        rc = cli__cmd_submit(&c, &o);
    else if (strcmp(cmd, "watch") == 0)
        rc = cli__cmd_watch(&c, &o);
    else if (strcmp(cmd, "status") == 0)
        rc = cli__cmd_status(&c, &o);
    else if (strcmp(cmd, "cancel") == 0 || strcmp(cmd, "retry") == 0)
        rc = cli__cmd_cancel_retry(&c, &o, strcmp(cmd, "cancel") == 0);
    else if (strcmp(cmd, "result") == 0)
        rc = cli__cmd_result(&c, &o);
    else if (strcmp(cmd, "dead") == 0)
        rc = cli__cmd_dead(&c, &o);
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
