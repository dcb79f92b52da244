/* Test harness: the WebSocket/HTTP client is common/wsclient.h; this adds a free port and a
 * gateway started on one. */
#ifndef TH_WS_CLIENT_H
#define TH_WS_CLIENT_H

#include <stdbool.h>

#include "common/wsclient.h"

struct th_proc;

/* A free TCP port on 127.0.0.1 (bound and released: small race, fine for tests). */
int th_free_port(void);

/* Polls GET path on 127.0.0.1:port until it answers 200; false after timeout_ms. */
bool th_http_wait_ok(int port, const char *path, int timeout_ms);

/* Starts zsa-gateway (one process) on 127.0.0.1:port against redis_url with the extra flags
 * (NULL-terminated; may be NULL) and waits up to 15 s for /readyz. 0, or -1 (p's log says why;
 * the process is left for the caller's th_proc_stop). */
int th_gateway_start(struct th_proc *p, const char *redis_url, int port, const char *const *extra);

#endif
