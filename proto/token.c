/* Access tokens (see token.h): HMAC-SHA256 with OpenSSL, the payload parsed only after its mac
 * matched a key we hold. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/text.h"
#include "proto/proto.h"
#include "proto/token.h"

#define MAC_LEN 32
#define MAC_B64 43 /* CM_B64URL_LEN(32) */

static const char *const scope_names[] = {"read", "submit", "control", "admin"};
#define NSCOPES (sizeof(scope_names) / sizeof(scope_names[0]))

unsigned pr_scope_parse(const char *s, size_t n)
{
    for (size_t i = 0; i < NSCOPES; i++)
        if (strlen(scope_names[i]) == n && memcmp(s, scope_names[i], n) == 0)
            return 1u << i;
    return 0;
}

int pr_scopes_parse(const char *list, unsigned *out)
{
    unsigned bits = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ')
            n--;
        unsigned b = pr_scope_parse(p, n);
        if (!b)
            return -1;
        bits |= b;
        p += strcspn(p, ",");
        while (*p == ',' || *p == ' ')
            p++;
    }
    *out = bits;
    return bits ? 0 : -1;
}

void pr_scopes_str(unsigned scopes, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NSCOPES; i++)
        if (scopes & (1u << i)) {
            int k = snprintf(out + used, n - used, "%s%s", used ? "," : "", scope_names[i]);
            if (k < 0 || (size_t)k >= n - used)
                return;
            used += (size_t)k;
        }
}

/* A "sessions" entry: an id, or an id prefix followed by '*' ("*" alone: every session). */
static bool session_entry_valid(const char *s, size_t n)
{
    if (n == 0 || n > PR_ID_MAX + 1)
        return false;
    if (s[n - 1] == '*') {
        for (size_t i = 0; i + 1 < n; i++)
            if (!cm_id_char(s[i]) || (i == 0 && s[i] == '.'))
                return false;
        return true;
    }
    return cm_id_valid(s, n, PR_ID_MAX);
}

static bool kid_valid(const char *s, size_t n)
{
    return cm_id_valid(s, n, PR_TOKEN_KID_MAX);
}

/* ---- keys ------------------------------------------------------------------------------------ */

int pr_token_keys_parse(const char *text, size_t len, struct pr_token_keys *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    int line = 0;
    while (pos < len) {
        line++;
        const char *l = text + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - l) : len - pos;
        pos += ll + (nl ? 1 : 0);
        while (ll && (l[ll - 1] == '\r' || l[ll - 1] == ' ' || l[ll - 1] == '\t'))
            ll--;
        while (ll && (*l == ' ' || *l == '\t')) {
            l++;
            ll--;
        }
        if (ll == 0 || *l == '#')
            continue;
        size_t kl = 0;
        while (kl < ll && l[kl] != ' ' && l[kl] != '\t')
            kl++;
        const char *sec = l + kl;
        size_t sl = ll - kl;
        while (sl && (*sec == ' ' || *sec == '\t')) {
            sec++;
            sl--;
        }
        if (!kid_valid(l, kl)) {
            snprintf(err, errlen, "line %d: the key id must be 1..%d of [A-Za-z0-9_.:-]", line,
                     PR_TOKEN_KID_MAX);
            return -1;
        }
        if (out->n == PR_TOKEN_MAX_KEYS) {
            snprintf(err, errlen, "line %d: more than %d keys", line, PR_TOKEN_MAX_KEYS);
            return -1;
        }
        struct pr_token_key *k = &out->keys[out->n];
        long got = cm_b64url_decode(sec, sl, k->secret, sizeof(k->secret));
        if (got < PR_TOKEN_KEY_MIN) {
            snprintf(err, errlen,
                     "line %d: the secret must be %d..%d bytes in base64url (no padding); make "
                     "one with: zsa keygen",
                     line, PR_TOKEN_KEY_MIN, PR_TOKEN_KEY_MAX);
            memset(out, 0, sizeof(*out));
            return -1;
        }
        memcpy(k->kid, l, kl);
        k->kid[kl] = '\0';
        if (pr_token_key_find(out, k->kid)) {
            snprintf(err, errlen, "line %d: key id %s appears twice", line, k->kid);
            memset(out, 0, sizeof(*out));
            return -1;
        }
        k->len = (size_t)got;
        out->n++;
    }
    if (out->n == 0) {
        snprintf(err, errlen, "no keys (one line per key: <kid> <base64url secret>)");
        return -1;
    }
    return 0;
}

