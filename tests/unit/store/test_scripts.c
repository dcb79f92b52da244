/* The scripts table (store/lua/NAME.lua as the build declares them) and the call builder: every
 * script's body uses exactly the KEYS and ARGV its declaration names, and the builder refuses a
 * call that does not match its declaration, naming the slot. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/jobhash.h"
#include "store/scripts.h"

/* The highest literal index of name[N] in body (0: none). */
static int max_index(const char *body, const char *name)
{
    int max = 0;
    size_t n = strlen(name);
    for (const char *p = strstr(body, name); p; p = strstr(p + 1, name)) {
        if (p[n] != '[')
            continue;
        char *end;
        long v = strtol(p + n + 1, &end, 10);
        if (end != p + n + 1 && *end == ']' && v > max)
            max = (int)v;
    }
    return max;
}

Test(scripts, every_body_uses_exactly_the_keys_and_argv_it_declares)
{
    st_script_init();
    for (int i = 0; i < ST_SCRIPT__COUNT; i++) {
        const struct st_script_decl *d = st_script_decl(i);
        const struct st_script *s = st_script(i);
        cr_assert_str_eq(s->name, d->name);
        cr_assert_eq(strlen(s->sha1), 40);
        int k = max_index(d->body, "KEYS"), a = max_index(d->body, "ARGV");
        int used = d->nargv; /* a trailing argument named *_unused is declared, not read */
        while (used > 0 && strstr(d->argv[used - 1], "_unused"))
            used--;
        if (d->nitems) {
            /* a batch reads its fixed arguments by literal index, its items by offset */
            cr_expect_eq(a, used, "%s: ARGV[%d] used, %d declared", d->name, a, used);
            cr_expect_eq(k, 0, "%s: a batch's keys are all per item", d->name);
            continue;
        }
        if (!d->keys_more)
            cr_expect_eq(k, d->nkeys, "%s: KEYS up to %d used, %d declared", d->name, k, d->nkeys);
        cr_expect_eq(a, used, "%s: ARGV up to %d used, %d declared", d->name, a, used);
    }
}

Test(scripts, batch_strides_in_the_lua_match_the_item_declarations)
{
    const struct st_script_decl *take = st_script_decl(ST_SCRIPT_TAKE);
    char want[64];
    snprintf(want, sizeof(want), "k = k + %d", take->items[0].nkeys);
    cr_expect(strstr(take->body, want), "TAKE: '%s' not in the body", want);
    snprintf(want, sizeof(want), "a = a + %d", take->items[0].nargv);
    cr_expect(strstr(take->body, want), "TAKE: '%s' not in the body", want);
    snprintf(want, sizeof(want), "local out, k, a, algos, ttl = {}, 0, %d,", take->nargv + 1);
    cr_expect(strstr(take->body, want), "TAKE: items start after the %d fixed arguments",
              take->nargv);
    const struct st_script_decl *emit = st_script_decl(ST_SCRIPT_EMIT);
    int full = -1, plain = -1;
    for (int i = 0; i < emit->nitems; i++) {
        if (emit->items[i].variant == 'f')
            full = emit->items[i].nkeys;
        if (emit->items[i].variant == 'p')
            plain = emit->items[i].nkeys;
    }
    snprintf(want, sizeof(want), "k = k + (full and %d or %d)", full, plain);
    cr_expect(strstr(emit->body, want), "EMIT: '%s' not in the body", want);
}

Test(scripts, a_complete_call_has_every_slot_in_declared_order)
{
    struct st_call c;
    st_call_init(&c, ST_SCRIPT_CANCEL);
    st_call_arg(&c, ST_CANCEL_A_SESSION_RULE, "", 0); /* any order */
    st_call_key(&c, ST_CANCEL_K_CANCEL_CHANNEL, "zsa:cancel");
    st_call_arg_ll(&c, ST_CANCEL_A_NOW_MS, 42);
    st_call_key_of(&c, ST_CANCEL_K_JOB, "zsa", CM_KEY_JOB, "j1");
    st_call_arg(&c, ST_CANCEL_A_JOB_ID, "j1", (size_t)-1);
    const char **argv;
    size_t *lens;
    char err[200];
    int argc = st_call_argv(&c, false, &argv, &lens, err, sizeof(err));
    cr_assert_eq(argc, 3 + 2 + 3, "%s", err);
    const char *want[] = {
        "EVALSHA", st_script(ST_SCRIPT_CANCEL)->sha1, "2", "zsa:job:j1", "zsa:cancel", "j1", "42",
        ""};
    for (int i = 0; i < argc; i++) {
        cr_expect_str_eq(argv[i], want[i], "slot %d", i);
        cr_expect_eq(lens[i], strlen(want[i]));
    }
    free(argv);
    free(lens);
    cr_assert_eq(st_call_argv(&c, true, &argv, &lens, err, sizeof(err)), argc);
    cr_expect_str_eq(argv[0], "EVAL");
    cr_expect_str_eq(argv[1], st_script(ST_SCRIPT_CANCEL)->body);
    free(argv);
    free(lens);
    st_call_deinit(&c);
}

