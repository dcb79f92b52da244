/* Blocking WebSocket and HTTP/1.1 client (see wsclient.h). */
#define _GNU_SOURCE
#include "common/wsclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "common/alloc.h"
#include "common/time.h"

/* A TCP connection to host:port (names resolved; every address tried in turn), within
 * timeout_ms; -1 with errno set when none answers. */
static int dial(const char *host, int port, bool small, int timeout_ms)
{
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, service, &hints, &res) != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (small) {
            int sz = 4096;
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        }
        int rc = connect(fd, a->ai_addr, a->ai_addrlen), err = 0;
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            socklen_t l = sizeof(err);
            if (poll(&p, 1, timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err == 0)
                rc = 0;
            else if (!err)
                err = ETIMEDOUT;
        } else if (rc != 0) {
            err = errno;
        }
        if (rc != 0) {
            close(fd);
            fd = -1;
            errno = err;
            continue;
        }
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    int saved = errno;
    freeaddrinfo(res);
    errno = saved;
    return fd;
}

/* ---- TLS (cm_wsclient_tls) ------------------------------------------------------------------ */

static bool use_tls;
static char tls_ca[512];
static SSL_CTX *tls_ctx;
static char tls_err[768];

int cm_wsclient_tls(bool on, const char *ca_file)
{
    use_tls = on;
    snprintf(tls_ca, sizeof(tls_ca), "%s", ca_file ? ca_file : "");
    if (tls_ctx) {
        SSL_CTX_free(tls_ctx);
        tls_ctx = NULL;
    }
    if (!on)
        return 0;
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx)
        return -1;
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    if (tls_ca[0] ? SSL_CTX_load_verify_locations(tls_ctx, tls_ca, NULL) != 1
                  : SSL_CTX_set_default_verify_paths(tls_ctx) != 1) {
        snprintf(tls_err, sizeof(tls_err), "cannot load the CA certificates%s%s",
                 tls_ca[0] ? " from " : "", tls_ca);
        return -1;
    }
    return 0;
}

const char *cm_wsclient_tls_error(void)
{
    return tls_err;
}

/* The TLS handshake on a connected fd, checking the certificate against host (a name or an IP
 * address); NULL with tls_err and errno (EPROTO) set when it fails. */
static SSL *tls_open(int fd, const char *host)
{
    SSL *ssl = SSL_new(tls_ctx);
    if (!ssl)
        return NULL;
    struct in6_addr a6;
    struct in_addr a4;
    bool ip = inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    if (ip)
        X509_VERIFY_PARAM_set1_ip_asc(vp, host);
    else {
        SSL_set_tlsext_host_name(ssl, host);
        SSL_set1_host(ssl, host);
    }
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1)
        return ssl;
    long v = SSL_get_verify_result(ssl);
    unsigned long e = ERR_get_error();
    if (v != X509_V_OK)
        snprintf(tls_err, sizeof(tls_err), "TLS: the gateway's certificate: %s%s",
                 X509_verify_cert_error_string(v),
                 v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
                         v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
                     ? " (trust its CA with --cacert or ZSA_CA_FILE)"
                     : "");
    else
        snprintf(tls_err, sizeof(tls_err), "TLS handshake failed: %s",
                 e ? ERR_reason_error_string(e) : "the peer closed the connection");
    ERR_clear_error();
    SSL_free(ssl);
    errno = EPROTO;
    return NULL;
}

/* A connection to host:port, over TLS when cm_wsclient_tls said so: the fd, and *ssl (NULL for
 * plain TCP); -1 with errno when it fails. */
static int connect_to(const char *host, int port, bool small, int timeout_ms, SSL **ssl)
{
    *ssl = NULL;
    tls_err[0] = '\0';
    int fd = dial(host, port, small, timeout_ms);
    if (fd < 0 || !use_tls)
        return fd;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)); /* the handshake's deadline */
    *ssl = tls_open(fd, host);
    struct timeval none = {0, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    if (!*ssl) {
        close(fd);
        errno = EPROTO;
        return -1;
    }
    return fd;
}

static void disconnect(int fd, SSL *ssl)
{
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    if (fd >= 0)
        close(fd);
}

