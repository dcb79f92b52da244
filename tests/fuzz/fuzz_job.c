/* libFuzzer target: a job as the worker validates it: the job JSON, then the algorithm's check
 * of its parameters (what refuses INVALID_PARAMETERS before a job takes a slot). */
#include <stdio.h>

#include "proto/proto.h"
#include "analysis/algo.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct pr_msg m;
    struct pr_err err = {0};
    if (pr_decode_json((const char *)data, size, PR_WIRE_JOB, &m, &err) != 0)
        return 0;
    const struct za_algo *a = za_algo_find(m.u.job.algorithm);
    struct pr_value empty = {.type = PR_V_OBJECT};
    char why[256];
    if (a && a->check)
        a->check(m.u.job.parameters ? m.u.job.parameters : &empty, why, sizeof(why));
    if (a && a->estimate)
        a->estimate(m.u.job.parameters ? m.u.job.parameters : &empty);
    pr_msg_deinit(&m);
    return 0;
}