int pr_token_keys_load(const char *path, struct pr_token_keys *out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = cm_xmalloc(65537);
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, buf + n, 65537 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
        if (n == 65537)
            break;
    }
    close(fd);
    int rc;
    if (n > 65536) {
        snprintf(err, errlen, "%s: larger than 64 KB", path);
        rc = -1;
    } else {
        char why[200];
        rc = pr_token_keys_parse(buf, n, out, why, sizeof(why));
        if (rc != 0)
            snprintf(err, errlen, "%s: %s", path, why);
    }
    OPENSSL_cleanse(buf, 65537);
    free(buf);
    return rc;
}

const struct pr_token_key *pr_token_key_find(const struct pr_token_keys *ks, const char *kid)
{
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->keys[i].kid, kid) == 0)
            return &ks->keys[i];
    return NULL;
}

/* ---- tokens ---------------------------------------------------------------------------------- */

static void mac(const struct pr_token_key *k, const char *data, size_t n, unsigned char *out)
{
    unsigned int ol = MAC_LEN;
    HMAC(EVP_sha256(), k->secret, (int)k->len, (const unsigned char *)data, n, out, &ol);
}

void pr_token_deinit(struct pr_token *t)
{
    for (size_t i = 0; i < t->nsessions; i++)
        free(t->sessions[i]);
    free(t->sessions);
    memset(t, 0, sizeof(*t));
}

/* An integer member in [0, 2^53]. */
static int time_member(const struct pr_value *o, const char *name, bool req, int64_t *out)
{
    const struct pr_value *v = pr_value_get(o, name);
    if (!v)
        return req ? -1 : 0;
    if (v->type != PR_V_INT || v->u.i < 0 || v->u.i > ((int64_t)1 << 53))
        return -1;
    *out = v->u.i;
    return 0;
}

/* The payload's claims into t; -1 when a member is missing or wrong. */
static int claims_parse(const char *json, size_t n, struct pr_token *t)
{
    struct pr_value v;
    struct pr_err e;
    if (pr_value_parse_json(json, n, &v, &e) != 0)
        return -1;
    int rc = -1;
    if (v.type != PR_V_OBJECT)
        goto out;
    const struct pr_value *kid = pr_value_get(&v, "kid"), *sub = pr_value_get(&v, "sub"),
                          *ss = pr_value_get(&v, "sessions"), *sc = pr_value_get(&v, "scope");
    if (!kid || kid->type != PR_V_STR || !kid_valid(kid->u.s.p, kid->u.s.len))
        goto out;
    memcpy(t->kid, kid->u.s.p, kid->u.s.len + 1);
    if (sub) {
        if (sub->type != PR_V_STR || sub->u.s.len > PR_TOKEN_SUB_MAX)
            goto out;
        for (size_t i = 0; i < sub->u.s.len; i++)
            if (sub->u.s.p[i] < 0x20 || sub->u.s.p[i] > 0x7e)
                goto out;
        memcpy(t->sub, sub->u.s.p, sub->u.s.len + 1);
    }
    if (time_member(&v, "exp", true, &t->exp) != 0 || time_member(&v, "iat", false, &t->iat) != 0)
        goto out;
    if (!sc || sc->type != PR_V_ARRAY || sc->u.a.n == 0 || sc->u.a.n > NSCOPES)
        goto out;
    for (size_t i = 0; i < sc->u.a.n; i++) {
        const struct pr_value *s = &sc->u.a.items[i];
        unsigned b = s->type == PR_V_STR ? pr_scope_parse(s->u.s.p, s->u.s.len) : 0;
        if (!b)
            goto out;
        t->scopes |= b;
    }
    if (!ss || ss->type != PR_V_ARRAY || ss->u.a.n > PR_TOKEN_MAX_SESSIONS)
        goto out;
    t->sessions = cm_xcalloc(ss->u.a.n ? ss->u.a.n : 1, sizeof(char *));
    for (size_t i = 0; i < ss->u.a.n; i++) {
        const struct pr_value *s = &ss->u.a.items[i];
        if (s->type != PR_V_STR || !session_entry_valid(s->u.s.p, s->u.s.len))
            goto out;
        t->sessions[t->nsessions++] = cm_xstrdup(s->u.s.p);
        if (strcmp(s->u.s.p, "*") == 0)
            t->all_sessions = true;
    }
    rc = 0;
out:
    pr_value_deinit(&v);
    if (rc != 0)
        pr_token_deinit(t);
    return rc;
}

