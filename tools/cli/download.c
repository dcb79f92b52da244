/* zsa (the CLI): result artifacts over REST. zsa result ID --download DIR saves each one through
 * <name>.<result_id>.part, renamed when whole. A transfer that is cut keeps its .part, and the
 * same command run again continues it with a Range request (a result's files never change, and
 * the result id in the name keeps another result's part from being continued); a terminal gets
 * a progress bar per file (percent, bytes, rate, ETA). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/time.h"
#include "common/wsclient.h"
#include "proto/proto.h"
#include "tools/cli/cli.h"

int cli__download(const struct cli *c, const char *path, FILE *to, struct cm_download *d)
{
    char err[4096];
    errno = 0;
    int st = cm_http_download(c->host, c->port, path, c->token, to, d, err, sizeof(err));
    if (st < 0 && d->bytes == 0 && errno != EPROTO)
        cli__unreachable(c);
    else if (st < 0)
        fprintf(stderr, "zsa: %s: cut short after %llu bytes (%s)\n", path,
                (unsigned long long)d->bytes, strerror(errno ? errno : EPIPE));
    else if (st != 200)
        cli__print_error(path, st, err);
    return st;
}

/* ---- the progress bar ------------------------------------------------------------------------ */

struct bar {
    const char *name;
    int64_t t0_ns, last_ns;
    uint64_t from; /* bytes the .part held at the start: not counted in the rate */
    bool shown;
};

static void fmt_bytes(uint64_t n, char *out, size_t cap)
{
    if (n < 1024 * 1024)
        snprintf(out, cap, "%.1f KB", (double)n / 1024);
    else if (n < 1024ull * 1024 * 1024)
        snprintf(out, cap, "%.1f MB", (double)n / (1024 * 1024));
    else
        snprintf(out, cap, "%.2f GB", (double)n / (1024.0 * 1024 * 1024));
}

static void draw(struct bar *b, uint64_t have, uint64_t total)
{
    double secs = (double)(cm_time_mono_ns() - b->t0_ns) / 1e9;
    double rate = secs > 0 ? (double)(have - b->from) / secs : 0;
    double pct = total ? 100.0 * (double)have / (double)total : 0;
    int width = 24, filled = (int)(pct / 100 * width + 0.5);
    char h[32], t[32], r[32], eta[16];
    fmt_bytes(have, h, sizeof(h));
    fmt_bytes(total, t, sizeof(t));
    fmt_bytes((uint64_t)rate, r, sizeof(r));
    cli__fmt_eta(rate > 0 && total >= have ? (double)(total - have) / rate : -1, eta, sizeof(eta));
    fprintf(stderr, "\r\033[K  %-16.16s [", b->name);
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %5.1f%%  %s / %s  %s/s  ETA %s", pct, h, t, r, eta);
    fflush(stderr);
    b->shown = true;
}

/* At most 10 redraws a second, and the last one (the file whole) always. */
static void progress(void *ctx, uint64_t have, uint64_t total)
{
    struct bar *b = ctx;
    int64_t now = cm_time_mono_ns();
    if (now - b->last_ns < 100000000 && have < total)
        return;
    b->last_ns = now;
    draw(b, have, total);
}

static void clear(struct bar *b)
{
    if (b->shown)
        fputs("\r\033[K", stderr);
    b->shown = false;
}

/* ---- zsa result ID --download DIR ------------------------------------------------------------ */

static void report(const struct cli *c, const char *name, uint64_t n, const char *file,
                   uint64_t resumed_at)
{
    if (!c->json) {
        printf("  %-16s %10llu bytes  %s", name, (unsigned long long)n, file);
        if (resumed_at)
            printf("  (continued from byte %llu)", (unsigned long long)resumed_at);
        putchar('\n');
        return;
    }
    struct cm_buf j = CM_BUF_INIT;
    cm_buf_puts(&j, "{\"name\":");
    cm_buf_append_json_str(&j, name, strlen(name));
    cm_buf_printf(&j, ",\"bytes\":%llu,\"file\":", (unsigned long long)n);
    cm_buf_append_json_str(&j, file, strlen(file));
    cm_buf_printf(&j, ",\"resumed_at\":%llu}", (unsigned long long)resumed_at);
    printf("%s\n", j.data);
    cm_buf_deinit(&j);
}

