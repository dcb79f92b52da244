/* zsa-analyze: runs one analysis algorithm on this machine, without Redis or a worker, and prints
 * its result as JSON: for trying parameters on a file, scripting, the oracle test and the
 * benchmarks. The same code path as the worker's compute thread. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "proto/proto.h"
#include "analysis/algo.h"
#include "analysis/par.h"
#include "analysis/params.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: zsa-analyze [options] --algorithm A [FILE]\n"
            "Runs one analysis here (no Redis, no worker) and prints {\"algorithm\", "
            "\"confidence\",\n\"summary\"} as JSON, or {\"error_code\", \"error\"} and exit "
            "status 1.\n"
            "  -a, --algorithm A   %s\n"
            "  -p, --param K=V     one parameter; V is read as JSON when it parses (2, [1,1,2],\n"
            "                      true), else as a string (otsu); repeat for more\n"
            "      --params JSON   all parameters as one JSON object (then --param adds to it)\n"
            "  -o, --results DIR   artifacts go to DIR/<job-id>/ (default .)\n"
            "      --job-id ID     (default local)\n"
            "  -t, --threads N     threads (default: the CPUs this process may use)\n"
            "      --repeat N      run N times (each run's total and step times on stderr), print\n"
            "                      the last (runs after the first reuse the working memory)\n"
            "  -q, --quiet         no progress bar on stderr\n"
            "      --doc           print the algorithms table of docs/PROTOCOL.md and exit\n"
            "Exit status: 0 done, 1 the analysis failed, 2 bad usage.\n",
            za_algo_names());
    struct cm_buf b = CM_BUF_INIT;
    for (size_t i = 0; za_algo_at(i); i++) {
        const struct za_algo *a = za_algo_at(i);
        cm_buf_printf(&b, "\n%s parameters:\n", a->name);
        za_params_help(a->params, a->nparams, &b);
    }
    fwrite(b.data, 1, b.len, f);
    cm_buf_deinit(&b);
}

struct run_state {
    bool bar;
    double last;
};

static void progress(struct za_algo_ctx *ctx, double pct, const char *step)
{
    struct run_state *st = ctx->priv;
    if (!st->bar || (pct - st->last < 1 && pct < 100))
        return;
    st->last = pct;
    int filled = (int)(pct / 100 * 30);
    fprintf(stderr, "\r[%.*s%*s] %5.1f%% %-24.24s", filled, "##############################",
            30 - filled, "", pct, step);
    if (pct >= 100)
        fputc('\n', stderr);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_params(const char *json, struct pr_value *out)
{
    struct pr_err e;
    if (pr_value_parse_json(json, strlen(json), out, &e) != 0 || out->type != PR_V_OBJECT) {
        fprintf(stderr, "zsa-analyze: --params: not a JSON object\n");
        return -1;
    }
    return 0;
}

static int add_param(struct pr_value *params, const char *kv)
{
    if (pr_value_set_param(params, kv) == 0)
        return 0;
    fprintf(stderr, "%s: --param: expected KEY=VALUE, got \"%s\"\n", "zsa-analyze", kv);
    return -1;
}

/* Long: option parsing, then the run, in the order --help lists them */
int main(int argc, char **argv)
{
    const char *algo_name = NULL, *results = ".", *job_id = "local";
    int repeat = 1;
    bool quiet = false;
    struct pr_value *params = pr_value_new_object();
    static const struct option longopts[] = {
        {"algorithm", 1, 0, 'a'}, {"param", 1, 0, 'p'},  {"params", 1, 0, 'P'},
        {"results", 1, 0, 'o'},   {"job-id", 1, 0, 'j'}, {"threads", 1, 0, 't'},
        {"repeat", 1, 0, 'r'},    {"quiet", 0, 0, 'q'},  {"help", 0, 0, 'h'},
        {"doc", 0, 0, 'D'},       {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "a:p:o:t:qh", longopts, NULL)) != -1;) {
        switch (c) {
        case 'a': algo_name = optarg; break;
        case 'p':
            if (add_param(params, optarg) != 0)
                return 2;
            break;
        case 'P': {
            struct pr_value more;
            if (parse_params(optarg, &more) != 0)
                return 2;
            for (size_t i = 0; i < more.u.o.n; i++) { /* moved over */
                pr_value_set(params, more.u.o.m[i].key, more.u.o.m[i].val);
                more.u.o.m[i].val = pr_value_null();
            }
            pr_value_deinit(&more);
            break;
        }
        case 'o': results = optarg; break;
        case 'j': job_id = optarg; break;
        case 't': za_set_threads(atoi(optarg)); break;
        case 'r': repeat = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        case 'D': {
            struct cm_buf b = CM_BUF_INIT;
            za_algos_markdown(&b);
            fwrite(b.data, 1, b.len, stdout);
            cm_buf_deinit(&b);
            return 0;
        }
        default: usage(stderr); return 2;
        }
    }
    const struct za_algo *algo = algo_name ? za_algo_find(algo_name) : NULL;
    if (!algo) {
        fprintf(stderr, "zsa-analyze: %s%s (known: %s)\n",
                algo_name ? "unknown algorithm " : "--algorithm is required",
                algo_name ? algo_name : "", za_algo_names());
        return 2;
    }
    const char *file = optind < argc ? argv[optind] : NULL;
    if (algo->needs_file && !file) {
        fprintf(stderr, "zsa-analyze: %s needs an input FILE\n", algo->name);
        return 2;
    }
    char err[512] = "";
    if (algo->check && algo->check(params, err, sizeof(err)) != 0) {
        printf("{\"error_code\":\"INVALID_PARAMETERS\",\"error\":");
        struct cm_buf b = CM_BUF_INIT;
        struct pr_value s = pr_value_str(err);
        pr_value_write_json(&s, &b);
        printf("%.*s}\n", (int)b.len, b.data);
        pr_value_deinit(&s);
        cm_buf_deinit(&b);
        pr_value_free(params);
        return 1;
    }
    atomic_bool cancel;
    atomic_init(&cancel, false);
    struct run_state st = {.bar = !quiet && isatty(2), .last = -1};
    struct za_algo_ctx ctx = {.input_path = file,
                              .params = params,
                              .results_dir = results,
                              .result_id = job_id,
                              .cancel = &cancel,
                              .progress = progress,
                              .priv = &st};
    struct za_algo_result res = {0};
    int rc = 0;
    for (int i = 0; i < repeat; i++) {
        if (i)
            za_algo_result_deinit(&res);
        memset(&res, 0, sizeof(res));
        st.last = -1;
        double t0 = now_s();
        rc = algo->run(&ctx, &res);
        if (repeat > 1) { /* per run: the total and the algorithm's own step times */
            const struct pr_value *tm = rc == 0 ? pr_value_get(res.summary, "time_ms") : NULL;
            struct cm_buf b = CM_BUF_INIT;
            if (tm)
                pr_value_write_json(tm, &b);
            fprintf(stderr, "run %d: %.1f ms %s\n", i + 1, (now_s() - t0) * 1e3,
                    b.len ? b.data : "{}");
            cm_buf_deinit(&b);
        }
        if (rc != 0)
            break;
    }
    struct pr_value *out = pr_value_new_object();
    if (rc == 0) {
        pr_value_set(out, "algorithm", pr_value_str(algo->name));
        pr_value_set(out, "confidence", pr_value_double(res.confidence));
        pr_value_set(out, "summary", *res.summary);
        free(res.summary);
        res.summary = NULL;
    } else {
        pr_value_set(out, "error_code", pr_value_str(res.error_code));
        pr_value_set(out, "error", pr_value_str(res.error));
    }
    struct cm_buf b = CM_BUF_INIT;
    pr_value_write_json(out, &b);
    printf("%.*s\n", (int)b.len, b.data);
    cm_buf_deinit(&b);
    pr_value_free(out);
    za_algo_result_deinit(&res);
    pr_value_free(params);
    return rc == 0 ? 0 : 1;
}