enum pr_token_status pr_token_verify(const struct pr_token_keys *ks, const char *tok, size_t len,
                                     int64_t now, struct pr_token *out, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(out, 0, sizeof(*out));
    if (len > PR_TOKEN_MAX_LEN || len < 3 + 1 + MAC_B64 || memcmp(tok, "v1.", 3) != 0) {
        *why = "not a zsa token (v1.<payload>.<mac>)";
        return PR_TOKEN_MALFORMED;
    }
    const char *dot = NULL;
    for (size_t i = len; i-- > 3;)
        if (tok[i] == '.') {
            dot = tok + i;
            break;
        }
    unsigned char got[MAC_LEN + 1], want[MAC_LEN];
    if (!dot || (size_t)(tok + len - dot - 1) != MAC_B64 ||
        cm_b64url_decode(dot + 1, MAC_B64, got, sizeof(got)) != MAC_LEN) {
        *why = "not a zsa token (v1.<payload>.<mac>)";
        return PR_TOKEN_MALFORMED;
    }
    size_t signed_len = (size_t)(dot - tok);
    const struct pr_token_key *key = NULL;
    for (size_t i = 0; i < ks->n && !key; i++) {
        mac(&ks->keys[i], tok, signed_len, want);
        if (CRYPTO_memcmp(want, got, MAC_LEN) == 0)
            key = &ks->keys[i];
    }
    if (!key) {
        *why = "bad signature (forged, or signed with a key this gateway no longer holds)";
        return PR_TOKEN_BAD_SIGNATURE;
    }
    size_t pl = signed_len - 3;
    char *json = cm_xmalloc(pl + 1);
    long jl = cm_b64url_decode(tok + 3, pl, json, pl);
    int rc = jl < 0 ? -1 : claims_parse(json, (size_t)jl, out);
    free(json);
    if (rc != 0) {
        *why = "signed, but its payload is not a valid claim set";
        return PR_TOKEN_MALFORMED;
    }
    if (strcmp(out->kid, key->kid) != 0) {
        *why = "its kid names another key than the one that signed it";
        pr_token_deinit(out);
        return PR_TOKEN_MALFORMED;
    }
    if (out->exp <= now) {
        *why = "expired: get a fresh token";
        return PR_TOKEN_EXPIRED;
    }
    *why = "ok";
    return PR_TOKEN_OK;
}

size_t pr_token_sign(const struct pr_token_key *k, const struct pr_token *t, char *out, size_t n)
{
    if (!t->scopes || strlen(t->sub) > PR_TOKEN_SUB_MAX || t->nsessions > PR_TOKEN_MAX_SESSIONS ||
        t->exp < 0)
        return 0;
    struct cm_buf b = CM_BUF_INIT;
    cm_buf_puts(&b, "{\"kid\":");
    cm_buf_append_json_str(&b, k->kid, strlen(k->kid));
    cm_buf_puts(&b, ",\"sub\":");
    cm_buf_append_json_str(&b, t->sub, strlen(t->sub));
    cm_buf_puts(&b, ",\"sessions\":[");
    bool ok = true;
    for (size_t i = 0; i < t->nsessions; i++) {
        ok &= session_entry_valid(t->sessions[i], strlen(t->sessions[i]));
        if (i)
            cm_buf_putc(&b, ',');
        cm_buf_append_json_str(&b, t->sessions[i], strlen(t->sessions[i]));
    }
    cm_buf_puts(&b, "],\"scope\":[");
    bool first = true;
    for (size_t i = 0; i < NSCOPES; i++)
        if (t->scopes & (1u << i)) {
            cm_buf_printf(&b, "%s\"%s\"", first ? "" : ",", scope_names[i]);
            first = false;
        }
    cm_buf_printf(&b, "],\"exp\":%lld,\"iat\":%lld}", (long long)t->exp, (long long)t->iat);
    size_t need = 3 + CM_B64URL_LEN(b.len) + 1 + MAC_B64;
    size_t len = 0;
    if (ok && need < n && need <= PR_TOKEN_MAX_LEN) {
        memcpy(out, "v1.", 3);
        size_t pl = cm_b64url_encode(b.data, b.len, out + 3, n - 3);
        unsigned char m[MAC_LEN];
        mac(k, out, 3 + pl, m);
        out[3 + pl] = '.';
        cm_b64url_encode(m, MAC_LEN, out + 4 + pl, n - 4 - pl);
        len = need;
    }
    cm_buf_deinit(&b);
    return len;
}

