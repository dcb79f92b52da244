/* zsa (the CLI): access tokens: keygen, token (minting with a keys file), and the token the
 * other commands send ($ZSA_TOKEN or --token-file). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/text.h"
#include "common/time.h"
#include "common/wsclient.h"
#include "proto/proto.h"
#include "proto/token.h"
#include "tools/cli/cli.h"

/* ---- access tokens ------------------------------------------------------------------------- */

/* zsa keygen [--kid K]: a key line for the gateway's --auth-keys-file. */
int cli__cmd_keygen(const struct opts *o)
{
    char kid[PR_TOKEN_KID_MAX + 1];
    if (o->kid) {
        if (!cm_id_valid(o->kid, strlen(o->kid), PR_TOKEN_KID_MAX)) {
            fprintf(stderr, "zsa keygen: --kid: 1..%d of [A-Za-z0-9_.:-]\n", PR_TOKEN_KID_MAX);
            return EX_USAGE_;
        }
        snprintf(kid, sizeof(kid), "%s", o->kid);
    } else { /* k-<date>-<random>: sorts by age, never repeats */
        char r[CM_RANDOM_ID_LEN + 2], day[16];
        cm_random_id(r, sizeof(r), "");
        time_t now = time(NULL);
        strftime(day, sizeof(day), "%Y%m%d", gmtime(&now));
        snprintf(kid, sizeof(kid), "k-%s-%.6s", day, r);
    }
    unsigned char secret[32];
    if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret)) {
        fprintf(stderr, "zsa keygen: getrandom: %s\n", strerror(errno));
        return EX_FAILED;
    }
    char b64[64];
    cm_b64url_encode(secret, sizeof(secret), b64, sizeof(b64));
    printf("%s %s\n", kid, b64);
    return EX_DONE;
}

/* "12h", "30m", "7d", "3600" (seconds) into seconds; -1 when not one of those. */
static long long parse_ttl(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0)
        return -1;
    long long mul;
    switch (*end) {
    case '\0':
    case 's': mul = 1; break;
    case 'm': mul = 60; break;
    case 'h': mul = 3600; break;
    case 'd': mul = 86400; break;
    default: return -1;
    }
    if ((*end && end[1]) || v > 3650LL * 86400 / mul)
        return -1;
    return v * mul;
}

/* zsa token --session S [...] --scope read,submit --ttl 12h [--subject NAME] [--kid K]
 * [--keys-file F]: mints a token with a key of the gateway's keys file (the last one unless
 * --kid names another: add a new key at the end to rotate). */
int cli__cmd_token(const struct opts *o)
{
    const char *path = o->keys_file ? o->keys_file : getenv("ZSA_AUTH_KEYS_FILE");
    if (!path || !*path) {
        fprintf(stderr, "zsa token: --keys-file F (or ZSA_AUTH_KEYS_FILE) names the gateway's "
                        "keys file\n");
        return EX_USAGE_;
    }
    unsigned scopes = 0;
    if (!o->scope || pr_scopes_parse(o->scope, &scopes) != 0) {
        fprintf(stderr, "zsa token: --scope: a comma list of read, submit, control, admin\n");
        return EX_USAGE_;
    }
    long long ttl = parse_ttl(o->ttl ? o->ttl : "12h");
    if (ttl < 0) {
        fprintf(stderr, "zsa token: --ttl: a duration such as 3600, 30m, 12h or 7d (<= 10 "
                        "years)\n");
        return EX_USAGE_;
    }
    if (o->nsessions == 0 && !(scopes == PR_SCOPE_ADMIN)) {
        fprintf(stderr, "zsa token: --session S (repeatable; 'lab1:*' a prefix, '*' every "
                        "session) is needed unless the token is admin-only\n");
        return EX_USAGE_;
    }
    struct pr_token_keys *ks = calloc(1, sizeof(*ks));
    char err[512];
    if (!ks || pr_token_keys_load(path, ks, err, sizeof(err)) != 0) {
        fprintf(stderr, "zsa token: %s\n", ks ? err : "out of memory");
        free(ks);
        return EX_FAILED;
    }
    const struct pr_token_key *k = o->kid ? pr_token_key_find(ks, o->kid) : &ks->keys[ks->n - 1];
    int rc = EX_DONE;
    if (!k) {
        fprintf(stderr, "zsa token: no key %s in %s\n", o->kid, path);
        rc = EX_USAGE_;
    } else {
        struct pr_token t = {.scopes = scopes, .nsessions = o->nsessions};
        t.sessions = (char **)o->sessions;
        t.iat = (int64_t)time(NULL);
        t.exp = t.iat + ttl;
        snprintf(t.sub, sizeof(t.sub), "%s", o->subject ? o->subject : "zsa-cli");
        char out[PR_TOKEN_MAX_LEN + 1];
        if (pr_token_sign(k, &t, out, sizeof(out)) == 0) {
            fprintf(stderr,
                    "zsa token: a --session is not a valid id or prefix (1..128 of "
                    "[A-Za-z0-9_.:-], a prefix ending in '*'), or --subject is over %d "
                    "characters\n",
                    PR_TOKEN_SUB_MAX);
            rc = EX_USAGE_;
        } else {
            printf("%s\n", out);
        }
    }
    memset(ks, 0, sizeof(*ks));
    free(ks);
    return rc;
}

/* The token's only session (read from its payload, not verified: the gateway does that). */
static void token_session_of(const char *tok, char *out, size_t n)
{
    out[0] = '\0';
    const char *a = strchr(tok, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    if (!b || (size_t)(b - a - 1) > PR_TOKEN_MAX_LEN)
        return;
    char json[PR_TOKEN_MAX_LEN];
    long jl = cm_b64url_decode(a + 1, (size_t)(b - a - 1), json, sizeof(json));
    struct pr_value v;
    struct pr_err e;
    if (jl < 0 || pr_value_parse_json(json, (size_t)jl, &v, &e) != 0)
        return;
    const struct pr_value *ss = v.type == PR_V_OBJECT ? pr_value_get(&v, "sessions") : NULL;
    if (ss && ss->type == PR_V_ARRAY && ss->u.a.n == 1 && ss->u.a.items[0].type == PR_V_STR &&
        !strchr(ss->u.a.items[0].u.s.p, '*'))
        snprintf(out, n, "%s", ss->u.a.items[0].u.s.p);
    pr_value_deinit(&v);
}

/* The token from --token-file or $ZSA_TOKEN (first line, trimmed); -1 when the file fails. */
int cli__load_token(struct cli *c, const char *file)
{
    char buf[PR_TOKEN_MAX_LEN + 2] = "";
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f || !fgets(buf, sizeof(buf), f)) {
            fprintf(stderr, "zsa: --token-file %s: %s\n", file, f ? "empty" : strerror(errno));
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
    } else if (getenv("ZSA_TOKEN")) {
        snprintf(buf, sizeof(buf), "%s", getenv("ZSA_TOKEN"));
    }
    buf[strcspn(buf, "\r\n ")] = '\0';
    if (!buf[0])
        return 0;
    c->token = strdup(buf);
    token_session_of(buf, c->token_session, sizeof(c->token_session));
    return 0;
}
