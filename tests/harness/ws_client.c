/* A free port, and a gateway started on one, for tests (see ws_client.h). */
#include "tests/harness/ws_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/time.h"
#include "tests/harness/proc.h"

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

bool th_http_wait_ok(int port, const char *path, int timeout_ms)
{
    char body[512];
    int64_t deadline = cm_time_mono_ms() + timeout_ms;
    for (;;) {
        if (cm_http("127.0.0.1", port, "GET", path, NULL, false, body, sizeof(body)) == 200)
            return true;
        if (cm_time_mono_ms() >= deadline)
            return false;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int th_gateway_start(struct th_proc *p, const char *redis_url, int port, const char *const *extra)
{
    char url[340], listen[64];
    snprintf(url, sizeof(url), "--redis-url=%s", redis_url);
    snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", port);
    const char *argv[32] = {url, listen, "--processes=1"};
    int n = 3;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    if (th_proc_start(p, "zsa-gateway", argv, NULL) != 0)
        return -1;
    return th_http_wait_ok(port, "/readyz", 15000) ? 0 : -1;
}