/* ---- download links ------------------------------------------------------------------------ */

/* The link's mac over "l1.<exp>.<kid>\n<path>" (head: "l1.<exp>.<kid>"). */
static void link_mac(const struct pr_token_key *k, const char *head, size_t hl, const char *path,
                     unsigned char *out)
{
    struct cm_buf b = CM_BUF_INIT;
    cm_buf_append(&b, head, hl);
    cm_buf_putc(&b, '\n');
    cm_buf_puts(&b, path);
    mac(k, b.data, b.len, out);
    cm_buf_deinit(&b);
}

size_t pr_link_sign(const struct pr_token_key *k, const char *path, int64_t exp, char *out,
                    size_t n)
{
    char head[64];
    int hl = snprintf(head, sizeof(head), "l1.%lld.%s", (long long)exp, k->kid);
    size_t need = (size_t)hl + 1 + MAC_B64;
    if (exp < 0 || hl < 0 || (size_t)hl >= sizeof(head) || need >= n || need > PR_LINK_MAX)
        return 0;
    unsigned char m[MAC_LEN];
    link_mac(k, head, (size_t)hl, path, m);
    memcpy(out, head, (size_t)hl);
    out[hl] = '.';
    cm_b64url_encode(m, MAC_LEN, out + hl + 1, n - (size_t)hl - 1);
    return need;
}

enum pr_token_status pr_link_verify(const struct pr_token_keys *ks, const char *link, size_t len,
                                    const char *path, int64_t now, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    /* l1.<exp>.<kid>.<mac>: the exp is digits, the mac the last MAC_B64 characters */
    size_t d = 3;
    while (d < len && link[d] >= '0' && link[d] <= '9')
        d++;
    unsigned char got[MAC_LEN + 1], want[MAC_LEN];
    if (len > PR_LINK_MAX || len < 3 + 1 + 1 + 1 + 1 + MAC_B64 || memcmp(link, "l1.", 3) != 0 ||
        d == 3 || d - 3 > 15 || link[d] != '.' || link[len - MAC_B64 - 1] != '.' ||
        len - MAC_B64 - 1 <= d + 1 || !kid_valid(link + d + 1, len - MAC_B64 - 2 - d) ||
        cm_b64url_decode(link + len - MAC_B64, MAC_B64, got, sizeof(got)) != MAC_LEN) {
        *why = "not a download link (l1.<exp>.<kid>.<mac>)";
        return PR_TOKEN_MALFORMED;
    }
    char kid[PR_TOKEN_KID_MAX + 1];
    size_t kl = len - MAC_B64 - 2 - d;
    memcpy(kid, link + d + 1, kl);
    kid[kl] = '\0';
    const struct pr_token_key *k = pr_token_key_find(ks, kid);
    if (k)
        link_mac(k, link, len - MAC_B64 - 1, path, want);
    if (!k || CRYPTO_memcmp(want, got, MAC_LEN) != 0) {
        *why = "bad link (forged, made for another file, or signed with a key this gateway no "
               "longer holds)";
        return PR_TOKEN_BAD_SIGNATURE;
    }
    if (strtoll(link + 3, NULL, 10) <= now) {
        *why = "the download link expired: list the artifacts again for a fresh one";
        return PR_TOKEN_EXPIRED;
    }
    *why = "ok";
    return PR_TOKEN_OK;
}

bool pr_token_allows(const struct pr_token *t, const char *s)
{
    if (t->all_sessions)
        return true;
    size_t sl = strlen(s);
    for (size_t i = 0; i < t->nsessions; i++) {
        const char *e = t->sessions[i];
        size_t el = strlen(e);
        if (el && e[el - 1] == '*' ? sl >= el - 1 && memcmp(s, e, el - 1) == 0 : strcmp(s, e) == 0)
            return true;
    }
    return false;
}

void pr_token_session_rule(const struct pr_token *t, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    if (t->all_sessions)
        return;
    for (size_t i = 0; i < t->nsessions; i++) {
        int k = snprintf(out + used, n - used, "%s%s", i ? "\n" : "", t->sessions[i]);
        if (k < 0 || (size_t)k >= n - used)
            return;
        used += (size_t)k;
    }
    if (t->nsessions == 0) /* allows nothing: a rule no session id matches */
        snprintf(out, n, "\n");
}
