/* Access control on the gateway: the keys (--auth-keys-file, reloaded on SIGHUP), finding and
 * checking a request's token, and what a token lets a WebSocket client do over time (expiry, a
 * key withdrawn). Tokens themselves: proto/token.h. Loop thread only, except gw_auth_config_check
 * (main thread, before the processes start). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/text.h"
#include "common/time.h"
#include "gateway/gateway.h"

int gw_auth_config_check(const struct gw_config *cfg)
{
    if (cfg->auth == GW_AUTH_OFF) {
        cm_log(CM_LOG_WARN,
               "AUTHENTICATION IS OFF (--auth off): anyone who reaches %s can read "
               "and control every session",
               cfg->listen);
        return 0;
    }
    if (!cfg->auth_keys_file || !*cfg->auth_keys_file) {
        cm_log(CM_LOG_ERROR,
               "--auth required (the default) needs --auth-keys-file (or ZSA_AUTH_KEYS_FILE): a "
               "file of '<kid> <secret>' lines (make one with: zsa keygen > keys; chmod 600 "
               "keys); --auth off opens every session to anyone who reaches --listen");
        return -1;
    }
    struct pr_token_keys *ks = cm_xmalloc(sizeof(*ks));
    char err[512];
    int rc = pr_token_keys_load(cfg->auth_keys_file, ks, err, sizeof(err));
    if (rc != 0)
        cm_log(CM_LOG_ERROR, "--auth-keys-file: %s", err);
    struct stat st;
    if (rc == 0 && stat(cfg->auth_keys_file, &st) == 0 && (st.st_mode & S_IROTH))
        cm_log(CM_LOG_WARN,
               "--auth-keys-file %s is readable by every user of this machine (chmod 600 it)",
               cfg->auth_keys_file);
    memset(ks, 0, sizeof(*ks));
    free(ks);
    return rc;
}

int gw_auth_init(struct gw *g)
{
    if (g->cfg->auth == GW_AUTH_OFF)
        return 0; /* main() warned */
    g->keys = cm_xcalloc(1, sizeof(*g->keys));
    char err[512];
    if (pr_token_keys_load(g->cfg->auth_keys_file, g->keys, err, sizeof(err)) != 0) {
        cm_log(CM_LOG_ERROR, "--auth-keys-file: %s", err);
        return -1;
    }
    cm_log(CM_LOG_INFO, "auth required: %zu key(s) from %s", g->keys->n, g->cfg->auth_keys_file);
    return 0;
}

void gw_auth_deinit(struct gw *g)
{
    if (g->keys) {
        memset(g->keys, 0, sizeof(*g->keys));
        free(g->keys);
        g->keys = NULL;
    }
}

void gw_auth_reload(struct gw *g)
{
    if (!g->keys)
        return;
    struct pr_token_keys *ks = cm_xcalloc(1, sizeof(*ks));
    char err[512];
    if (pr_token_keys_load(g->cfg->auth_keys_file, ks, err, sizeof(err)) != 0) {
        cm_log(CM_LOG_ERROR, "SIGHUP: --auth-keys-file: %s; keeping the %zu key(s) loaded before",
               err, g->keys->n);
        free(ks);
        return;
    }
    /* a key is withdrawn when its kid is gone, or stands for another secret now */
    struct pr_token_keys *old = g->keys;
    g->keys = ks;
    int closed = 0;
    for (struct gw_client *c = g->all; c; c = c->all_next) {
        if (!c->tok || c->doomed)
            continue;
        const struct pr_token_key *now = pr_token_key_find(ks, c->tok->kid),
                                  *was = pr_token_key_find(old, c->tok->kid);
        if (!now || !was || now->len != was->len ||
            CRYPTO_memcmp(now->secret, was->secret, now->len)) {
            gw_client_fail(g, c, GW_CLOSE_UNAUTHORIZED,
                           "the key of this token was withdrawn: reconnect with a fresh token");
            closed++;
        }
    }
    memset(old, 0, sizeof(*old));
    free(old);
    cm_log(CM_LOG_INFO, "SIGHUP: %zu key(s) from %s; %d client(s) with a withdrawn key closed",
           ks->n, g->cfg->auth_keys_file, closed);
}

/* The token a request carries, copied into out (n bytes): Authorization: Bearer, else ?token=.
 * 1 when found, 0 when none, -1 when one is there but longer than n - 1. (Not as a WebSocket
 * subprotocol, as some servers do for browsers: libwebsockets 4.1 drops an upgrade whose
 * Sec-WebSocket-Protocol is over 127 bytes, and a token is longer. Browsers send an auth message
 * first instead.) */
