/* CUDA side of the GPU probe: cudaGetDeviceCount and device properties. Linked with the static
 * CUDA runtime so the binary starts on hosts without the toolkit. Any thread. */
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

extern "C" {
#include "worker/gpu.h"
}

extern "C" void wk__gpu_cuda_probe(struct wk_gpu_probe *p)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) {
        p->count = 0;
        p->cuda_error = (int)e;
        if (e != cudaSuccess)
            snprintf(p->message, sizeof(p->message),
                     "no CUDA device, using CPU (cudaGetDeviceCount: %s, error %d)",
                     cudaGetErrorString(e), (int)e);
        else
            snprintf(p->message, sizeof(p->message), "no CUDA device, using CPU (0 devices)");
        cudaGetLastError(); /* clear the sticky error for later calls */
        return;
    }
    p->count = n;
    for (int i = 0; i < n && i < WK_GPU_MAX; i++) {
        struct cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, i) != cudaSuccess)
            continue;
        snprintf(p->dev[i].name, sizeof(p->dev[i].name), "%s", prop.name);
        p->dev[i].mem_total_mb = prop.totalGlobalMem / (1024 * 1024);
        p->dev[i].cc_major = prop.major;
        p->dev[i].cc_minor = prop.minor;
    }
    snprintf(p->message, sizeof(p->message), "%d CUDA device%s, first: %.120s (%zu MiB, sm_%d%d)",
             n, n == 1 ? "" : "s", p->dev[0].name, p->dev[0].mem_total_mb, p->dev[0].cc_major,
             p->dev[0].cc_minor);
}
