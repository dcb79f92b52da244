/* Benchmark of zsa-gateway with a real redis-server and a real gateway process (started here):
 *  1. idle memory: N idle WebSocket connections in one session and in their own sessions;
 *     gateway RSS growth per connection.
 *  2. broadcast: C clients in one session, 5 events/s through the worker's emit path (the EMIT
 *     script: XADD + PUBLISH), for S seconds.
 *  3. per session: C clients in their own sessions, 1,000 events/s to random sessions.
 *  4. downloads: a 128 MB artifact streamed from --results-dir over REST, three times (MB/s,
 *     gateway RSS after).
 * Latency is from just before the EMIT call to the kernel's receive timestamp of the frame
 * (SO_TIMESTAMPNS, CLOCK_REALTIME), so the generator's own delays do not count. The generator is
 * one epoll thread with a fixed buffer per connection (no allocation per message); the
 * publisher is a second thread. Reports p50/p99/p99.9, deliveries/s, loss, gateway CPU per
 * delivery, memory per connection.
 * Usage: bench_gateway [clients] [seconds] [idle] [processes]   (defaults 10000 10 19000 1).
 * Results:
 * docs/BENCHMARKS.md.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/time.h"
#include "proto/proto.h"
#include "tests/harness/emit.h"
#include "tests/harness/proc.h"
#include "tests/harness/redis_server.h"
#include "tests/harness/ws_client.h"

#define BUFSZ 4096
#define MAXMSG 200000

struct conn {
    int fd;
    bool open;      /* handshake done */
    bool connected; /* the connected message came */
    uint32_t len;
    unsigned char buf[BUFSZ];
};

static struct conn *conns;
static int nconns, gw_port;
static int64_t send_ns[MAXMSG]; /* per message: CLOCK_REALTIME before its EMIT */
static int32_t *lat_us;         /* per delivery */
static atomic_long deliveries;
static long lat_n, lat_cap, connected_n, closed_n;

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)gw_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    return fd;
}

/* A text frame arrived at kernel time ts (ns). */
static void on_frame(struct conn *c, const unsigned char *p, size_t n, int64_t ts)
{
    if (!c->connected && n > 30 && memmem(p, n, "\"event_type\":\"connected\"", 24)) {
        c->connected = true;
        connected_n++;
        return;
    }
    const unsigned char *j = memmem(p, n, "\"job_id\":\"m", 11);
    if (!j)
        return;
    long k = strtol((const char *)j + 11, NULL, 10);
    if (k < 0 || k >= MAXMSG || !send_ns[k])
        return;
    if (lat_n < lat_cap)
        lat_us[lat_n++] = (int32_t)((ts - send_ns[k]) / 1000);
    atomic_fetch_add(&deliveries, 1);
}

static void on_readable(struct conn *c)
{
    for (;;) {
        char cbuf[CMSG_SPACE(sizeof(struct timespec))];
        struct iovec iov = {c->buf + c->len, BUFSZ - c->len};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        ssize_t r = recvmsg(c->fd, &mh, MSG_DONTWAIT);
        if (r <= 0) {
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                close(c->fd);
                c->fd = -1;
                closed_n++;
            }
            return;
        }
        int64_t ts = real_ns();
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
                struct timespec t;
                memcpy(&t, CMSG_DATA(cm), sizeof(t));
                ts = (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
            }
        c->len += (uint32_t)r;
        size_t off = 0;
        if (!c->open) {
            unsigned char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (!e)
                continue;
            c->open = memcmp(c->buf, "HTTP/1.1 101", 12) == 0;
            off = (size_t)(e + 4 - c->buf);
        }
        while (c->len - off >= 2) {
            const unsigned char *h = c->buf + off;
            size_t hl = 2, pl = h[1] & 0x7f;
            if (pl == 126) {
                if (c->len - off < 4)
                    break;
                pl = ((size_t)h[2] << 8) | h[3], hl = 4;
            } else if (pl == 127) {
                break; /* no 64-bit frames in this benchmark */
            }
            if (c->len - off < hl + pl)
                break;
            if ((h[0] & 0x0f) == 1 && (h[0] & 0x40)) { /* compressed: only counted */
                if (!c->connected) {
                    c->connected = true;
                    connected_n++;
                }
            } else if ((h[0] & 0x0f) == 1) {
                on_frame(c, h + hl, pl, ts);
            }
            off += hl + pl;
        }
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= (uint32_t)off;
        if (c->len == BUFSZ) { /* a frame larger than the buffer: drop it */
            c->len = 0;
        }
    }
}