static int write_all_ssl(int fd, SSL *ssl, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = ssl ? SSL_write(ssl, c, (int)(n > 1 << 30 ? 1 << 30 : n))
                        : send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        c += k, n -= (size_t)k;
    }
    return 0;
}

/* Reads more into w->buf; 1 read, 0 timeout, -2 interrupted by a signal (the caller's handler
 * may want to act: Ctrl-C in the CLI), -1 closed. */
static int fill(struct cm_ws *w, int timeout_ms)
{
    SSL *ssl = w->ssl;
    if (!ssl || SSL_pending(ssl) == 0) { /* TLS may hold decrypted bytes the socket no longer has */
        struct pollfd p = {.fd = w->fd, .events = POLLIN};
        int r = poll(&p, 1, timeout_ms);
        if (r == 0)
            return 0;
        if (r < 0)
            return errno == EINTR ? -2 : -1;
    }
    if (w->cap - w->len < 65536) {
        w->cap = w->cap * 2 + 65536;
        w->buf = cm_xrealloc(w->buf, w->cap);
    }
    ssize_t n;
    if (ssl) {
        n = SSL_read(ssl, w->buf + w->len, (int)(w->cap - w->len));
        if (n <= 0 && SSL_get_error(ssl, (int)n) == SSL_ERROR_WANT_READ)
            return 0; /* a TLS record not complete yet (or a session ticket) */
    } else {
        n = recv(w->fd, w->buf + w->len, w->cap - w->len, 0);
    }
    if (n < 0 && errno == EINTR)
        return -2;
    if (n <= 0)
        return -1;
    w->len += (size_t)n;
    return 1;
}

static void consume(struct cm_ws *w, size_t n)
{
    memmove(w->buf, w->buf + n, w->len - n);
    w->len -= n;
}

int cm_ws_connect(struct cm_ws *w, const char *host, int port, const char *target,
                  const char *subprotocols, bool deflate)
{
    bool small = w->small_rcvbuf;
    const char *offer = w->ext_offer;
    bool no_pong = w->no_pong;
    memset(w, 0, sizeof(*w));
    w->small_rcvbuf = small;
    w->no_pong = no_pong;
    w->ext_offer = offer;
    char ext[300] = "";
    if (offer || deflate)
        snprintf(ext, sizeof(ext), "Sec-WebSocket-Extensions: %s\r\n",
                 offer ? offer : "permessage-deflate; client_max_window_bits");
    SSL *ssl;
    w->fd = connect_to(host, port, small, 5000, &ssl);
    w->ssl = ssl;
    if (w->fd < 0)
        return -1;
    /* a random key, and the answer it must get (RFC 6455 4.1) */
    unsigned char nonce[16], digest[EVP_MAX_MD_SIZE];
    char key[32], want[64], both[128];
    unsigned dlen = 0;
    if (RAND_bytes(nonce, sizeof(nonce)) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
    snprintf(both, sizeof(both), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    EVP_Digest(both, strlen(both), digest, &dlen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)want, digest, (int)dlen);
    char req[8192];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s%s\r\n",
                     target, host, port, key, subprotocols ? "Sec-WebSocket-Protocol: " : "",
                     subprotocols ? subprotocols : "", subprotocols ? "\r\n" : "", ext);
    if (n < 0 || (size_t)n >= sizeof(req) || write_all_ssl(w->fd, w->ssl, req, (size_t)n) != 0)
        return -1;
    char *end = NULL;
    int64_t deadline = cm_time_mono_ms() + 5000;
    while (!(end = w->len ? memmem(w->buf, w->len, "\r\n\r\n", 4) : NULL)) {
        if (cm_time_mono_ms() > deadline || fill(w, 100) == -1)
            return -1;
    }
    size_t hlen = (size_t)(end - (char *)w->buf) + 4;
    char *head = strndup((char *)w->buf, hlen);
    consume(w, hlen);
    sscanf(head, "HTTP/1.%*d %d", &w->http_status);
    bool accept_ok = strstr(head, want) != NULL;
    for (char *line = strtok(head, "\r\n"); line; line = strtok(NULL, "\r\n")) {
        if (strncasecmp(line, "Sec-WebSocket-Protocol:", 23) == 0)
            snprintf(w->protocol, sizeof(w->protocol), "%s", line + 24);
        if (strncasecmp(line, "Sec-WebSocket-Extensions:", 25) == 0 &&
            strstr(line, "permessage-deflate"))
            w->deflate = true;
    }
    free(head);
    if (w->deflate) {
        z_stream *zs = calloc(1, sizeof(*zs));
        inflateInit2(zs, -15);
        w->zs = zs;
    }
    return w->http_status == 101 && accept_ok ? 0 : -1;
}

