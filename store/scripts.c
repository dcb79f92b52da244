/* The scripts table (generated from store/lua/<name>.lua), the call builder and the two ways to run
 * a call. Read-only after st_script_init(). */
#include "store/scripts.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/keys.h"
#include "common/log.h"

extern const struct st_script_decl st__script_decls[]; /* scripts_gen.c */

static struct st_script scripts[ST_SCRIPT__COUNT];

void st_sha1_hex(const void *data, size_t len, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha1(), NULL) || n != 20)
        abort(); /* only without a working libcrypto */
    for (unsigned i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void st_script_init(void)
{
    for (int i = 0; i < ST_SCRIPT__COUNT; i++) {
        if (scripts[i].sha1[0])
            continue;
        const struct st_script_decl *d = &st__script_decls[i];
        scripts[i].name = d->name, scripts[i].body = d->body, scripts[i].decl = d;
        st_sha1_hex(d->body, strlen(d->body), scripts[i].sha1);
    }
}

const struct st_script *st_script(enum st_script_id id)
{
    return (unsigned)id < ST_SCRIPT__COUNT ? &scripts[id] : NULL;
}

const struct st_script_decl *st_script_decl(enum st_script_id id)
{
    return (unsigned)id < ST_SCRIPT__COUNT ? &st__script_decls[id] : NULL;
}

/* ---- the builder -------------------------------------------------------------------------- */

static void mistake(struct st_call *c, const char *fmt, ...)
{
    if (c->err[0])
        return; /* the first one says most */
    int n = snprintf(c->err, sizeof(c->err), "script %s: ", c->decl->name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
    va_end(ap);
}

/* n empty slots at the end of p */
static void part_grow(struct st_part *p, int n)
{
    if (p->n + n > p->cap) {
        int cap = p->cap ? p->cap : 16;
        while (cap < p->n + n)
            cap *= 2;
        p->v = cm_xrealloc(p->v, (size_t)cap * sizeof(*p->v));
        p->len = cm_xrealloc(p->len, (size_t)cap * sizeof(*p->len));
        p->cap = cap;
    }
    for (int i = 0; i < n; i++)
        p->v[p->n + i] = NULL, p->len[p->n + i] = 0;
    p->n += n;
}

static void part_set(struct st_part *p, int at, const char *v, size_t len)
{
    if (len == (size_t)-1)
        len = strlen(v);
    p->v[at] = cm_xmemdup0(v, len);
    p->len[at] = len;
}

static void part_free(struct st_part *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
    free(p->len);
    memset(p, 0, sizeof(*p));
}

void st_call_init(struct st_call *c, enum st_script_id id)
{
    memset(c, 0, sizeof(*c));
    st_script_init();
    c->id = id;
    c->decl = &st__script_decls[id];
    part_grow(&c->keys, c->decl->nkeys);
    part_grow(&c->args, c->decl->nargv);
}

void st_call_init_item(struct st_call *c, enum st_script_id id, char variant)
{
    st_call_init(c, id);
    c->keys.n = c->args.n = 0; /* no fixed part */
    c->item_only = true;
    st_call_item(c, variant);
}

/* The named slots of the current part, and whether values may follow them. */
static void current(const struct st_call *c, int *nkeys, int *nargv, bool *kmore, bool *amore)
{
    if (c->item) {
        *nkeys = c->item->nkeys, *nargv = c->item->nargv;
        *kmore = c->item->keys_more, *amore = c->item->argv_more;
    } else {
        *nkeys = c->decl->nkeys, *nargv = c->decl->nargv;
        *kmore = c->decl->keys_more, *amore = c->decl->argv_more;
    }
}

static void set_slot(struct st_call *c, bool key, int index, const char *v, size_t len)
{
    int nk, na;
    bool km, am;
    current(c, &nk, &na, &km, &am);
    struct st_part *p = key ? &c->keys : &c->args;
    int n = key ? nk : na, base = key ? c->key_base : c->arg_base;
    const char *const *names =
        c->item ? (key ? c->item->keys : c->item->argv) : (key ? c->decl->keys : c->decl->argv);
    if (index < 0 || index >= n) {
        mistake(c, "%s %d is not declared (%d %s)", key ? "key" : "argument", index, n,
                key ? "keys" : "arguments");
        return;
    }
    if (p->v[base + index]) {
        mistake(c, "%s %s set twice", key ? "key" : "argument", names[index]);
        return;
    }
    part_set(p, base + index, v ? v : "", v ? len : 0);
}

void st_call_key(struct st_call *c, int index, const char *key)
{
    set_slot(c, true, index, key, (size_t)-1);
}

void st_call_arg(struct st_call *c, int index, const char *v, size_t len)
{
    set_slot(c, false, index, v, len);
}

void st_call_key_of(struct st_call *c, int index, const char *prefix, enum cm_key key,
                    const char *id)
{
    char *k = cm_key_new(prefix, key, id);
    st_call_key(c, index, k);
    free(k);
}

void st_call_arg_ll(struct st_call *c, int index, long long v)
{
    char t[24];
    snprintf(t, sizeof(t), "%lld", v);
    st_call_arg(c, index, t, (size_t)-1);
}

static void more(struct st_call *c, bool key, const char *v, size_t len)
{
    int nk, na;
    bool km, am;
    current(c, &nk, &na, &km, &am);
    if (!(key ? km : am)) {
        mistake(c, "%s past the declared ones (%d)", key ? "a key" : "an argument", key ? nk : na);
        return;
    }
    struct st_part *p = key ? &c->keys : &c->args;
    part_grow(p, 1);
    part_set(p, p->n - 1, v ? v : "", v ? len : 0);
}

void st_call_more_key(struct st_call *c, const char *key)
{
    more(c, true, key, (size_t)-1);
}

void st_call_more_arg(struct st_call *c, const char *v, size_t len)
{
    more(c, false, v, len);
}

void st_call_item(struct st_call *c, char variant)
{
    const struct st_item_decl *it = NULL;
    for (int i = 0; i < c->decl->nitems; i++)
        if (c->decl->items[i].variant == variant)
            it = &c->decl->items[i];
    if (!it) {
        mistake(c, "no item of shape '%c'", variant);
        return;
    }
    c->item = it;
    c->key_base = c->keys.n, c->arg_base = c->args.n;
    part_grow(&c->keys, it->nkeys);
    part_grow(&c->args, it->nargv);
    c->nitems++;
}

/* The name of slot i of a part (fixed or an item's), for messages. */
static const char *slot_name(const struct st_call *c, bool key, int i)
{
    const struct st_script_decl *d = c->decl;
    int fixed = key ? d->nkeys : d->nargv;
    if (i < fixed)
        return (key ? d->keys : d->argv)[i];
    return "an item's value";
}

int st_call_check(const struct st_call *c, char *err, size_t errlen)
{
    if (c->err[0]) {
        snprintf(err, errlen, "%s", c->err);
        return -1;
    }
    if (c->decl->nitems && c->nitems == 0) {
        snprintf(err, errlen, "script %s: a batch without items", c->decl->name);
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        const struct st_part *p = k ? &c->args : &c->keys;
        for (int i = 0; i < p->n; i++)
            if (!p->v[i]) {
                snprintf(err, errlen, "script %s: %s %d (%s) was not set", c->decl->name,
                         k ? "argument" : "key", i + 1, slot_name(c, !k, i));
                return -1;
            }
    }
    return 0;
}

void st_call_deinit(struct st_call *c)
{
    part_free(&c->keys);
    part_free(&c->args);
}

int st_call_argv(struct st_call *c, bool eval, const char ***argv, size_t **lens, char *err,
                 size_t errlen)
{
    if (st_call_check(c, err, errlen) != 0)
        return -1;
    const struct st_script *s = &scripts[c->id];
    if (c->item_only) {
        snprintf(err, errlen, "script %s: an item alone is not a call", c->decl->name);
        return -1;
    }
    int argc = 3 + c->keys.n + c->args.n;
    const char **av = cm_xcalloc((size_t)argc, sizeof(*av));
    size_t *al = cm_xcalloc((size_t)argc, sizeof(*al));
    av[0] = eval ? "EVAL" : "EVALSHA";
    av[1] = eval ? s->body : s->sha1;
    al[0] = strlen(av[0]), al[1] = strlen(av[1]);
    snprintf(c->nkeys_text, sizeof(c->nkeys_text), "%d", c->keys.n);
    av[2] = c->nkeys_text, al[2] = strlen(c->nkeys_text);
    for (int i = 0; i < c->keys.n; i++)
        av[3 + i] = c->keys.v[i], al[3 + i] = c->keys.len[i];
    for (int i = 0; i < c->args.n; i++)
        av[3 + c->keys.n + i] = c->args.v[i], al[3 + c->keys.n + i] = c->args.len[i];
    *argv = av;
    *lens = al;
    return argc;
}

redisReply *st_call_sync(redisContext *rc, struct st_call *c, char *err, size_t errlen)
{
    redisReply *r = NULL;
    for (int pass = 0; pass < 2; pass++) {
        const char **av;
        size_t *al;
        int argc = st_call_argv(c, pass == 1, &av, &al, err, errlen);
        if (argc < 0)
            break;
        r = redisCommandArgv(rc, argc, av, al);
        free(av);
        free(al);
        if (!r) {
            snprintf(err, errlen, "%s", rc->errstr[0] ? rc->errstr : "connection lost");
            break;
        }
        if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 && pass == 0) {
            freeReplyObject(r);
            r = NULL;
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "script %s: %s", c->decl->name, r->str);
            freeReplyObject(r);
            r = NULL;
        }
        break;
    }
    st_call_deinit(c);
    return r;
}

