/* Data parallelism for the analysis steps: a range split into chunks that a few threads take in
 * turn, and allocations of large working volumes. Any thread; a call blocks until its range is
 * done (threads are started per call: a few tens of microseconds, against steps of milliseconds).
 */
#ifndef ZA_PAR_H
#define ZA_PAR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Results of the analysis steps. */
enum { ZA_OK = 0, ZA_ENOMEM = -1, ZA_ECANCEL = -2 };

/* Threads the analysis uses: set by za_set_threads (n <= 0: the CPUs this process may run on,
 * which is the default). */
int za_threads(void);
void za_set_threads(int n);

/* Work on [begin, end) of a range; thread is 0..za_threads()-1 (for per-thread scratch). */
typedef void (*za_range_fn)(void *arg, long begin, long end, int thread);

/* Calls fn over [0, n) in chunks of grain (>= 1) on up to za_threads() threads, the caller being
 * one of them. When cancel is set, no further chunk starts and ZA_ECANCEL comes back. */
int za_par_for(long n, long grain, za_range_fn fn, void *arg, const atomic_bool *cancel);

/* The minimum and maximum of v (n > 0) into out[0], out[1], on za_threads() threads. */
void za_minmax(const float *v, size_t n, float out[2]);

/* A large allocation (not zeroed), aligned and backed by huge pages where the kernel offers them
 * (fewer page faults on first touch); NULL when memory is short. Free with za_free(), which keeps
 * up to za_cache_limit() bytes of freed volumes for the next job: the kernel then need not fault
 * in and zero the pages again (that costs as much as a filter pass). */
void *za_alloc(size_t bytes);
void za_free(void *p);

/* Bytes of freed volumes kept for reuse (default 1 GiB; 0 turns the cache off and empties it). */
size_t za_cache_limit(void);
void za_set_cache_limit(size_t bytes);

#endif
