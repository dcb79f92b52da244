/* Tests proto/token.c: signing and verifying access tokens, the keys file, session rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/text.h"
#include "proto/token.h"

#define NOW 1800000000LL

static struct pr_token_keys keys(void)
{
    struct pr_token_keys ks;
    char err[256];
    const char *text = "# rotation: old first, new last\n"
                       "old AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"
                       "  new  ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8  \r\n";
    cr_assert_eq(pr_token_keys_parse(text, strlen(text), &ks, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ks.n, 2);
    return ks;
}

/* Signs claims for sessions (NULL-terminated) with key kid. */
static size_t sign(const struct pr_token_keys *ks, const char *kid, const char *const *sessions,
                   unsigned scopes, long long exp, char *out, size_t n)
{
    struct pr_token t = {.scopes = scopes, .exp = exp, .iat = NOW};
    snprintf(t.sub, sizeof(t.sub), "alice");
    while (sessions && sessions[t.nsessions])
        t.nsessions++;
    t.sessions = (char **)sessions;
    return pr_token_sign(pr_token_key_find(ks, kid), &t, out, n);
}

Test(proto_token, a_signed_token_verifies_with_its_claims)
{
    struct pr_token_keys ks = keys();
    const char *s[] = {"s-1", "lab1:*", NULL};
    char tok[PR_TOKEN_MAX_LEN];
    size_t n = sign(&ks, "new", s, PR_SCOPE_READ | PR_SCOPE_SUBMIT, NOW + 60, tok, sizeof(tok));
    cr_assert_gt(n, 0);
    cr_assert_eq(strncmp(tok, "v1.", 3), 0);
    struct pr_token t;
    const char *why;
    cr_assert_eq(pr_token_verify(&ks, tok, n, NOW, &t, &why), PR_TOKEN_OK, "%s", why);
    cr_assert_str_eq(t.kid, "new");
    cr_assert_str_eq(t.sub, "alice");
    cr_assert_eq(t.scopes, PR_SCOPE_READ | PR_SCOPE_SUBMIT);
    cr_assert_eq(t.exp, NOW + 60);
    cr_assert(pr_token_allows(&t, "s-1"));
    cr_assert(pr_token_allows(&t, "lab1:x"));
    cr_assert(pr_token_allows(&t, "lab1:"));
    cr_assert_not(pr_token_allows(&t, "s-2"));
    cr_assert_not(pr_token_allows(&t, "lab2:x"));
    cr_assert_not(pr_token_allows(&t, "s-1x"), "an exact entry is not a prefix");
    char rule[PR_TOKEN_RULE_MAX];
    pr_token_session_rule(&t, rule, sizeof(rule));
    cr_assert_str_eq(rule, "s-1\nlab1:*");
    pr_token_deinit(&t);
}