static int ep;

static void open_conns_ext(int n, bool own_sessions, bool deflate);

static void open_conns(int n, bool own_sessions)
{
    open_conns_ext(n, own_sessions, false);
}

static void open_conns_ext(int n, bool own_sessions, bool deflate)
{
    conns = calloc((size_t)n, sizeof(*conns));
    nconns = n;
    connected_n = closed_n = 0;
    ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        struct conn *c = &conns[i];
        c->fd = dial();
        if (c->fd < 0) {
            fprintf(stderr, "bench_gateway: connect %d: %s\n", i, strerror(errno));
            nconns = i;
            break;
        }
        char req[512];
        int k = snprintf(req, sizeof(req),
                         "GET /ws?session_id=%s%d HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n%s\r\n",
                         own_sessions ? "own" : "one", own_sessions ? i : 0,
                         deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                   "client_max_window_bits\r\n"
                                 : "");
        if (write(c->fd, req, (size_t)k) != k)
            fprintf(stderr, "bench_gateway: handshake write failed\n");
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        if (i % 256 == 255) { /* let the gateway keep up with its accept backlog */
            struct epoll_event evs[256];
            int m = epoll_wait(ep, evs, 256, 0);
            for (int j = 0; j < m; j++)
                on_readable(evs[j].data.ptr);
        }
    }
    for (int64_t deadline = cm_time_mono_ms() + 60000;
         connected_n < nconns && cm_time_mono_ms() < deadline;) {
        struct epoll_event evs[256];
        int m = epoll_wait(ep, evs, 256, 100);
        for (int j = 0; j < m; j++)
            on_readable(evs[j].data.ptr);
    }
}

