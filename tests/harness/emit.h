/* Emits an event the way a worker or the scheduler does: through the EMIT script (XADD to the
 * stream, PUBLISH with its id), into m's session stream, or the broadcast stream when m has no
 * session. For tests and benchmarks that need events without running a worker. */
#ifndef TH_EMIT_H
#define TH_EMIT_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "proto/proto.h"

/* Key prefix "zsa", MAXLEN ~ maxlen. Returns 0, or -1 with the reason in err. */
int th_emit(redisContext *c, const struct pr_msg *m, int maxlen, char *err, size_t errlen);

/* Emits a processing_failed for job "big<k>" into session's stream with a 4 KB error text that
 * does not compress (deterministic per k), MAXLEN ~ maxlen: large events for slow-consumer and
 * deflate tests. Returns 0, or -1 with the reason in err. */
int th_emit_big(redisContext *c, const char *session, int k, int maxlen, char *err, size_t errlen);

#endif
