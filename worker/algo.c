/* Algorithm registry and parameter helpers. Read-only tables: any thread. */
#include "worker/algo.h"

#include <string.h>

static const struct wk_algo *const registry[] = {
    &wk_algo_simulate,
    &wk_algo_segmentation_3d,
    &wk_algo_max_projection,
    &wk_algo_intensity_stats,
};

#define NALGOS (sizeof(registry) / sizeof(registry[0]))

const struct wk_algo *wk_algo_find(const char *name)
{
    for (size_t i = 0; i < NALGOS; i++) {
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    }
    return NULL;
}

const char *wk_algo_names(void)
{
    static char names[256];
    if (!names[0]) {
        for (size_t i = 0; i < NALGOS; i++) {
            if (i)
                strncat(names, ", ", sizeof(names) - strlen(names) - 1);
            strncat(names, registry[i]->name, sizeof(names) - strlen(names) - 1);
        }
    }
    return names;
}

bool wk_value_num(const struct pr_value *v, double *out)
{
    switch (v ? v->type : PR_V_NULL) {
    case PR_V_INT: *out = (double)v->u.i; return true;
    case PR_V_UINT: *out = (double)v->u.u; return true;
    case PR_V_DOUBLE: *out = v->u.d; return true;
    default: return false;
    }
}

double wk_param_num(const struct pr_value *params, const char *key, double def, bool *bad)
{
    const struct pr_value *v = pr_value_get(params, key);
    double d;
    if (!v)
        return def;
    if (wk_value_num(v, &d))
        return d;
    if (bad)
        *bad = true;
    return def;
}

void wk_algo_result_deinit(struct wk_algo_result *res)
{
    pr_value_free(res->summary);
    res->summary = NULL;
}