/* An async call in flight: the call itself (its values), kept for the EVAL after NOSCRIPT. */
struct st_pending {
    struct st_call call;
    st_reply_cb *cb;
    void *priv;
    bool eval;
};

static void pending_end(struct st_pending *p, redisReply *r)
{
    p->cb(r, p->priv);
    st_call_deinit(&p->call);
    free(p);
}

static bool pending_send(redisAsyncContext *ac, struct st_pending *p);

static void pending_reply_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct st_pending *p = priv;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR && !p->eval && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        p->eval = true;
        if (pending_send(ac, p))
            return;
        r = NULL;
    }
    pending_end(p, r);
}

static bool pending_send(redisAsyncContext *ac, struct st_pending *p)
{
    const char **av;
    size_t *al;
    char err[160];
    int argc = st_call_argv(&p->call, p->eval, &av, &al, err, sizeof(err));
    if (argc < 0) {
        cm_log(CM_LOG_ERROR, "%s (not sent)", err);
        return false;
    }
    int rc = redisAsyncCommandArgv(ac, pending_reply_cb, p, argc, av, al);
    free(av);
    free(al);
    return rc == REDIS_OK;
}

void st_call_async(redisAsyncContext *ac, struct st_call *c, st_reply_cb *cb, void *priv)
{
    struct st_pending *p = cm_xcalloc(1, sizeof(*p));
    p->call = *c; /* taken over */
    memset(c, 0, sizeof(*c));
    p->cb = cb, p->priv = priv;
    if (!ac || !pending_send(ac, p))
        pending_end(p, NULL);
}

static void load_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac, (void)priv;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR)
        cm_log(CM_LOG_ERROR, "redis: SCRIPT LOAD: %s", r->str);
}

void st_scripts_load(redisAsyncContext *ac)
{
    st_script_init();
    for (int i = 0; i < ST_SCRIPT__COUNT; i++) {
        const char *argv[] = {"SCRIPT", "LOAD", scripts[i].body};
        redisAsyncCommandArgv(ac, load_reply, NULL, 3, argv, NULL);
    }
}
