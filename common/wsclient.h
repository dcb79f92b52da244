/* A small blocking WebSocket and HTTP/1.1 client: the zsa CLI and the tests use it. Real
 * sockets (host names resolved), RFC 6455 framing (masked client frames, a random key whose
 * answer is checked), optional permessage-deflate, and for tests the ability to stop reading or
 * answering pings. Any thread; one instance per thread. */
#ifndef CM_WSCLIENT_H
#define CM_WSCLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

struct cm_ws {
    int fd;
    void *ssl;          /* the TLS session (SSL *) when cm_wsclient_tls is on, else NULL */
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
    /* a fragmented message being assembled (kept across timeouts) */
    unsigned char *part;
    size_t part_len;
    int part_op;
    bool part_compressed;
};

struct cm_ws_msg {
    int opcode; /* 1 text, 2 binary */
    char *data; /* NUL-terminated copy; free() it */
    size_t len;
};

/* Connects to host:port and upgrades target ("/ws?session_id=s1"). subprotocols: NULL or a
 * comma list; deflate: offer permessage-deflate. Returns 0 when the server answered 101 with a
 * correct Sec-WebSocket-Accept, -1 otherwise (http_status says what it answered; 0 when nothing
 * answered, errno then says why). */
int cm_ws_connect(struct cm_ws *w, const char *host, int port, const char *target,
                  const char *subprotocols, bool deflate);
/* TLS for every later connection of this process (cm_ws_connect, cm_http*): the server's
 * certificate must chain to ca_file (a PEM bundle; NULL or "": the system's CAs) and name the
 * host connected to. 0, or -1 when the CAs cannot be loaded (cm_wsclient_tls_error says why).
 * A connection refused for TLS reasons fails with errno EPROTO and the reason in
 * cm_wsclient_tls_error(). Not thread-safe: call it before connecting. */
int cm_wsclient_tls(bool on, const char *ca_file);
const char *cm_wsclient_tls_error(void);

/* Sends a text message. 0 or -1. */
int cm_ws_send_text(struct cm_ws *w, const char *text);
/* Reads the next data message (answering pings, skipping pongs). Returns 1 with *m filled, 0 on
 * timeout or when a signal interrupted the wait (a partial message is kept for the next call),
 * -1 when the connection closed (close_code set when the server sent one). */
int cm_ws_recv(struct cm_ws *w, int timeout_ms, struct cm_ws_msg *m);
void cm_ws_close(struct cm_ws *w);

/* One HTTP/1.1 request to host:port with Connection: close (5 s to connect and answer). body may
 * be NULL; with_length false leaves out Content-Length. Returns the status (or -1 when nothing
 * answered, errno set) and the body in out (NUL-terminated, truncated to n). */
int cm_http(const char *host, int port, const char *method, const char *path, const char *body,
            bool with_length, char *out, size_t n);
/* The same with Authorization: Bearer token (token NULL: none). */
int cm_http_auth(const char *host, int port, const char *method, const char *path,
                 const char *token, const char *body, bool with_length, char *out, size_t n);

/* One download: where to resume, whom to tell as bytes arrive, and what happened. */
struct cm_download {
    uint64_t from; /* > 0: the file to already holds this many bytes; ask for the rest (Range) */
    void (*progress)(void *ctx, uint64_t have, uint64_t total); /* after each piece (may be NULL) */
    void *ctx;
    uint64_t bytes; /* out: the body's bytes written to to by this call */
    uint64_t total; /* out: the whole file's size (0 until the head is in) */
    bool resumed;   /* out: the server sent the rest (206); false: the whole file, to truncated */
};

/* GET path into the open file to as the body arrives (any size; a read that waits over 30 s
 * fails). With d->from > 0 it asks for the bytes from there on: a 206 appends them, a 200 (the
 * server ignored the range) truncates to and writes the whole body. Returns the status, 200 for a
 * complete 206 too: for 200 the body went to to (d->bytes of it, exactly its length); for another
 * status the body is in err (NUL-terminated, truncated to n) and nothing was written. -1 when
 * nothing answered or the body was cut short (errno set; d->bytes says how far it got). */
int cm_http_download(const char *host, int port, const char *path, const char *token, FILE *to,
                     struct cm_download *d, char *err, size_t n);

#endif
