/* Frames (encoded messages shared by reference), stream ids, and the id hash of progress
 * coalescing. Loop thread only. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/text.h"
#include "common/time.h"
#include "gateway/gateway.h"
#include "gateway/hub.h"

/* ---- frames and ids ---------------------------------------------------------------------- */

struct gw_frame *gw_frame_new(const void *data, size_t len, bool binary)
{
    struct gw_frame *f = cm_xmalloc(sizeof(*f) + LWS_PRE + len);
    f->refs = 1;
    f->binary = binary;
    f->len = len;
    memcpy(f->buf + LWS_PRE, data, len);
    return f;
}

struct gw_frame *gw_frame_msg(const struct pr_msg *m, bool msgpack)
{
    struct cm_buf b = CM_BUF_INIT;
    struct pr_err err = {0};
    int rc = msgpack ? pr_encode_msgpack(m, &b, &err) : pr_encode_json(m, &b, &err);
    struct gw_frame *f = rc == 0 ? gw_frame_new(b.data, b.len, msgpack) : NULL;
    if (rc != 0)
        cm_log(CM_LOG_ERROR, "cannot encode %s: %s: %s", pr_msgdesc(m->type)->name, err.field,
               err.text);
    cm_buf_deinit(&b);
    return f;
}

void gw_frame_unref(struct gw_frame *f)
{
    if (f && --f->refs == 0)
        free(f);
}

bool gw_sid_parse(const char *s, size_t n, struct gw_sid *out)
{
    uint64_t v[2] = {0, 0};
    size_t i = 0;
    for (int part = 0; part < 2; part++) {
        size_t start = i;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (v[part] > (UINT64_MAX - 9) / 10)
                return false;
            v[part] = v[part] * 10 + (uint64_t)(s[i] - '0');
        }
        if (i == start)
            return false;
        if (part == 0) {
            if (i == n) { /* "<ms>" alone means "<ms>-0" */
                break;
            }
            if (s[i++] != '-')
                return false;
        }
    }
    if (i != n)
        return false;
    out->ms = v[0], out->seq = v[1];
    return true;
}

int gw_sid_cmp(struct gw_sid a, struct gw_sid b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    return a.seq < b.seq ? -1 : a.seq > b.seq;
}

uint64_t gw__hash_str(const char *s, size_t n)
{
    return cm_hash_fnv1a(s, n) | 1; /* never 0: 0 means "not a progress event" */
}