static int send_frame(struct cm_ws *w, int opcode, const void *data, size_t len)
{
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        hdr[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(len >> 8), hdr[h++] = (unsigned char)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)(len >> (8 * i));
    }
    unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(hdr + h, mask, 4);
    h += 4;
    unsigned char *body = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        body[i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
    int rc =
        write_all_ssl(w->fd, w->ssl, hdr, h) || write_all_ssl(w->fd, w->ssl, body, len) ? -1 : 0;
    free(body);
    return rc;
}

int cm_ws_send_text(struct cm_ws *w, const char *text)
{
    return send_frame(w, 1, text, strlen(text));
}

static char *inflate_msg(struct cm_ws *w, const unsigned char *in, size_t n, size_t *outlen)
{
    z_stream *zs = w->zs;
    unsigned char *src = malloc(n + 4);
    memcpy(src, in, n);
    memcpy(src + n, "\x00\x00\xff\xff", 4);
    size_t cap = n * 4 + 1024, len = 0;
    char *out = malloc(cap);
    zs->next_in = src;
    zs->avail_in = (unsigned)(n + 4);
    do {
        if (cap - len < 1024)
            out = cm_xrealloc(out, cap *= 2);
        zs->next_out = (unsigned char *)out + len;
        zs->avail_out = (unsigned)(cap - len - 1);
        int r = inflate(zs, Z_SYNC_FLUSH);
        len = (size_t)((char *)zs->next_out - out);
        if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END)
            break;
    } while (zs->avail_in > 0 || zs->avail_out == 0);
    free(src);
    out[len] = 0;
    *outlen = len;
    return out;
}

int cm_ws_recv(struct cm_ws *w, int timeout_ms, struct cm_ws_msg *m)
{
    int64_t deadline = cm_time_mono_ms() + timeout_ms;
    for (;;) {
        /* a whole frame in the buffer? */
        if (w->len >= 2) {
            unsigned char b0 = w->buf[0], b1 = w->buf[1];
            size_t h = 2;
            uint64_t plen = b1 & 0x7f;
            if (plen == 126 && w->len >= 4)
                plen = ((uint64_t)w->buf[2] << 8) | w->buf[3], h = 4;
            else if (plen == 127 && w->len >= 10) {
                plen = 0;
                for (int i = 0; i < 8; i++)
                    plen = (plen << 8) | w->buf[2 + i];
                h = 10;
            } else if (plen >= 126) {
                h = 0;
            }
            if (h && w->len >= h + plen) {
                int op = b0 & 0x0f;
                const unsigned char *p = w->buf + h;
                if (op == 8) {
                    w->close_code = plen >= 2 ? (p[0] << 8) | p[1] : 1005;
                    consume(w, h + (size_t)plen);
                    return -1;
                }
                if (op == 9) { /* ping: pong back */
                    unsigned char *copy = malloc(plen + 1);
                    memcpy(copy, p, plen);
                    consume(w, h + (size_t)plen);
                    if (!w->no_pong)
                        send_frame(w, 10, copy, plen);
                    free(copy);
                    continue;
                }
                if (op == 10) {
                    consume(w, h + (size_t)plen);
                    continue;
                }
                if (op != 0) {
                    w->part_op = op;
                    w->part_compressed = (b0 & 0x40) != 0;
                }
                w->part = cm_xrealloc(w->part, w->part_len + plen + 1);
                memcpy(w->part + w->part_len, p, plen);
                w->part_len += plen;
                consume(w, h + (size_t)plen);
                if (b0 & 0x80) {
                    unsigned char *msg = w->part;
                    size_t mlen = w->part_len;
                    w->part = NULL, w->part_len = 0;
                    if (w->part_compressed && w->zs) {
                        w->compressed++;
                        size_t n;
                        char *out = inflate_msg(w, msg, mlen, &n);
                        free(msg);
                        m->data = out, m->len = n;
                    } else {
                        msg[mlen] = 0;
                        m->data = (char *)msg, m->len = mlen;
                    }
                    m->opcode = w->part_op;
                    return 1;
                }
                continue;
            }
        }
        int left = (int)(deadline - cm_time_mono_ms());
        if (left <= 0)
            return 0; /* a partial message stays in w->part for the next call */
        int r = fill(w, left);
        if (r == -2)
            return 0; /* a signal: like a timeout, so that the caller sees its flag now */
        if (r < 0)
            return -1;
    }
}

