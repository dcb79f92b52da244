/* libFuzzer target: the gateway's check of a request head (gateway/front.c) on what a client
 * sends first, cut where the gateway cuts it (the first blank line, at most GW_HEAD_MAX). */
#include <string.h>

#include "gateway/gateway.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > GW_HEAD_MAX)
        size = GW_HEAD_MAX;
    size_t end = 0;
    for (size_t i = 0; i + 3 < size && !end; i++)
        if (memcmp(data + i, "\r\n\r\n", 4) == 0)
            end = i + 4;
    struct gw_head_verdict v;
    if (gw_head_check((const char *)data, end ? end : size, &v) != 0 &&
        (v.status < 400 || !v.code || !v.msg))
        __builtin_trap();
    return 0;
}
