/* Test emitter through the EMIT script (see emit.h). */
#include "tests/harness/emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "store/jobctl.h"
#include "store/scripts.h"
#include "common/time.h"

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
    st_script_init();
    redisReply *r = st_script_call(c, st_script(ST_SCRIPT_EMIT), 3, 11, argv, lens, err, errlen);
    cm_buf_deinit(&mp);
    freeReplyObject(r);
    return r ? 0 : -1;
}

int th_emit_big(redisContext *c, const char *session, int k, int maxlen, char *err, size_t errlen)
{
    struct pr_msg m;
    pr_msg_init(&m, PR_PROCESSING_FAILED);
    char ts[CM_RFC3339_LEN], job[32], text[4097];
    pr_set_str(&m.timestamp, cm_time_rfc3339(cm_time_now_ms(), ts));
    snprintf(job, sizeof(job), "big%d", k);
    pr_set_str(&m.job_id, job);
    pr_set_str(&m.session_id, session);
    pr_set_str(&m.u.processing_failed.image_id, "img");
    unsigned seed = (unsigned)k + 1;
    for (int i = 0; i < 4096; i++)
        text[i] = (char)('!' + rand_r(&seed) % 90);
    text[4096] = 0;
    pr_set_str(&m.u.processing_failed.error, text);
    pr_set_str(&m.u.processing_failed.error_code, "BIG");
    int rc = th_emit(c, &m, maxlen, err, errlen);
    pr_msg_deinit(&m);
    return rc;
}
