/* GPU probe front end: dispatches to the CUDA probe when built with it. Any thread. */
#include "worker/gpu.h"

#include <stdio.h>
#include <string.h>

void wk_gpu_probe(struct wk_gpu_probe *p)
{
    memset(p, 0, sizeof(*p));
#ifdef ZSA_HAVE_CUDA
    p->cuda_built = true;
    wk__gpu_cuda_probe(p);
#else
    snprintf(p->message, sizeof(p->message), "no CUDA device, using CPU (built without CUDA)");
#endif
}

/* ---- NVML through dlopen: only the few entry points we use, declared here ---------------- */

#include <dlfcn.h>
#include <pthread.h>

typedef void *cm_nvml_device;
struct cm_nvml_util {
    unsigned gpu, memory;
};
struct cm_nvml_mem {
    unsigned long long total, free, used;
};

static struct {
    pthread_once_t once;
    int status; /* 0 ready, -1 unusable */
    char why[160];
    int (*init)(void);
    int (*count)(unsigned *);
    int (*handle)(unsigned, cm_nvml_device *);
    int (*util)(cm_nvml_device, struct cm_nvml_util *);
    int (*mem)(cm_nvml_device, struct cm_nvml_mem *);
    const char *(*errstr)(int);
} nvml = {.once = PTHREAD_ONCE_INIT};

static void nvml_load(void)
{
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    nvml.status = -1;
    if (!h) {
        snprintf(nvml.why, sizeof(nvml.why), "%s", dlerror());
        return;
    }
    *(void **)&nvml.init = dlsym(h, "nvmlInit_v2");
    *(void **)&nvml.count = dlsym(h, "nvmlDeviceGetCount_v2");
    *(void **)&nvml.handle = dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
    *(void **)&nvml.util = dlsym(h, "nvmlDeviceGetUtilizationRates");
    *(void **)&nvml.mem = dlsym(h, "nvmlDeviceGetMemoryInfo");
    *(void **)&nvml.errstr = dlsym(h, "nvmlErrorString");
    if (!nvml.init || !nvml.count || !nvml.handle || !nvml.util || !nvml.mem || !nvml.errstr) {
        snprintf(nvml.why, sizeof(nvml.why), "libnvidia-ml.so.1 lacks an NVML entry point");
        return;
    }
    int rc = nvml.init();
    if (rc != 0) {
        snprintf(nvml.why, sizeof(nvml.why), "nvmlInit: %s", nvml.errstr(rc));
        return;
    }
    nvml.status = 0;
}

int wk_gpu_sample(struct wk_gpu_sample *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    pthread_once(&nvml.once, nvml_load);
    if (nvml.status != 0) {
        snprintf(err, errlen, "%s", nvml.why);
        return -1;
    }
    unsigned n = 0;
    int rc = nvml.count(&n);
    if (rc != 0) {
        snprintf(err, errlen, "nvmlDeviceGetCount: %s", nvml.errstr(rc));
        return -1;
    }
    double util = 0;
    for (unsigned i = 0; i < n; i++) {
        cm_nvml_device d;
        struct cm_nvml_util u;
        struct cm_nvml_mem m;
        if (nvml.handle(i, &d) != 0 || nvml.util(d, &u) != 0 || nvml.mem(d, &m) != 0)
            continue;
        s->count++;
        util += u.gpu;
        s->mem_used_mb += (long long)(m.used / (1024 * 1024));
        s->mem_total_mb += (long long)(m.total / (1024 * 1024));
    }
    s->utilization = s->count ? util / s->count : 0;
    return 0;
}
