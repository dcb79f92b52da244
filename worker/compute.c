/* Compute threads, one per job slot, and the queue through which they post progress and
 * completion to the loop: a lock-free stack (threads push, the loop takes all of it at once and
 * reverses it, so each thread's posts keep their order) plus a pipe as doorbell, rung only by the
 * post that finds the stack empty. Jobs reach the threads through a ready queue: a thread that
 * ends a job takes the next ready one without sleeping, and the loop wakes a sleeping thread
 * only for a job that no thread already woken will take, so short jobs do not cost a context
 * switch each. There are as many threads as slots, so a ready job always has a thread. The loop
 * never waits on a compute thread except when stopping them at exit. */
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
    struct wk_post *head = atomic_load_explicit(&w->posts, memory_order_relaxed);
    do
        p->next = head;
    while (!atomic_compare_exchange_weak_explicit(&w->posts, &head, p, memory_order_release,
                                                  memory_order_relaxed));
    /* the loop reads the pipe before it takes the stack: a post onto an empty stack after that
     * rings again, one onto a non-empty stack is taken with it */
    if (!head) {
        ssize_t n = write(w->doorbell[1], "x", 1);
        (void)n; /* a full pipe already rings */
    }
}

/* Compute thread: the algorithm's progress callback, rate-limited here so that a chatty
 * algorithm costs nothing. Step changes and 100 % always go out. */
static void progress_cb(struct za_algo_ctx *ctx, double progress, const char *step)
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
    char result_id[CM_ID_MAX + 1];
    wk_job_result_id(job, result_id, sizeof(result_id));
    struct za_algo_ctx ctx = {
        .input_path = job->input_path,
        .roots = &s->w->roots,
        .params = job->spec.u.job.parameters ? job->spec.u.job.parameters : &empty,
        .results_dir = s->w->cfg->results_dir,
        .result_id = result_id,
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

static void *pool_main(void *arg)
{
    struct wk_worker *w = arg;
    pthread_mutex_lock(&w->pool_lock);
    for (;;) {
        while (!w->ready_head && !w->pool_quit) {
            w->pool_idle++;
            pthread_cond_wait(&w->pool_cond, &w->pool_lock);
            w->pool_idle--;
            if (w->pool_wakes > 0) /* a spurious wake-up makes this undercount: harmless */
                w->pool_wakes--;
        }
        if (w->pool_quit)
            break;
        struct wk_slot *s = w->ready_head;
        w->ready_head = s->ready_next;
        if (!w->ready_head)
            w->ready_tail = NULL;
        w->ready_len--;
        struct wk_job *job = s->todo;
        s->todo = NULL;
        pthread_mutex_unlock(&w->pool_lock);
        run_job(s, job);
        pthread_mutex_lock(&w->pool_lock);
    }
    pthread_mutex_unlock(&w->pool_lock);
    return NULL;
}

/* Loop: the doorbell rang; handle everything posted so far, in order. */
void wk_compute_drain(struct wk_worker *w)
{
    char buf[64];
    while (read(w->doorbell[0], buf, sizeof(buf)) > 0) {
    }
    struct wk_post *p = NULL,
                   *newest = atomic_exchange_explicit(&w->posts, NULL, memory_order_acquire);
    while (newest) { /* oldest first */
        struct wk_post *next = newest->next;
        newest->next = p;
        p = newest;
        newest = next;
    }
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
    w->threads = cm_xcalloc((size_t)w->cfg->slots, sizeof(*w->threads));
    pthread_mutex_init(&w->pool_lock, NULL);
    pthread_cond_init(&w->pool_cond, NULL);
    for (int i = 0; i < w->cfg->slots; i++) {
        struct wk_slot *s = &w->slots[i];
        s->index = i;
        s->w = w;
        atomic_init(&s->cancel, false);
    }
    for (w->nthreads = 0; w->nthreads < w->cfg->slots; w->nthreads++) {
        int rc = pthread_create(&w->threads[w->nthreads], NULL, pool_main, w);
        if (rc != 0) {
            cm_log(CM_LOG_ERROR, "cannot start compute thread %d: %s", w->nthreads, strerror(rc));
            return -rc;
        }
    }
    return 0;
}

void wk_compute_assign(struct wk_slot *s, struct wk_job *job)
{
    struct wk_worker *w = s->w;
    atomic_store(&s->cancel, false);
    s->job = job;
    job->slot = s;
    pthread_mutex_lock(&w->pool_lock);
    s->todo = job;
    s->ready_next = NULL;
    if (w->ready_tail)
        w->ready_tail->ready_next = s;
    else
        w->ready_head = s;
    w->ready_tail = s;
    w->ready_len++;
    if (w->ready_len > w->pool_wakes && w->pool_idle > w->pool_wakes) {
        w->pool_wakes++;
        pthread_cond_signal(&w->pool_cond);
    }
    pthread_mutex_unlock(&w->pool_lock);
}

void wk_compute_stop(struct wk_worker *w)
{
    if (!w->slots)
        return;
    for (int i = 0; i < w->cfg->slots; i++)
        atomic_store(&w->slots[i].cancel, true);
    pthread_mutex_lock(&w->pool_lock);
    w->pool_quit = true;
    pthread_cond_broadcast(&w->pool_cond);
    pthread_mutex_unlock(&w->pool_lock);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->pool_cond);
    pthread_mutex_destroy(&w->pool_lock);
    free(w->threads);
    w->threads = NULL;
    struct wk_post *p = atomic_exchange(&w->posts, NULL);
    while (p) {
        struct wk_post *next = p->next;
        free(p);
        p = next;
    }
    if (w->doorbell_ev)
        event_free(w->doorbell_ev);
    close(w->doorbell[0]);
    close(w->doorbell[1]);
    free(w->slots);
    w->slots = NULL;
    free(w->claims);
    w->claims = NULL;
}
