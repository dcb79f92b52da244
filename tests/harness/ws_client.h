/* A small blocking WebSocket and HTTP client for tests: real sockets, RFC 6455 framing (masked
 * client frames), optional permessage-deflate, the ability to stop reading (slow-consumer
 * tests). Not thread-safe per instance. */
#ifndef TH_WS_CLIENT_H
#define TH_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct th_ws {
    int fd;
    unsigned char *buf; /* bytes received and not yet consumed */
    size_t len, cap;
    int http_status;       /* of the handshake */
    char protocol[64];     /* Sec-WebSocket-Protocol the server chose */
    bool deflate;          /* permessage-deflate was negotiated */
    void *zs;              /* inflate state */
    int close_code;        /* from the server's close frame, 0 before one */
    bool small_rcvbuf;     /* set before connecting: a tiny receive buffer (slow consumers) */
    const char *ext_offer; /* set before connecting: Sec-WebSocket-Extensions to offer instead */
    int compressed;        /* messages that arrived compressed (RSV1) */
    bool no_pong;          /* set before connecting: answer no pings (a dead peer) */
};

struct th_ws_msg {
    int opcode; /* 1 text, 2 binary */
    char *data; /* NUL-terminated copy; free() it */
    size_t len;
};

/* Connects to 127.0.0.1:port and upgrades target ("/ws?session_id=s1"). subprotocols: NULL or a
 * comma list; deflate: offer permessage-deflate. Returns 0 when the server answered 101 with a
 * correct Sec-WebSocket-Accept, -1 otherwise (http_status says what it answered). */
int th_ws_connect(struct th_ws *w, int port, const char *target, const char *subprotocols,
                  bool deflate);
/* Sends a text message. 0 or -1. */
int th_ws_send_text(struct th_ws *w, const char *text);
/* Reads the next data message (answering pings, skipping pongs). Returns 1 with *m filled, 0 on
 * timeout, -1 when the connection closed (close_code set when the server sent one). */
int th_ws_recv(struct th_ws *w, int timeout_ms, struct th_ws_msg *m);
void th_ws_close(struct th_ws *w);

/* One HTTP/1.1 request with Connection: close. body may be NULL; with_length false leaves out
 * Content-Length. Returns the status (or -1) and the body in out (NUL-terminated, truncated to
 * n). */
int th_http(int port, const char *method, const char *path, const char *body, bool with_length,
            char *out, size_t n);

/* A free TCP port on 127.0.0.1 (bound and released: small race, fine for tests). */
int th_free_port(void);

#endif