static void close_conns(void)
{
    for (int i = 0; i < nconns; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    close(ep);
    free(conns);
    conns = NULL;
}

struct publisher {
    const char *url;
    int port;
    int rate; /* events per second */
    int seconds;
    int sessions; /* 0: session "one0"; else random "own<i>" */
    long sent;
};

static void *publish_main(void *arg)
{
    struct publisher *pb = arg;
    redisContext *c = redisConnect("127.0.0.1", pb->port);
    unsigned seed = 42;
    int64_t t0 = cm_time_mono_ns(), period = 1000000000LL / pb->rate;
    long total = (long)pb->rate * pb->seconds;
    char ts[CM_RFC3339_LEN];
    for (long k = 0; k < total && k < MAXMSG; k++) {
        int64_t due = t0 + k * period;
        while (cm_time_mono_ns() < due) {
            struct timespec sl = {0, 200000};
            nanosleep(&sl, NULL);
        }
        char sess[32], job[32], e[256];
        snprintf(sess, sizeof(sess), pb->sessions ? "own%d" : "one0",
                 pb->sessions ? (int)(rand_r(&seed) % (unsigned)pb->sessions) : 0);
        snprintf(job, sizeof(job), "m%ld", k);
        struct pr_msg m;
        pr_msg_init(&m, PR_PROCESSING_PROGRESS);
        pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
        pr_set_str(&m.session_id, sess);
        pr_set_str(&m.job_id, job);
        pr_set_str(&m.u.processing_progress.image_id, "img");
        pr_set_str(&m.u.processing_progress.current_step, "Processing");
        m.u.processing_progress.progress = 50;
        m.u.processing_progress.eta_seconds = 1.5;
        send_ns[k] = real_ns(); /* (encoding inside th_emit is ~0.3 us) */
        if (th_emit(c, &m, 100000, e, sizeof(e)) != 0)
            fprintf(stderr, "bench_gateway: emit: %s\n", e);
        pr_msg_deinit(&m);
        pb->sent = k + 1;
    }
    redisFree(c);
    return NULL;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Waits until the server has let go of every connection (the gateway says so in /ws/stats)
 * and is idle again. */
static void settle(pid_t gw, bool is_gw)
{
    char body[1024];
    for (int64_t deadline = cm_time_mono_ms() + 30000; cm_time_mono_ms() < deadline;) {
        double c0 = th_proc_cpu_tree(gw);
        struct timespec ts = {0, 300000000};
        nanosleep(&ts, NULL);
        if ((!is_gw || (cm_http("127.0.0.1", gw_port, "GET", "/ws/stats", NULL, false, body,
                                sizeof(body)) == 200 &&
                        strstr(body, "\"connections\":0,"))) &&
            th_proc_cpu_tree(gw) - c0 < 0.03)
            return;
    }
}

/* ---- the floor: a bare epoll server doing the least any gateway must do -------------------- */

/* Runs in a forked child until SIGTERM: accepts WebSocket upgrades (no checks), subscribes to
 * each client's session channel on its first client, and for every published event decodes the
 * MessagePack once, encodes JSON once, and send()s that one prebuilt frame to each client of the
 * session. No queues, no replay, no bounds: the same kernel work per delivery as the gateway and
 * as little user-space work as possible, measured by the same generator in the same run. */
struct fl_conn {
    int fd, next; /* next: the following client of the same session, -1 at the end */
    int sess;     /* -1 until the upgrade request is read */
    uint16_t len;
    char req[1024];
};

static volatile sig_atomic_t fl_stop;
static void fl_on_term(int sig)
{
    (void)sig;
    fl_stop = 1;
}

/* "one0" -> n (the shared session), "own<i>" -> i */
static int fl_session(const char *req, int n)
{
    const char *p = strstr(req, "session_id=");
    if (!p)
        return -1;
    p += 11;
    if (strncmp(p, "own", 3) == 0) {
        int i = atoi(p + 3);
        return i >= 0 && i < n ? i : -1;
    }
    return n;
}

static void fl_send_event(struct fl_conn *cs, const int *head, const char *chan, size_t chlen,
                          int n, const char *data, size_t len)
{
    int sess = chlen > 10 && memcmp(chan, "zsa:ch:own", 10) == 0 ? atoi(chan + 10) : n;
    if (sess < 0 || sess > n)
        return;
    size_t pos = 0;
    struct pr_frame fr;
    struct pr_err err = {0};
    while (pr_pub_next(data, len, &pos, &fr, &err) == 1) {
        struct pr_msg m;
        if (pr_decode_msgpack(fr.ev, fr.ev_len, PR_WIRE_SERVER, &m, &err) != 0)
            continue;
        free(m.event_id);
        m.event_id = strndup(fr.id, fr.id_len);
        struct cm_buf b = CM_BUF_INIT;
        cm_buf_append(&b, "\x81\x7e\0\0", 4); /* text frame, 16-bit length */
        if (pr_encode_json(&m, &b, &err) == 0 && b.len - 4 < 65536) {
            size_t pl = b.len - 4;
            b.data[2] = (char)(pl >> 8), b.data[3] = (char)(pl & 0xff);
            for (int i = head[sess]; i >= 0; i = cs[i].next)
                if (send(cs[i].fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
                    errno != EAGAIN)
                    fprintf(stderr, "floor: send: %s\n", strerror(errno));
        }
        cm_buf_deinit(&b);
        pr_msg_deinit(&m);
    }
}

static void floor_main(int port, int redis_port, int n)
{
    signal(SIGTERM, fl_on_term);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    redisContext *rc = redisConnect("127.0.0.1", redis_port);
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 4096) != 0 || !rc ||
        rc->err) {
        fprintf(stderr, "floor: cannot listen or reach Redis\n");
        _exit(1);
    }
    /* fds index the connection table; head[s]: first client of session s (n: the shared one) */
    struct fl_conn *cs = calloc((size_t)n + 1024, sizeof(*cs));
    int *head = malloc(sizeof(int) * ((size_t)n + 1)), maxfd = n + 1024;
    for (int i = 0; i <= n; i++)
        head[i] = -1;
    int fep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(fep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.fd = rc->fd;
    epoll_ctl(fep, EPOLL_CTL_ADD, rc->fd, &ev);
    while (!fl_stop) {
        struct epoll_event evs[256];
        int m = epoll_wait(fep, evs, 256, 100);
        for (int j = 0; j < m; j++) {
            int fd = evs[j].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= maxfd) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    cs[c] = (struct fl_conn){.fd = c, .next = -1, .sess = -1};
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(fep, EPOLL_CTL_ADD, c, &ce);
                }
            } else if (fd == rc->fd) {
                if (redisBufferRead(rc) != REDIS_OK) {
                    fprintf(stderr, "floor: Redis read failed\n");
                    _exit(1);
                }
                redisReply *r;
                while (redisGetReplyFromReader(rc, (void **)&r) == REDIS_OK && r) {
                    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                        strcmp(r->element[0]->str, "message") == 0)
                        fl_send_event(cs, head, r->element[1]->str, r->element[1]->len, n,
                                      r->element[2]->str, r->element[2]->len);
                    freeReplyObject(r);
                }
            } else {
                struct fl_conn *c = &cs[fd];
                char buf[1024];
                ssize_t k = recv(fd, buf, sizeof(buf), 0);
                if (k <= 0) { /* closed (unlinking from its session is not needed here) */
                    epoll_ctl(fep, EPOLL_CTL_DEL, fd, NULL);
                    close(fd);
                    c->fd = -1;
                    continue;
                }
                if (c->sess >= 0 || c->len + k >= (ssize_t)sizeof(c->req))
                    continue; /* frames from clients (pongs) are ignored */
                memcpy(c->req + c->len, buf, (size_t)k);
                c->len = (uint16_t)(c->len + k);
                c->req[c->len] = 0;
                if (!strstr(c->req, "\r\n\r\n"))
                    continue;
                c->sess = fl_session(c->req, n);
                if (c->sess < 0)
                    continue;
                if (head[c->sess] < 0) { /* the session's first client here: subscribe */
                    if (c->sess == n)
                        redisAppendCommand(rc, "SUBSCRIBE zsa:ch:one0");
                    else
                        redisAppendCommand(rc, "SUBSCRIBE zsa:ch:own%d", c->sess);
                    int done = 0;
                    while (!done && redisBufferWrite(rc, &done) == REDIS_OK) {
                    }
                }
                c->next = head[c->sess];
                head[c->sess] = fd;
                static const char up[] =
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                    "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                    "\x81\x2f{\"event_type\":\"connected\",\"session_id\":\"floor\"}";
                if (send(fd, up, sizeof(up) - 1, MSG_NOSIGNAL) < 0)
                    fprintf(stderr, "floor: handshake: %s\n", strerror(errno));
            }
        }
    }
    _exit(0);
}

