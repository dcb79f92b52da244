/* Server-side Lua scripts: every multi-key change of job state happens in one of these, so it
 * is atomic. Each script is a file, store/lua/<name>.lua, that declares its KEYS and ARGV by
 * name in its header (`--! keys:`, `--! argv:`, `--! item ... :` for batches); the build embeds
 * them (scripts/gen-scripts.py) with named indices (ST_CANCEL_K_JOB, ST_CANCEL_A_NOW_MS, ...).
 *
 * A call is put together with a builder that knows the declaration (st_call_*): each key and
 * argument goes into its named slot, and a call with a slot left empty or a slot too many is
 * refused before it is sent. Every call goes out as EVALSHA and, on NOSCRIPT, once more as EVAL
 * (which loads the script): st_call_sync (blocking: job control, tools, tests) and
 * st_call_async (hiredis async on any loop: the gateway, the scheduler) are the ways to run one.
 * The worker's outbox batches items built the same way into EVALSHA calls that must stay in
 * order; it loads the scripts when it connects (st_scripts_load) and meets NOSCRIPT by
 * reconnecting. Tables are read-only
 * after st_script_init(): any thread. */
#ifndef ST_SCRIPTS_H
#define ST_SCRIPTS_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/keys.h"
#include "store/scripts_gen.h"

enum st_script_id {
#define ST__SCRIPT_ENUM(e, name) ST_SCRIPT_##e,
    ST_SCRIPTS(ST__SCRIPT_ENUM)
#undef ST__SCRIPT_ENUM
        ST_SCRIPT__COUNT
};

/* One shape of a batch item: its keys and arguments by name (NULL-terminated); *_more: any
 * number of further values may follow the named ones. */
struct st_item_decl {
    char variant; /* '*' for a batch with one shape, else the letter the kind argument holds */
    const char *const *keys;
    int nkeys;
    bool keys_more;
    const char *const *argv;
    int nargv;
    bool argv_more;
};

/* A script as its file declares it (generated). */
struct st_script_decl {
    const char *name;
    const char *body; /* the Lua Redis gets: helpers, then the script, comment lines dropped */
    const char *const *keys;
    int nkeys;
    bool keys_more;
    const char *const *argv;
    int nargv;
    bool argv_more;
    const struct st_item_decl *items; /* a batch: the shapes of its items; NULL when not one */
    int nitems;
};

struct st_script {
    const char *name;
    const char *body;
    char sha1[41]; /* hex SHA1 of body, filled by st_script_init */
    const struct st_script_decl *decl;
};

/* Computes the SHA1s. Idempotent; call once before threads start. */
void st_script_init(void);

/* The script (borrowed, static). */
const struct st_script *st_script(enum st_script_id id);

/* Lowercase hex SHA1 of data into out[41]. */
void st_sha1_hex(const void *data, size_t len, char out[41]);

/* ---- building a call -------------------------------------------------------------------------
 * Values are copied. Indices are the generated names: st_call_key(&c, ST_CANCEL_K_JOB, key). A
 * batch (TAKE, EMIT) adds items after its fixed part: st_call_item(&c, 'f') then
 * st_call_key/st_call_arg with the item's indices (ST_EMIT_F_IK_JOB, ST_EMIT_F_IA_KIND, ...)
 * and st_call_more_arg for the values its "..." allows. Mistakes (an index out of the
 * declaration, a slot set twice or left empty, a value where the declaration has no "...") are
 * remembered and reported by st_call_check; a refused call is never sent. */
struct st_part {
    char **v;
    size_t *len;
    int n, cap;
};

struct st_call {
    enum st_script_id id;
    const struct st_script_decl *decl;
    struct st_part keys, args;
    int key_base, arg_base;          /* where the current part's slots start */
    const struct st_item_decl *item; /* the current item's shape, NULL in the fixed part */
    int nitems;
    bool item_only;      /* st_call_init_item */
    char err[160];       /* the first mistake, "" when none */
    char nkeys_text[16]; /* numkeys, as st_call_argv sends it */
};

void st_call_init(struct st_call *c, enum st_script_id id);
/* One item of a batch alone, without the fixed part (the worker's outbox puts items of several
 * ops into one call, with the fixed arguments it holds): st_call_check then checks the item. */
void st_call_init_item(struct st_call *c, enum st_script_id id, char variant);
void st_call_key(struct st_call *c, int index, const char *key);
/* len (size_t)-1: strlen(v) */
void st_call_arg(struct st_call *c, int index, const char *v, size_t len);
/* Conveniences: a key from the key table (common/keys.h), a number as decimal text. */
void st_call_key_of(struct st_call *c, int index, const char *prefix, enum cm_key key,
                    const char *id);
void st_call_arg_ll(struct st_call *c, int index, long long v);
void st_call_more_key(struct st_call *c, const char *key);
void st_call_more_arg(struct st_call *c, const char *v, size_t len);
/* Starts the next item of a batch, of the shape named variant ('*' when it has one). */
void st_call_item(struct st_call *c, char variant);
/* 0 when the call matches its declaration, else -1 with the reason in err. */
int st_call_check(const struct st_call *c, char *err, size_t errlen);
void st_call_deinit(struct st_call *c);

/* The whole command: EVALSHA|EVAL, sha|body, numkeys, keys, args. *argv and *lens are new arrays
 * (free both; the strings stay the call's). Returns argc, or -1 when st_call_check refuses. */
int st_call_argv(struct st_call *c, bool eval, const char ***argv, size_t **lens, char *err,
                 size_t errlen);

/* Runs the call (EVALSHA, EVAL on NOSCRIPT) and deinits it. Returns the reply (caller frees),
 * or NULL with err filled: a refused call, a lost connection or a Redis error reply. */
redisReply *st_call_sync(redisContext *rc, struct st_call *c, char *err, size_t errlen);

/* Sends the call (EVALSHA, EVAL on NOSCRIPT) on ac, taking it over; cb gets the reply, or NULL
 * when it could not be sent or the connection went (then after this returns, never within it
 * unless noted: a refused call or a NULL ac calls back at once). Loop thread of ac. */
typedef void st_reply_cb(redisReply *reply, void *priv);
void st_call_async(redisAsyncContext *ac, struct st_call *c, st_reply_cb *cb, void *priv);

/* Queues SCRIPT LOAD of every script on ac (errors logged). For a connection that pipelines
 * EVALSHA in a strict order (the worker's outbox): there NOSCRIPT cannot be answered with an EVAL
 * out of turn, so the connection is reset, loads them again and resends in order. */
void st_scripts_load(redisAsyncContext *ac);

/* The declaration of a script, for tests and docs (borrowed). */
const struct st_script_decl *st_script_decl(enum st_script_id id);

#endif