Test(proto_token, forged_tampered_expired_and_withdrawn_tokens_are_refused)
{
    struct pr_token_keys ks = keys();
    const char *s[] = {"s-1", NULL};
    char tok[PR_TOKEN_MAX_LEN];
    size_t n = sign(&ks, "old", s, PR_SCOPE_READ, NOW + 60, tok, sizeof(tok));
    struct pr_token t;
    cr_assert_eq(pr_token_verify(&ks, tok, n, NOW + 60, &t, NULL), PR_TOKEN_EXPIRED,
                 "exp is exclusive");
    cr_assert_str_eq(t.sub, "alice", "an expired token still says whose it was");
    pr_token_deinit(&t);
    char bad[PR_TOKEN_MAX_LEN];
    memcpy(bad, tok, n + 1);
    bad[5] = bad[5] == 'A' ? 'B' : 'A'; /* a payload byte */
    cr_assert_eq(pr_token_verify(&ks, bad, n, NOW, &t, NULL), PR_TOKEN_BAD_SIGNATURE);
    memcpy(bad, tok, n + 1);
    bad[n - 1] = bad[n - 1] == 'A' ? 'E' : 'A'; /* the mac */
    cr_assert_neq(pr_token_verify(&ks, bad, n, NOW, &t, NULL), PR_TOKEN_OK);
    /* the same key id with another secret: forged */
    struct pr_token_keys other;
    char err[128];
    const char *ot = "old ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n";
    cr_assert_eq(pr_token_keys_parse(ot, strlen(ot), &other, err, sizeof(err)), 0);
    cr_assert_eq(pr_token_verify(&other, tok, n, NOW, &t, NULL), PR_TOKEN_BAD_SIGNATURE);
    /* rotation: with "old" withdrawn, its tokens stop working; "new" ones go on */
    struct pr_token_keys rotated;
    const char *rt = "new ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n";
    cr_assert_eq(pr_token_keys_parse(rt, strlen(rt), &rotated, err, sizeof(err)), 0);
    cr_assert_eq(pr_token_verify(&rotated, tok, n, NOW, &t, NULL), PR_TOKEN_BAD_SIGNATURE);
    n = sign(&ks, "new", s, PR_SCOPE_READ, NOW + 60, tok, sizeof(tok));
    cr_assert_eq(pr_token_verify(&rotated, tok, n, NOW, &t, NULL), PR_TOKEN_OK);
    pr_token_deinit(&t);
    static const char *const junk[] = {"", "v1.", "v2.abc.def", "v1..", "Bearer x", "v1.e30"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        cr_assert_eq(pr_token_verify(&ks, junk[i], strlen(junk[i]), NOW, &t, NULL),
                     PR_TOKEN_MALFORMED, "%s", junk[i]);
}

/* A token over any payload text, signed with key kid of ks (as a backend of another language
 * would make it). */
static void sign_raw(const struct pr_token_keys *ks, const char *kid, const char *json, char *out)
{
    const struct pr_token_key *k = pr_token_key_find(ks, kid);
    strcpy(out, "v1.");
    size_t pl = cm_b64url_encode(json, strlen(json), out + 3, 2000);
    unsigned char mac[32];
    unsigned ml = 32;
    HMAC(EVP_sha256(), k->secret, (int)k->len, (unsigned char *)out, 3 + pl, mac, &ml);
    out[3 + pl] = '.';
    cm_b64url_encode(mac, 32, out + 4 + pl, 64);
}

Test(proto_token, signed_payloads_that_are_not_valid_claims_are_refused)
{
    struct pr_token_keys ks = keys();
    static const char *const bad[] = {
        "[]",
        "{\"kid\":\"new\",\"sessions\":[\"a\"],\"scope\":[\"read\"]}", /* no exp */
        "{\"kid\":\"new\",\"sessions\":[\"a\"],\"scope\":[\"root\"],\"exp\":1900000000}",
        "{\"kid\":\"new\",\"sessions\":[\"a\"],\"scope\":[],\"exp\":1900000000}",
        "{\"kid\":\"new\",\"sessions\":[\"../x\"],\"scope\":[\"read\"],\"exp\":1900000000}",
        "{\"kid\":\"new\",\"sessions\":[\"a*b\"],\"scope\":[\"read\"],\"exp\":1900000000}",
        "{\"kid\":\"new\",\"sessions\":\"a\",\"scope\":[\"read\"],\"exp\":1900000000}",
        "{\"kid\":\"new\",\"sessions\":[\"a\"],\"scope\":[\"read\"],\"exp\":1.9e9}",
        "{\"kid\":\"old\",\"sessions\":[\"a\"],\"scope\":[\"read\"],\"exp\":1900000000}",
        "{\"kid\":\"new\",\"sub\":\"a\\nb\",\"sessions\":[],\"scope\":[\"read\"],\"exp\":"
        "1900000000}",
    };
    char tok[4096];
    struct pr_token t;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sign_raw(&ks, "new", bad[i], tok);
        cr_assert_eq(pr_token_verify(&ks, tok, strlen(tok), NOW, &t, NULL), PR_TOKEN_MALFORMED,
                     "%s", bad[i]);
    }
    sign_raw(
        &ks, "new",
        "{\"kid\":\"new\",\"sessions\":[\"*\"],\"scope\":[\"admin\",\"read\"],\"exp\":1900000000,"
        "\"future\":{\"x\":1}}",
        tok);
    cr_assert_eq(pr_token_verify(&ks, tok, strlen(tok), NOW, &t, NULL), PR_TOKEN_OK,
                 "unknown members are ignored");
    cr_assert(t.all_sessions && pr_token_allows(&t, "anything"));
    char rule[PR_TOKEN_RULE_MAX];
    pr_token_session_rule(&t, rule, sizeof(rule));
    cr_assert_str_eq(rule, "", "every session: the empty rule");
    pr_token_deinit(&t);
    sign_raw(&ks, "new",
             "{\"kid\":\"new\",\"sessions\":[],\"scope\":[\"admin\"],\"exp\":1900000000}", tok);
    cr_assert_eq(pr_token_verify(&ks, tok, strlen(tok), NOW, &t, NULL), PR_TOKEN_OK);
    pr_token_session_rule(&t, rule, sizeof(rule));
    cr_assert_str_eq(rule, "\n", "no session: a rule nothing matches");
    cr_assert_not(pr_token_allows(&t, "a"));
    pr_token_deinit(&t);
}

Test(proto_token, keys_files_with_mistakes_are_refused_with_the_line)
{
    static const char *const bad[] = {
        "",
        "# only a comment\n",
        "k1 c2hvcnQ\n",                                      /* 5 bytes */
        "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", /* padding */
        "k/1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n", /* kid */
        "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\nk1 "
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pr_token_keys ks;
        char err[256] = "";
        cr_assert_eq(pr_token_keys_parse(bad[i], strlen(bad[i]), &ks, err, sizeof(err)), -1, "%zu",
                     i);
        cr_assert(err[0], "%zu: no reason", i);
        cr_assert_eq(ks.n, 0);
    }
    struct pr_token_keys ks;
    char err[256];
    cr_assert_eq(pr_token_keys_load("/nonexistent/keys", &ks, err, sizeof(err)), -1);
    cr_assert(strstr(err, "/nonexistent/keys"), "%s", err);
}

