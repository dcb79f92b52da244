/* Descriptor tables derived from proto/schema.h, and what works on them alone: init, free,
 * validation, filling a message from a parsed value, and the reference docs. Any thread. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/text.h"
#include "common/time.h"
#include "proto/proto_internal.h"

/* ---- tables -------------------------------------------------------------------------------- */

#define PR__ENV_ROW(name, type, pres, doc)                                                         \
    {#name, PR_T_##type, PR_P_##pres, 0, 0, offsetof(struct pr_msg, name), doc},
#define PR__ENV_PR_ENV_JOB_EVENT(name, type, je, ev, ct, doc) PR__ENV_ROW(name, type, je, doc)
#define PR__ENV_PR_ENV_EVENT(name, type, je, ev, ct, doc) PR__ENV_ROW(name, type, ev, doc)
#define PR__ENV_PR_ENV_CONTROL(name, type, je, ev, ct, doc) PR__ENV_ROW(name, type, ct, doc)
#define PR__ENV_PR_ENV_NONE(name, type, je, ev, ct, doc)

#define PR__FIELD_ROW(msg, name, type, pres, lo, hi, doc)                                          \
    {#name, PR_T_##type, PR_P_##pres, lo, hi, offsetof(struct pr_msg, u.msg.name), doc},

/* One array per message: its envelope rows, its own rows, and a NULL sentinel. */
#define PR__FIELDS_ARRAY(id, name, fam, env, doc)                                                  \
    static const struct pr_field fields_##name[] = {PR_ENVELOPE_FIELDS(PR__ENV_##env)              \
                                                        PR_FIELDS_##name(PR__FIELD_ROW){NULL}};
PR_MESSAGES(PR__FIELDS_ARRAY)

static const struct pr_msgdesc descs[] = {
#define PR__DESC_ROW(id, name, fam, env, doc)                                                      \
    {PR_##id,                                                                                      \
     #name,                                                                                        \
     PR_FAM_##fam,                                                                                 \
     fields_##name,                                                                                \
     sizeof(fields_##name) / sizeof(fields_##name[0]) - 1,                                         \
     doc},
    PR_MESSAGES(PR__DESC_ROW)
#undef PR__DESC_ROW
};

_Static_assert(sizeof(descs) / sizeof(descs[0]) == PR__TYPE_COUNT, "one descriptor per message");

const struct pr_msgdesc *pr_msgdesc(enum pr_type t)
{
    return (unsigned)t < PR__TYPE_COUNT ? &descs[t] : NULL;
}

static bool wire_has(enum pr_wire wire, enum pr_family f)
{
    switch (wire) {
    case PR_WIRE_SERVER: return f == PR_FAM_EVENT || f == PR_FAM_CONTROL;
    case PR_WIRE_CLIENT: return f == PR_FAM_CLIENT;
    case PR_WIRE_JOB: return f == PR_FAM_JOB;
    }
    return false;
}

const struct pr_msgdesc *pr_msgdesc_by_name(enum pr_wire wire, const char *name, size_t len)
{
    for (size_t i = 0; i < PR__TYPE_COUNT; i++) {
        if (wire_has(wire, descs[i].family) && strlen(descs[i].name) == len &&
            memcmp(descs[i].name, name, len) == 0)
            return &descs[i];
    }
    return NULL;
}

const char *pr_family_name(enum pr_family f)
{
    static const char *const names[] = {"event", "control", "client", "job"};
    return (unsigned)f < 4 ? names[f] : "?";
}

const char *pr_ftype_name(enum pr_ftype t)
{
    static const char *const names[] = {
        "id",      "text",    "code",   "timestamp",        "stream id", "number",
        "integer", "boolean", "object", "array of strings", "bytes"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

const char *pr__discriminator(enum pr_family f)
{
    switch (f) {
    case PR_FAM_EVENT:
    case PR_FAM_CONTROL: return "event_type";
    case PR_FAM_CLIENT: return "type";
    case PR_FAM_JOB: return NULL;
    }
    return NULL;
}

int pr__fail(struct pr_err *err, const char *field, const char *fmt, ...)
{
    char reason[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof(err->field), "%s", field);
    snprintf(err->text, sizeof(err->text), "%s: %s", field, reason);
    return -EINVAL;
}

int pr__check_input_size(size_t len, struct pr_err *err)
{
    if (len == 0)
        return pr__fail(err, "message", "empty input");
    if (len > PR_MAX_MESSAGE_BYTES)
        return pr__fail(err, "message", "%zu bytes exceeds the limit of %d bytes", len,
                        PR_MAX_MESSAGE_BYTES);
    return 0;
}

/* ---- lifetime ------------------------------------------------------------------------------ */

void pr_msg_init(struct pr_msg *m, enum pr_type t)
{
    memset(m, 0, sizeof(*m));
    m->type = t;
    const struct pr_msgdesc *d = pr_msgdesc(t);
    for (size_t i = 0; d && i < d->nfields; i++) {
        if (d->fields[i].type == PR_T_NUM)
            *(double *)pr__slot(m, &d->fields[i]) = NAN;
    }
}

static void strs_free(struct pr_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* Frees what one field owns and marks it absent. */
static void clear_field(struct pr_msg *m, const struct pr_field *f)
{
    void *slot = pr__slot(m, f);
    switch (f->type) {
    PR__STRING_CASES:
        free(*(char **)slot);
        *(char **)slot = NULL;
        break;
    case PR_T_OBJECT:
        pr_value_free(*(struct pr_value **)slot);
        *(struct pr_value **)slot = NULL;
        break;
    case PR_T_STRS: strs_free(slot); break;
    case PR_T_BIN:
        free(((struct pr_bin *)slot)->p);
        *(struct pr_bin *)slot = (struct pr_bin){0};
        break;
    case PR_T_NUM: *(double *)slot = NAN; break;
    default: break;
    }
}

void pr_msg_deinit(struct pr_msg *m)
{
    const struct pr_msgdesc *d = pr_msgdesc(m->type);
    for (size_t i = 0; d && i < d->nfields; i++)
        clear_field(m, &d->fields[i]);
    pr_msg_init(m, m->type);
}

void pr_set_str(char **slot, const char *s)
{
    free(*slot);
    *slot = cm_xstrdup(s);
}

bool pr__field_present(const struct pr_msg *m, const struct pr_field *f)
{
    const void *slot = pr__slot(m, f);
    if (f->presence == PR_P_NO)
        return false;
    switch (f->type) {
    PR__STRING_CASES:
        return *(char *const *)slot != NULL;
    case PR_T_NUM: return !(isnan(*(const double *)slot) && f->presence == PR_P_OPT);
    case PR_T_OBJECT: return *(struct pr_value *const *)slot != NULL;
    case PR_T_BIN: return ((const struct pr_bin *)slot)->p != NULL;
    default: return true;
    }
}

/* ---- validation ---------------------------------------------------------------------------- */

static bool is_code(const char *s, size_t n)
{
    if (n == 0 || n > PR_CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    }
    return true;
}

static bool is_stream_id(const char *s, size_t n)
{
    const char *dash = memchr(s, '-', n);
    if (!dash || dash == s || dash == s + n - 1 || dash - s > 20 || s + n - dash - 1 > 20)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s + i != dash && (s[i] < '0' || s[i] > '9'))
            return false;
    }
    return true;
}

static int check_text(const char *name, const char *s, size_t n, double max, struct pr_err *err)
{
    size_t bad;
    if (n > max)
        return pr__fail(err, name, "longer than %.0f bytes (%zu)", max, n);
    if (!cm_utf8_valid(s, n, &bad))
        return pr__fail(err, name, "invalid UTF-8 at byte %zu", bad);
    return 0;
}

static int check_string(const struct pr_field *f, const char *s, struct pr_err *err)
{
    size_t n = strlen(s);
    int64_t ms;
    switch (f->type) {
    case PR_T_ID:
        if (!cm_id_valid(s, n, PR_ID_MAX))
            return pr__fail(err, f->name,
                            "must be 1..%d characters of [A-Za-z0-9_.:-], not starting with a dot",
                            PR_ID_MAX);
        return 0;
    case PR_T_TEXT: return check_text(f->name, s, n, f->hi, err);
    case PR_T_CODE:
        if (!is_code(s, n))
            return pr__fail(err, f->name, "must be 1..%d characters of [A-Z0-9_]", PR_CODE_MAX);
        return 0;
    case PR_T_TIME:
        if (n > 64 || cm_time_parse_rfc3339(s, n, &ms) != 0)
            return pr__fail(err, f->name, "must be an RFC 3339 timestamp");
        return 0;
    case PR_T_STREAMID:
        if (!is_stream_id(s, n))
            return pr__fail(err, f->name, "must be a stream id like 1764090000123-0");
        return 0;
    default: return 0;
    }
}

/* Free-form values: finite numbers, valid UTF-8, bounded strings and depth. */
static int check_value(const char *name, const struct pr_value *v, int depth, struct pr_err *err)
{
    if (depth > PR_MAX_DEPTH)
        return pr__fail(err, name, "nested deeper than %d levels", PR_MAX_DEPTH);
    switch (v->type) {
    case PR_V_DOUBLE:
        if (!isfinite(v->u.d))
            return pr__fail(err, name, "contains a number that is not finite");
        return 0;
    case PR_V_STR: return check_text(name, v->u.s.p, v->u.s.len, PR_MAX_VALUE_STRING, err);
    case PR_V_BIN: return pr__fail(err, name, "binary values are not supported here");
    case PR_V_ARRAY:
        for (size_t i = 0; i < v->u.a.n; i++)
            if (check_value(name, &v->u.a.items[i], depth + 1, err))
                return -EINVAL;
        return 0;
    case PR_V_OBJECT:
        for (size_t i = 0; i < v->u.o.n; i++) {
            const struct pr_member *mb = &v->u.o.m[i];
            if (check_text(name, mb->key, mb->klen, PR_MAX_VALUE_STRING, err) ||
                check_value(name, &mb->val, depth + 1, err))
                return -EINVAL;
        }
        return 0;
    default: return 0;
    }
}

static int check_field(const struct pr_msg *m, const struct pr_field *f, struct pr_err *err)
{
    const void *slot = pr__slot(m, f);
    switch (f->type) {
    PR__STRING_CASES : {
        const char *s = *(char *const *)slot;
        if (!s)
            return f->presence == PR_P_REQ ? pr__fail(err, f->name, "required field is missing")
                                           : 0;
        return check_string(f, s, err);
    }
    case PR_T_NUM: {
        double v = *(const double *)slot;
        if (isnan(v) && f->presence != PR_P_REQ)
            return 0;
        if (!isfinite(v))
            return pr__fail(err, f->name, "must be a finite number");
        if (v < f->lo || v > f->hi)
            return pr__fail(err, f->name, "must be from %g to %g, got %g", f->lo, f->hi, v);
        return 0;
    }
    case PR_T_INT: {
        int64_t v = *(const int64_t *)slot;
        if ((double)v < f->lo || (double)v > f->hi)
            return pr__fail(err, f->name, "must be from %.0f to %.0f, got %lld", f->lo, f->hi,
                            (long long)v);
        return 0;
    }
    case PR_T_BOOL: return 0;
    case PR_T_OBJECT: {
        const struct pr_value *v = *(struct pr_value *const *)slot;
        if (!v)
            return f->presence == PR_P_REQ ? pr__fail(err, f->name, "required field is missing")
                                           : 0;
        if (v->type != PR_V_OBJECT)
            return pr__fail(err, f->name, "must be an object");
        return check_value(f->name, v, 2, err);
    }
    case PR_T_BIN: {
        const struct pr_bin *b = slot;
        if (!b->p)
            return f->presence == PR_P_REQ ? pr__fail(err, f->name, "required field is missing")
                                           : 0;
        if ((double)b->n > f->hi)
            return pr__fail(err, f->name, "more than %.0f bytes (%zu)", f->hi, b->n);
        return 0;
    }
    case PR_T_STRS: {
        const struct pr_strs *s = slot;
        if (s->n > f->lo)
            return pr__fail(err, f->name, "more than %.0f items (%zu)", f->lo, s->n);
        for (size_t i = 0; i < s->n; i++)
            if (check_text(f->name, s->v[i], strlen(s->v[i]), f->hi, err))
                return -EINVAL;
        return 0;
    }
    }
    return pr__fail(err, f->name, "unsupported field type");
}

int pr_validate(const struct pr_msg *m, struct pr_err *err)
{
    const struct pr_msgdesc *d = pr_msgdesc(m->type);
    if (!d)
        return pr__fail(err, "event_type", "unknown message type %d", (int)m->type);
    for (size_t i = 0; i < d->nfields; i++) {
        if (d->fields[i].presence != PR_P_NO && check_field(m, &d->fields[i], err))
            return -EINVAL;
    }
    return 0;
}

/* ---- from a parsed value ------------------------------------------------------------------- */

static const char *vtype_name(enum pr_vtype t)
{
    static const char *const names[] = {"null",   "boolean", "integer", "integer", "number",
                                        "string", "bytes",   "array",   "object"};
    return names[t];
}

/* Moves a string value out of v into *dst, refusing NUL bytes (C strings end there). */
static int take_string(const struct pr_field *f, struct pr_value *v, char **dst, struct pr_err *err)
{
    if (v->type != PR_V_STR)
        return pr__fail(err, f->name, "expected a string, got %s", vtype_name(v->type));
    if (memchr(v->u.s.p, '\0', v->u.s.len))
        return pr__fail(err, f->name, "contains a NUL byte");
    *dst = v->u.s.p;
    v->type = PR_V_NULL;
    return 0;
}

static int take_strs(const struct pr_field *f, struct pr_value *v, struct pr_strs *dst,
                     struct pr_err *err)
{
    if (v->type != PR_V_ARRAY)
        return pr__fail(err, f->name, "expected an array of strings, got %s", vtype_name(v->type));
    if (v->u.a.n > f->lo)
        return pr__fail(err, f->name, "more than %.0f items (%zu)", f->lo, v->u.a.n);
    dst->v = cm_xcalloc(v->u.a.n ? v->u.a.n : 1, sizeof(char *));
    for (size_t i = 0; i < v->u.a.n; i++) {
        if (take_string(f, &v->u.a.items[i], &dst->v[i], err))
            return -EINVAL;
        dst->n++;
    }
    return 0;
}

/* Converts one member value into the field's slot. */
static int take_field(struct pr_msg *m, const struct pr_field *f, struct pr_value *v,
                      struct pr_err *err)
{
    void *slot = pr__slot(m, f);
    switch (f->type) {
    PR__STRING_CASES:
        return take_string(f, v, slot, err);
    case PR_T_NUM:
        if (v->type == PR_V_NULL && f->presence == PR_P_NULLABLE)
            return 0;
        if (v->type == PR_V_INT)
            *(double *)slot = (double)v->u.i;
        else if (v->type == PR_V_UINT)
            *(double *)slot = (double)v->u.u;
        else if (v->type == PR_V_DOUBLE)
            *(double *)slot = v->u.d;
        else
            return pr__fail(err, f->name, "expected a number, got %s", vtype_name(v->type));
        if (!isfinite(*(double *)slot))
            return pr__fail(err, f->name, "must be a finite number");
        return 0;
    case PR_T_INT:
        if (v->type == PR_V_UINT)
            return pr__fail(err, f->name, "must be at most %.0f", f->hi);
        if (v->type != PR_V_INT)
            return pr__fail(err, f->name, "expected an integer, got %s", vtype_name(v->type));
        *(int64_t *)slot = v->u.i;
        return 0;
    case PR_T_BOOL:
        if (v->type != PR_V_BOOL)
            return pr__fail(err, f->name, "expected true or false, got %s", vtype_name(v->type));
        *(bool *)slot = v->u.b;
        return 0;
    case PR_T_OBJECT:
        if (v->type != PR_V_OBJECT)
            return pr__fail(err, f->name, "expected an object, got %s", vtype_name(v->type));
        *(struct pr_value **)slot = cm_xmalloc(sizeof(struct pr_value));
        **(struct pr_value **)slot = *v;
        v->type = PR_V_NULL;
        return 0;
    case PR_T_STRS: return take_strs(f, v, slot, err);
    case PR_T_BIN:
        if (v->type != PR_V_BIN)
            return pr__fail(err, f->name, "expected bytes (MessagePack bin), got %s",
                            vtype_name(v->type));
        ((struct pr_bin *)slot)->p = (unsigned char *)v->u.s.p;
        ((struct pr_bin *)slot)->n = v->u.s.len;
        v->type = PR_V_NULL;
        return 0;
    }
    return pr__fail(err, f->name, "unsupported field type");
}

static const struct pr_msgdesc *find_desc(struct pr_value *root, enum pr_wire wire,
                                          struct pr_err *err)
{
    if (wire == PR_WIRE_JOB)
        return pr_msgdesc(PR_JOB);
    const char *key = wire == PR_WIRE_CLIENT ? "type" : "event_type";
    const struct pr_value *t = pr_value_get(root, key);
    if (!t) {
        pr__fail(err, key, "required field is missing");
        return NULL;
    }
    if (t->type != PR_V_STR) {
        pr__fail(err, key, "expected a string, got %s", vtype_name(t->type));
        return NULL;
    }
    const struct pr_msgdesc *d = pr_msgdesc_by_name(wire, t->u.s.p, t->u.s.len);
    if (!d) {
        bool printable = t->u.s.len <= 64 && cm_id_valid(t->u.s.p, t->u.s.len, 64);
        pr__fail(err, key, "unknown message type%s%s%s", printable ? " \"" : "",
                 printable ? t->u.s.p : "", printable ? "\"" : "");
    }
    return d;
}

int pr__msg_from_value(struct pr_value *root, enum pr_wire wire, struct pr_msg *m,
                       struct pr_err *err)
{
    pr_msg_init(m, PR_JOB);
    int rc = -EINVAL;
    if (root->type != PR_V_OBJECT) {
        pr__fail(err, "message", "expected an object, got %s", vtype_name(root->type));
        goto out;
    }
    const struct pr_msgdesc *d = find_desc(root, wire, err);
    if (!d)
        goto out;
    pr_msg_init(m, d->type);
    uint64_t seen = 0;
    for (size_t i = 0; i < root->u.o.n; i++) {
        struct pr_member *mb = &root->u.o.m[i];
        for (size_t k = 0; k < d->nfields; k++) {
            const struct pr_field *f = &d->fields[k];
            if (f->presence == PR_P_NO || strlen(f->name) != mb->klen ||
                memcmp(f->name, mb->key, mb->klen) != 0)
                continue;
            if (seen & (1ull << k))
                clear_field(m, f); /* a repeated key: the last one wins, as in json-c */
            if (take_field(m, f, &mb->val, err))
                goto out_reset;
            seen |= 1ull << k;
            break;
        }
    }
    for (size_t k = 0; k < d->nfields; k++) {
        if (d->fields[k].presence == PR_P_REQ && !(seen & (1ull << k))) {
            pr__fail(err, d->fields[k].name, "required field is missing");
            goto out_reset;
        }
    }
    rc = pr_validate(m, err);
    if (rc == 0)
        goto out;
out_reset:
    pr_msg_deinit(m);
out:
    pr_value_deinit(root);
    return rc;
}

int pr__decode(int (*parse)(const char *, size_t, struct pr_value *, struct pr_err *),
               const char *buf, size_t len, enum pr_wire wire, struct pr_msg *m, struct pr_err *err)
{
    struct pr_value root;
    if (parse(buf, len, &root, err)) {
        pr_msg_init(m, PR_JOB);
        return -EINVAL;
    }
    return pr__msg_from_value(&root, wire, m, err);
}

/* ---- reference docs ------------------------------------------------------------------------ */

static void doc_range(struct cm_buf *out, const struct pr_field *f)
{
    switch (f->type) {
    case PR_T_NUM:
    case PR_T_INT: cm_buf_printf(out, "%g..%g", f->lo, f->hi); break;
    case PR_T_TEXT: cm_buf_printf(out, "≤ %g bytes", f->hi); break;
    case PR_T_ID:
        cm_buf_printf(out, "1..%d of `[A-Za-z0-9_.:-]`, no leading dot", PR_ID_MAX);
        break;
    case PR_T_CODE: cm_buf_printf(out, "1..%d of `[A-Z0-9_]`", PR_CODE_MAX); break;
    case PR_T_STRS: cm_buf_printf(out, "≤ %g items of ≤ %g bytes", f->lo, f->hi); break;
    case PR_T_OBJECT: cm_buf_printf(out, "depth ≤ %d", PR_MAX_DEPTH); break;
    case PR_T_BIN: cm_buf_printf(out, "≤ %g bytes; MessagePack only", f->hi); break;
    default: cm_buf_puts(out, "—"); break;
    }
}

void pr_doc_markdown(struct cm_buf *out)
{
    static const char *const pres[] = {"", "required", "optional", "nullable (always sent)"};
    for (size_t i = 0; i < PR__TYPE_COUNT; i++) {
        const struct pr_msgdesc *d = &descs[i];
        const char *disc = pr__discriminator(d->family);
        cm_buf_printf(out, "### `%s` (%s)\n\n%s", d->name, pr_family_name(d->family), d->doc);
        if (disc)
            cm_buf_printf(out, " Key: `\"%s\": \"%s\"`.", disc, d->name);
        cm_buf_puts(out, "\n\n");
        size_t shown = 0;
        for (size_t k = 0; k < d->nfields; k++) {
            const struct pr_field *f = &d->fields[k];
            if (f->presence == PR_P_NO)
                continue;
            if (shown++ == 0)
                cm_buf_puts(
                    out, "| field | type | presence | range | meaning |\n|---|---|---|---|---|\n");
            cm_buf_printf(out, "| `%s` | %s | %s | ", f->name, pr_ftype_name(f->type),
                          pres[f->presence]);
            doc_range(out, f);
            cm_buf_printf(out, " | %s |\n", f->doc);
        }
        if (shown == 0)
            cm_buf_puts(out, "No fields besides the key.\n");
        cm_buf_puts(out, "\n");
    }
}

/* "processing_started" -> "ProcessingStarted" */
static void ts_name(struct cm_buf *out, const char *name)
{
    bool up = true;
    for (const char *p = name; *p; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        cm_buf_putc(out, up && *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p);
        up = false;
    }
}

static const char *ts_type(const struct pr_field *f)
{
    switch (f->type) {
    case PR_T_NUM: return f->presence == PR_P_NULLABLE ? "number | null" : "number";
    case PR_T_INT: return "number";
    case PR_T_BOOL: return "boolean";
    case PR_T_OBJECT: return "Record<string, unknown>";
    case PR_T_STRS: return "string[]";
    case PR_T_BIN: return "Uint8Array";
    default: return "string";
    }
}

/* A union type of the messages of the given families. */
static void ts_union(struct cm_buf *out, const char *name, unsigned families)
{
    cm_buf_printf(out, "export type %s =", name);
    for (size_t i = 0; i < PR__TYPE_COUNT; i++)
        if (families & (1u << descs[i].family)) {
            cm_buf_puts(out, "\n  | ");
            ts_name(out, descs[i].name);
        }
    cm_buf_puts(out, ";\n\n");
}

static void ts_names(struct cm_buf *out, const char *name, unsigned families)
{
    cm_buf_printf(out, "export const %s = [", name);
    bool first = true;
    for (size_t i = 0; i < PR__TYPE_COUNT; i++)
        if (families & (1u << descs[i].family)) {
            cm_buf_printf(out, "%s\n  '%s'", first ? "" : ",", descs[i].name);
            first = false;
        }
    cm_buf_puts(out, ",\n] as const;\n\n");
}

void pr_doc_typescript(struct cm_buf *out)
{
    cm_buf_puts(
        out, "// Generated from proto/schema.h by `zsa-proto ts` (make web-types): do not edit.\n"
             "// `make test` fails when this file is out of date.\n\n");
    for (size_t i = 0; i < PR__TYPE_COUNT; i++) {
        const struct pr_msgdesc *d = &descs[i];
        const char *disc = pr__discriminator(d->family);
        cm_buf_printf(out, "/** %s (%s) */\nexport interface ", d->doc, pr_family_name(d->family));
        ts_name(out, d->name);
        cm_buf_puts(out, " {\n");
        if (disc)
            cm_buf_printf(out, "  %s: '%s';\n", disc, d->name);
        for (size_t k = 0; k < d->nfields; k++) {
            const struct pr_field *f = &d->fields[k];
            if (f->presence == PR_P_NO)
                continue;
            cm_buf_printf(out, "  /** %s */\n  %s%s: %s;\n", f->doc, f->name,
                          f->presence == PR_P_OPT ? "?" : "", ts_type(f));
        }
        cm_buf_puts(out, "}\n\n");
    }
    unsigned ev = 1u << PR_FAM_EVENT, ctl = 1u << PR_FAM_CONTROL, cl = 1u << PR_FAM_CLIENT;
    ts_union(out, "ZsaEvent", ev);
    ts_union(out, "ZsaControl", ctl);
    ts_union(out, "ServerMessage", ev | ctl);
    ts_union(out, "ClientMessage", cl);
    ts_names(out, "EVENT_TYPES", ev);
    ts_names(out, "CONTROL_TYPES", ctl);
    ts_names(out, "CLIENT_TYPES", cl);
    cm_buf_puts(out, "export type EventType = ServerMessage['event_type'];\n"
                     "export type ClientType = ClientMessage['type'];\n");
}
