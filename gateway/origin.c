/* Cross-site protection: which web origins may open a WebSocket or call REST from a browser
 * (--allowed-origins; same-origin by default), the CORS answers for them, and the security
 * headers of the dashboard (a CSP whose script and style hashes are those of the embedded page).
 * Loop thread (the policy is read-only after gw_origin_init). */
#define _GNU_SOURCE /* memmem */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/log.h"
#include "gateway/gateway.h"

/* The base64 SHA-256 of the text between open and close in page (the first such block). */
static void block_hash(const char *page, size_t n, const char *open, const char *close, char *out,
                       size_t outlen)
{
    out[0] = '\0';
    const char *end = page + n, *a = memmem(page, n, open, strlen(open));
    if (!a)
        return;
    a += strlen(open);
    const char *b = memmem(a, (size_t)(end - a), close, strlen(close));
    if (!b)
        return;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(a, (size_t)(b - a), md, &mdlen, EVP_sha256(), NULL))
        return;
    char b64[64];
    EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
    snprintf(out, outlen, "'sha256-%s'", b64);
}

void gw_origin_init(struct gw *g)
{
    char script[80], style[80];
    block_hash(gw_dashboard_html, gw_dashboard_html_len, "<script>", "</script>", script,
               sizeof(script));
    block_hash(gw_dashboard_html, gw_dashboard_html_len, "<style>", "</style>", style,
               sizeof(style));
    /* the page's own inline script and style only; WebSocket and REST to this gateway */
    snprintf(
        g->csp, sizeof(g->csp),
        "default-src 'none'; script-src %s; style-src %s; connect-src 'self' ws: wss:; "
        "img-src 'self' data: blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        script, style);
    const char *o = g->cfg->allowed_origins;
    if (strcmp(o, "*") == 0)
        cm_log(CM_LOG_WARN, "--allowed-origins=*: pages of any site may open WebSockets and call "
                            "REST here with their visitors' browsers");
}

/* The Origin's authority ("host:port" after the scheme) equals the Host header. */
static bool same_origin(struct lws *wsi, const char *origin)
{
    const char *auth = strstr(origin, "://");
    char host[256];
    if (!auth || lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
        return false;
    return strcasecmp(auth + 3, host) == 0;
}

enum gw_origin gw_origin_check(struct gw *g, struct lws *wsi, char *origin, size_t n)
{
    origin[0] = '\0';
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return GW_ORIGIN_NONE; /* not a browser, or a same-origin GET */
    if (lws_hdr_copy(wsi, origin, (int)n, WSI_TOKEN_ORIGIN) <= 0)
        return GW_ORIGIN_REFUSED; /* longer than any origin we could have listed */
    if (same_origin(wsi, origin))
        return GW_ORIGIN_SAME;
    const char *list = g->cfg->allowed_origins;
    if (strcmp(list, "*") == 0)
        return GW_ORIGIN_CROSS;
    size_t ol = strlen(origin);
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, ",");
        if (l == ol && strncasecmp(p, origin, l) == 0)
            return GW_ORIGIN_CROSS;
        p += l;
        if (*p == ',')
            p++;
    }
    return GW_ORIGIN_REFUSED;
}

bool gw_form_content_type(struct lws *wsi)
{
    char ct[128];
    if (lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
        return false;
    static const char *const simple[] = {"application/x-www-form-urlencoded", "multipart/form-data",
                                         "text/plain"};
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (strncasecmp(ct, simple[i], strlen(simple[i])) == 0)
            return true;
    return false;
}
