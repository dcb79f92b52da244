/* libFuzzer target: the MessagePack decoder (events from Redis, msgpack clients) on every wire,
 * with the re-encoding check of roundtrip.h. */
#include "tests/fuzz/roundtrip.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    fz_roundtrip(data, size, pr_decode_msgpack, pr_encode_msgpack);
    return 0;
}