Test(proto_token, sign_refuses_claims_a_verifier_would_refuse)
{
    struct pr_token_keys ks = keys();
    char tok[PR_TOKEN_MAX_LEN];
    const char *bad_session[] = {"a b", NULL};
    cr_assert_eq(sign(&ks, "new", bad_session, PR_SCOPE_READ, NOW + 1, tok, sizeof(tok)), 0);
    const char *ok[] = {"a", NULL};
    cr_assert_eq(sign(&ks, "new", ok, 0, NOW + 1, tok, sizeof(tok)), 0, "no scope");
    cr_assert_eq(sign(&ks, "new", ok, PR_SCOPE_READ, NOW + 1, tok, 40), 0, "no room");
    unsigned sc;
    cr_assert_eq(pr_scopes_parse("read, submit,control", &sc), 0);
    cr_assert_eq(sc, PR_SCOPE_READ | PR_SCOPE_SUBMIT | PR_SCOPE_CONTROL);
    cr_assert_eq(pr_scopes_parse("read,root", &sc), -1);
    char names[64];
    pr_scopes_str(PR_SCOPE_ADMIN | PR_SCOPE_READ, names, sizeof(names));
    cr_assert_str_eq(names, "read,admin");
}

/* Download links: bound to one path and one key, until their exp; never interchangeable with
 * access tokens. */
Test(proto_token, download_links_open_one_path_until_they_expire)
{
    struct pr_token_keys ks = keys();
    const char *path = "/api/results/j1.r1/artifacts/labels.tif";
    char link[PR_LINK_MAX + 1];
    size_t n = pr_link_sign(pr_token_key_find(&ks, "new"), path, NOW + 600, link, sizeof(link));
    cr_assert_gt(n, 0);
    cr_assert_eq(strlen(link), n);
    cr_expect_eq(strncmp(link, "l1.1800000600.new.", 18), 0, "%s", link);
    const char *why = NULL;
    cr_expect_eq(pr_link_verify(&ks, link, n, path, NOW, &why), PR_TOKEN_OK, "%s", why);
    /* another file, another result, the path with something after it */
    cr_expect_eq(
        pr_link_verify(&ks, link, n, "/api/results/j1.r1/artifacts/objects.csv", NOW, &why),
        PR_TOKEN_BAD_SIGNATURE);
    cr_expect_eq(pr_link_verify(&ks, link, n, "/api/results/j2.r1/artifacts/labels.tif", NOW, &why),
                 PR_TOKEN_BAD_SIGNATURE);
    cr_expect_eq(
        pr_link_verify(&ks, link, n, "/api/results/j1.r1/artifacts/labels.tifx", NOW, &why),
        PR_TOKEN_BAD_SIGNATURE);
    /* expired: at exp and after */
    cr_expect_eq(pr_link_verify(&ks, link, n, path, NOW + 600, &why), PR_TOKEN_EXPIRED);
    cr_expect(strstr(why, "expired"), "%s", why);
    /* a later exp written in: the mac covers it */
    char forged[PR_LINK_MAX + 1];
    snprintf(forged, sizeof(forged), "%s", link);
    forged[4] = '9';
    cr_expect_eq(pr_link_verify(&ks, forged, n, path, NOW, &why), PR_TOKEN_BAD_SIGNATURE);
    /* another kid named: its key does not make this mac; a kid we do not hold */
    char other[PR_LINK_MAX + 32];
    snprintf(other, sizeof(other), "l1.1800000600.old.%s", link + 18);
    cr_expect_eq(pr_link_verify(&ks, other, strlen(other), path, NOW, &why),
                 PR_TOKEN_BAD_SIGNATURE);
    snprintf(other, sizeof(other), "l1.1800000600.gone.%s", link + 18);
    cr_expect_eq(pr_link_verify(&ks, other, strlen(other), path, NOW, &why),
                 PR_TOKEN_BAD_SIGNATURE);
    /* malformed: cut, empty exp, no kid, letters in exp, an access token as a link */
    const char *bad[] = {"l1.", "l1..new.x", "l1.1800000600..AAAA", "l1.18a0.new.AAAA", link + 1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(pr_link_verify(&ks, bad[i], strlen(bad[i]), path, NOW, &why),
                     PR_TOKEN_MALFORMED, "%s", bad[i]);
    char tok[1024];
    const char *sessions[] = {"*", NULL};
    size_t tl = sign(&ks, "new", sessions, PR_SCOPE_READ, NOW + 600, tok, sizeof(tok));
    cr_expect_eq(pr_link_verify(&ks, tok, tl, path, NOW, &why), PR_TOKEN_MALFORMED);
    struct pr_token t;
    cr_expect_eq(pr_token_verify(&ks, link, n, NOW, &t, &why), PR_TOKEN_MALFORMED, "%s", why);
    /* too small a buffer */
    cr_expect_eq(pr_link_sign(pr_token_key_find(&ks, "new"), path, NOW, link, 20), 0);
}
