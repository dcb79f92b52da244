/* struct cm_rconn_loop for a libevent loop (worker, scheduler): hiredis's own libevent adapter
 * and evtimers. Loop thread only. */
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/rconn.h"

struct ev_timer_box {
    struct event *ev;
    void (*cb)(void *arg);
    void *arg;
};

static int attach(redisAsyncContext *ac, void *loop)
{
    return redisLibeventAttach(ac, loop) == REDIS_OK ? 0 : -1;
}

static void fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ev_timer_box *t = arg;
    t->cb(t->arg);
}

static void *timer_new(void *loop, void (*cb)(void *arg), void *arg)
{
    struct ev_timer_box *t = cm_xcalloc(1, sizeof(*t));
    t->cb = cb, t->arg = arg;
    t->ev = evtimer_new(loop, fire, t);
    return t;
}

static void timer_start(void *timer, int ms)
{
    struct ev_timer_box *t = timer;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(t->ev, &tv);
}

static void timer_stop(void *timer)
{
    evtimer_del(((struct ev_timer_box *)timer)->ev);
}

static void timer_free(void *timer)
{
    struct ev_timer_box *t = timer;
    event_free(t->ev);
    free(t);
}

void cm_rconn_libevent(struct cm_rconn_loop *lp, struct event_base *base)
{
    *lp = (struct cm_rconn_loop){base, attach, timer_new, timer_start, timer_stop, timer_free};
}
