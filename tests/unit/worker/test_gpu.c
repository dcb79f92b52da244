/* Tests worker/gpu.c: the probe never fails and says why there is no GPU. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "worker/gpu.h"

Test(common_gpu, probe_reports_count_and_a_reason)
{
    struct wk_gpu_probe p;
    wk_gpu_probe(&p);
    cr_assert_geq(p.count, 0);
    cr_assert_neq(p.message[0], '\0');
#ifdef ZSA_HAVE_CUDA
    cr_assert(p.cuda_built);
#else
    cr_assert(!p.cuda_built);
#endif
    if (p.count == 0) {
        cr_assert(strstr(p.message, "no CUDA device, using CPU"), "%s", p.message);
    } else {
        cr_assert(strstr(p.message, "CUDA device"), "%s", p.message);
        cr_assert_gt(p.dev[0].mem_total_mb, 0);
        cr_assert_neq(p.dev[0].name[0], '\0');
    }
}

Test(common_gpu, no_device_node_means_no_gpu)
{
    /* Without the NVIDIA driver's device node no CUDA device can be usable; with one (a GPU
     * host) the probe must find at least one device or explain the driver error. */
    struct wk_gpu_probe p;
    wk_gpu_probe(&p);
    if (access("/dev/nvidiactl", F_OK) != 0) {
        cr_assert_eq(p.count, 0);
#ifdef ZSA_HAVE_CUDA
        cr_assert_neq(p.cuda_error, 0, "cudaGetDeviceCount cannot succeed without a driver");
        cr_assert(strstr(p.message, "cudaGetDeviceCount"), "%s", p.message);
#endif
    } else if (p.count == 0) {
        cr_assert(strstr(p.message, "no CUDA device"), "%s", p.message);
    }
}

Test(common_gpu, nvml_sample_works_or_says_why)
{
    struct wk_gpu_sample s;
    char err[160] = "";
    int rc = wk_gpu_sample(&s, err, sizeof(err));
    if (access("/dev/nvidiactl", F_OK) != 0) {
        cr_assert_eq(rc, -1, "no driver, yet NVML answered");
        cr_assert_neq(err[0], '\0');
    } else if (rc == 0) {
        cr_assert_geq(s.count, 1);
        cr_assert(s.utilization >= 0 && s.utilization <= 100);
        cr_assert_geq(s.mem_total_mb, s.mem_used_mb);
    }
    cr_assert_eq(wk_gpu_sample(&s, err, sizeof(err)), rc, "the same answer twice");
}
