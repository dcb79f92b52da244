/* The job hash's fields (store/jobhash.h). */
#include "store/jobhash.h"

#include <string.h>

static const struct st_job_field_desc fields[] = {
#define ST__JF_ROW(id, name, type, pub, writers, doc)                                              \
    [ST_JF_##id] = {name, type, pub, writers, doc},
    ST_JOB_HASH(ST__JF_ROW)
#undef ST__JF_ROW
};

const struct st_job_field_desc *st_job_field(enum st_job_field f)
{
    return (unsigned)f < ST_JF__COUNT ? &fields[f] : NULL;
}

int st_job_field_find(const char *name)
{
    for (int i = 0; i < ST_JF__COUNT; i++)
        if (strcmp(fields[i].name, name) == 0)
            return i;
    return -1;
}