/* One artifact into file, through part. EX_DONE, or the exit status of what failed (the part
 * stays when the transfer was cut, to be continued). */
static int fetch_one(const struct cli *c, const char *name, const char *url, uint64_t size,
                     const char *file, const char *part)
{
    struct stat st;
    uint64_t have = stat(part, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (have > size) /* not a prefix of this file: start again */
        have = 0;
    FILE *f = fopen(part, have ? "r+b" : "wb");
    if (!f || (have && fseeko(f, (off_t)have, SEEK_SET) != 0)) {
        fprintf(stderr, "zsa: %s: %s\n", part, strerror(errno));
        if (f)
            fclose(f);
        return EX_FAILED;
    }
    struct bar b = {.name = name, .t0_ns = cm_time_mono_ns(), .from = have};
    struct cm_download d = {.from = have};
    int s = 200;
    if (have < size || size == 0) {
        if (c->tty && !c->json)
            d.progress = progress, d.ctx = &b;
        s = cli__download(c, url, f, &d);
        clear(&b);
    } else {
        d.total = size; /* whole already: a run cut between the last byte and the rename */
    }
    bool closed = fclose(f) == 0;
    uint64_t got = (d.resumed ? have : 0) + d.bytes;
    if (s == 200 && closed && (size == 0 || got == size || have == size) &&
        rename(part, file) == 0) {
        report(c, name, have == size && size ? size : got, file, d.resumed ? have : 0);
        return EX_DONE;
    }
    if (s < 0 || !closed) {
        fprintf(stderr, "zsa: %s: %llu of %llu bytes kept in %s; the same command continues it\n",
                name, (unsigned long long)got, (unsigned long long)size, part);
        return s < 0 ? EX_UNREACHABLE : EX_FAILED;
    }
    if (s == 200)
        fprintf(stderr, "zsa: %s: %llu bytes, the result lists %llu\n", name,
                (unsigned long long)got, (unsigned long long)size);
    unlink(part); /* refused (gone, not allowed): nothing to continue */
    return s == 200 ? EX_FAILED : cli__status_exit(s);
}

int cli__download_all(const struct cli *c, const char *rid, const char *dir)
{
    char path[400], *resp = NULL;
    snprintf(path, sizeof(path), "/api/results/%s/artifacts", rid);
    int st = cli__http(c, "GET", path, NULL, &resp);
    struct pr_value v;
    struct pr_err e;
    if (st != 200 || pr_value_parse_json(resp, strlen(resp), &v, &e) != 0) {
        if (st >= 0)
            cli__print_error("artifacts", st, resp);
        free(resp);
        return st < 0 ? EX_UNREACHABLE : cli__status_exit(st);
    }
    free(resp);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "zsa: %s: %s\n", dir, strerror(errno));
        pr_value_deinit(&v);
        return EX_FAILED;
    }
    const struct pr_value *arts = pr_value_get(&v, "artifacts");
    int rc = EX_DONE;
    for (size_t i = 0; arts && arts->type == PR_V_ARRAY && i < arts->u.a.n; i++) {
        const struct pr_value *a = &arts->u.a.items[i];
        const char *name = cli__str_of(a, "name"), *url = cli__str_of(a, "url");
        double size = 0;
        cli__num_of(a, "size", &size);
        if (!name || !url || strchr(name, '/') || name[0] == '.' || size < 0)
            continue;
        char file[1024], part[1200];
        snprintf(file, sizeof(file), "%s/%s", dir, name);
        snprintf(part, sizeof(part), "%s.%s.part", file, rid);
        int r = fetch_one(c, name, url, (uint64_t)size, file, part);
        if (r != EX_DONE)
            rc = r;
    }
    pr_value_deinit(&v);
    return rc;
}
