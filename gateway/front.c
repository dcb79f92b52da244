/* The head of each connection's first request, looked at (MSG_PEEK) by the gateway before the
 * socket goes to lws: lws 4.1 closes a connection whose headers
 * outgrow its buffer without a word (and logs an error per request), answers an unknown method
 * with an HTML 403 and leaves CONNECT unanswered. Here an oversized head gets 431, an unknown
 * method 501, CONNECT 405, Content-Length together with Transfer-Encoding or a Content-Length
 * that is not a number 400, a head that does not arrive in time 408 — each with the JSON error
 * body. Later requests on a kept-alive connection are parsed by lws alone (http.c checks their
 * Content-Length; an oversized one is closed and counted). Loop thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "gateway/gateway.h"

#define GW_HEAD_TIMEOUT_S 10 /* the request head must be in this long after the connect */

#define GW_LINGER_MS 2000 /* after a refusal: reading the rest of what the client sends */

struct gw_pre {
    struct gw *g;
    int fd;
    uv_poll_t poll;
    size_t len;
    uint64_t deadline;
    bool lingering; /* answered; discards its input until EOF or the deadline, then closes */
    bool waiting;   /* the head is incomplete: the tick polls it again */
    struct gw_pre *next, *prev;
    char *buf; /* GW_HEAD_MAX bytes while the head is read; NULL for a refusal at accept */
};

static void unlink_pre(struct gw_pre *p)
{
    struct gw *g = p->g;
    if (p->prev)
        p->prev->next = p->next;
    else
        g->pre = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
}

static void freed_cb(uv_handle_t *h)
{
    struct gw_pre *p = h->data;
    free(p->buf);
    free(p);
}

static void finish(struct gw_pre *p);
static void linger_cb(uv_poll_t *h, int status, int events);

/* Answers with status and the JSON error, then closes (the poll handle first). */
static void refuse(struct gw_pre *p, int status, const char *reason, const char *code,
                   const char *msg)
{
    struct gw *g = p->g;
    struct cm_buf body = CM_BUF_INIT, head = CM_BUF_INIT;
    cm_buf_puts(&body, "{\"error\":{\"code\":");
    cm_buf_append_json_str(&body, code, strlen(code));
    cm_buf_puts(&body, ",\"message\":");
    cm_buf_append_json_str(&body, msg, strlen(msg));
    cm_buf_puts(&body, "}}\n");
    cm_buf_printf(&head,
                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                  "Content-Length: %zu\r\n%s\r\n",
                  status, reason, body.len, status == 405 ? "Allow: GET, POST\r\n" : "");
    cm_buf_append(&head, body.data, body.len);
    /* small: it fits the empty send buffer of a fresh connection */
    if (send(p->fd, head.data, head.len, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
    }
    shutdown(p->fd, SHUT_WR);
    cm_buf_deinit(&body);
    cm_buf_deinit(&head);
    g->st.bad_requests++;
    if (status == 431)
        g->st.heads_too_large++;
    /* closing with unread input would reset the connection, and a reset can reach the client
     * before it read the answer: read and drop the rest first (a "lingering close") */
    p->lingering = true;
    p->deadline = uv_now(g->loop) + GW_LINGER_MS;
    uv_poll_start(&p->poll, UV_READABLE, linger_cb);
}

static void finish(struct gw_pre *p)
{
    struct gw *g = p->g;
    unlink_pre(p);
    uv_poll_stop(&p->poll);
    close(p->fd);
    g->nconns--;
    uv_close((uv_handle_t *)&p->poll, freed_cb);
}

static void linger_cb(uv_poll_t *h, int status, int events)
{
    (void)status, (void)events;
    struct gw_pre *p = h->data;
    char scratch[16384];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(p->fd, scratch, sizeof(scratch), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            finish(p);
            return;
        }
    }
}

/* The value of header name in head (lines after the first), or NULL; *n its length; *count how
 * many times it appears. */
static const char *header(const char *head, size_t len, const char *name, size_t *n, int *count)
{
    const char *found = NULL, *end = head + len;
    size_t nl = strlen(name);
    *count = 0;
    const char *line = memchr(head, '\n', len);
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (!found)
                found = v, *n = (size_t)(ve - v);
            ++*count;
        }
        line = eol;
    }
    return found;
}

