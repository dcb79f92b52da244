/* Allocation helpers that abort on out-of-memory, so callers have no untestable OOM branches.
 * Thread-safe (they only wrap libc). */
#ifndef CM_ALLOC_H
#define CM_ALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc but never return NULL: on failure they log and abort().
 * malloc(0) returns a unique pointer. The caller frees the result with free(). */
void *cm_xmalloc(size_t n);
void *cm_xcalloc(size_t nmemb, size_t size);
void *cm_xrealloc(void *p, size_t n);

/* Copies of strings; caller frees with free(). cm_xstrdup(NULL) returns NULL. */
char *cm_xstrdup(const char *s);
char *cm_xmemdup0(const void *p, size_t n); /* n bytes plus a terminating NUL */
char *cm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
