/* Results retention: the leader removes the result directories under --results-dir (the
 * workers' results volume) that are older than --results-retention-days and whose result has
 * left Redis (<prefix>:result:<id> no longer exists, so nothing lists them any more). Every
 * --retention-interval-s, at most SC_PRUNE_MAX directories a pass. Only directories named like a
 * result (<job_id>.r<attempt>) are looked at, never through a link (fstatat and openat without
 * following), and only the regular files and links in them are removed, then the directory: a
 * directory holding anything else stays. A pass reads the whole directory in batches of
 * SC_PRUNE_MAX candidates, each batch looked up in Redis before the next is read. Off (0 days)
 * by default. Loop thread. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/text.h"
#include "common/time.h"
#include "proto/proto.h"
#include "scheduler/internal.h"

#define SC_PRUNE_MAX 256 /* candidates looked up in Redis at a time */

struct sc_prune {
    struct sc *s;
    int root; /* the results directory, open for the pass */
    DIR *dir; /* read in batches */
    time_t cutoff;
    size_t n, pending, removed, kept, failed;
    char *names[SC_PRUNE_MAX];
};

struct sc_prune_one {
    struct sc_prune *p;
    size_t i;
};

/* "<id>.r<digits>": what the workers name a result (worker.h, wk_job_result_id). */
static bool result_name(const char *n)
{
    size_t len = strlen(n);
    const char *r = strrchr(n, '.');
    if (!cm_id_valid(n, len, PR_ID_MAX) || n[0] == '.' || !r || r == n || r[1] != 'r' || !r[2])
        return false;
    for (const char *d = r + 2; *d; d++)
        if (*d < '0' || *d > '9')
            return false;
    return true;
}

/* Removes root/name: its regular files and links (never followed), then the directory. */
static bool remove_result_dir(int root, const char *name)
{
    int fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    bool ok = true;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) || unlinkat(dirfd(d), e->d_name, 0) != 0)
            ok = false; /* a subdirectory (or something else): the directory stays */
    }
    closedir(d);
    return ok && unlinkat(root, name, AT_REMOVEDIR) == 0;
}

static void batch(struct sc_prune *p);

static void pass_end(struct sc_prune *p)
{
    struct sc *s = p->s;
    if (p->removed || p->failed)
        cm_log(p->failed ? CM_LOG_WARN : CM_LOG_INFO,
               "retention: removed %zu result director%s older than %d days under %s (%zu kept: "
               "their result is still in Redis; %zu could not be removed)",
               p->removed, p->removed == 1 ? "y" : "ies", s->cfg->results_retention_days,
               s->cfg->results_dir, p->kept, p->failed);
    if (p->dir)
        closedir(p->dir);
    close(p->root);
    s->prune = NULL;
    free(p);
}

/* A batch is over: the next, or the end of the pass. */
static void batch_end(struct sc_prune *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->names[i]);
    p->n = 0;
    if (p->dir && sc__is_leader(p->s) && !p->s->stopping && p->s->cmd.ready)
        batch(p);
    else
        pass_end(p);
}

static void exists_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct sc_prune_one *one = priv;
    struct sc_prune *p = one->p;
    redisReply *r = reply;
    /* gone from Redis, and still ours to act on: remove it */
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0 && sc__is_leader(p->s)) {
        errno = 0;
        if (remove_result_dir(p->root, p->names[one->i])) {
            p->removed++;
            p->s->pruned++;
        } else if (p->failed++ == 0) { /* the first of a pass (a read-only volume: all) */
            cm_log(CM_LOG_WARN, "retention: %s/%s: not removed (%s)", p->s->cfg->results_dir,
                   p->names[one->i], errno ? strerror(errno) : "it holds more than files");
        }
    } else if (r && r->type == REDIS_REPLY_INTEGER) {
        p->kept++;
    }
    free(one);
    if (--p->pending == 0)
        batch_end(p);
}

/* The next old result directories, into p->names (at most SC_PRUNE_MAX); the directory is
 * closed (p->dir NULL) when it has no more. */
static void collect(struct sc_prune *p)
{
    struct dirent *e = NULL;
    while (p->n < SC_PRUNE_MAX && (e = readdir(p->dir))) {
        struct stat st;
        if (result_name(e->d_name) && fstatat(p->root, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode) && st.st_mtime < p->cutoff)
            p->names[p->n++] = cm_xstrdup(e->d_name);
    }
    if (!e) {
        closedir(p->dir);
        p->dir = NULL;
    }
}

/* Looks up the next batch in Redis (exists_cb removes what is gone); ends the pass when the
 * directory has no more. */
static void batch(struct sc_prune *p)
{
    struct sc *s = p->s;
    collect(p);
    if (p->n == 0) {
        pass_end(p);
        return;
    }
    p->pending = p->n;
    for (size_t i = 0; i < p->n; i++) {
        char key[PR_ID_MAX + 64];
        cm_key_fmt(key, sizeof(key), s->cfg->common.prefix, CM_KEY_RESULT, p->names[i]);
        struct sc_prune_one *one = cm_xcalloc(1, sizeof(*one));
        one->p = p, one->i = i;
        const char *argv[] = {"EXISTS", key};
        if (redisAsyncCommandArgv(s->cmd.ac, exists_cb, one, 2, argv, NULL) != REDIS_OK) {
            free(one); /* the connection is going: the rest of this pass is dropped */
            if (p->dir)
                closedir(p->dir);
            p->dir = NULL;
            p->pending -= p->n - i;
            break;
        }
    }
    if (p->pending == 0)
        batch_end(p);
}

void sc__retention_pass(struct sc *s)
{
    const struct sc_config *cfg = s->cfg;
    if (!cfg->results_dir[0] || cfg->results_retention_days <= 0 || !sc__is_leader(s) ||
        s->stopping || s->prune || !s->cmd.ready)
        return;
    int root = open(cfg->results_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = root < 0 ? -1 : dup(root);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        cm_log(CM_LOG_WARN, "retention: --results-dir %s: %s", cfg->results_dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        if (root >= 0)
            close(root);
        return;
    }
    struct sc_prune *p = cm_xcalloc(1, sizeof(*p));
    p->s = s, p->root = root, p->dir = d;
    p->cutoff = time(NULL) - (time_t)cfg->results_retention_days * 86400;
    s->prune = p;
    batch(p);
}
