/* Key naming from the prefix. Pure functions, any thread. */
#include "common/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/text.h"

static const struct {
    const char *name;
    int has_id;
} key_rows[] = {
#define CM__KEY_ROW(e, name, has_id, type, doc) {name, has_id},
    CM_KEYS(CM__KEY_ROW)
#undef CM__KEY_ROW
};

const char *cm_key_name(enum cm_key kind)
{
    return (unsigned)kind < CM_KEY__COUNT ? key_rows[kind].name : NULL;
}

int cm_key_has_id(enum cm_key kind)
{
    return (unsigned)kind < CM_KEY__COUNT ? key_rows[kind].has_id : -1;
}

int cm_key_fmt(char *buf, size_t n, const char *prefix, enum cm_key kind, const char *id)
{
    if ((unsigned)kind >= CM_KEY__COUNT || (!id) == key_rows[kind].has_id)
        return -EINVAL;
    int len = id ? snprintf(buf, n, "%s:%s:%s", prefix, key_rows[kind].name, id)
                 : snprintf(buf, n, "%s:%s", prefix, key_rows[kind].name);
    if (len < 0 || (size_t)len >= n)
        return -ENAMETOOLONG;
    return len;
}

char *cm_key_new(const char *prefix, enum cm_key kind, const char *id)
{
    if ((unsigned)kind >= CM_KEY__COUNT || (!id) == key_rows[kind].has_id)
        abort(); /* programming error: the table says whether the key takes an id */
    return id ? cm_xasprintf("%s:%s:%s", prefix, key_rows[kind].name, id)
              : cm_xasprintf("%s:%s", prefix, key_rows[kind].name);
}

int cm_key_prefix_check(const char *value, char *err, size_t errlen)
{
    if (cm_id_valid(value, strlen(value), CM_PREFIX_MAX))
        return 0;
    snprintf(err, errlen,
             "must be 1..%d characters of [A-Za-z0-9_.:-], not starting with a dot, got \"%s\"",
             CM_PREFIX_MAX, value);
    return -EINVAL;
}
