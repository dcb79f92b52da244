/* libFuzzer target: the JSON decoder on every wire (what clients, REST and redis-cli send), and
 * for what it accepts, encoding and decoding again must give the same message. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const enum pr_wire wires[] = {PR_WIRE_SERVER, PR_WIRE_CLIENT, PR_WIRE_JOB};
    for (size_t w = 0; w < sizeof(wires) / sizeof(wires[0]); w++) {
        struct pr_msg m;
        struct pr_err err = {0};
        if (pr_decode_json((const char *)data, size, wires[w], &m, &err) != 0)
            continue;
        struct cm_buf b = CM_BUF_INIT;
        if (pr_encode_json(&m, &b, &err) == 0) {
            struct pr_msg again;
            if (pr_decode_json(b.data, b.len, wires[w], &again, &err) != 0)
                abort(); /* what we encode we must accept */
            pr_msg_deinit(&again);
        }
        cm_buf_deinit(&b);
        pr_msg_deinit(&m);
    }
    struct pr_value v;
    struct pr_err err = {0};
    if (pr_value_parse_json((const char *)data, size, &v, &err) == 0)
        pr_value_deinit(&v);
    return 0;
}
