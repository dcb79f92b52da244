/* Test emitter through the EMIT script (see emit.h). */
#include "tests/harness/emit.h"

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/jobctl.h"
#include "common/scripts.h"

int th_emit(redisContext *c, const struct pr_msg *m, int maxlen, char *err, size_t errlen)
{
    struct cm_buf mp = CM_BUF_INIT;
    struct pr_err perr;
    if (pr_encode_msgpack(m, &mp, &perr) != 0) {
        snprintf(err, errlen, "%s: %s", perr.field, perr.text);
        return -1;
    }
    char hkey[200], skey[200], ckey[200], ml[16];
    snprintf(hkey, sizeof(hkey), "zsa:job:%s", m->job_id ? m->job_id : "none");
    if (m->session_id) {
        snprintf(skey, sizeof(skey), "zsa:events:%s", m->session_id);
        snprintf(ckey, sizeof(ckey), "zsa:ch:%s", m->session_id);
    } else {
        snprintf(skey, sizeof(skey), "zsa:bcast");
        snprintf(ckey, sizeof(ckey), "zsa:bcast");
    }
    snprintf(ml, sizeof(ml), "%d", maxlen);
    /* one plain event: kind "p", no fence, no sequence number, no job-hash fields */
    const char *argv[] = {hkey, skey, ckey, ml, "86400", "604800", "p", "", "", mp.data, "0"};
    size_t lens[11];
    for (int i = 0; i < 11; i++)
        lens[i] = i == 9 ? mp.len : strlen(argv[i]);
    cm_scripts_init();
    redisReply *r = cm_script_call(c, cm_script(CM_SCRIPT_EMIT), 3, 11, argv, lens, err, errlen);
    cm_buf_deinit(&mp);
    freeReplyObject(r);
    return r ? 0 : -1;
}
