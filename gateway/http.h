/* The gateway's HTTP side, internal: the request, the route table, and what the API handlers
 * (api_jobs.c, api_admin.c) answer with (http.c). The rest of the gateway uses gateway.h. Loop
 * thread only. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include "gateway/gateway.h"

struct gw_http;

/* One route: method, path (prefix, then an {id} and suffix when suffix is not NULL), the scope
 * its token needs, and its handler. The table drives dispatch, 404 and 405. */
enum gw_route_op { GW_OP_NONE, GW_OP_CANCEL, GW_OP_RETRY, GW_OP_REQUEUE, GW_OP_PURGE };
struct gw_route {
    bool post;
    const char *prefix, *suffix;
    unsigned scope;  /* PR_SCOPE_* the token needs (0: public) */
    bool session_id; /* the {id} is a session: the token must allow it */
    void (*handle)(struct gw_http *h);
    enum gw_route_op op; /* for a handler of several routes */
    bool name;           /* a {name} follows the suffix (an artifact) */
};

struct gw_http {
    struct gw *g;
    struct lws *wsi; /* NULL once the connection closed (the Redis reply frees us) */
    bool post, waiting, ready, has_body;
    bool head; /* a HEAD request: a GET's status and headers, no body */
    size_t expect;
    struct cm_buf body;
    int status;
    const char *ctype;
    struct cm_buf resp;
    bool close_after;  /* answered before reading the body: close the connection after */
    bool headers_sent; /* the response is being written: resp[sent..] is left */
    bool cors;         /* another site's page that --allowed-origins lists: CORS headers */
    bool preflight;    /* an OPTIONS preflight: the CORS method and header lists too */
    bool dashboard;    /* the dashboard page: CSP and framing headers */
    bool unauthorized; /* a 401: WWW-Authenticate */
    int retry_after_s; /* a 429 of the rate limit: Retry-After */
    char origin[256];
    long long page_cursor;  /* list endpoints: the request's cursor (0: the first page) */
    uint64_t body_deadline; /* uv_now by which the body must be in (on g->body_wait) */
    struct gw_http *wait_next, *wait_prev;
    bool body_waiting;
    size_t sent;
    char path[512];
    const struct gw_route *route; /* the route being served (dispatch sets it) */
    char id[PR_ID_MAX + 1];       /* the {id} of the route */
    char name[PR_ID_MAX + 1];     /* and its {name}, for routes that have one */
    /* a body read from a file as it goes out (artifacts): file_left bytes from file_off */
    int file_fd; /* valid when has_file */
    bool has_file;
    uint64_t file_off, file_left;
    /* its next piece, read on libuv's thread pool so that a slow disk or network file system
     * never stalls the loop: piece_len bytes at piece + LWS_PRE once piece_ready */
    uv_fs_t fs;
    unsigned char *piece; /* LWS_PRE + GW_FILE_CHUNK (http.c), made at the first read */
    size_t piece_len, piece_want;
    bool reading, piece_ready, read_failed;
    bool artifact;             /* an artifact: Accept-Ranges, a sandboxing CSP, caching */
    char content_range[96];    /* a 206's or 416's Content-Range value, or "" */
    char range[128];           /* the request's Range header ("" when none) */
    char if_range[64];         /* its If-Range ("" when none) */
    char if_none_match[256];   /* its If-None-Match ("" when none, or too long to be ours) */
    char etag[PR_ID_MAX + 40]; /* an artifact's ETag (quoted), or "" */
    char last_modified[40];    /* an artifact file's Last-Modified, or "" */
    bool attachment; /* ?download=1: Content-Disposition: attachment (a save, not a view) */
    char session[PR_ID_MAX + 1];
    char quota_id[33];     /* whose submit bucket: hash of the token's subject, or the address */
    enum gw_auth_res auth; /* the request's token: OFF, NONE, BAD or OK (claims in tok) */
    const char *auth_why;  /* static */
    struct pr_token tok;
};

/* Frees a request (its body, answer, file and token too). */
void gw__http_free(struct gw_http *h);

/* Answers (the response goes out from the writeable callback, send.c). */
void gw__respond(struct gw_http *h, int status, const char *ctype, const char *body, size_t n);
void gw__respond_json(struct gw_http *h, int status, struct cm_buf *b);
void gw__respond_error(struct gw_http *h, int status, const char *code, const char *field,
                       const char *msg);
/* A 429 with Retry-After and retry_after_ms. */
void gw__respond_error_ms(struct gw_http *h, int status, const char *code, const char *msg,
                          long long retry_after_ms);
/* Whether the request's token allows scope (and session, when not NULL); answers 401/403 when
 * not. */
bool gw__allowed(struct gw_http *h, unsigned scope, const char *session);
/* Whether the request's token may see a job or result of session s (n bytes). */
bool gw__visible(const struct gw_http *h, const char *s, size_t n);
/* h waits for Redis (its connection's timeout follows the Redis deadline). */
void gw__wait_redis(struct gw_http *h);
/* A Redis reply for h: h when it may still answer, NULL when it was orphaned (then freed). */
struct gw_http *gw__reply_target(void *priv);
/* Answers 503 for a missing or error reply: true when it did. */
bool gw__redis_failed(struct gw_http *h, const redisReply *r);
/* Sends argv on the commands connection; cb gets the reply (NULL when Redis went away). */
void gw__command(struct gw_http *h, redisCallbackFn *cb, int argc, const char **argv);
/* The integer query argument name in [lo, hi] (def when absent): 0, or -1 after a 400. */
int gw__int_arg(struct gw_http *h, const char *name, long long lo, long long hi, long long def,
                long long *out);

/* A list endpoint's ?limit= (1..max, default def) and ?cursor= (0: the first page): 0, or -1
 * after a 400. */
int gw__page_args(struct gw_http *h, long long max, long long def, long long *limit,
                  long long *cursor);
/* Ends a page begun with '{...,"<list>":[' and n entries in b: count, total, next_cursor (a
 * string, or null when next <= 0), then answers 200 and frees b. */
void gw__respond_page(struct gw_http *h, struct cm_buf *b, size_t n, long long total,
                      long long next);

/* The body is len bytes of fd from off (taken over: closed when sent or abandoned), sent as it
 * goes out. */
void gw__respond_file(struct gw_http *h, int status, const char *ctype, int fd, uint64_t off,
                      uint64_t len);

/* api_jobs.c */
void gw__submit(struct gw_http *h, const char *json, size_t len);
void gw__api_submit(struct gw_http *h);
void gw__api_job(struct gw_http *h);
void gw__api_job_control(struct gw_http *h);
void gw__api_session_jobs(struct gw_http *h);
void gw__api_demo(struct gw_http *h);

/* api_results.c: a result, its artifacts' list, one artifact (ranges; previews from Redis) */
void gw__api_result(struct gw_http *h);
void gw__api_artifacts(struct gw_http *h);
void gw__api_artifact(struct gw_http *h);

/* api_admin.c */
void gw__api_dead_list(struct gw_http *h);
void gw__api_dead_control(struct gw_http *h);
void gw__api_readyz(struct gw_http *h);
void gw__api_stats(struct gw_http *h);
void gw__api_metrics(struct gw_http *h);

#endif
