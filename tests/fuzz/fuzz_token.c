/* libFuzzer target: access tokens (proto/token.c). The first byte picks what the rest is: a token
 * as a client sends it (mostly refused at the mac), a payload that this target signs with a known
 * key so that the claims parser sees it as if a backend had minted it, or a keys file. A token
 * that verifies must say what it was signed with and allow only what it lists. Download links:
 * one nobody signed never opens anything; one signed for a path opens that path and no other. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "common/text.h"
#include "proto/token.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const char KEYS[] = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n";

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static struct pr_token_keys ks;
    if (!ks.n) {
        char err[128];
        if (pr_token_keys_parse(KEYS, sizeof(KEYS) - 1, &ks, err, sizeof(err)) != 0)
            __builtin_trap();
    }
    if (size < 1 || size > 6000)
        return 0;
    int mode = data[0] % 3;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    if (mode == 2) { /* a keys file */
        struct pr_token_keys k2;
        char err[256];
        if (pr_token_keys_parse(in, n, &k2, err, sizeof(err)) == 0 && (k2.n == 0 || k2.n > 16))
            __builtin_trap();
        return 0;
    }
    static char tok[2 * PR_TOKEN_MAX_LEN];
    size_t tl = n;
    if (mode == 0) {
        memcpy(tok, in, n);
    } else { /* sign it: v1.<b64url(payload)>.<mac> */
        if (CM_B64URL_LEN(n) + 50 > sizeof(tok))
            return 0;
        memcpy(tok, "v1.", 3);
        size_t pl = cm_b64url_encode(in, n, tok + 3, sizeof(tok) - 3);
        unsigned char mac[32];
        unsigned ml = 32;
        HMAC(EVP_sha256(), ks.keys[0].secret, (int)ks.keys[0].len, (unsigned char *)tok, 3 + pl,
             mac, &ml);
        tok[3 + pl] = '.';
        tl = 4 + pl + cm_b64url_encode(mac, 32, tok + 4 + pl, sizeof(tok) - 4 - pl);
    }
    const char *why = NULL;
    if (mode == 0 && pr_link_verify(&ks, tok, tl, "/api/results/r/artifacts/a", 0, &why) ==
                         PR_TOKEN_OK) /* a download link nobody signed */
        __builtin_trap();
    if (mode == 1) { /* a link signed for the input as its path opens that path, no other */
        static char path[256], link[PR_LINK_MAX + 1];
        size_t pl = n < sizeof(path) - 2 ? n : sizeof(path) - 2;
        memcpy(path, in, pl);
        path[pl] = '\0';
        size_t ll = pr_link_sign(&ks.keys[0], path, 1800000000, link, sizeof(link));
        if (!ll || pr_link_verify(&ks, link, ll, path, 0, &why) != PR_TOKEN_OK)
            __builtin_trap();
        size_t q = strlen(path);
        path[q] = 'x', path[q + 1] = '\0';
        if (pr_link_verify(&ks, link, ll, path, 0, &why) == PR_TOKEN_OK)
            __builtin_trap();
    }
    struct pr_token t;
    why = NULL;
    enum pr_token_status st = pr_token_verify(&ks, tok, tl, 1800000000, &t, &why);
    if (!why)
        __builtin_trap();
    if (st == PR_TOKEN_OK || st == PR_TOKEN_EXPIRED) {
        if (strcmp(t.kid, "k1") != 0 || !t.scopes || t.nsessions > PR_TOKEN_MAX_SESSIONS)
            __builtin_trap();
        for (size_t i = 0; i < t.nsessions; i++)
            if (!t.all_sessions && !strchr(t.sessions[i], '*') &&
                !pr_token_allows(&t, t.sessions[i]))
                __builtin_trap();
        if (!t.all_sessions && t.nsessions == 0 && pr_token_allows(&t, "x"))
            __builtin_trap();
        char rule[PR_TOKEN_RULE_MAX];
        pr_token_session_rule(&t, rule, sizeof(rule));
        /* signing the claims again gives a token that verifies to the same claims */
        static char again[PR_TOKEN_MAX_LEN + 1];
        size_t al = pr_token_sign(&ks.keys[0], &t, again, sizeof(again));
        struct pr_token t2;
        if (al && pr_token_verify(&ks, again, al, -1, &t2, NULL) != PR_TOKEN_OK)
            __builtin_trap();
        if (al) {
            if (t2.scopes != t.scopes || t2.nsessions != t.nsessions || t2.exp != t.exp ||
                strcmp(t2.sub, t.sub) != 0)
                __builtin_trap();
            pr_token_deinit(&t2);
        }
        pr_token_deinit(&t);
    }
    return 0;
}
