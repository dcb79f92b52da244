/* Algorithm parameter tables (analysis/params.h). */
#include "analysis/params.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analysis/algo.h"

/* The index of s among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *s)
{
    int i = 0;
    for (const char *p = choices; p && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (strlen(s) == n && strncmp(p, s, n) == 0)
            return i;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* choices as "\"a\", \"b\" or \"c\"" (quoted: strings), then extra as the last item (NULL:
 * none) */
static void choices_words(const char *choices, bool quote, const char *extra, char *out, size_t n)
{
    size_t used = 0, count = 1 + (extra != NULL);
    for (const char *c = choices; *c; c++)
        count += *c == '|';
    out[0] = '\0';
    size_t i = 0;
    for (const char *p = choices; p && *p && used < n; i++) {
        const char *bar = strchr(p, '|');
        int len = bar ? (int)(bar - p) : (int)strlen(p);
        const char *sep = i == 0 ? "" : i + 1 == count ? " or " : ", ";
        used += (size_t)snprintf(out + used, n - used, "%s%s%.*s%s", sep, quote ? "\"" : "", len, p,
                                 quote ? "\"" : "");
        p = bar ? bar + 1 : NULL;
    }
    if (extra && used < n)
        snprintf(out + used, n - used, " or %s", extra);
}

void za_param_accepts(const struct za_param *ps, char *out, size_t n)
{
    char c[160];
    switch (ps->type) {
    case ZA_P_NUM:
        if (ps->min <= -1e300 && ps->max >= 1e300)
            snprintf(out, n, "a number");
        else
            snprintf(out, n, "a number from %g to %g", ps->min, ps->max);
        break;
    case ZA_P_INT:
        if (ps->choices) {
            choices_words(ps->choices, false, NULL, c, sizeof(c));
            snprintf(out, n, "%s", c);
        } else {
            snprintf(out, n, "an integer from %g to %g", ps->min, ps->max);
        }
        break;
    case ZA_P_BOOL: snprintf(out, n, "true or false"); break;
    case ZA_P_CHOICE:
        choices_words(ps->choices, true, NULL, c, sizeof(c));
        snprintf(out, n, "%s", c);
        break;
    case ZA_P_XYZ: snprintf(out, n, "a number or [x, y, z] from %g to %g", ps->min, ps->max); break;
    case ZA_P_NUMS:
        snprintf(out, n, "up to %d numbers from %g to %g", ps->max_items, ps->min, ps->max);
        break;
    case ZA_P_CHOICE_OR_NUM:
        choices_words(ps->choices, true, "a number", c, sizeof(c));
        snprintf(out, n, "%s", c);
        break;
    }
}

static bool in_range(const struct za_param *ps, double v)
{
    return isfinite(v) && v >= ps->min && v <= ps->max;
}

/* 0, or -1 when v is not what ps accepts. */
static int read_one(const struct za_param *ps, const struct pr_value *v, struct za_pval *o)
{
    switch (ps->type) {
    case ZA_P_NUM: return za_value_num(v, &o->num) && in_range(ps, o->num) ? 0 : -1;
    case ZA_P_INT: {
        if (!za_value_num(v, &o->num) || !in_range(ps, o->num) || o->num != floor(o->num))
            return -1;
        char t[32];
        snprintf(t, sizeof(t), "%g", o->num);
        return !ps->choices || choice_index(ps->choices, t) >= 0 ? 0 : -1;
    }
    case ZA_P_BOOL:
        if (v->type != PR_V_BOOL)
            return -1;
        o->b = v->u.b;
        return 0;
    case ZA_P_CHOICE:
        o->choice = v->type == PR_V_STR ? choice_index(ps->choices, v->u.s.p) : -1;
        return o->choice >= 0 ? 0 : -1;
    case ZA_P_XYZ:
        if (v->type == PR_V_ARRAY && v->u.a.n == 3) {
            for (int i = 0; i < 3; i++)
                if (!za_value_num(&v->u.a.items[i], &o->xyz[i]) || !in_range(ps, o->xyz[i]))
                    return -1;
            o->num = o->xyz[0];
            return 0;
        }
        if (!za_value_num(v, &o->num) || !in_range(ps, o->num))
            return -1;
        o->xyz[0] = o->xyz[1] = o->xyz[2] = o->num;
        return 0;
    case ZA_P_NUMS:
        if (v->type != PR_V_ARRAY || v->u.a.n > (size_t)ps->max_items)
            return -1;
        for (size_t i = 0; i < v->u.a.n; i++) {
            double d;
            if (!za_value_num(&v->u.a.items[i], &d) || !in_range(ps, d))
                return -1;
        }
        return 0;
    case ZA_P_CHOICE_OR_NUM:
        if (v->type == PR_V_STR) {
            o->choice = choice_index(ps->choices, v->u.s.p);
            return o->choice >= 0 ? 0 : -1;
        }
        o->choice = -1;
        return za_value_num(v, &o->num) && isfinite(o->num) ? 0 : -1;
    }
    return -1;
}

int za_params_read(const struct za_param *ps, int n, const struct pr_value *p, struct za_pval *out,
                   char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        struct za_pval *o = &out[i];
        memset(o, 0, sizeof(*o));
        o->num = ps[i].def;
        o->xyz[0] = o->xyz[1] = o->xyz[2] = ps[i].def;
        /* the first choice is the default */
        o->choice = ps[i].type == ZA_P_CHOICE || ps[i].type == ZA_P_CHOICE_OR_NUM ? 0 : -1;
        o->raw = p && p->type == PR_V_OBJECT ? pr_value_get(p, ps[i].name) : NULL;
        if (!o->raw)
            continue;
        o->set = true;
        if (read_one(&ps[i], o->raw, o) != 0) {
            char acc[200];
            za_param_accepts(&ps[i], acc, sizeof(acc));
            snprintf(err, errlen, "%s: %s", ps[i].name, acc);
            return -1;
        }
    }
    return 0;
}

void za_params_help(const struct za_param *ps, int n, struct cm_buf *out)
{
    for (int i = 0; i < n; i++) {
        char acc[200];
        za_param_accepts(&ps[i], acc, sizeof(acc));
        cm_buf_printf(out, "    %-18s %s; default %s. %s\n", ps[i].name, acc, ps[i].def_doc,
                      ps[i].doc);
    }
}

void za_algos_markdown(struct cm_buf *out)
{
    cm_buf_puts(out, "| name | input file | parameters |\n|---|---|---|\n");
    for (size_t i = 0; za_algo_at(i); i++) {
        const struct za_algo *a = za_algo_at(i);
        cm_buf_printf(out, "| `%s` | %s | ", a->name, a->input_doc ? a->input_doc : "");
        for (int k = 0; k < a->nparams; k++) {
            const struct za_param *ps = &a->params[k];
            char acc[200];
            za_param_accepts(ps, acc, sizeof(acc));
            cm_buf_printf(out, "%s`%s`: %s (%s; default %s)", k ? "; " : "", ps->name, ps->doc, acc,
                          ps->def_doc);
        }
        cm_buf_puts(out, " |\n");
    }
}
