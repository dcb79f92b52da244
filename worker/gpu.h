/* GPU probe: how many CUDA devices this process can use, and why none when none.
 * Built with CUDA when nvcc was found at build time (ZSA_HAVE_CUDA); otherwise always CPU.
 * Call from any thread; it may take a few hundred ms the first time (driver start-up). */
#ifndef WK_GPU_H
#define WK_GPU_H

#include <stdbool.h>
#include <stddef.h>

#define WK_GPU_MAX 16

struct wk_gpu_device {
    char name[256];      /* "NVIDIA H100 80GB HBM3" */
    size_t mem_total_mb; /* global memory */
    int cc_major;        /* compute capability */
    int cc_minor;
};

struct wk_gpu_probe {
    bool cuda_built;   /* compiled with CUDA support */
    int count;         /* usable devices (0: use the CPU) */
    int cuda_error;    /* cudaError_t of cudaGetDeviceCount, 0 when it succeeded or not built */
    char message[256]; /* one line for the log: "2 CUDA devices" / "no CUDA device, using CPU (...)"
                        */
    struct wk_gpu_device dev[WK_GPU_MAX]; /* the first min(count, WK_GPU_MAX) devices */
};

/* Fills p. Never fails: a missing driver or device yields count 0 and a message that says why. */
void wk_gpu_probe(struct wk_gpu_probe *p);

#ifdef ZSA_HAVE_CUDA
/* Implemented in gpu_cuda.cu. */
void wk__gpu_cuda_probe(struct wk_gpu_probe *p);
#endif

/* Live GPU figures through NVML, loaded with dlopen("libnvidia-ml.so.1") so that binaries run on
 * hosts without the driver. Each call may take a millisecond: call it from a thread that may
 * block (the worker samples on its own thread and caches the result). */
struct wk_gpu_sample {
    int count;             /* devices sampled */
    double utilization;    /* mean GPU utilization over them, percent */
    long long mem_used_mb; /* sums */
    long long mem_total_mb;
};

/* Fills s. Returns 0, or -1 with the reason in err ("libnvidia-ml.so.1: cannot open ...",
 * "nvmlInit: Driver Not Loaded"). Thread-safe; NVML is initialised once per process. */
int wk_gpu_sample(struct wk_gpu_sample *s, char *err, size_t errlen);

#endif