void cm_ws_close(struct cm_ws *w)
{
    if (w->fd > 0) {
        send_frame(w, 8, "\x03\xe8", 2);
        disconnect(w->fd, w->ssl);
    }
    w->fd = -1;
    w->ssl = NULL;
    free(w->buf);
    w->buf = NULL;
    free(w->part);
    w->part = NULL;
    w->part_len = 0;
    w->len = w->cap = 0;
    if (w->zs) {
        inflateEnd(w->zs);
        free(w->zs);
        w->zs = NULL;
    }
}

/* The head of one request (Connection: close, the token as a Bearer header) in req, and a
 * connection to the server; -1 with errno set when the head does not fit or the connection
 * fails. */
static int http_open(const char *host, int port, const char *method, const char *path,
                     const char *token, const char *headers, char *req, size_t cap, int *len,
                     SSL **ssl)
{
    *len = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n%s%s%s%s\r\n",
                    method, path, host, port, headers, token ? "Authorization: Bearer " : "",
                    token ? token : "", token ? "\r\n" : "");
    if (*len < 0 || (size_t)*len >= cap) {
        errno = E2BIG;
        return -1;
    }
    return connect_to(host, port, false, 5000, ssl);
}

int cm_http(const char *host, int port, const char *method, const char *path, const char *body,
            bool with_length, char *out, size_t n)
{
    return cm_http_auth(host, port, method, path, NULL, body, with_length, out, n);
}

int cm_http_auth(const char *host, int port, const char *method, const char *path,
                 const char *token, const char *body, bool with_length, char *out, size_t n)
{
    out[0] = 0;
    char req[8192];
    size_t bl = body ? strlen(body) : 0;
    char cl[96] = "Content-Type: application/json\r\n";
    if (with_length)
        snprintf(cl, sizeof(cl), "Content-Type: application/json\r\nContent-Length: %zu\r\n", bl);
    SSL *ssl;
    int k, fd = http_open(host, port, method, path, token, cl, req, sizeof(req), &k, &ssl);
    if (fd < 0)
        return -1;
    if (write_all_ssl(fd, ssl, req, (size_t)k) || (bl && write_all_ssl(fd, ssl, body, bl))) {
        disconnect(fd, ssl);
        return -1;
    }
    struct cm_ws w = {.fd = fd, .ssl = ssl};
    int64_t deadline = cm_time_mono_ms() + 5000;
    while (cm_time_mono_ms() < deadline) {
        int r = fill(&w, 100);
        if (r == -1)
            break;
        /* done when the body announced by Content-Length is in */
        char *hend = w.len ? memmem(w.buf, w.len, "\r\n\r\n", 4) : NULL;
        if (hend) {
            char *h = strndup((char *)w.buf, (size_t)(hend - (char *)w.buf));
            char *c = strcasestr(h, "content-length:");
            size_t want = c ? strtoul(c + 15, NULL, 10) : 0;
            free(h);
            if (c && w.len >= (size_t)(hend - (char *)w.buf) + 4 + want)
                break;
        }
    }
    disconnect(fd, ssl);
    int status = -1;
    if (w.len > 12)
        sscanf((char *)w.buf, "HTTP/1.%*d %d", &status);
    out[0] = 0;
    char *hend = w.len ? memmem(w.buf, w.len, "\r\n\r\n", 4) : NULL;
    if (hend) {
        size_t bl2 = w.len - (size_t)(hend + 4 - (char *)w.buf);
        if (bl2 >= n)
            bl2 = n - 1;
        memcpy(out, hend + 4, bl2);
        out[bl2] = 0;
    }
    free(w.buf);
    return status;
}

/* Writes the w->len bytes received so far after what was consumed to to (at most *left), and
 * consumes them. */
