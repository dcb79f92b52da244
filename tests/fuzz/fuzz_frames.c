/* libFuzzer target: the splitter of published messages ("<stream id>\n<MessagePack>" frames) and
 * the decoding of each frame's event, as the gateway does for every message from Redis. */
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    size_t pos = 0;
    struct pr_frame f;
    struct pr_err err = {0};
    while (pr_pub_next((const char *)data, size, &pos, &f, &err) == 1) {
        struct pr_msg m;
        if (pr_decode_msgpack(f.ev, f.ev_len, PR_WIRE_SERVER, &m, &err) == 0)
            pr_msg_deinit(&m);
    }
    return 0;
}