/* Runs one fan-out scenario and prints its line. */
static void scenario(const char *name, struct th_redis *r, pid_t gw, bool is_gw, int clients,
                     int rate, int seconds, bool own)
{
    open_conns(clients, own);
    if (connected_n < clients) {
        printf("%s: only %ld of %d clients connected\n", name, connected_n, clients);
        close_conns();
        return;
    }
    /* the cost of holding the connections, with nothing to send (pings, timers) */
    double idle0 = th_proc_cpu_tree(gw);
    for (int64_t until = cm_time_mono_ms() + 3000; cm_time_mono_ms() < until;) {
        struct epoll_event evs[256];
        int m = epoll_wait(ep, evs, 256, 50);
        for (int j = 0; j < m; j++)
            on_readable(evs[j].data.ptr);
    }
    double idle_pct = (th_proc_cpu_tree(gw) - idle0) / 3 * 100;
    lat_n = 0;
    atomic_store(&deliveries, 0);
    struct publisher pb = {.url = r->url,
                           .port = r->port,
                           .rate = rate,
                           .seconds = seconds,
                           .sessions = own ? clients : 0};
    double cpu0 = th_proc_cpu_tree(gw);
    int64_t w0 = cm_time_mono_ns();
    pthread_t th;
    pthread_create(&th, NULL, publish_main, &pb);
    long expect = (long)rate * seconds * (own ? 1 : clients);
    int64_t end = cm_time_mono_ms() + (int64_t)seconds * 1000 + 5000;
    bool joined = false;
    while (cm_time_mono_ms() < end) {
        struct epoll_event evs[256];
        int m = epoll_wait(ep, evs, 256, 50);
        for (int j = 0; j < m; j++)
            on_readable(evs[j].data.ptr);
        if (!joined && pb.sent == (long)rate * seconds) {
            joined = true;
        }
        if (joined && atomic_load(&deliveries) >= expect)
            break;
    }
    pthread_join(th, NULL);
    double cpu = th_proc_cpu_tree(gw) - cpu0, wall = (double)(cm_time_mono_ns() - w0) / 1e9;
    long got = atomic_load(&deliveries);
    qsort(lat_us, (size_t)lat_n, sizeof(int32_t), cmp_i32);
    double p50 = lat_n ? lat_us[lat_n / 2] / 1000.0 : 0,
           p99 = lat_n ? lat_us[lat_n * 99 / 100] / 1000.0 : 0,
           p999 = lat_n ? lat_us[lat_n * 999 / 1000] / 1000.0 : 0;
    printf("%s: %d clients, %d events/s for %d s: %ld of %ld deliveries (loss %ld), %.0f "
           "deliveries/s, latency p50 %.2f ms p99 %.2f ms p99.9 %.2f ms, gateway CPU %.2f us per "
           "delivery (%.0f%% of a core; %.1f%% idle before), %ld closed\n",
           name, clients, rate, seconds, got, expect, expect - got, got / (double)seconds, p50, p99,
           p999, got ? cpu * 1e6 / (double)got : 0, 100 * cpu / wall, idle_pct, closed_n);
    close_conns();
    settle(gw, is_gw);
}