static int drain_to(struct cm_ws *w, size_t from, FILE *to, uint64_t *left, uint64_t *bytes)
{
    size_t k = w->len - from;
    if (k > *left)
        k = (size_t)*left;
    if (k && fwrite(w->buf + from, 1, k, to) != k)
        return -1;
    *left -= k, *bytes += k;
    w->len = 0;
    return 0;
}

/* The status line and the body's framing of a download's head: Content-Length, and for a 206
 * the Content-Range's start and the whole size. 0, or -1 for a 206 that does not continue at
 * from. */
static int download_head(const char *h, struct cm_download *d, int *status, uint64_t *left,
                         FILE *to)
{
    const char *cl = strcasestr(h, "content-length:"), *cr = strcasestr(h, "content-range:");
    sscanf(h, "HTTP/1.%*d %d", status);
    *left = cl ? strtoull(cl + 15, NULL, 10) : 0;
    d->resumed = false;
    if (*status == 206) {
        unsigned long long a, b, total;
        if (!cr || sscanf(cr + 14, " bytes %llu-%llu/%llu", &a, &b, &total) != 3 || a != d->from)
            return -1;
        d->resumed = true, d->total = total, *status = 200;
        return 0;
    }
    if (*status == 200) {
        d->total = *left;
        if (d->from > 0) { /* the whole file after all: start it again */
            fflush(to);
            if (ftruncate(fileno(to), 0) != 0 || fseek(to, 0, SEEK_SET) != 0)
                return -1;
        }
    }
    return 0;
}

int cm_http_download(const char *host, int port, const char *path, const char *token, FILE *to,
                     struct cm_download *d, char *err, size_t n)
{
    char req[8192], range[64] = "";
    d->bytes = d->total = 0;
    err[0] = 0;
    if (d->from > 0)
        snprintf(range, sizeof(range), "Range: bytes=%llu-\r\n", (unsigned long long)d->from);
    SSL *ssl;
    int k, fd = http_open(host, port, "GET", path, token, range, req, sizeof(req), &k, &ssl);
    if (fd < 0)
        return -1;
    struct cm_ws w = {.fd = fd, .ssl = ssl};
    int status = -1;
    uint64_t left = 0, *bytes = &d->bytes;
    bool head = true, ok = write_all_ssl(fd, ssl, req, (size_t)k) == 0;
    while (ok) {
        errno = 0;
        int r = fill(&w, 30000);
        if (r == 0 || r == -1) { /* a stall, or the end: complete only when nothing is left */
            ok = !head && left == 0;
            if (r == 0 || errno == 0) /* a stall; the peer closed */
                errno = r == 0 ? ETIMEDOUT : ECONNRESET;
            break;
        }
        char *hend = head && w.len ? memmem(w.buf, w.len, "\r\n\r\n", 4) : NULL;
        if (head && !hend)
            continue;
        if (head) {
            head = false;
            char *h = strndup((char *)w.buf, (size_t)(hend - (char *)w.buf));
            int hr = download_head(h, d, &status, &left, to);
            free(h);
            if (hr != 0) {
                errno = EPROTO;
                ok = false;
                status = 200; /* reported as a failed transfer */
                break;
            }
            size_t from = (size_t)(hend + 4 - (char *)w.buf);
            if (status != 200) { /* the error body, whole: it is small */
                size_t b = w.len - from < n - 1 ? w.len - from : n - 1;
                memcpy(err, w.buf + from, b);
                err[b] = 0;
                if (w.len - from >= left)
                    break;
                continue;
            }
            ok = drain_to(&w, from, to, &left, bytes) == 0;
        } else if (status != 200) {
            size_t have = strlen(err), b = w.len < n - 1 - have ? w.len : n - 1 - have;
            memcpy(err + have, w.buf, b);
            err[have + b] = 0;
            w.len = 0;
        } else {
            ok = drain_to(&w, 0, to, &left, bytes) == 0;
        }
        if (ok && status == 200 && d->progress)
            d->progress(d->ctx, (d->resumed ? d->from : 0) + *bytes, d->total);
        if (ok && !head && status == 200 && left == 0)
            break;
    }
    disconnect(fd, ssl);
    free(w.buf);
    return ok || status != 200 ? status : -1;
}
