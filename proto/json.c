/* JSON codec: json-c's tokener parses into a value tree (depth-capped, strict, UTF-8 checked);
 * the encoder writes straight from the struct into a buffer. Any thread. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "proto/proto_internal.h"

/* ---- decode -------------------------------------------------------------------------------- */

static int from_json(json_object *j, struct pr_value *out, const char *field, struct pr_err *err)
{
    const char *name = field ? field : "message";
    switch (json_object_get_type(j)) {
    case json_type_null: *out = pr_value_null(); return 0;
    case json_type_boolean: *out = pr_value_bool(json_object_get_boolean(j)); return 0;
    case json_type_double: {
        double d = json_object_get_double(j);
        if (!isfinite(d))
            return pr__fail(err, name, "must be a finite number");
        *out = pr_value_double(d);
        return 0;
    }
    case json_type_int: {
        int64_t i = json_object_get_int64(j);
        if (i == INT64_MAX && json_object_get_uint64(j) > (uint64_t)INT64_MAX) {
            out->type = PR_V_UINT;
            out->u.u = json_object_get_uint64(j);
        } else {
            *out = pr_value_int(i);
        }
        return 0;
    }
    case json_type_string:
        *out = pr_value_strn(json_object_get_string(j), (size_t)json_object_get_string_len(j));
        return 0;
    case json_type_array: {
        size_t n = json_object_array_length(j);
        out->type = PR_V_ARRAY;
        out->u.a.items = cm_xcalloc(n ? n : 1, sizeof(struct pr_value));
        out->u.a.cap = n;
        out->u.a.n = 0;
        for (size_t i = 0; i < n; i++) {
            if (from_json(json_object_array_get_idx(j, i), &out->u.a.items[i], field, err)) {
                /* not counted in n: what the element built before it failed goes here */
                pr_value_deinit(&out->u.a.items[i]);
                return -EINVAL;
            }
            out->u.a.n++;
        }
        return 0;
    }
    case json_type_object: {
        out->type = PR_V_OBJECT;
        out->u.o.m = NULL;
        out->u.o.n = out->u.o.cap = 0;
        json_object_object_foreach(j, key, val)
        {
            /* top-level members are named after their key, nested ones after the top field */
            pr_value__add_member(out, key, strlen(key), pr_value_null());
            if (from_json(val, &out->u.o.m[out->u.o.n - 1].val, field ? field : key, err))
                return -EINVAL;
        }
        return 0;
    }
    }
    return pr__fail(err, name, "unsupported JSON type");
}

static bool only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

int pr_value_parse_json(const char *buf, size_t len, struct pr_value *out, struct pr_err *err)
{
    *out = pr_value_null();
    if (pr__check_input_size(len, err))
        return -EINVAL;
    json_tokener *tok = json_tokener_new_ex(PR_MAX_DEPTH);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue) {
        /* a top-level number or literal ends only at the end of input: say so with a NUL */
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    int rc = -EINVAL;
    if (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof) {
        pr__fail(err, "message", "truncated JSON (input ends inside a value)");
    } else if (jerr == json_tokener_error_depth) {
        pr__fail(err, "message", "nested deeper than %d levels", PR_MAX_DEPTH);
    } else if (jerr != json_tokener_success) {
        pr__fail(err, "message", "invalid JSON at byte %zu: %s", end,
                 json_tokener_error_desc(jerr));
    } else if (!only_space(buf + end, len - end)) {
        /* strict mode already refuses most trailing data; this catches the rest */
        pr__fail(err, "message", "unexpected data after the JSON value at byte %zu", end);
    } else {
        rc = from_json(root, out, NULL, err);
        if (rc)
            pr_value_deinit(out);
    }
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}

int pr_decode_json(const char *buf, size_t len, enum pr_wire wire, struct pr_msg *m,
                   struct pr_err *err)
{
    return pr__decode(pr_value_parse_json, buf, len, wire, m, err);
}

/* ---- encode -------------------------------------------------------------------------------- */

