/* Algorithm registry and parameter helpers. Read-only tables: any thread. */
#include "analysis/algo.h"

#include <stdlib.h>
#include <string.h>

static const struct za_algo *const registry[] = {
    &za_algo_simulate,
    &za_algo_segmentation_3d,
    &za_algo_max_projection,
    &za_algo_intensity_stats,
};

#define NALGOS (sizeof(registry) / sizeof(registry[0]))

const struct za_algo *za_algo_find(const char *name)
{
    for (size_t i = 0; i < NALGOS; i++) {
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    }
    return NULL;
}

const struct za_algo *za_algo_at(size_t i)
{
    return i < NALGOS ? registry[i] : NULL;
}

const char *za_algo_names(void)
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

bool za_value_num(const struct pr_value *v, double *out)
{
    switch (v ? v->type : PR_V_NULL) {
    case PR_V_INT: *out = (double)v->u.i; return true;
    case PR_V_UINT: *out = (double)v->u.u; return true;
    case PR_V_DOUBLE: *out = v->u.d; return true;
    default: return false;
    }
}

double za_param_num(const struct pr_value *params, const char *key, double def, bool *bad)
{
    const struct pr_value *v = pr_value_get(params, key);
    double d;
    if (!v)
        return def;
    if (za_value_num(v, &d))
        return d;
    if (bad)
        *bad = true;
    return def;
}

void za_algo_result_deinit(struct za_algo_result *res)
{
    pr_value_free(res->summary);
    res->summary = NULL;
    free(res->preview);
    res->preview = NULL;
    res->preview_len = 0;
}