int gw_head_check(const char *h, size_t len, struct gw_head_verdict *v)
{
    size_t ml = 0;
    while (ml < len && h[ml] != ' ' && h[ml] != '\r' && h[ml] != '\n')
        ml++;
    static const char *const known[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"};
    bool ok = false;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok |= ml == strlen(known[i]) && memcmp(h, known[i], ml) == 0;
    if (ml == 7 && memcmp(h, "CONNECT", 7) == 0) {
        *v = (struct gw_head_verdict){405, "Method Not Allowed", "METHOD_NOT_ALLOWED",
                                      "CONNECT: this is not a proxy; use GET or POST"};
        return -1;
    }
    if (!ok) {
        *v = (struct gw_head_verdict){501, "Not Implemented", "NOT_IMPLEMENTED",
                                      "unknown method: use GET or POST (and OPTIONS)"};
        return -1;
    }
    size_t cl_n = 0, te_n = 0;
    int cl_count, te_count;
    const char *cl = header(h, len, "content-length", &cl_n, &cl_count);
    header(h, len, "transfer-encoding", &te_n, &te_count);
    if (cl && te_count) {
        *v = (struct gw_head_verdict){
            400, "Bad Request", "BAD_REQUEST",
            "Content-Length and Transfer-Encoding together (request smuggling): send one"};
        return -1;
    }
    bool digits = cl && cl_n > 0 && cl_n <= 18;
    for (size_t i = 0; digits && i < cl_n; i++)
        digits = cl[i] >= '0' && cl[i] <= '9';
    if (cl && (!digits || cl_count > 1)) {
        *v = (struct gw_head_verdict){400, "Bad Request", "BAD_REQUEST",
                                      "Content-Length must be one non-negative whole number"};
        return -1;
    }
    return 0;
}

/* 0 when the head may go to lws, else it was refused. */
static int check_head(struct gw_pre *p, size_t head_len)
{
    struct gw_head_verdict v;
    if (gw_head_check(p->buf, head_len, &v) == 0)
        return 0;
    refuse(p, v.status, v.reason, v.code, v.msg);
    return -1;
}

static void adopt_cb(uv_handle_t *h)
{
    struct gw_pre *p = h->data;
    struct gw *g = p->g;
    /* lws watches the fd itself now (libuv allows one poll handle per fd: ours is closed) */
    if (!lws_adopt_socket_vhost(g->vh, p->fd)) {
        cm_log(CM_LOG_WARN, "accept: lws could not adopt a connection");
        g->nconns--; /* lws closed the fd */
    }
    free(p->buf);
    free(p);
}

/* Looks at the head without taking it (MSG_PEEK): lws then reads the whole request from the
 * socket itself (handing lws the bytes in an adoption buffer made 4.1 spin on a POST's body, or
 * read a body from freed memory). A head still incomplete is looked at again by the next tick
 * (the poll is level-triggered: watching unread bytes would spin). */
static void readable_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    struct gw_pre *p = h->data;
    if (events & UV_DISCONNECT) { /* gone before a whole head (peeking would not see EOF) */
        finish(p);
        return;
    }
    ssize_t n = recv(p->fd, p->buf, GW_HEAD_MAX, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) { /* gone before a whole head */
        finish(p);
        return;
    }
    size_t end = 0;
    for (size_t i = 0; i + 3 < (size_t)n && !end; i++)
        if (memcmp(p->buf + i, "\r\n\r\n", 4) == 0)
            end = i + 4;
    if (!end) {
        if ((size_t)n == GW_HEAD_MAX) {
            refuse(p, 431, "Request Header Fields Too Large", "HEADERS_TOO_LARGE",
                   "the request line and headers are over 16 KB");
        } else {
            p->len = (size_t)n;
            uv_poll_stop(&p->poll); /* gw_front_tick looks again */
            p->waiting = true;
        }
        return;
    }
    p->len = end;
    if (check_head(p, end) != 0)
        return;
    unlink_pre(p);
    uv_poll_stop(&p->poll);
    uv_close((uv_handle_t *)&p->poll, adopt_cb);
}

static struct gw_pre *pre_new(struct gw *g, int fd)
{
    struct gw_pre *p = cm_xcalloc(1, sizeof(*p));
    p->g = g, p->fd = fd;
    p->deadline = uv_now(g->loop) + GW_HEAD_TIMEOUT_S * 1000;
    p->prev = NULL;
    p->next = g->pre;
    if (g->pre)
        g->pre->prev = p;
    g->pre = p;
    g->nconns++;
    uv_poll_init(g->loop, &p->poll, fd);
    p->poll.data = p;
    return p;
}

void gw_front_accept(struct gw *g, int fd)
{
    if (g->tls) {
        /* the first bytes are a TLS handshake: lws decrypts, then parses the request itself
         * (its header limit, its timeouts); the head checks here see plain HTTP only */
        g->nconns++;
        if (!lws_adopt_socket_vhost(g->vh, fd)) {
            cm_log(CM_LOG_WARN, "accept: lws could not adopt a connection");
            g->nconns--;
        }
        return;
    }
    struct gw_pre *p = pre_new(g, fd);
    p->buf = cm_xmalloc(GW_HEAD_MAX);
    uv_poll_start(&p->poll, UV_READABLE | UV_DISCONNECT, readable_cb);
}

void gw_front_refuse(struct gw *g, int fd)
{
    g->st.refused_conns++;
    refuse(pre_new(g, fd), 503, "Service Unavailable", "TOO_MANY_CONNECTIONS",
           "too many connections; try another gateway");
    g->st.bad_requests--; /* counted as a refused connection, not a bad request */
}

void gw_front_tick(struct gw *g)
{
    uint64_t now = uv_now(g->loop);
    for (struct gw_pre *p = g->pre, *next; p; p = next) {
        next = p->next;
        if (p->waiting && now < p->deadline) {
            p->waiting = false;
            uv_poll_start(&p->poll, UV_READABLE | UV_DISCONNECT, readable_cb);
            continue;
        }
        if (now < p->deadline)
            continue;
        if (p->lingering)
            finish(p);
        else
            refuse(p, 408, "Request Timeout", "REQUEST_TIMEOUT",
                   "the request headers did not arrive within 10 s");
    }
}

void gw_front_close_all(struct gw *g)
{
    while (g->pre)
        finish(g->pre);
}
