/* Sample messages for tests, derived from the descriptor table. */
#include "tests/harness/proto_samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

/* Moves a heap value into a value returned by value. */
static struct pr_value take(struct pr_value *p)
{
    struct pr_value v = *p;
    free(p);
    return v;
}

struct pr_value *th_sample_object(void)
{
    struct pr_value *o = pr_value_new_object();
    pr_value_set(o, "sigma", pr_value_double(1.5));
    pr_value_set(o, "integral_float", pr_value_double(2.0));
    pr_value_set(o, "count", pr_value_int(-42));
    struct pr_value big = {.type = PR_V_UINT, .u.u = 18446744073709551615ull};
    pr_value_set(o, "big", big);
    pr_value_set(o, "flag", pr_value_bool(true));
    pr_value_set(o, "nothing", pr_value_null());
    pr_value_set(o, "text", pr_value_str("Zellkern \"ü\" \\ \n\t 日本"));
    pr_value_set(o, "with_nul", pr_value_strn("a\0b", 3));
    struct pr_value *arr = pr_value_new_array();
    pr_value_push(arr, pr_value_int(1));
    pr_value_push(arr, pr_value_double(0.25));
    pr_value_push(arr, pr_value_str(""));
    struct pr_value *inner = pr_value_new_object();
    pr_value_set(inner, "deep", take(pr_value_new_array()));
    pr_value_push(arr, take(inner));
    pr_value_set(o, "list", take(arr));
    pr_value_set(o, "empty", take(pr_value_new_object()));
    return o;
}

static void sample_field(struct pr_msg *m, const struct pr_field *f)
{
    void *slot = (char *)m + f->offset;
    char buf[64];
    switch (f->type) {
    case PR_T_ID:
        snprintf(buf, sizeof(buf), "%s-01.a:b", f->name);
        pr_set_str(slot, buf);
        break;
    case PR_T_TEXT: pr_set_str(slot, "Step \"3\" of 5: ü 🔬\n"); break;
    case PR_T_CODE: pr_set_str(slot, "CUDA_OUT_OF_MEMORY"); break;
    case PR_T_TIME: pr_set_str(slot, "2026-11-25T18:32:52.123Z"); break;
    case PR_T_STREAMID: pr_set_str(slot, "1764090000123-7"); break;
    case PR_T_NUM: *(double *)slot = f->lo + (f->hi - f->lo) * 0.455; break;
    case PR_T_INT: *(int64_t *)slot = (int64_t)(f->lo + (f->hi - f->lo) / 3); break;
    case PR_T_BOOL: *(bool *)slot = true; break;
    case PR_T_OBJECT: *(struct pr_value **)slot = th_sample_object(); break;
    case PR_T_BIN: { /* bytes that are not UTF-8, with a NUL */
        static const unsigned char png[] = {0x89, 'P', 'N', 'G', 0, 0xff, 0x01};
        struct pr_bin *b = slot;
        b->p = cm_xmalloc(sizeof(png));
        memcpy(b->p, png, sizeof(png));
        b->n = sizeof(png);
        break;
    }
    case PR_T_STRS: {
        struct pr_strs *s = slot;
        s->n = 2;
        s->v = cm_xcalloc(2, sizeof(char *));
        s->v[0] = cm_xstrdup("Review segmentation boundaries");
        s->v[1] = cm_xstrdup("Check \"focus\" ü");
        break;
    }
    }
}

void th_sample_msg(struct pr_msg *m, enum pr_type t, bool full)
{
    const struct pr_msgdesc *d = pr_msgdesc(t);
    pr_msg_init(m, t);
    for (size_t i = 0; i < d->nfields; i++) {
        const struct pr_field *f = &d->fields[i];
        if (f->presence == PR_P_REQ || (full && f->presence != PR_P_NO))
            sample_field(m, f);
    }
}
