/* Test emitter through the EMIT script (see emit.h). */
#include "tests/harness/emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
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
    char skey[200], ckey[200];
    if (m->session_id) {
        snprintf(skey, sizeof(skey), "zsa:events:%s", m->session_id);
        snprintf(ckey, sizeof(ckey), "zsa:ch:%s", m->session_id);
    } else {
        snprintf(skey, sizeof(skey), "zsa:bcast");
        snprintf(ckey, sizeof(ckey), "zsa:bcast");
    }
    /* one plain event: kind "p", no fence, no sequence number, no job-hash fields */
    struct st_call call;
    st_call_init(&call, ST_SCRIPT_EMIT);
    st_call_arg_ll(&call, ST_EMIT_A_STREAM_MAXLEN, maxlen);
    st_call_arg(&call, ST_EMIT_A_STREAM_TTL_S, "86400", (size_t)-1);
    st_call_arg(&call, ST_EMIT_A_RESULT_TTL_S, "604800", (size_t)-1);
    st_call_item(&call, 'p');
    st_call_key_of(&call, ST_EMIT_P_IK_JOB, "zsa", CM_KEY_JOB, m->job_id ? m->job_id : "none");
    st_call_key(&call, ST_EMIT_P_IK_STREAM, skey);
    st_call_key(&call, ST_EMIT_P_IK_CHANNEL, ckey);
    st_call_arg(&call, ST_EMIT_P_IA_KIND, "p", 1);
    st_call_arg(&call, ST_EMIT_P_IA_ATTEMPT, "", 0);
    st_call_arg(&call, ST_EMIT_P_IA_SEQ, "", 0);
    st_call_arg(&call, ST_EMIT_P_IA_EVENT, mp.data, mp.len);
    st_call_arg(&call, ST_EMIT_P_IA_NFIELDS, "0", 1);
    redisReply *r = st_call_sync(c, &call, err, errlen);
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
