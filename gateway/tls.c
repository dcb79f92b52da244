/* TLS in the gateway (--tls-cert, --tls-key): libwebsockets terminates it with OpenSSL on the
 * sockets we adopt; this file checks the files, keeps the vhost's SSL_CTX (lws hands it over at
 * LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS) and loads a renewed certificate into it on
 * SIGHUP, for the handshakes that follow (connections already up keep theirs). Loop thread
 * only, except gw_tls_config_check (main thread, before the processes start). */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "gateway/gateway.h"

/* Loads cert (a PEM chain) and key into ctx and checks that they belong together: 0, or -1
 * with the reason in err. */
static int load_pair(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t n)
{
    const char *what = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        what = "cannot load the certificate chain";
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        what = "cannot load the private key";
    else if (SSL_CTX_check_private_key(ctx) != 1)
        what = "the private key does not belong to the certificate";
    if (!what)
        return 0;
    char e[256];
    ERR_error_string_n(ERR_get_error(), e, sizeof(e));
    ERR_clear_error();
    snprintf(err, n, "%s (%s, %s): %s", what, cert, key, e);
    return -1;
}

/* The certificate's subject and expiry, for the log. */
static void describe(SSL_CTX *ctx, char *out, size_t n)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    out[0] = '\0';
    if (!x)
        return;
    char subj[256];
    X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
    BIO *b = BIO_new(BIO_s_mem());
    ASN1_TIME_print(b, X509_get0_notAfter(x));
    char until[64] = "";
    int k = BIO_read(b, until, sizeof(until) - 1);
    until[k > 0 ? k : 0] = '\0';
    BIO_free(b);
    snprintf(out, n, "%s, valid until %s", subj, until);
}

/* Checks a pair in a scratch context. */
static int check_pair(const char *cert, const char *key, char *err, size_t n, char *desc, size_t dn)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, n, "OpenSSL: cannot make a context");
        return -1;
    }
    int rc = load_pair(ctx, cert, key, err, n);
    if (rc == 0 && desc)
        describe(ctx, desc, dn);
    SSL_CTX_free(ctx);
    return rc;
}

int gw_tls_config_check(const struct gw_config *cfg)
{
    bool c = cfg->tls_cert && *cfg->tls_cert, k = cfg->tls_key && *cfg->tls_key;
    if (!c && !k)
        return 0;
    if (c != k) {
        cm_log(CM_LOG_ERROR, "--tls-cert and --tls-key go together (both PEM files)");
        return -1;
    }
    char err[512], desc[400];
    if (check_pair(cfg->tls_cert, cfg->tls_key, err, sizeof(err), desc, sizeof(desc)) != 0) {
        cm_log(CM_LOG_ERROR, "TLS: %s", err);
        return -1;
    }
    cm_log(CM_LOG_INFO, "TLS: %s", desc);
    return 0;
}

void gw_tls_ctx(struct gw *g, void *ssl_ctx)
{
    g->ssl_ctx = ssl_ctx;
    /* nothing older than TLS 1.2 */
    SSL_CTX_set_min_proto_version((SSL_CTX *)ssl_ctx, TLS1_2_VERSION);
}

void gw_tls_reload(struct gw *g)
{
    if (!g->tls || !g->ssl_ctx)
        return;
    char err[512], desc[400];
    if (check_pair(g->cfg->tls_cert, g->cfg->tls_key, err, sizeof(err), desc, sizeof(desc)) != 0) {
        cm_log(CM_LOG_ERROR, "SIGHUP: TLS: %s; keeping the certificate loaded before", err);
        return;
    }
    if (load_pair(g->ssl_ctx, g->cfg->tls_cert, g->cfg->tls_key, err, sizeof(err)) != 0) {
        cm_log(CM_LOG_ERROR, "SIGHUP: TLS: %s", err); /* changed between the check and now */
        return;
    }
    cm_log(CM_LOG_INFO, "SIGHUP: TLS certificate reloaded: %s", desc);
}