/* 4. downloads: a result whose summary lists one 128 MB file, fetched whole over REST */
static void downloads(const struct th_redis *r, const char *dir, pid_t gw_pid)
{
    enum { MB = 1 << 20, SIZE_MB = 128 };
    char path[400];
    snprintf(path, sizeof(path), "%s/bench.r1", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/bench.r1/labels.tif", dir);
    FILE *f = fopen(path, "wb");
    unsigned char *block = malloc(MB);
    uint64_t x = 88172645463325252ull; /* xorshift: bytes nothing compresses */
    for (size_t i = 0; f && block && i < MB; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        block[i] = (unsigned char)x;
    }
    bool ok = f && block;
    for (int i = 0; ok && i < SIZE_MB; i++)
        ok = fwrite(block, 1, MB, f) == MB;
    free(block);
    if (!f || fclose(f) != 0 || !ok) {
        fprintf(stderr, "downloads: cannot write %s\n", path);
        return;
    }
    redisContext *c = redisConnect("127.0.0.1", r->port);
    redisReply *rep = c ? redisCommand(c,
                                       "SET zsa:result:bench.r1 {\"result_id\":\"bench.r1\","
                                       "\"job_id\":\"bench\",\"summary\":{\"artifacts\":[{"
                                       "\"name\":\"labels.tif\",\"type\":\"image/tiff\","
                                       "\"size\":%d}]}}",
                                       SIZE_MB * MB)
                        : NULL;
    freeReplyObject(rep);
    if (c)
        redisFree(c);
    FILE *sink = fopen("/dev/null", "wb");
    for (int i = 0; sink && i < 3; i++) {
        struct cm_download d = {0};
        char err[256];
        int64_t t0 = cm_time_mono_ns();
        int status =
            cm_http_download("127.0.0.1", gw_port, "/api/results/bench.r1/artifacts/labels.tif",
                             NULL, sink, &d, err, sizeof(err));
        double s = (double)(cm_time_mono_ns() - t0) / 1e9;
        printf("download: a %d MB artifact over REST: status %d, %llu bytes in %.3f s, %.0f MB/s, "
               "gateway RSS %ld KiB after\n",
               SIZE_MB, status, (unsigned long long)d.bytes, s, (double)d.bytes / MB / s,
               th_proc_rss_kb(gw_pid));
    }
    if (sink)
        fclose(sink);
    unlink(path);
    snprintf(path, sizeof(path), "%s/bench.r1", dir);
    rmdir(path);
}

int main(int argc, char **argv)
{
    int clients = argc > 1 ? atoi(argv[1]) : 10000;
    int seconds = argc > 2 ? atoi(argv[2]) : 10;
    int idle = argc > 3 ? atoi(argv[3]) : 19000;
    int procs = argc > 4 ? atoi(argv[4]) : 1;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)idle + 200 > rl.rlim_cur)
        idle = (int)rl.rlim_cur - 200;
    if ((rlim_t)clients + 200 > rl.rlim_cur)
        clients = (int)rl.rlim_cur - 200;
    signal(SIGPIPE, SIG_IGN);
    lat_cap = 4000000;
    lat_us = malloc(sizeof(int32_t) * (size_t)lat_cap);

    struct th_redis r = {0};
    if (th_redis_start(&r) != 0)
        return 1;
    gw_port = th_free_port();
    char url[340], listen[64], maxc[64], nproc[32];
    snprintf(url, sizeof(url), "--redis-url=%s", r.url);
    snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", gw_port);
    snprintf(maxc, sizeof(maxc), "--max-connections=%d", idle > clients ? idle : clients);
    snprintf(nproc, sizeof(nproc), "--processes=%d", procs);
    char results[] = "/tmp/zsa-bench-results-XXXXXX", rdir[128];
    if (!mkdtemp(results))
        return 1;
    snprintf(rdir, sizeof(rdir), "--results-dir=%s", results);
    const char *gargv[] = {url,
                           rdir,
                           listen,
                           nproc,
                           maxc,
                           "--log-level=warn",
                           "--auth=off" /* measures fan-out; tokens cost once per connect */,
                           NULL};
    struct th_proc gw;
    if (th_proc_start(&gw, "zsa-gateway", gargv, NULL) != 0)
        return 1;
    char body[256];
    for (int64_t deadline = cm_time_mono_ms() + 10000; cm_time_mono_ms() < deadline;) {
        if (cm_http("127.0.0.1", gw_port, "GET", "/readyz", NULL, false, body, sizeof(body)) == 200)
            break;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }

    /* 1. idle memory: RSS with the connections open minus RSS of the fresh process (the second
     * wave reuses what the first freed, so it is measured against the same start) */
    long rss0 = th_proc_rss_kb(gw.pid);
    for (int v = 0; v < 3 && idle > 0; v++) {
        bool own = v == 1, deflate = v == 2;
        open_conns_ext(idle, own, deflate);
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
        long rss1 = th_proc_rss_kb(gw.pid);
        printf("idle memory, %s: %ld connections, gateway RSS %ld -> %ld KiB: %.2f KB per "
               "connection\n",
               own       ? "own sessions"
               : deflate ? "one session, permessage-deflate"
                         : "one session",
               connected_n, rss0, rss1,
               connected_n ? (double)(rss1 - rss0) * 1024 / 1000 / (double)connected_n : 0);
        close_conns();
        settle(gw.pid, true);
    }
    /* 2. broadcast, 3. per session; each next to the floor (a bare epoll server, forked here
     * before any thread exists) in the same run, so that the VM's state of the hour is shared */
    int floor_port = th_free_port(), zsa_port = gw_port;
    pid_t fl = fork();
    if (fl == 0)
        floor_main(floor_port, r.port, clients);
    for (int k = 0; k < 4; k++) {
        bool is_gw = k % 2 == 0, own = k >= 2;
        char name[96];
        snprintf(name, sizeof(name), "%s, %s",
                 own ? "per session (own sessions)" : "broadcast (one session)",
                 is_gw ? "zsa-gateway" : "floor (bare epoll)");
        gw_port = is_gw ? zsa_port : floor_port;
        scenario(name, &r, is_gw ? gw.pid : fl, is_gw, clients, own ? 1000 : 5, seconds, own);
    }
    gw_port = zsa_port;
    kill(fl, SIGTERM);
    waitpid(fl, NULL, 0);
    downloads(&r, results, gw.pid);
    rmdir(results);

    th_proc_signal(&gw, SIGTERM);
    th_proc_wait(&gw, 10000);
    th_proc_stop(&gw);
    th_redis_stop(&r);
    free(lat_us);
    return 0;
}
