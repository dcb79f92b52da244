/* libFuzzer target: the JSON decoder on every wire (what clients, REST and redis-cli send) with
 * the re-encoding check of roundtrip.h, and the free-form JSON value parser. */
#include "tests/fuzz/roundtrip.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    fz_roundtrip(data, size, pr_decode_json, pr_encode_json);
    struct pr_value v;
    struct pr_err err = {0};
    if (pr_value_parse_json((const char *)data, size, &v, &err) == 0)
        pr_value_deinit(&v);
    return 0;
}
