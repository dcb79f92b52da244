/* The codec check shared by fuzz_json and fuzz_msgpack: decode on every wire, and for what is
 * accepted, encode and decode again (what we encode we must accept). Aborts on a violation. */
#ifndef FUZZ_ROUNDTRIP_H
#define FUZZ_ROUNDTRIP_H

#include <stdlib.h>

#include "common/buf.h"
#include "proto/proto.h"

typedef int (*fz_decode_fn)(const char *buf, size_t len, enum pr_wire wire, struct pr_msg *m,
                            struct pr_err *err);
typedef int (*fz_encode_fn)(const struct pr_msg *m, struct cm_buf *out, struct pr_err *err);

static void fz_roundtrip(const unsigned char *data, size_t size, fz_decode_fn decode,
                         fz_encode_fn encode)
{
    static const enum pr_wire wires[] = {PR_WIRE_SERVER, PR_WIRE_CLIENT, PR_WIRE_JOB};
    for (size_t w = 0; w < sizeof(wires) / sizeof(wires[0]); w++) {
        struct pr_msg m;
        struct pr_err err = {0};
        if (decode((const char *)data, size, wires[w], &m, &err) != 0)
            continue;
        struct cm_buf b = CM_BUF_INIT;
        if (encode(&m, &b, &err) == 0) {
            struct pr_msg again;
            if (decode(b.data, b.len, wires[w], &again, &err) != 0)
                abort();
            pr_msg_deinit(&again);
        }
        cm_buf_deinit(&b);
        pr_msg_deinit(&m);
    }
}

#endif
