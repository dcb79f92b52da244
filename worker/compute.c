/* Compute threads, one per job slot, and the queue through which they post progress and
 * completion to the loop (a mutex-protected list plus a pipe as doorbell). The loop never waits
 * on a compute thread except when stopping them at exit. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/time.h"
#include "worker/worker.h"

#define WK_PROGRESS_MIN_NS 100000000LL /* at most 10 progress posts per second per job */

enum { POST_PROGRESS, POST_DONE };

struct wk_post {
    struct wk_post *next;
    struct wk_slot *slot;
    int kind;
    double progress;
    int64_t t_ns; /* when the algorithm reported it (the loop may see several at once) */
    int rc;
    char step[128];
};

static void post(struct wk_worker *w, struct wk_post *p)
{
    pthread_mutex_lock(&w->lock);
    bool was_empty = !w->posts_head;
    if (w->posts_tail)
        w->posts_tail->next = p;
    else
        w->posts_head = p;
    w->posts_tail = p;
    pthread_mutex_unlock(&w->lock);
    if (was_empty) {
        ssize_t n = write(w->doorbell[1], "x", 1);
        (void)n; /* a full pipe already rings */
    }
}

/* Compute thread: the algorithm's progress callback, rate-limited here so that a chatty
 * algorithm costs nothing. Step changes and 100 % always go out. */
static void progress_cb(struct wk_algo_ctx *ctx, double progress, const char *step)
{
    struct wk_slot *s = ctx->priv;
    int64_t now = cm_time_mono_ns();
    bool new_step = strncmp(step, s->last_step, sizeof(s->last_step) - 1) != 0;
    if (!new_step && progress < 100 && now - s->last_post_ns < WK_PROGRESS_MIN_NS)
        return;
    s->last_post_ns = now;
    snprintf(s->last_step, sizeof(s->last_step), "%s", step);
    struct wk_post *p = cm_xcalloc(1, sizeof(*p));
    p->slot = s;
    p->kind = POST_PROGRESS;
    p->progress = progress;
    p->t_ns = now;
    snprintf(p->step, sizeof(p->step), "%s", step);
    post(s->w, p);
}

static void run_job(struct wk_slot *s, struct wk_job *job)
{
    struct pr_value empty = {.type = PR_V_OBJECT};
    struct wk_algo_ctx ctx = {
        .input_path = job->input_path,
        .params = job->spec.u.job.parameters ? job->spec.u.job.parameters : &empty,
        .results_dir = s->w->cfg->results_dir,
        .job_id = job->job_id,
        .cancel = &s->cancel,
        .progress = progress_cb,
        .priv = s,
    };
    s->last_post_ns = 0;
    s->last_step[0] = '\0';
    int rc = job->algo->run(&ctx, &job->res);
    struct wk_post *p = cm_xcalloc(1, sizeof(*p));
    p->slot = s;
    p->kind = POST_DONE;
    p->rc = rc;
    post(s->w, p);
}

static void *slot_main(void *arg)
{
    struct wk_slot *s = arg;
    struct wk_worker *w = s->w;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!s->todo && !s->quit)
            pthread_cond_wait(&s->cond, &w->lock);
        if (s->quit)
            break;
        struct wk_job *job = s->todo;
        s->todo = NULL;
        pthread_mutex_unlock(&w->lock);
        run_job(s, job);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Loop: the doorbell rang; handle everything posted so far, in order. */
void wk_compute_drain(struct wk_worker *w)
{
    char buf[64];
    while (read(w->doorbell[0], buf, sizeof(buf)) > 0) {
    }
    pthread_mutex_lock(&w->lock);
    struct wk_post *p = w->posts_head;
    w->posts_head = w->posts_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    while (p) {
        struct wk_post *next = p->next;
        if (p->kind == POST_PROGRESS)
            wk__on_progress(w, p->slot, p->progress, p->step, (double)p->t_ns / 1e9);
        else
            wk__on_done(w, p->slot, p->rc);
        free(p);
        p = next;
    }
}

static void doorbell_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    wk_compute_drain(arg);
}

int wk_compute_start(struct wk_worker *w)
{
    if (pipe(w->doorbell) != 0)
        return -errno;
    fcntl(w->doorbell[0], F_SETFL, O_NONBLOCK);
    fcntl(w->doorbell[1], F_SETFL, O_NONBLOCK);
    w->doorbell_ev = event_new(w->base, w->doorbell[0], EV_READ | EV_PERSIST, doorbell_cb, w);
    event_add(w->doorbell_ev, NULL);
    w->slots = cm_xcalloc((size_t)w->cfg->slots, sizeof(*w->slots));
    w->claims = cm_xcalloc((size_t)w->cfg->slots, sizeof(*w->claims));
    for (int i = 0; i < w->cfg->slots; i++) {
        struct wk_slot *s = &w->slots[i];
        s->index = i;
        s->w = w;
        atomic_init(&s->cancel, false);
        pthread_cond_init(&s->cond, NULL);
        int rc = pthread_create(&s->thread, NULL, slot_main, s);
        if (rc != 0) {
            cm_log(CM_LOG_ERROR, "slot %d: cannot start its thread: %s", i, strerror(rc));
            return -rc;
        }
    }
    return 0;
}

void wk_compute_assign(struct wk_slot *s, struct wk_job *job)
{
    atomic_store(&s->cancel, false);
    s->job = job;
    job->slot = s;
    pthread_mutex_lock(&s->w->lock);
    s->todo = job;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->w->lock);
}

void wk_compute_stop(struct wk_worker *w)
{
    if (!w->slots)
        return;
    for (int i = 0; i < w->cfg->slots; i++) {
        struct wk_slot *s = &w->slots[i];
        atomic_store(&s->cancel, true);
        pthread_mutex_lock(&w->lock);
        s->quit = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&w->lock);
    }
    for (int i = 0; i < w->cfg->slots; i++) {
        pthread_join(w->slots[i].thread, NULL);
        pthread_cond_destroy(&w->slots[i].cond);
    }
    struct wk_post *p = w->posts_head;
    while (p) {
        struct wk_post *next = p->next;
        free(p);
        p = next;
    }
    w->posts_head = w->posts_tail = NULL;
    if (w->doorbell_ev)
        event_free(w->doorbell_ev);
    close(w->doorbell[0]);
    close(w->doorbell[1]);
    free(w->slots);
    w->slots = NULL;
    free(w->claims);
    w->claims = NULL;
}
