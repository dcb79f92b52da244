/* Test harness: the WebSocket/HTTP client is common/wsclient.h; this adds a free port. */
#ifndef TH_WS_CLIENT_H
#define TH_WS_CLIENT_H

#include "common/wsclient.h"

/* A free TCP port on 127.0.0.1 (bound and released: small race, fine for tests). */
int th_free_port(void);

#endif
