/* Free-form value trees. Any thread, one tree per thread. */
#include "proto/value.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

struct pr_value pr_value_null(void)
{
    struct pr_value v = {.type = PR_V_NULL};
    return v;
}

struct pr_value pr_value_bool(bool b)
{
    struct pr_value v = {.type = PR_V_BOOL, .u.b = b};
    return v;
}

struct pr_value pr_value_int(int64_t i)
{
    struct pr_value v = {.type = PR_V_INT, .u.i = i};
    return v;
}

struct pr_value pr_value_double(double d)
{
    struct pr_value v = {.type = PR_V_DOUBLE, .u.d = d};
    return v;
}

struct pr_value pr_value_strn(const char *s, size_t n)
{
    struct pr_value v = {.type = PR_V_STR};
    v.u.s.p = cm_xmemdup0(s, n);
    v.u.s.len = n;
    return v;
}

struct pr_value pr_value_str(const char *s)
{
    return pr_value_strn(s, strlen(s));
}

struct pr_value *pr_value_new_object(void)
{
    struct pr_value *v = cm_xcalloc(1, sizeof(*v));
    v->type = PR_V_OBJECT;
    return v;
}

struct pr_value *pr_value_new_array(void)
{
    struct pr_value *v = cm_xcalloc(1, sizeof(*v));
    v->type = PR_V_ARRAY;
    return v;
}

void pr_value__add_member(struct pr_value *obj, const char *key, size_t klen, struct pr_value v)
{
    if (obj->u.o.n == obj->u.o.cap) {
        obj->u.o.cap = obj->u.o.cap ? obj->u.o.cap * 2 : 4;
        obj->u.o.m = cm_xrealloc(obj->u.o.m, obj->u.o.cap * sizeof(*obj->u.o.m));
    }
    struct pr_member *m = &obj->u.o.m[obj->u.o.n++];
    m->key = cm_xmemdup0(key, klen);
    m->klen = klen;
    m->val = v;
}

void pr_value_set(struct pr_value *obj, const char *key, struct pr_value v)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < obj->u.o.n; i++) {
        struct pr_member *m = &obj->u.o.m[i];
        if (m->klen == klen && memcmp(m->key, key, klen) == 0) {
            pr_value_deinit(&m->val);
            m->val = v;
            return;
        }
    }
    pr_value__add_member(obj, key, klen, v);
}

void pr_value_push(struct pr_value *arr, struct pr_value v)
{
    if (arr->u.a.n == arr->u.a.cap) {
        arr->u.a.cap = arr->u.a.cap ? arr->u.a.cap * 2 : 4;
        arr->u.a.items = cm_xrealloc(arr->u.a.items, arr->u.a.cap * sizeof(*arr->u.a.items));
    }
    arr->u.a.items[arr->u.a.n++] = v;
}

const struct pr_value *pr_value_get(const struct pr_value *obj, const char *key)
{
    if (!obj || obj->type != PR_V_OBJECT)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < obj->u.o.n; i++) {
        const struct pr_member *m = &obj->u.o.m[i];
        if (m->klen == klen && memcmp(m->key, key, klen) == 0)
            return &m->val;
    }
    return NULL;
}

static void copy_into(struct pr_value *dst, const struct pr_value *src)
{
    *dst = *src;
    switch (src->type) {
    case PR_V_STR:
    case PR_V_BIN: dst->u.s.p = cm_xmemdup0(src->u.s.p, src->u.s.len); break;
    case PR_V_ARRAY:
        dst->u.a.items = cm_xcalloc(src->u.a.n ? src->u.a.n : 1, sizeof(struct pr_value));
        dst->u.a.cap = src->u.a.n;
        for (size_t i = 0; i < src->u.a.n; i++)
            copy_into(&dst->u.a.items[i], &src->u.a.items[i]);
        break;
    case PR_V_OBJECT:
        dst->u.o.m = cm_xcalloc(src->u.o.n ? src->u.o.n : 1, sizeof(struct pr_member));
        dst->u.o.cap = src->u.o.n;
        for (size_t i = 0; i < src->u.o.n; i++) {
            dst->u.o.m[i].key = cm_xmemdup0(src->u.o.m[i].key, src->u.o.m[i].klen);
            dst->u.o.m[i].klen = src->u.o.m[i].klen;
            copy_into(&dst->u.o.m[i].val, &src->u.o.m[i].val);
        }
        break;
    default: break;
    }
}

struct pr_value *pr_value_clone(const struct pr_value *v)
{
    if (!v)
        return NULL;
    struct pr_value *c = cm_xmalloc(sizeof(*c));
    copy_into(c, v);
    return c;
}

bool pr_value_equal(const struct pr_value *a, const struct pr_value *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case PR_V_NULL: return true;
    case PR_V_BOOL: return a->u.b == b->u.b;
    case PR_V_INT: return a->u.i == b->u.i;
    case PR_V_UINT: return a->u.u == b->u.u;
    case PR_V_DOUBLE: return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
    case PR_V_STR:
    case PR_V_BIN: return a->u.s.len == b->u.s.len && memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
    case PR_V_ARRAY:
        if (a->u.a.n != b->u.a.n)
            return false;
        for (size_t i = 0; i < a->u.a.n; i++)
            if (!pr_value_equal(&a->u.a.items[i], &b->u.a.items[i]))
                return false;
        return true;
    case PR_V_OBJECT:
        if (a->u.o.n != b->u.o.n)
            return false;
        for (size_t i = 0; i < a->u.o.n; i++) {
            const struct pr_member *x = &a->u.o.m[i], *y = &b->u.o.m[i];
            if (x->klen != y->klen || memcmp(x->key, y->key, x->klen) != 0 ||
                !pr_value_equal(&x->val, &y->val))
                return false;
        }
        return true;
    }
    return false;
}

void pr_value_deinit(struct pr_value *v)
{
    if (!v)
        return;
    switch (v->type) {
    case PR_V_STR:
    case PR_V_BIN: free(v->u.s.p); break;
    case PR_V_ARRAY:
        for (size_t i = 0; i < v->u.a.n; i++)
            pr_value_deinit(&v->u.a.items[i]);
        free(v->u.a.items);
        break;
    case PR_V_OBJECT:
        for (size_t i = 0; i < v->u.o.n; i++) {
            free(v->u.o.m[i].key);
            pr_value_deinit(&v->u.o.m[i].val);
        }
        free(v->u.o.m);
        break;
    default: break;
    }
    v->type = PR_V_NULL;
}

void pr_value_free(struct pr_value *v)
{
    if (!v)
        return;
    pr_value_deinit(v);
    free(v);
}
