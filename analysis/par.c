/* Chunked parallel loops on short-lived pthreads. */
#define _GNU_SOURCE
#include "analysis/par.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define ZA_MAX_THREADS 256

static atomic_int za_nthreads;

static int cpus_allowed(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int za_threads(void)
{
    int n = atomic_load(&za_nthreads);
    if (n <= 0) {
        n = cpus_allowed();
        atomic_store(&za_nthreads, n);
    }
    return n < ZA_MAX_THREADS ? n : ZA_MAX_THREADS;
}

void za_set_threads(int n)
{
    atomic_store(&za_nthreads, n > 0 ? n : cpus_allowed());
}

struct par_job {
    long n, grain;
    za_range_fn fn;
    void *arg;
    const atomic_bool *cancel;
    atomic_long next;
    atomic_bool stopped;
};

struct par_thread {
    struct par_job *job;
    int index;
};

static void par_work(struct par_job *j, int index)
{
    for (;;) {
        if (j->cancel && atomic_load(j->cancel)) {
            atomic_store(&j->stopped, true);
            return;
        }
        long b = atomic_fetch_add(&j->next, j->grain);
        if (b >= j->n)
            return;
        long e = b + j->grain < j->n ? b + j->grain : j->n;
        j->fn(j->arg, b, e, index);
    }
}

static void *par_main(void *p)
{
    struct par_thread *t = p;
    par_work(t->job, t->index);
    return NULL;
}

int za_par_for(long n, long grain, za_range_fn fn, void *arg, const atomic_bool *cancel)
{
    if (grain < 1)
        grain = 1;
    struct par_job j = {.n = n, .grain = grain, .fn = fn, .arg = arg, .cancel = cancel};
    atomic_init(&j.next, 0);
    atomic_init(&j.stopped, false);
    long chunks = (n + grain - 1) / grain;
    int nt = za_threads();
    if (nt > chunks)
        nt = (int)(chunks > 0 ? chunks : 1);
    pthread_t tid[ZA_MAX_THREADS];
    struct par_thread th[ZA_MAX_THREADS];
    int started = 1;
    for (int i = 1; i < nt; i++) {
        th[i] = (struct par_thread){&j, started};
        if (pthread_create(&tid[started], NULL, par_main, &th[i]) == 0)
            started++; /* without a thread the others take its chunks */
    }
    par_work(&j, 0);
    for (int i = 1; i < started; i++)
        pthread_join(tid[i], NULL);
    return atomic_load(&j.stopped) ? ZA_ECANCEL : ZA_OK;
}

struct minmax_job {
    const float *v;
    float lo[ZA_MAX_THREADS], hi[ZA_MAX_THREADS];
};

static void minmax_chunk(void *arg, long begin, long end, int thread)
{
    struct minmax_job *j = arg;
    float lo = j->lo[thread], hi = j->hi[thread];
    for (long i = begin; i < end; i++) {
        lo = j->v[i] < lo ? j->v[i] : lo;
        hi = j->v[i] > hi ? j->v[i] : hi;
    }
    j->lo[thread] = lo, j->hi[thread] = hi;
}

void za_minmax(const float *v, size_t n, float out[2])
{
    struct minmax_job j; /* 2 KB */
    int nt = za_threads();
    j.v = v;
    for (int t = 0; t < nt; t++)
        j.lo[t] = j.hi[t] = v[0];
    za_par_for((long)n, 65536, minmax_chunk, &j, NULL);
    out[0] = j.lo[0], out[1] = j.hi[0];
    for (int t = 1; t < nt; t++) {
        out[0] = j.lo[t] < out[0] ? j.lo[t] : out[0];
        out[1] = j.hi[t] > out[1] ? j.hi[t] : out[1];
    }
}

/* Large blocks: every live or cached one, with its size (za_free needs it). */
#define ZA_BLOCKS 64
#define ZA_HUGE ((size_t)2 << 20)

struct block {
    void *p;
    size_t size;
    bool cached;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct block blocks[ZA_BLOCKS];
static size_t cached_bytes, cache_limit = (size_t)1 << 30;

/* Frees cached blocks, largest first, until the cache holds at most keep bytes. Lock held. */
static void cache_trim(size_t keep)
{
    while (cached_bytes > keep) {
        int big = -1;
        for (int i = 0; i < ZA_BLOCKS; i++)
            if (blocks[i].p && blocks[i].cached && (big < 0 || blocks[i].size > blocks[big].size))
                big = i;
        if (big < 0)
            return;
        free(blocks[big].p);
        cached_bytes -= blocks[big].size;
        blocks[big] = (struct block){0};
    }
}

void *za_alloc(size_t bytes)
{
    if (bytes < ZA_HUGE)
        return malloc(bytes ? bytes : 1);
    size_t rounded = (bytes + ZA_HUGE - 1) / ZA_HUGE * ZA_HUGE;
    pthread_mutex_lock(&cache_lock);
    int best = -1, slot = -1;
    for (int i = 0; i < ZA_BLOCKS; i++) {
        if (!blocks[i].p) {
            slot = slot < 0 ? i : slot;
        } else if (blocks[i].cached && blocks[i].size >= rounded && blocks[i].size <= 2 * rounded &&
                   (best < 0 || blocks[i].size < blocks[best].size)) {
            best = i;
        }
    }
    if (best >= 0) {
        blocks[best].cached = false;
        cached_bytes -= blocks[best].size;
        pthread_mutex_unlock(&cache_lock);
        return blocks[best].p;
    }
    void *p = NULL;
    if (posix_memalign(&p, ZA_HUGE, rounded) != 0 && cached_bytes) {
        cache_trim(0); /* memory is short: give the cache back and try again */
        p = NULL;
        if (posix_memalign(&p, ZA_HUGE, rounded) != 0)
            p = NULL;
    }
    if (p) {
        (void)madvise(p, rounded, MADV_HUGEPAGE); /* a hint: fine when refused */
        if (slot >= 0)
            blocks[slot] = (struct block){p, rounded, false};
    }
    pthread_mutex_unlock(&cache_lock);
    return p;
}

void za_free(void *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < ZA_BLOCKS; i++) {
        if (blocks[i].p != p)
            continue;
        if (blocks[i].size <= cache_limit) {
            blocks[i].cached = true;
            cached_bytes += blocks[i].size;
            cache_trim(cache_limit);
        } else {
            blocks[i] = (struct block){0};
            free(p);
        }
        pthread_mutex_unlock(&cache_lock);
        return;
    }
    pthread_mutex_unlock(&cache_lock);
    free(p); /* small, or not in the table */
}

size_t za_cache_limit(void)
{
    pthread_mutex_lock(&cache_lock);
    size_t n = cache_limit;
    pthread_mutex_unlock(&cache_lock);
    return n;
}

void za_set_cache_limit(size_t bytes)
{
    pthread_mutex_lock(&cache_lock);
    cache_limit = bytes;
    cache_trim(bytes);
    pthread_mutex_unlock(&cache_lock);
}
