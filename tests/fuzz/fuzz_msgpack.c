/* libFuzzer target: the MessagePack decoder (events from Redis, msgpack clients) on every wire,
 * with the same re-encoding check as fuzz_json. */
#include <stdlib.h>

#include "common/buf.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const enum pr_wire wires[] = {PR_WIRE_SERVER, PR_WIRE_CLIENT, PR_WIRE_JOB};
    for (size_t w = 0; w < sizeof(wires) / sizeof(wires[0]); w++) {
        struct pr_msg m;
        struct pr_err err = {0};
        if (pr_decode_msgpack((const char *)data, size, wires[w], &m, &err) != 0)
            continue;
        struct cm_buf b = CM_BUF_INIT;
        if (pr_encode_msgpack(&m, &b, &err) == 0) {
            struct pr_msg again;
            if (pr_decode_msgpack(b.data, b.len, wires[w], &again, &err) != 0)
                abort();
            pr_msg_deinit(&again);
        }
        cm_buf_deinit(&b);
        pr_msg_deinit(&m);
    }
    return 0;
}