/* st_call_check's message for c (and c is freed). */
static const char *refusal(struct st_call *c)
{
    static char err[200];
    err[0] = '\0';
    cr_expect_eq(st_call_check(c, err, sizeof(err)), -1, "accepted");
    st_call_deinit(c);
    return err;
}

Test(scripts, calls_that_do_not_match_their_declaration_are_refused_by_name)
{
    struct st_call c;
    st_call_init(&c, ST_SCRIPT_RETRY); /* a slot left empty */
    st_call_key(&c, ST_RETRY_K_JOB, "j");
    st_call_key(&c, ST_RETRY_K_QUEUE, "q");
    st_call_key(&c, ST_RETRY_K_DEAD, "d");
    st_call_arg(&c, ST_RETRY_A_MAX_ATTEMPTS, "3", 1);
    st_call_arg(&c, ST_RETRY_A_NOW_MS, "1", 1);
    st_call_arg(&c, ST_RETRY_A_JOB_ID, "j", 1);
    const char *why = refusal(&c);
    cr_expect(strstr(why, "argument 4 (session_rule) was not set"), "%s", why);

    st_call_init(&c, ST_SCRIPT_LEASE); /* an index beyond the declaration */
    st_call_arg(&c, ST_LEASE_NARGV, "x", 1);
    cr_expect(strstr(refusal(&c), "argument 3 is not declared"));

    st_call_init(&c, ST_SCRIPT_LEASE); /* twice */
    st_call_key(&c, ST_LEASE_K_LEADER, "l");
    st_call_key(&c, ST_LEASE_K_LEADER, "l");
    cr_expect(strstr(refusal(&c), "key leader set twice"));

    st_call_init(&c, ST_SCRIPT_FORGET); /* more where none may follow */
    st_call_more_arg(&c, "x", 1);
    cr_expect(strstr(refusal(&c), "an argument past the declared ones (2)"));

    st_call_init(&c, ST_SCRIPT_TAKE); /* a batch needs items, of a declared shape */
    st_call_arg(&c, ST_TAKE_A_STREAM_MAXLEN, "1", 1);
    st_call_arg(&c, ST_TAKE_A_STREAM_TTL_S, "1", 1);
    st_call_arg(&c, ST_TAKE_A_RESULT_TTL_UNUSED, "", 0);
    cr_expect(strstr(refusal(&c), "a batch without items"));
    st_call_init(&c, ST_SCRIPT_EMIT);
    st_call_item(&c, 'z');
    cr_expect(strstr(refusal(&c), "no item of shape 'z'"));

    /* an item alone is checked, and is not a call by itself */
    st_call_init_item(&c, ST_SCRIPT_EMIT, 'q');
    const char *keys[] = {"h", "s", "c"}, *args[] = {"q", "", "1", "ev", "50", "step", "3"};
    for (int i = 0; i < 3; i++)
        st_call_key(&c, i, keys[i]);
    for (int i = 0; i < 7; i++)
        st_call_arg(&c, i, args[i], (size_t)-1);
    char err[200];
    cr_expect_eq(st_call_check(&c, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(c.keys.n, ST_EMIT_Q_ITEM_NKEYS);
    cr_expect_eq(c.args.n, ST_EMIT_Q_ITEM_NARGV);
    const char **argv;
    size_t *lens;
    cr_expect_eq(st_call_argv(&c, false, &argv, &lens, err, sizeof(err)), -1);
    st_call_deinit(&c);
}

Test(jobhash, public_fields_come_first_and_names_are_unique)
{
    cr_assert_gt(ST_JF__PUBLIC, 0);
    for (int i = 0; i < ST_JF__COUNT; i++) {
        const struct st_job_field_desc *f = st_job_field(i);
        cr_expect_eq(f->public, i < ST_JF__PUBLIC, "%s: the public rows must come first", f->name);
        cr_expect_eq(st_job_field_find(f->name), i, "%s twice?", f->name);
        cr_expect(f->doc[0] && f->writers[0], "%s: undocumented", f->name);
    }
    cr_expect_eq(st_job_field_find("no_such_field"), -1);
    cr_expect_eq(st_job_field(ST_JF_SESSION_ID)->type, ST_JF_STR);
    cr_expect_eq(st_job_field(ST_JF_QUEUED_AT)->type, ST_JF_INT);
    cr_expect_null(st_job_field(ST_JF__COUNT));
}