static int find_token(struct lws *wsi, char *out, size_t n)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (total > 0) {
        char *v = cm_xmalloc((size_t)total + 1);
        int rc = 0;
        if (lws_hdr_copy(wsi, v, total + 1, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
            strncasecmp(v, "Bearer ", 7) == 0) {
            const char *t = v + 7;
            while (*t == ' ')
                t++;
            size_t tl = strlen(t);
            rc = tl + 1 > n ? -1 : 1;
            if (rc == 1)
                memcpy(out, t, tl + 1);
        }
        free(v);
        if (rc != 0)
            return rc;
    }
    int ul = gw_urlarg(wsi, "token", out, n);
    return ul >= 0 ? 1 : ul == -2 ? -1 : 0;
}

enum gw_auth_res gw_auth_request(struct gw *g, struct lws *wsi, struct pr_token *out,
                                 const char **why)
{
    memset(out, 0, sizeof(*out));
    if (!g->keys) {
        *why = "auth is off";
        return GW_AUTH_RES_OFF;
    }
    char *tok = cm_xmalloc(PR_TOKEN_MAX_LEN + 1);
    int found = find_token(wsi, tok, PR_TOKEN_MAX_LEN + 1);
    enum gw_auth_res res;
    if (found == 0) {
        *why = "no access token: send Authorization: Bearer <token> (WebSocket: an auth message "
               "first, or ?token=)";
        res = GW_AUTH_RES_NONE;
    } else if (found < 0) {
        *why = "the access token is too long";
        res = GW_AUTH_RES_BAD;
    } else {
        res = gw_auth_verify(g, tok, strlen(tok), out, why);
    }
    free(tok);
    return res;
}

enum gw_auth_res gw_auth_link(struct gw *g, struct lws *wsi, const char *path, const char **why)
{
    char link[PR_LINK_MAX + 2];
    int n = gw_urlarg(wsi, "link", link, sizeof(link));
    if (n == -1 || !g->keys)
        return GW_AUTH_RES_NONE; /* no link: the "no access token" answer stands */
    if (n < 0 || (size_t)n > PR_LINK_MAX) {
        *why = "not a download link (l1.<exp>.<kid>.<mac>)";
        return GW_AUTH_RES_BAD;
    }
    enum pr_token_status st =
        pr_link_verify(g->keys, link, (size_t)n, path, cm_time_now_ms() / 1000, why);
    return st == PR_TOKEN_OK ? GW_AUTH_RES_LINK : GW_AUTH_RES_BAD;
}

size_t gw_auth_link_sign(struct gw *g, const char *path, char *out, size_t n)
{
    if (!g->keys || g->keys->n == 0)
        return 0;
    /* the newest key (the last in the file), as tokens are minted */
    return pr_link_sign(&g->keys->keys[g->keys->n - 1], path,
                        cm_time_now_ms() / 1000 + g->cfg->link_ttl_s, out, n);
}

enum gw_auth_res gw_auth_verify(struct gw *g, const char *tok, size_t len, struct pr_token *out,
                                const char **why)
{
    (void)g;
    enum pr_token_status st = pr_token_verify(g->keys, tok, len, cm_time_now_ms() / 1000, out, why);
    if (st == PR_TOKEN_OK)
        return GW_AUTH_RES_OK;
    pr_token_deinit(out);
    return GW_AUTH_RES_BAD;
}

void gw_auth_tick(struct gw *g)
{
    if (!g->keys)
        return;
    int64_t now = cm_time_now_ms() / 1000;
    for (struct gw_client *c = g->all; c; c = c->all_next)
        if (c->tok && !c->doomed && c->tok->exp <= now) {
            g->st.auth_expired++;
            gw_client_fail(g, c, GW_CLOSE_UNAUTHORIZED,
                           "token expired: reconnect with a fresh token and last_event_id");
        }
}

int gw_auth_session(const struct pr_token *t, const char *url_session, char *out, size_t n,
                    const char **why)
{
    if (!(t->scopes & PR_SCOPE_READ)) {
        *why = "this token lacks the read scope";
        return -1;
    }
    if (url_session && *url_session) {
        if (!pr_token_allows(t, url_session)) {
            *why = "this token does not allow this session_id";
            return -1;
        }
        snprintf(out, n, "%s", url_session);
        return 0;
    }
    if (t->all_sessions) {
        cm_random_id(out, n, "s-");
        return 0;
    }
    if (t->nsessions == 1 && !strchr(t->sessions[0], '*')) {
        snprintf(out, n, "%s", t->sessions[0]);
        return 0;
    }
    *why = "name a session_id (this token allows more than one session)";
    return -1;
}
