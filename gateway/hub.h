/* The gateway's connection manager, internal: what its files (frame.c, sessions.c, queue.c,
 * delivery.c, client.c) share. The rest of the gateway uses gateway.h. Loop thread only. */
#ifndef GW_HUB_H
#define GW_HUB_H

#include "gateway/gateway.h"

/* frame.c: an id's hash, never 0 (0: not a progress event) */
uint64_t gw__hash_str(const char *s, size_t n);

/* sessions.c */
struct gw_session *gw__session_find(struct gw *g, const char *id, size_t n);
/* c joins session_id's clients: started (connected or subscribed) once the session's
 * subscription is live, with a replay after last_event_id first. */
void gw__session_join(struct gw *g, struct gw_client *c, const char *session_id,
                      const char *last_event_id);
/* c leaves its session (freeing what it holds; its requests' replies find nobody); the session
 * goes when nobody is left. */
void gw__session_leave(struct gw *g, struct gw_client *c);

/* queue.c */
void gw__queue_free(struct gw_qent **head, struct gw_qent **tail);
void gw__queue_append(struct gw_qent **head, struct gw_qent **tail, struct gw_frame *f,
                      uint64_t job_hash, struct gw_sid sid);
/* Closes a client over its hard bound with 1013. */
void gw__doom(struct gw *g, struct gw_client *c);
/* The membership after m in the connection c (primary first, then its subscriptions). */
struct gw_client *gw__member_next(struct gw_client *c, struct gw_client *m);
/* A control message built by the caller, or an error message, to one client. */
void gw__send_msg(struct gw *g, struct gw_client *c, const struct pr_msg *m);
void gw__send_error(struct gw *g, struct gw_client *c, const char *code, const char *msg);

/* delivery.c */
void gw__session_events(struct gw *g, struct gw_session *s, const char *data, size_t len);
void gw__bcast_events(struct gw *g, const char *data, size_t len);
void gw__replay_start(struct gw *g, struct gw_client *c);
void gw__replay_page(struct gw *g, struct gw_client *c);
/* After an outage: the events s's stream got while this process was not subscribed. */
void gw__catchup_next(struct gw *g, struct gw_session *s);
/* Asks for the newest system_status of the broadcast stream (at start and after reconnects). */
void gw__status_fetch(struct gw *g, redisAsyncContext *ac);

/* client.c */
/* The session's subscription is live: c gets connected (or subscribed), the latest
 * system_status, and its replay when it asked for one. */
void gw__client_start(struct gw *g, struct gw_client *c);
void gw__unpause(struct gw *g, struct gw_client *c);
/* A Redis request on behalf of c: the reply finds c through it, or NULL when c left meanwhile
 * (the one liveness mechanism of every request a client waits for). counted: it takes one of
 * the client's in-flight slots (client messages; not replay pages). */
struct gw_creq *gw__req_new(struct gw_client *c, bool counted);
/* The client of a finished request (NULL when it left); frees the request. */
struct gw_client *gw__req_done(struct gw_creq *k);

#endif
