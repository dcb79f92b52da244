/* Access tokens: "v1.<base64url payload>.<base64url mac>", the mac being HMAC-SHA256 with a
 * shared secret over the ASCII text "v1.<base64url payload>", the payload a JSON object:
 *
 *   {"kid": "k1", "sub": "alice", "sessions": ["s-1", "lab1:*"],
 *    "scope": ["read", "submit"], "exp": 1767225600, "iat": 1767182400}
 *
 * kid names the key that signed it; sub who it is for (logs only); sessions the session ids it
 * may use (an entry ending in '*' is a prefix, "*" alone every session); scope what it may do;
 * exp (and iat) Unix seconds. The verifier holds a set of keys and accepts a token signed by any
 * of them (rotation: add the new key, mint with it, remove the old one). The mac is checked
 * before the payload is parsed. Pure functions, any thread. */
#ifndef PR_TOKEN_H
#define PR_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PR_TOKEN_MAX_LEN 4096    /* the whole token text */
#define PR_TOKEN_MAX_SESSIONS 64 /* entries of "sessions" */
#define PR_TOKEN_KID_MAX 32      /* 1..32 of [A-Za-z0-9_.:-] */
#define PR_TOKEN_SUB_MAX 128     /* printable ASCII */
#define PR_TOKEN_KEY_MIN 32      /* secret bytes, at least */
#define PR_TOKEN_KEY_MAX 128
#define PR_TOKEN_MAX_KEYS 16

enum pr_scope {
    PR_SCOPE_READ = 1,    /* a session's events and history, its jobs and results */
    PR_SCOPE_SUBMIT = 2,  /* new jobs in its sessions */
    PR_SCOPE_CONTROL = 4, /* cancel and retry its sessions' jobs */
    PR_SCOPE_ADMIN = 8,   /* dead letters, /metrics, /ws/stats (every session's figures) */
};

struct pr_token_key {
    char kid[PR_TOKEN_KID_MAX + 1];
    unsigned char secret[PR_TOKEN_KEY_MAX];
    size_t len;
};

struct pr_token_keys {
    struct pr_token_key keys[PR_TOKEN_MAX_KEYS];
    size_t n;
};

/* What a verified token says. sessions: n entries, each NUL-terminated, "lab1:*" a prefix. */
struct pr_token {
    char kid[PR_TOKEN_KID_MAX + 1];
    char sub[PR_TOKEN_SUB_MAX + 1];
    unsigned scopes;  /* enum pr_scope bits */
    int64_t exp, iat; /* Unix seconds */
    char **sessions;  /* owned */
    size_t nsessions;
    bool all_sessions; /* an entry was "*" */
};

enum pr_token_status {
    PR_TOKEN_OK,
    PR_TOKEN_MALFORMED,     /* not v1.<payload>.<mac>, or the payload is not a valid claim set */
    PR_TOKEN_BAD_SIGNATURE, /* no key we hold made this mac (forged, or its key was removed) */
    PR_TOKEN_EXPIRED,       /* signed by us, past exp (claims filled: the client may learn sub) */
};

/* The keys file: one key per line, "<kid> <base64url secret>" (32..128 bytes of secret), blank
 * lines and lines starting with '#' ignored. Returns 0, or -1 with the line and the reason in
 * err. */
int pr_token_keys_parse(const char *text, size_t len, struct pr_token_keys *out, char *err,
                        size_t errlen);
/* Reads and parses path (at most 64 KB). -1 with err when it cannot. */
int pr_token_keys_load(const char *path, struct pr_token_keys *out, char *err, size_t errlen);
/* The key named kid, or NULL. */
const struct pr_token_key *pr_token_key_find(const struct pr_token_keys *ks, const char *kid);

/* Checks tok[0..len) against the keys and the clock (now: Unix seconds). On PR_TOKEN_OK and
 * PR_TOKEN_EXPIRED, out holds the claims (release with pr_token_deinit); otherwise out is empty.
 * why (if not NULL) gets a static reason for logs and error messages. */
enum pr_token_status pr_token_verify(const struct pr_token_keys *ks, const char *tok, size_t len,
                                     int64_t now, struct pr_token *out, const char **why);
void pr_token_deinit(struct pr_token *t);

/* Signs the claims t (kid replaced by k's) into out: the token's length, 0 when the claims are
 * not valid (bad session entry, no scope, sub too long) or out is too small. */
size_t pr_token_sign(const struct pr_token_key *k, const struct pr_token *t, char *out, size_t n);

/* Download links: one file's path signed for a short while, so that a browser can fetch it with
 * a plain link (an <a href> sends no Authorization header). "l1.<exp>.<kid>.<mac>", the mac
 * HMAC-SHA256 with the key over "l1.<exp>.<kid>\n<path>": the path is bound, not carried. A link
 * is never an access token, nor a token a link (another prefix, another signed text). */
#define PR_LINK_MAX 128
/* The link for path until exp (Unix seconds) into out: its length, 0 when out is too small. */
size_t pr_link_sign(const struct pr_token_key *k, const char *path, int64_t exp, char *out,
                    size_t n);
/* Checks link[0..len) for path against the keys and the clock: PR_TOKEN_OK, MALFORMED,
 * BAD_SIGNATURE (forged, another path, a key no longer held) or EXPIRED; why as for tokens. */
enum pr_token_status pr_link_verify(const struct pr_token_keys *ks, const char *link, size_t len,
                                    const char *path, int64_t now, const char **why);

/* True when the token may use session s. */
bool pr_token_allows(const struct pr_token *t, const char *s);
/* The token's sessions as the scripts check them: "" for every session, else the entries
 * joined by '\n'. */
#define PR_TOKEN_RULE_MAX (PR_TOKEN_MAX_SESSIONS * 131 + 2)
void pr_token_session_rule(const struct pr_token *t, char *out, size_t n);
/* "read" -> PR_SCOPE_READ, ...; 0 when unknown. And a comma list ("read,submit") into bits: -1
 * when an entry is unknown. */
unsigned pr_scope_parse(const char *s, size_t n);
int pr_scopes_parse(const char *list, unsigned *out);
/* "read,submit,..." into out. */
void pr_scopes_str(unsigned scopes, char *out, size_t n);

#endif
