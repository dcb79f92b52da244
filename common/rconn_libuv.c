/* struct cm_rconn_loop for a libuv loop (the gateway): a hiredis adapter of our own and uv
 * timers. hiredis 0.14's adapters/libuv.h drops a poll error (status < 0) on the floor, so a
 * refused connect never reaches hiredis and queued commands wait forever; here an error is
 * handed to hiredis, which then finds the socket's error and calls back. Loop thread only. */
#include <hiredis/async.h>
#include <stdlib.h>
#include <uv.h>

#include "common/alloc.h"
#include "common/rconn.h"

struct uv_redis {
    redisAsyncContext *ac; /* NULL once hiredis let go */
    uv_poll_t poll;
    int events;
};

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct uv_redis *a = h->data;
    if (status < 0) /* hiredis reads SO_ERROR (connecting) or gets it from read() */
        events = (a->ac && !(a->ac->c.flags & REDIS_CONNECTED)) ? UV_WRITABLE : UV_READABLE;
    if (a->ac && (events & UV_READABLE))
        redisAsyncHandleRead(a->ac); /* may free the context: cleanup clears a->ac */
    if (a->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(a->ac);
}

static void update(struct uv_redis *a, int events)
{
    a->events = events;
    if (events)
        uv_poll_start(&a->poll, events, on_poll);
    else
        uv_poll_stop(&a->poll);
}

static void add_read(void *p)
{
    struct uv_redis *a = p;
    update(a, a->events | UV_READABLE);
}
static void del_read(void *p)
{
    struct uv_redis *a = p;
    update(a, a->events & ~UV_READABLE);
}
static void add_write(void *p)
{
    struct uv_redis *a = p;
    update(a, a->events | UV_WRITABLE);
}
static void del_write(void *p)
{
    struct uv_redis *a = p;
    update(a, a->events & ~UV_WRITABLE);
}

static void closed(uv_handle_t *h)
{
    free(h->data);
}

static void cleanup(void *p)
{
    struct uv_redis *a = p;
    a->ac = NULL;
    uv_poll_stop(&a->poll);
    uv_close((uv_handle_t *)&a->poll, closed);
}

static int attach(redisAsyncContext *ac, void *loop)
{
    if (ac->ev.data)
        return -1;
    struct uv_redis *a = cm_xcalloc(1, sizeof(*a));
    if (uv_poll_init(loop, &a->poll, ac->c.fd) != 0) {
        free(a);
        return -1;
    }
    a->ac = ac;
    a->poll.data = a;
    ac->ev.data = a;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}

struct uv_timer_box {
    uv_timer_t t;
    void (*cb)(void *arg);
    void *arg;
};

static void fire(uv_timer_t *t)
{
    struct uv_timer_box *b = t->data;
    b->cb(b->arg);
}

static void *timer_new(void *loop, void (*cb)(void *arg), void *arg)
{
    struct uv_timer_box *b = cm_xcalloc(1, sizeof(*b));
    uv_timer_init(loop, &b->t);
    b->t.data = b;
    b->cb = cb, b->arg = arg;
    return b;
}

static void timer_start(void *timer, int ms)
{
    struct uv_timer_box *b = timer;
    uv_timer_start(&b->t, fire, (uint64_t)ms, 0);
}

static void timer_stop(void *timer)
{
    uv_timer_stop(&((struct uv_timer_box *)timer)->t);
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void timer_free(void *timer)
{
    struct uv_timer_box *b = timer;
    uv_timer_stop(&b->t);
    uv_close((uv_handle_t *)&b->t, timer_closed);
}

void cm_rconn_libuv(struct cm_rconn_loop *lp, struct uv_loop_s *loop)
{
    *lp = (struct cm_rconn_loop){loop, attach, timer_new, timer_start, timer_stop, timer_free};
}