void pr_value_write_json(const struct pr_value *v, struct cm_buf *out)
{
    switch (v->type) {
    case PR_V_NULL: cm_buf_append(out, "null", 4); break;
    case PR_V_BOOL: cm_buf_puts(out, v->u.b ? "true" : "false"); break;
    case PR_V_INT: cm_buf_append_int(out, v->u.i); break;
    case PR_V_UINT: cm_buf_append_uint(out, v->u.u); break;
    case PR_V_DOUBLE: cm_buf_append_double(out, v->u.d, true); break;
    case PR_V_STR: cm_buf_append_json_str(out, v->u.s.p, v->u.s.len); break;
    case PR_V_BIN:
        cm_buf_puts(out, "null");
        break; /* JSON has no bytes: validation keeps them out */
    case PR_V_ARRAY:
        cm_buf_putc(out, '[');
        for (size_t i = 0; i < v->u.a.n; i++) {
            if (i)
                cm_buf_putc(out, ',');
            pr_value_write_json(&v->u.a.items[i], out);
        }
        cm_buf_putc(out, ']');
        break;
    case PR_V_OBJECT:
        cm_buf_putc(out, '{');
        for (size_t i = 0; i < v->u.o.n; i++) {
            if (i)
                cm_buf_putc(out, ',');
            cm_buf_append_json_str(out, v->u.o.m[i].key, v->u.o.m[i].klen);
            cm_buf_putc(out, ':');
            pr_value_write_json(&v->u.o.m[i].val, out);
        }
        cm_buf_putc(out, '}');
        break;
    }
}

static void write_key(struct cm_buf *out, const char *key, bool *first)
{
    if (!*first)
        cm_buf_putc(out, ',');
    *first = false;
    cm_buf_append_json_str(out, key, strlen(key));
    cm_buf_putc(out, ':');
}

/* Writes the value of a field that pr__field_present() said goes on the wire. */
static void write_field(struct cm_buf *out, const struct pr_msg *m, const struct pr_field *f)
{
    const void *slot = pr__slot(m, f);
    switch (f->type) {
    PR__STRING_CASES : {
        const char *s = *(char *const *)slot;
        cm_buf_append_json_str(out, s, strlen(s));
        return;
    }
    case PR_T_NUM: {
        double d = *(const double *)slot;
        if (isnan(d))
            cm_buf_append(out, "null", 4);
        else
            cm_buf_append_double(out, d, false);
        return;
    }
    case PR_T_INT: cm_buf_append_int(out, *(const int64_t *)slot); return;
    case PR_T_BOOL: cm_buf_puts(out, *(const bool *)slot ? "true" : "false"); return;
    case PR_T_OBJECT: pr_value_write_json(*(struct pr_value *const *)slot, out); return;
    case PR_T_BIN: return; /* never written (pr_encode_json skips it) */
    case PR_T_STRS: {
        const struct pr_strs *s = slot;
        cm_buf_putc(out, '[');
        for (size_t i = 0; i < s->n; i++) {
            if (i)
                cm_buf_putc(out, ',');
            cm_buf_append_json_str(out, s->v[i], strlen(s->v[i]));
        }
        cm_buf_putc(out, ']');
        return;
    }
    }
}

int pr_encode_json(const struct pr_msg *m, struct cm_buf *out, struct pr_err *err)
{
    if (pr_validate(m, err))
        return -EINVAL;
    const struct pr_msgdesc *d = pr_msgdesc(m->type);
    const char *disc = pr__discriminator(d->family);
    bool first = true;
    cm_buf_putc(out, '{');
    if (disc) {
        write_key(out, disc, &first);
        cm_buf_append_json_str(out, d->name, strlen(d->name));
    }
    for (size_t i = 0; i < d->nfields; i++) {
        if (!pr__field_present(m, &d->fields[i]) || d->fields[i].type == PR_T_BIN)
            continue; /* bytes only go out in MessagePack */
        write_key(out, d->fields[i].name, &first);
        write_field(out, m, &d->fields[i]);
    }
    cm_buf_putc(out, '}');
    return 0;
}

int pr_value_set_param(struct pr_value *obj, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || eq - kv >= 128)
        return -1;
    char key[128];
    snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
    struct pr_value v;
    struct pr_err e;
    if (pr_value_parse_json(eq + 1, strlen(eq + 1), &v, &e) != 0)
        v = pr_value_str(eq + 1);
    pr_value_set(obj, key, v);
    return 0;
}
