/* The gateway's lws protocol (ws.c), internal: what the process (server.c) sets lws up with. */
#ifndef GW_WS_H
#define GW_WS_H

#include <libwebsockets.h>

#include "gateway/gateway.h"

#define GW_RX_MAX 65536 /* a client message larger than this is refused */

/* The protocols and extensions the vhost is created with. */
extern const struct lws_protocols gw__protocols[];
extern const struct lws_extension gw__extensions[];

/* The gateway whose counters lws's log lines go to (set before lws logs). */
extern struct gw *gw__log_gw;

/* The 10 Hz tick: connections whose auth message is late are closed 4001. */
void gw__auth_wait_tick(struct gw *g);

void gw__lws_log(int level, const char *line);

#endif
